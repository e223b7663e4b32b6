# Fixtures for the query policy's unit tests (`opa test policies/`): a two-domain catalog, a rules
# pack, and an input builder. The full conformance corpus lives in tests/corpus/policy/.
package privgate.query_test

catalog := {
	"tables": {
		"shop.people": {
			"domain": "shop", "public": false, "privacy_unit": "person_id", "unit_namespace": "person",
			"consent": {"analytics": "ok_analytics"},
			"columns": {
				"person_id": {"type": "bigint", "pii": [], "public_keys": false, "bounded": false},
				"email": {"type": "text", "pii": ["EMAIL_ADDRESS"], "public_keys": false, "bounded": false},
				"ssn": {"type": "text", "pii": ["US_SSN"], "public_keys": false, "bounded": false},
				"note": {"type": "text", "pii": ["EMAIL_ADDRESS", "PERSON"], "public_keys": false, "bounded": false},
				"tier": {"type": "text", "pii": [], "public_keys": true, "bounded": false},
				"ok_analytics": {"type": "boolean", "pii": [], "public_keys": false, "bounded": false},
			},
		},
		"ads.clicks": {
			"domain": "ads", "public": false, "privacy_unit": "person_id", "unit_namespace": "person",
			"consent": {},
			"columns": {"person_id": {"type": "bigint", "pii": [], "public_keys": false, "bounded": false}},
		},
		"ref.countries": {
			"domain": "ref", "public": true, "privacy_unit": null, "unit_namespace": null, "consent": {},
			"columns": {"code": {"type": "text", "pii": [], "public_keys": true, "bounded": false}},
		},
	},
	"domains": {
		"shop": {"owner": "shop@x", "allowed_purposes": ["analytics", "support"], "sharing": {"ads": ["analytics"]}},
		"ads": {"owner": "ads@x", "allowed_purposes": ["analytics"], "sharing": {}},
		"ref": {"owner": "ref@x", "allowed_purposes": ["analytics", "support"], "sharing": {}},
	},
}

rules := {
	"admin_roles": ["admin"],
	"entity_treatment": {"EMAIL_ADDRESS": "hash", "PERSON": "redact", "US_SSN": "deny"},
	"default_treatment": "deny",
	"pii_grants": [{"roles": ["agent"], "purposes": ["support"], "entities": ["EMAIL_ADDRESS", "PERSON"]}],
	"max_rows": 100,
}

base_facts := {
	"dialect": "postgres", "statement_kind": "select", "statement_count": 1, "tables": [], "columns": [],
	"aggregates": [], "group_by": [], "unknown_tables": [], "unknown_columns": [],
	"disallowed_functions": [], "unsupported": [], "is_aggregate_query": false,
}

# An input for `facts` (merged over base_facts), as principal `roles`, for `purpose`.
request(facts, roles, purpose) := {
	"version": 1,
	"request": {"id": "t", "principal": {"id": "tester", "roles": roles}, "purpose": purpose, "surface": "query", "dialect": "postgres"},
	"facts": object.union(base_facts, facts),
	"budget": {"query_class": "standard", "epsilon": "0.5", "delta": "1E-7", "remaining": "1", "affordable": true},
}

analyst(facts) := request(facts, ["analyst"], "analytics")

decide(doc) := d if {
	d := data.privgate.query.decision with input as doc
		with data.privgate.catalog as catalog
		with data.privgate.rules as rules
}

codes(d) := {r.code | some r in d.deny}

kinds(d) := [o.kind | some o in d.obligations]

people_table := {"name": "shop.people", "known": true, "domain": "shop"}

col(column, usages) := {"table": "shop.people", "column": column, "usages": usages, "aggregates": []}
