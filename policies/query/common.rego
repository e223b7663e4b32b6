# Shared lookups for the query policy: who is asking, which catalog tables the request touches,
# and guarded views of input/data.
#
# Every iteration over input goes through a guarded view (is_array/is_object) because regorus raises
# on `some x in <non-collection>` while OPA silently yields nothing; the guards make both backends
# agree, and input.rego turns any malformed field into a deny so a missing field can never allow.
#
# Performance (regorus evaluates every rule on every request, ~1-5 µs per rule or call): data is
# read through direct refs (`data.privgate.catalog.tables[name]`) rather than helper rules, a lookup
# by a variable key is done one step at a time (`t := data.privgate.catalog.tables[name]; t.columns`),
# since a chained ref with several variable keys is several times slower there.
package privgate.query

catalog_tables := data.privgate.catalog.tables if is_object(data.privgate.catalog.tables)

else := {}

catalog_domains := data.privgate.catalog.domains if is_object(data.privgate.catalog.domains)

else := {}

rules_doc := data.privgate.rules if is_object(data.privgate.rules)

else := {}

rule_label(topic) := concat("", ["privgate.query.", topic])

# --- the principal -----------------------------------------------------------------------------

principal_id := input.request.principal.id if is_string(input.request.principal.id)

else := "<unknown principal>"

purpose := input.request.purpose if is_string(input.request.purpose)

purpose_label := purpose if purpose

else := "<missing purpose>"

admin_roles contains r if {
	is_array(rules_doc.admin_roles)
	some r in rules_doc.admin_roles
}

is_admin if {
	is_array(input.request.principal.roles)
	is_array(data.privgate.rules.admin_roles)
	some r in input.request.principal.roles
	r in data.privgate.rules.admin_roles
}

admin_roles_label := concat(", ", sort(admin_roles)) if count(admin_roles) > 0

else := "none configured"

# --- guarded views of the facts ------------------------------------------------------------------

as_list(x) := x if is_array(x)

else := []

strings_of(x) := sort({s | some s in as_list(x); is_string(s)})

column_facts := [c |
	some c in as_list(input.facts.columns)
	is_object(c)
	is_string(c.table)
	is_string(c.column)
]

usages(c) := {u | some u in as_list(object.get(c, "usages", [])); is_string(u)}

aggregates_of(c) := {a | some a in as_list(object.get(c, "aggregates", [])); is_string(a)}

statement_kind := input.facts.statement_kind if is_string(input.facts.statement_kind)

else := "unknown"

aggregate_query if input.facts.is_aggregate_query == true

non_aggregate_query if input.facts.is_aggregate_query == false

# --- tables the request touches ------------------------------------------------------------------

# Known catalog tables named in facts.tables or reached through facts.columns.
used_tables := listed_tables | column_tables

# Kept as two named rules: regorus's RVM (the compiled embedded path) loses the second operand of
# an inline union of two comprehensions that both guard on a data lookup (found by the corpus).
listed_tables := {name |
	some t in as_list(input.facts.tables)
	is_object(t)
	name := t.name
	data.privgate.catalog.tables[name]
}

column_tables := {name |
	some c in column_facts
	name := c.table
	data.privgate.catalog.tables[name]
}

# Tables that carry a privacy unit: reads of them are governed by DP or row limits.
governed_tables contains name if {
	some name in used_tables
	table := data.privgate.catalog.tables[name]
	is_string(table.privacy_unit)
}

dp_query if {
	aggregate_query
	count(governed_tables) > 0
}

# "schema.table.column" -> ["schema.table", "column"] (the column is after the last dot).
split_column_id(id) := [table, column] if {
	is_string(id)
	parts := split(id, ".")
	n := count(parts)
	n > 1
	column := parts[n - 1]
	table := concat(".", array.slice(parts, 0, n - 1))
}
