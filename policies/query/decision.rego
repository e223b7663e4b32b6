# The query surface's one decision: {"allow", "deny", "obligations"} (engine/policy_io.py::PolicyResult).
#
# Every topic file adds to two internal sets:
#   deny_tuples       contains [code, message, rule]
#   obligation_tuples contains [kind, sort_key, params]
# Sets of arrays sort the same way in OPA and regorus (element-wise, strings bytewise), so the
# decision's lists are ordered deterministically by code then message, and by kind then key.
# Obligations are only emitted when the request is allowed: a denied decision carries none.
package privgate.query

deny := [{"code": t[0], "message": t[1], "rule": t[2]} | some t in sort(deny_tuples)]

allow := count(deny) == 0

obligations := [{"kind": t[0], "params": t[2]} |
	allow
	some t in sort(obligation_tuples)
]

decision := {"allow": allow, "deny": deny, "obligations": obligations}
