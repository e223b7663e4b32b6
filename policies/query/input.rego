# Fail closed on a malformed request: any missing or mistyped field of `input` (or of the `data`
# document) becomes a deny. Without this, a missing list would silently skip the rules that read it
# and the request would be allowed.
package privgate.query

input_problems contains "input.version must be 1" if not input.version == 1

input_problems contains "input.request.principal.id must be a string" if not is_string(input.request.principal.id)

input_problems contains "input.request.principal.roles must be a list of strings" if {
	not is_array(input.request.principal.roles)
}

input_problems contains "input.request.principal.roles must be a list of strings" if {
	is_array(input.request.principal.roles)
	some r in input.request.principal.roles
	not is_string(r)
}

input_problems contains "input.request.purpose must be a string" if not is_string(input.request.purpose)

input_problems contains "input.facts.statement_kind must be a string" if not is_string(input.facts.statement_kind)

input_problems contains "input.facts.statement_count must be a number" if not is_number(input.facts.statement_count)

input_problems contains "input.facts.is_aggregate_query must be a boolean" if {
	not is_boolean(input.facts.is_aggregate_query)
}

input_problems contains "input.facts.tables must be a list" if not is_array(input.facts.tables)

input_problems contains "input.facts.columns must be a list" if not is_array(input.facts.columns)

input_problems contains "input.facts.group_by must be a list" if not is_array(input.facts.group_by)

input_problems contains "input.facts.unknown_tables must be a list" if not is_array(input.facts.unknown_tables)

input_problems contains "input.facts.unknown_columns must be a list" if not is_array(input.facts.unknown_columns)

input_problems contains "input.facts.disallowed_functions must be a list" if not is_array(input.facts.disallowed_functions)

input_problems contains "input.facts.unsupported must be a list" if not is_array(input.facts.unsupported)

input_problems contains "input.facts.tables[] must be objects with a string name" if {
	some t in as_list(input.facts.tables)
	not is_string(t.name)
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

input_problems contains "input.budget.query_class must be a string" if not is_string(input.budget.query_class)

input_problems contains "input.budget.epsilon must be a string" if not is_string(input.budget.epsilon)

input_problems contains "input.budget.delta must be a string" if not is_string(input.budget.delta)

input_problems contains "input.budget.affordable must be a boolean" if not is_boolean(input.budget.affordable)

deny_tuples contains ["input_invalid", msg, rule_label("input")] if {
	count(input_problems) > 0
	msg := sprintf(
		"the policy input is malformed: %s; the engine that built it and the policy bundle disagree on input version 1 — upgrade privgate or the bundle so they match",
		[concat("; ", sort(input_problems))],
	)
}

# --- the data document ------------------------------------------------------------------------

data_problems contains "data.privgate.catalog.tables must be an object" if not is_object(data.privgate.catalog.tables)

data_problems contains "data.privgate.catalog.domains must be an object" if not is_object(data.privgate.catalog.domains)

data_problems contains "data.privgate.rules.admin_roles must be a list" if not is_array(data.privgate.rules.admin_roles)

data_problems contains "data.privgate.rules.entity_treatment must be an object" if {
	not is_object(data.privgate.rules.entity_treatment)
}

data_problems contains "data.privgate.rules.default_treatment must be a string" if {
	not is_string(data.privgate.rules.default_treatment)
}

data_problems contains "data.privgate.rules.pii_grants must be a list" if not is_array(data.privgate.rules.pii_grants)

deny_tuples contains ["data_missing", msg, rule_label("input")] if {
	count(data_problems) > 0
	msg := sprintf(
		"the policy data document is missing or malformed: %s; load the catalog and rules into the evaluator (privgate loads them when the engine starts)",
		[concat("; ", sort(data_problems))],
	)
}
