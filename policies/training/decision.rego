# The training surface's one decision, same shape as privgate.query's:
#   {"allow": bool, "deny": [{code, message, rule}], "obligations": [{kind, params}]}
# for one round of a federated training job (input.job.round >= 1) or the whole job (round 0,
# `privgate check`). Input: engine/training/policy_io.py::TrainingPolicyInput. Settings:
# data.privgate.training_rules (rules/training.yaml); catalog: data.privgate.catalog.
#
# Domain-level requirements (unknown domain, purpose, sharing agreement with the coordinator, DP or
# secure aggregation demanded by the domain) EXCLUDE that domain from the round; job-level problems
# (purpose, PII features, DP parameters out of bounds, too few domains, budget) DENY it.
# Sets of arrays sort alike in OPA and regorus, so lists are ordered deterministically. No set
# unions of comprehensions (the regorus RVM lost values there): every set is a partial rule.
package privgate.training

deny := [{"code": t[0], "message": t[1], "rule": t[2]} | some t in sort(deny_tuples)]

allow := count(deny) == 0

obligations := [{"kind": t[0], "params": t[2]} |
	allow
	some t in sort(obligation_tuples)
]

decision := {"allow": allow, "deny": deny, "obligations": obligations}

# --- input and data ------------------------------------------------------------------------------

input_well_formed if {
	input.version == 1
	is_string(input.request.principal.id)
	is_string(input.request.purpose)
	input.request.surface == "training"
	is_string(input.job.coordinator)
	is_number(input.job.round)
	is_number(input.job.clients_per_round)
	is_boolean(input.job.secure_aggregation)
	is_array(input.domains)
	is_boolean(input.budget.affordable)
	is_string(input.budget.epsilon)
}

settings_present if {
	is_object(data.privgate.training_rules.purposes)
	is_object(data.privgate.training_rules.dp)
	is_object(data.privgate.training_rules.default_domain)
	is_number(data.privgate.training_rules.min_domains)
	is_object(data.privgate.catalog.domains)
}

ready if {
	input_well_formed
	settings_present
}

deny_tuples contains ["input_invalid", msg, "privgate.training.input"] if {
	not input_well_formed
	msg := "the training policy input is malformed (version 1 with request, job, domains and budget expected)"
}

deny_tuples contains ["data_missing", msg, "privgate.training.input"] if {
	input_well_formed
	not settings_present
	msg := "data.privgate.training_rules (rules/training.yaml) or the catalog is missing from the policy data"
}

settings := data.privgate.training_rules

purpose := input.request.purpose

dp_on if is_object(input.job.dp)

# --- purpose and features ------------------------------------------------------------------------

purpose_rules := settings.purposes[purpose]

deny_tuples contains ["training_purpose_not_allowed", msg, "privgate.training.purpose"] if {
	ready
	not purpose_rules
	msg := sprintf("training is not allowed for purpose %q; allowed: %v", [purpose, sort(object.keys(settings.purposes))])
}

entity_allowed(e) if e in purpose_rules.allowed_entities

deny_tuples contains ["training_pii_feature", msg, "privgate.training.features"] if {
	ready
	purpose_rules
	some d in input.domains
	some f in d.features
	some e in f.pii
	not entity_allowed(e)
	msg := sprintf("domain %s: feature %s.%s carries PII (%s), not allowed as a training feature for purpose %q; drop the column or derive a non-identifying feature", [d.name, f.table, f.column, e, purpose])
}

deny_tuples contains [p.code, msg, "privgate.training.features"] if {
	ready
	some d in input.domains
	some p in d.problems
	msg := p.message
}

deny_tuples contains ["training_feature_foreign_table", msg, "privgate.training.features"] if {
	ready
	some d in input.domains
	some t in d.foreign_tables
	msg := sprintf("domain %s: its feature query reads %s, which belongs to another domain; each domain trains on its own data only", [d.name, t])
}

# --- DP parameters -------------------------------------------------------------------------------

deny_tuples contains ["training_dp_out_of_bounds", msg, "privgate.training.dp"] if {
	ready
	dp_on
	to_number(input.job.dp.noise_multiplier) < to_number(settings.dp.min_noise_multiplier)
	msg := sprintf("noise_multiplier %s is below the minimum %s", [input.job.dp.noise_multiplier, settings.dp.min_noise_multiplier])
}

deny_tuples contains ["training_dp_out_of_bounds", msg, "privgate.training.dp"] if {
	ready
	dp_on
	to_number(input.job.dp.clipping_norm) > to_number(settings.dp.max_clipping_norm)
	msg := sprintf("clipping_norm %s is above the maximum %s", [input.job.dp.clipping_norm, settings.dp.max_clipping_norm])
}

