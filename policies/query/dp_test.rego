package privgate.query_test

agg_facts := {"tables": [{"name": "ads.clicks", "known": true, "domain": "ads"}], "is_aggregate_query": true}

test_aggregate_over_privacy_unit_gets_dp_with_exact_strings if {
	d := decide(analyst(agg_facts))
	d.obligations == [{"kind": "dp", "params": {"query_class": "standard", "epsilon": "0.5", "delta": "1E-7"}}]
}

test_budget_exhausted if {
	doc := json.patch(analyst(agg_facts), [{"op": "replace", "path": "/budget/affordable", "value": false}])
	codes(decide(doc)) == {"budget_exhausted"}
}

test_group_by_privacy_unit_denied if {
	codes(decide(analyst(object.union(agg_facts, {"group_by": ["ads.clicks.person_id"]})))) == {"group_by_privacy_unit"}
}

test_row_limit_for_non_aggregate_reads if {
	d := decide(analyst({"tables": [{"name": "ads.clicks", "known": true, "domain": "ads"}]}))
	d.obligations == [{"kind": "row_limit", "params": {"limit": 100}}]
}

test_public_tables_need_nothing if {
	d := decide(analyst({"tables": [{"name": "ref.countries", "known": true, "domain": "ref"}], "is_aggregate_query": true}))
	d.allow
	d.obligations == []
}
