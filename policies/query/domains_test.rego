package privgate.query_test

test_purpose_not_allowed if {
	d := decide(request({"tables": [{"name": "ads.clicks", "known": true, "domain": "ads"}]}, ["analyst"], "support"))
	codes(d) == {"purpose_not_allowed"}
	contains(d.deny[0].message, "ask ads@x")
}

test_cross_domain_needs_agreement_both_ways if {
	tables := [people_table, {"name": "ads.clicks", "known": true, "domain": "ads"}]
	d := decide(analyst({"tables": tables, "is_aggregate_query": true}))
	[r.message | some r in d.deny; r.code == "cross_domain_no_agreement"] == ["data products ads and shop are combined for purpose analytics, but ads has no sharing agreement with shop for it; ask ads@x to add the purpose to its sharing agreement with shop, or query them separately"]
}

test_public_domain_joins_freely if {
	tables := [people_table, {"name": "ref.countries", "known": true, "domain": "ref"}]
	decide(analyst({"tables": tables, "is_aggregate_query": true})).allow
}

test_consent_row_filter_column_or_null if {
	d := decide(analyst({"tables": [people_table], "is_aggregate_query": true}))
	d.obligations[1] == {"kind": "row_filter", "params": {"table": "shop.people", "column": "ok_analytics", "purpose": "analytics"}}
	s := decide(request({"tables": [people_table], "is_aggregate_query": true}, ["analyst"], "support"))
	s.obligations[1].params.column == null
}
