# Fail closed on a malformed request: any missing or mistyped field of `input` (or of the `data`
# document) becomes a deny. Without this, a missing list would silently skip the rules that read it
# and the request would be allowed.
package privgate.query

# OPA 1.x quirk: `not is_string(input.x)` is *undefined* (not true) when input.x is missing, while
# regorus says true. So every check reads its field with object.get and a null default, and negates
# a user-defined rule, which both engines treat alike.
required_input := [
	[["request", "principal", "id"], "string"],
	[["request", "principal", "roles"], "array"],
	[["request", "purpose"], "string"],
	[["facts", "statement_kind"], "string"],
	[["facts", "statement_count"], "number"],
	[["facts", "is_aggregate_query"], "boolean"],
	[["facts", "tables"], "array"],
	[["facts", "columns"], "array"],
	[["facts", "group_by"], "array"],
	[["facts", "unknown_tables"], "array"],
	[["facts", "unknown_columns"], "array"],
	[["facts", "disallowed_functions"], "array"],
	[["facts", "unsupported"], "array"],
	[["budget", "query_class"], "string"],
	[["budget", "epsilon"], "string"],
	[["budget", "delta"], "string"],
	[["budget", "affordable"], "boolean"],
]

type_label := {"string": "a string", "array": "a list", "number": "a number", "boolean": "a boolean"}

input_has(path, type) if type_name(object.get(input, path, null)) == type

# Fast path: a well-formed input (what the engine always sends) is recognised in one rule body;
# the detailed problem list below is only computed when this fails.
input_well_formed if {
	input.version == 1
	type_name(input.request.principal.id) == "string"
	type_name(input.request.principal.roles) == "array"
	type_name(input.request.purpose) == "string"
	type_name(input.facts.statement_kind) == "string"
	type_name(input.facts.statement_count) == "number"
	type_name(input.facts.is_aggregate_query) == "boolean"
	type_name(input.facts.tables) == "array"
	type_name(input.facts.columns) == "array"
	type_name(input.facts.group_by) == "array"
	type_name(input.facts.unknown_tables) == "array"
	type_name(input.facts.unknown_columns) == "array"
	type_name(input.facts.disallowed_functions) == "array"
	type_name(input.facts.unsupported) == "array"
	type_name(input.budget.query_class) == "string"
	type_name(input.budget.epsilon) == "string"
	type_name(input.budget.delta) == "string"
	type_name(input.budget.affordable) == "boolean"
	count([r | some r in input.request.principal.roles; is_string(r)]) == count(input.request.principal.roles)
	count([t | some t in input.facts.tables; well_formed_table(t)]) == count(input.facts.tables)
	count([c | some c in input.facts.columns; well_formed_column(c)]) == count(input.facts.columns)
	count([u | some u in input.facts.unsupported; well_formed_unsupported(u)]) == count(input.facts.unsupported)
}

input_problems contains "input.version must be 1" if not input.version == 1

input_problems contains msg if {
	some [path, type] in required_input
	not input_has(path, type)
	msg := sprintf("input.%s must be %s", [concat(".", path), type_label[type]])
}

input_problems contains "input.request.principal.roles must be a list of strings" if {
	some r in as_list(object.get(input, ["request", "principal", "roles"], null))
	not is_string(r)
}

input_problems contains "input.facts.tables[] must be objects with a string name" if {
	some t in as_list(input.facts.tables)
	not well_formed_table(t)
}

well_formed_table(t) if {
	is_object(t)
	is_string(t.name)
}

input_problems contains "input.facts.columns[] must be objects with string table and column and list usages and aggregates" if {
	some c in as_list(input.facts.columns)
	not well_formed_column(c)
}

well_formed_column(c) if {
	is_string(c.table)
	is_string(c.column)
	is_array(c.usages)
	is_array(c.aggregates)
}

input_problems contains "input.facts.unsupported[] must be objects with string construct and detail" if {
	some u in as_list(input.facts.unsupported)
	not well_formed_unsupported(u)
}

well_formed_unsupported(u) if {
	is_string(u.construct)
	is_string(u.detail)
}

deny_tuples contains ["input_invalid", msg, rule_label("input")] if {
	not input_well_formed
	count(input_problems) > 0
	msg := sprintf(
		"the policy input is malformed: %s; the engine that built it and the policy bundle disagree on input version 1 — upgrade privgate or the bundle so they match",
		[concat("; ", sort(input_problems))],
	)
}

# --- the data document ------------------------------------------------------------------------

catalog_doc := data.privgate.catalog if is_object(data.privgate.catalog)

else := {}

data_checks := [
	["data.privgate.catalog.tables", object.get(catalog_doc, "tables", null), "object"],
	["data.privgate.catalog.domains", object.get(catalog_doc, "domains", null), "object"],
	["data.privgate.rules.admin_roles", object.get(rules_doc, "admin_roles", null), "array"],
	["data.privgate.rules.entity_treatment", object.get(rules_doc, "entity_treatment", null), "object"],
	["data.privgate.rules.default_treatment", object.get(rules_doc, "default_treatment", null), "string"],
	["data.privgate.rules.pii_grants", object.get(rules_doc, "pii_grants", null), "array"],
]

data_problems contains msg if {
	some [name, value, type] in data_checks
	type_name(value) != type
	msg := sprintf("%s must be %s", [name, object.get(type_label, type, "an object")])
}

data_well_formed if {
	is_object(data.privgate.catalog.tables)
	is_object(data.privgate.catalog.domains)
	is_array(data.privgate.rules.admin_roles)
	is_object(data.privgate.rules.entity_treatment)
	is_string(data.privgate.rules.default_treatment)
	is_array(data.privgate.rules.pii_grants)
}

deny_tuples contains ["data_missing", msg, rule_label("input")] if {
	not data_well_formed
	count(data_problems) > 0
	msg := sprintf(
		"the policy data document is missing or malformed: %s; load the catalog and rules into the evaluator (privgate loads them when the engine starts)",
		[concat("; ", sort(data_problems))],
	)
}