deny_tuples contains ["training_dp_out_of_bounds", msg, "privgate.training.dp"] if {
	ready
	dp_on
	to_number(input.job.dp.target_delta) > to_number(settings.dp.max_target_delta)
	msg := sprintf("target_delta %s is above the maximum %s", [input.job.dp.target_delta, settings.dp.max_target_delta])
}

# --- secure aggregation --------------------------------------------------------------------------
# SecAgg+ shows the server only the sum of the updates, so it cannot clip them one by one: with secure
# aggregation, DP must clip on the clients (Flower's client-side fixed clipping + fixedclipping_mod).

deny_tuples contains ["training_secagg_server_clipping", msg, "privgate.training.secagg"] if {
	ready
	dp_on
	input.job.secure_aggregation == true
	input.job.dp.clipping == "server"
	msg := "secure aggregation (SecAgg+) hides individual updates from the server, so they cannot be clipped there: set dp.clipping: client"
}

# --- domains -------------------------------------------------------------------------------------

requirements(name) := object.get(settings.domains, name, settings.default_domain)

catalog_domain(name) := data.privgate.catalog.domains[name]

shares_with_coordinator(name) if name == input.job.coordinator

shares_with_coordinator(name) if purpose in catalog_domain(name).sharing[input.job.coordinator]

exclusions contains [d.name, "training_unknown_domain", msg] if {
	ready
	some d in input.domains
	not catalog_domain(d.name)
	msg := sprintf("domain %s is not in the catalog", [d.name])
}

exclusions contains [d.name, "purpose_not_allowed", msg] if {
	ready
	some d in input.domains
	doc := catalog_domain(d.name)
	not purpose in doc.allowed_purposes
	msg := sprintf("domain %s does not allow purpose %q", [d.name, purpose])
}

exclusions contains [d.name, "training_no_sharing_agreement", msg] if {
	ready
	some d in input.domains
	catalog_domain(d.name)
	not shares_with_coordinator(d.name)
	msg := sprintf("domain %s has no sharing agreement with %s for purpose %q", [d.name, input.job.coordinator, purpose])
}

exclusions contains [d.name, "training_dp_required", msg] if {
	ready
	some d in input.domains
	requirements(d.name).require_dp == true
	not dp_on
	msg := sprintf("domain %s requires differential privacy for training; add a `dp:` block to the job", [d.name])
}

exclusions contains [d.name, "training_secagg_required", msg] if {
	ready
	some d in input.domains
	requirements(d.name).require_secure_aggregation == true
	input.job.secure_aggregation != true
	msg := sprintf("domain %s requires secure aggregation (SecAgg+)", [d.name])
}

excluded_names contains e[0] if some e in exclusions

authorized := sort([d.name | some d in input.domains; not d.name in excluded_names])

needed := max([settings.min_domains, input.job.clients_per_round])

deny_tuples contains ["training_too_few_domains", msg, "privgate.training.domains"] if {
	ready
	count(authorized) < needed
	msg := sprintf("only %d domain(s) may take part (%v); the job needs at least %d (excluded: %v)", [count(authorized), authorized, needed, sort(excluded_names)])
}

# --- budget --------------------------------------------------------------------------------------

deny_tuples contains ["budget_exhausted", msg, "privgate.training.budget"] if {
	ready
	not input.budget.affordable
	msg := sprintf("privacy budget exhausted: this %s needs %v of pure-epsilon headroom (rho %v; epsilon %s at delta %v) but only %v is left; the run stops here", [scope_label, object.get(input.budget, "needed", "?"), object.get(input.budget, "rho", "?"), input.budget.epsilon, object.get(input.budget, "delta", "?"), input.budget.remaining])
}

scope_label := "job" if input.job.round == 0

else := "round"

# --- obligations ---------------------------------------------------------------------------------

excluded_list := [{"domain": e[0], "code": e[1], "message": e[2]} | some e in sort(exclusions)]

obligation_tuples contains ["federation", "", params] if {
	ready
	params := {"domains": authorized, "excluded": excluded_list, "clients_per_round": input.job.clients_per_round}
}

obligation_tuples contains ["dp", "", params] if {
	ready
	dp_on
	params := {
		"noise_multiplier": input.job.dp.noise_multiplier,
		"clipping_norm": input.job.dp.clipping_norm,
		"clipping": input.job.dp.clipping,
		"target_delta": input.job.dp.target_delta,
		"epsilon": input.budget.epsilon,
		"delta": input.budget.delta,
	}
}

secagg_needed if {
	some name in authorized
	requirements(name).require_secure_aggregation == true
}

obligation_tuples contains ["secure_aggregation", "", {}] if {
	ready
	secagg_needed
}
