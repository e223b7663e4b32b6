package privgate.query_test

test_plain_select_is_allowed if {
	d := decide(analyst({}))
	d.allow
	d.deny == []
	d.obligations == []
}

test_ddl_denied_for_analyst_allowed_for_admin if {
	codes(decide(analyst({"statement_kind": "ddl"}))) == {"statement_not_allowed"}
	decide(request({"statement_kind": "ddl"}, ["admin"], "analytics")).allow
}

test_session_commands_allowed if {
	every kind in ["set", "show", "transaction", "empty"] {
		decide(analyst({"statement_kind": kind})).allow
	}
}

test_multi_statement_and_functions if {
	d := decide(analyst({"statement_count": 2, "disallowed_functions": ["pg_sleep"]}))
	codes(d) == {"multi_statement", "function_not_allowed"}
}

test_unknown_objects_and_unsupported_denied_for_admin_too if {
	d := decide(request(
		{"unknown_tables": ["x.y"], "unknown_columns": ["shop.people.z"], "unsupported": [{"construct": "c", "detail": "d"}]},
		["admin"], "analytics",
	))
	codes(d) == {"unknown_table", "unknown_column", "unsupported_construct"}
}

test_deny_reasons_sorted_by_code if {
	d := decide(analyst({"statement_kind": "copy", "statement_count": 2, "unknown_tables": ["a.b"]}))
	[r.code | some r in d.deny] == ["multi_statement", "statement_not_allowed", "unknown_table"]
}

test_obligations_only_when_allowed if {
	d := decide(analyst({"tables": [people_table], "columns": [col("ssn", ["projected"]), col("email", ["projected"])]}))
	not d.allow
	d.obligations == []
}
