package privgate.query_test

test_empty_input_is_denied if {
	d := decide({})
	not d.allow
	"input_invalid" in codes(d)
}

test_missing_budget_is_denied if {
	doc := json.remove(analyst({}), ["budget"])
	codes(decide(doc)) == {"input_invalid"}
}

test_wrong_types_are_denied_not_iterated if {
	doc := json.patch(analyst({}), [
		{"op": "replace", "path": "/facts/columns", "value": "shop.people.ssn"},
		{"op": "replace", "path": "/request/principal/roles", "value": "admin"},
	])
	codes(decide(doc)) == {"input_invalid"}
}

test_missing_data_is_denied if {
	d := data.privgate.query.decision with input as analyst({})
		with data.privgate.catalog as {}
		with data.privgate.rules as {}
	codes(d) == {"data_missing"}
}
