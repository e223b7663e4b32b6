# What kind of request this is: read-only SELECTs and session commands run for everyone; DDL, DML,
# COPY, multi-statement requests and functions outside the allow-list only for admin roles; unknown
# catalog objects and constructs the analyzer cannot vouch for are denied for everyone.
package privgate.query

# Statement kinds that any principal may run; every other kind (including ones added later) needs
# an admin role, so new kinds fail closed.
readonly_kinds := {"select", "set", "show", "transaction", "empty"}

deny_tuples contains ["statement_not_allowed", msg, rule_label("statements")] if {
	not statement_kind in readonly_kinds
	not is_admin
	msg := sprintf(
		"%s statements are not allowed for %s: only SELECT and session commands (SET, SHOW, transactions) may run; ask a person with an admin role (%s) to run it",
		[upper(statement_kind), principal_id, admin_roles_label],
	)
}

deny_tuples contains ["multi_statement", msg, rule_label("statements")] if {
	n := input.facts.statement_count
	is_number(n)
	n > 1
	not is_admin
	msg := sprintf(
		"the request holds %d statements; send exactly one statement per request (a hidden second statement is how injections ride along)",
		[n],
	)
}

deny_tuples contains ["function_not_allowed", msg, rule_label("statements")] if {
	not is_admin
	is_array(input.facts.disallowed_functions)
	some f in input.facts.disallowed_functions
	is_string(f)
	msg := sprintf(
		"function %s() is not on the allow-list (rules/functions.yaml: allowed_functions); remove it from the query or ask an admin to review and allow it",
		[f],
	)
}

deny_tuples contains ["unknown_table", msg, rule_label("statements")] if {
	is_array(input.facts.unknown_tables)
	some t in input.facts.unknown_tables
	is_string(t)
	msg := sprintf(
		"table %s is not in the catalog; check the schema-qualified name, or ask the data owner to register the table in the catalog",
		[t],
	)
}

deny_tuples contains ["unknown_column", msg, rule_label("statements")] if {
	is_array(input.facts.unknown_columns)
	some c in input.facts.unknown_columns
	is_string(c)
	msg := sprintf(
		"column %s is not in the catalog; check the name, or ask the data owner to add the column to the catalog",
		[c],
	)
}

deny_tuples contains ["unsupported_construct", msg, rule_label("statements")] if {
	is_array(input.facts.unsupported)
	some u in input.facts.unsupported
	is_object(u)
	is_string(u.construct)
	is_string(u.detail)
	msg := sprintf(
		"privgate cannot vouch for the construct %s (%s); rewrite the query without it or ask the privgate maintainers to support it",
		[u.construct, u.detail],
	)
}
