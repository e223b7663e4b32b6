package privgate.training_test

import data.privgate.training

settings := {
	"purposes": {"model_training": {"allowed_entities": ["DATE_OF_BIRTH"]}},
	"default_domain": {"require_dp": true, "require_secure_aggregation": false},
	"domains": {"b": {"require_dp": true, "require_secure_aggregation": true}},
	"dp": {"min_noise_multiplier": "0.5", "max_clipping_norm": "10", "max_target_delta": "1e-5"},
	"min_domains": 2,
}

catalog := {"domains": {
	"hub": {"owner": "h", "allowed_purposes": ["model_training"], "sharing": {}},
	"a": {"owner": "a", "allowed_purposes": ["model_training"], "sharing": {"hub": ["model_training"]}},
	"b": {"owner": "b", "allowed_purposes": ["model_training"], "sharing": {"hub": ["model_training"]}},
	"c": {"owner": "c", "allowed_purposes": ["model_training"], "sharing": {}},
}}

domain(name, pii) := {"name": name, "features": [{"table": "t", "column": "x", "pii": pii}], "tables": ["t"], "foreign_tables": [], "problems": []}

job(secagg, dp) := {"name": "j", "coordinator": "hub", "round": 1, "rounds": 5, "clients_per_round": 2, "secure_aggregation": secagg, "dp": dp}

dp_ok := {"noise_multiplier": "1.0", "clipping_norm": "1.0", "clipping": "client", "target_delta": "1e-6"}

dp_server := object.union(dp_ok, {"clipping": "server"})

doc(domains, secagg, dp, affordable) := {
	"version": 1,
	"request": {"id": "r", "principal": {"id": "p", "roles": []}, "purpose": "model_training", "surface": "training"},
	"job": job(secagg, dp),
	"domains": domains,
	"budget": {"epsilon": "1", "delta": "1e-7", "rho": "0.5", "needed": "1", "remaining": "4", "affordable": affordable},
}

decide(d) := result if {
	result := training.decision with input as d
		with data.privgate.training_rules as settings
		with data.privgate.catalog as catalog
}

codes(d) := {r.code | some r in d.deny}

test_allowed_with_obligations if {
	d := decide(doc([domain("a", []), domain("b", [])], true, dp_ok, true))
	d.allow
	[o.kind | some o in d.obligations] == ["dp", "federation", "secure_aggregation"]
	d.obligations[1].params.domains == ["a", "b"]
}

test_secagg_with_server_side_clipping_is_denied if {
	d := decide(doc([domain("a", []), domain("b", [])], true, dp_server, true))
	not d.allow
	codes(d) == {"training_secagg_server_clipping"}
}

test_server_side_clipping_without_secagg_is_allowed if {
	d := decide(doc([domain("a", [])], false, dp_server, true))
	not "training_secagg_server_clipping" in codes(d)
}

test_secagg_demand_excludes_only_that_domain if {
	d := decide(doc([domain("a", []), domain("b", []), domain("hub", [])], false, dp_ok, true))
	d.allow
	d.obligations[1].params.domains == ["a", "hub"]
	[e.code | some e in d.obligations[1].params.excluded] == ["training_secagg_required"]
}

test_no_agreement_leaves_too_few if {
	d := decide(doc([domain("a", []), domain("c", [])], true, dp_ok, true))
	codes(d) == {"training_too_few_domains"}
	d.obligations == []
}

test_allowed_entity_passes_and_others_deny if {
	decide(doc([domain("a", ["DATE_OF_BIRTH"]), domain("b", [])], true, dp_ok, true)).allow
	codes(decide(doc([domain("a", ["US_SSN"]), domain("b", [])], true, dp_ok, true))) == {"training_pii_feature"}
}

test_budget_denies if {
	codes(decide(doc([domain("a", []), domain("b", [])], true, dp_ok, false))) == {"budget_exhausted"}
}
