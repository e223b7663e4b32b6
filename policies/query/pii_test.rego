package privgate.query_test

test_ssn_projected_denied_with_actionable_message if {
	d := decide(analyst({"tables": [people_table], "columns": [col("ssn", ["projected"])]}))
	codes(d) == {"pii_raw_projection"}
	contains(d.deny[0].message, "shop.people.ssn (US_SSN) may not leave raw (projected) for purpose analytics")
}

test_email_projected_is_hashed if {
	d := decide(analyst({"tables": [people_table], "columns": [col("email", ["projected"])]}))
	d.allow
	d.obligations[0] == {"kind": "mask", "params": {"table": "shop.people", "column": "email", "method": "hash", "entity": "EMAIL_ADDRESS"}}
	kinds(d) == ["mask", "row_filter", "row_limit"]
}

test_strictest_treatment_wins if {
	d := decide(request({"tables": [people_table], "columns": [col("note", ["projected"])]}, ["analyst"], "support"))
	d.obligations[0].params.method == "redact"
	d.obligations[0].params.entity == "PERSON"
}

test_grant_lets_pii_through_raw if {
	d := decide(request({"tables": [people_table], "columns": [col("note", ["projected", "filtered"])]}, ["agent"], "support"))
	d.allow
	kinds(d) == ["row_filter", "row_limit"]
}

test_revealing_aggregate_counts_as_raw if {
	c := object.union(col("ssn", ["aggregated"]), {"aggregates": ["max"]})
	d := decide(analyst({"tables": [people_table], "columns": [c], "is_aggregate_query": true}))
	codes(d) == {"pii_raw_projection"}
}

test_pii_filter_needs_dp if {
	facts := {"tables": [people_table], "columns": [col("tier", ["projected"]), col("email", ["filtered"])]}
	codes(decide(analyst(facts))) == {"pii_predicate_without_dp"}
	decide(analyst(object.union(facts, {"is_aggregate_query": true, "columns": [col("email", ["filtered"])]}))).allow
}
