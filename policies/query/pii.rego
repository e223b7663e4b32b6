# PII columns: raw values leave only to a role+purpose granted for the entity type; otherwise the
# entity's treatment decides (deny, or a mask obligation). Filtering, grouping, joining, ordering or
# windowing on ungranted PII outside a DP aggregate is denied: small cohorts single people out.
#
# A column tagged with several entity types gets the strictest treatment among its ungranted
# entities: deny > redact > hash > tokenize > allow. Redact (a constant) reveals nothing; a keyed
# hash still reveals equality; a token reveals equality and may be reversible through its vault.
package privgate.query

# Aggregates whose result is one of the input values, so they reveal a raw value. The built-in set
# can only be extended by data.privgate.rules.value_revealing_aggregates (rules/policy.yaml), never
# shrunk, so a broken rules pack cannot make a revealing aggregate look safe.
builtin_revealing_aggregates := {
	"min", "max", "string_agg", "array_agg", "group_concat", "any_value", "first", "last", "mode",
	"listagg", "percentile_disc", "median", "arg_max", "arg_min", "max_by", "min_by", "approx_quantiles",
	"quantile_disc", "approx_top_k", "histogram", "list",
}

extra_revealing_aggregates := {a | some a in data.privgate.rules.value_revealing_aggregates; is_string(a)} if {
	is_array(data.privgate.rules.value_revealing_aggregates)
}

else := set()

revealing_aggregates := builtin_revealing_aggregates | extra_revealing_aggregates

# Usages that let a query single out people when no DP noise is added.
predicate_usages := {"filtered", "grouped", "joined", "ordered", "windowed"}

mask_methods := {"hash", "redact", "tokenize"}

treatment_rank := {"allow": 0, "tokenize": 1, "hash": 2, "redact": 3, "deny": 4}

default_treatment := data.privgate.rules.default_treatment if is_string(data.privgate.rules.default_treatment)

else := "deny"

entity_treatments := data.privgate.rules.entity_treatment if is_object(data.privgate.rules.entity_treatment)

else := {}

treatment(entity) := t if {
	t := entity_treatments[entity]
	is_string(t)
} else := default_treatment

# An unknown treatment name ranks as deny: fail closed.
rank(t) := treatment_rank[t] if treatment_rank[t] != null

else := 4

# Entity types this principal may see raw for this purpose ("*" covers every type); computed once
# per evaluation so each column is a set lookup.
granted_entities contains e if {
	is_array(data.privgate.rules.pii_grants)
	some g in data.privgate.rules.pii_grants
	is_array(g.roles)
	is_array(g.purposes)
	is_array(g.entities)
	is_array(input.request.principal.roles)
	some r in input.request.principal.roles
	r in g.roles
	purpose in g.purposes
	some e in g.entities
}

granted(entity) if entity in granted_entities

granted(_) if "*" in granted_entities

# One entry per PII column fact with at least one ungranted entity type.
pii_exposures contains x if {
	some c in column_facts

	# Step by step: regorus resolves chained dynamic refs much more slowly.
	table := data.privgate.catalog.tables[c.table]
	col := table.columns[c.column]
	pii := col.pii
	is_array(pii)
	count(pii) > 0
	ungranted := {e | some e in pii; is_string(e); not granted(e)}
	count(ungranted) > 0
	ranked := {[rank(treatment(e)), e] | some e in ungranted}
	top := max({r[0] | some r in ranked})
	entity := sort({r[1] | some r in ranked; r[0] == top})[0]
	revealing := sort({a | some a in aggregates_of(c); a in revealing_aggregates})
	used := usages(c)
	x := {
		"table": c.table,
		"column": c.column,
		"entities": sort(ungranted),
		"entity": entity,
		"method": treatment(entity),
		"projected": "projected" in used,
		"revealing": revealing,
		"predicates": sort({u | some u in used; u in predicate_usages}),
	}
}

leaves_raw(x) if x.projected

leaves_raw(x) if count(x.revealing) > 0

how_it_leaves(x) := "projected" if x.projected

else := sprintf("through %s()", [concat("(), ", x.revealing)])

deny_tuples contains ["pii_raw_projection", msg, rule_label("pii")] if {
	some x in pii_exposures
	leaves_raw(x)
	rank(x.method) == 4
	msg := sprintf(
		"column %s.%s (%s) may not leave raw (%s) for purpose %s; aggregate it under DP (count, sum, avg) or ask for a pii grant for your role and purpose",
		[x.table, x.column, concat(", ", x.entities), how_it_leaves(x), purpose_label],
	)
}

obligation_tuples contains ["mask", sprintf("%s.%s", [x.table, x.column]), params] if {
	some x in pii_exposures
	leaves_raw(x)
	x.method in mask_methods
	params := {"table": x.table, "column": x.column, "method": x.method, "entity": x.entity}
}

deny_tuples contains ["pii_predicate_without_dp", msg, rule_label("pii")] if {
	not dp_query
	some x in pii_exposures
	x.method != "allow"
	count(x.predicates) > 0
	msg := sprintf(
		"column %s.%s (%s) is %s without differential privacy, which can single out a person; use it only inside a DP aggregate over the table's privacy unit, or ask for a pii grant for purpose %s",
		[x.table, x.column, concat(", ", x.entities), concat("/", x.predicates), purpose_label],
	)
}
