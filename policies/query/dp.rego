# Differential privacy: aggregates over tables that carry a privacy unit run under DP with the
# epsilon of the request's query class; non-aggregate reads of those tables get a row limit.
#
# Epsilon and delta are decimal strings computed exactly in Python and passed through unchanged:
# no arithmetic on them here (regorus and OPA disagree on floating point). The budget check only
# reads the precomputed boolean input.budget.affordable.
package privgate.query

obligation_tuples contains ["dp", "", params] if {
	dp_query
	params := {
		"query_class": input.budget.query_class,
		"epsilon": input.budget.epsilon,
		"delta": input.budget.delta,
	}
}

deny_tuples contains ["budget_exhausted", msg, rule_label("dp")] if {
	dp_query
	input.budget.affordable == false
	msg := sprintf(
		"privacy budget exhausted for %s: query class %s costs epsilon %s but %s remains; wait for the budget window to renew, use a cheaper query class, or ask the data owner for more budget",
		[principal_id, input.budget.query_class, input.budget.epsilon, remaining_label],
	)
}

remaining_label := input.budget.remaining if is_string(input.budget.remaining)

else := "none"

deny_tuples contains ["group_by_privacy_unit", msg, rule_label("dp")] if {
	is_array(input.facts.group_by)
	some key in input.facts.group_by
	[table, column] := split_column_id(key)
	meta := data.privgate.catalog.tables[table]
	meta.privacy_unit == column
	msg := sprintf(
		"GROUP BY %s groups by the privacy unit of %s, so every group is one person; group by a coarser attribute instead",
		[key, table],
	)
}

obligation_tuples contains ["row_limit", "", {"limit": data.privgate.rules.max_rows}] if {
	statement_kind == "select"
	non_aggregate_query
	count(governed_tables) > 0
	is_number(data.privgate.rules.max_rows)
}
