# Data mesh: each domain (data product) lists the purposes its data may serve, and data from two
# non-public domains may be combined only where both have a sharing agreement for the purpose.
package privgate.query

# table name -> its domain, for the tables of this request.
table_domains[name] := d if {
	some name in used_tables
	table := data.privgate.catalog.tables[name]
	d := domain_name(table.domain)
}

domain_name(d) := d if is_string(d)

else := "<no domain>"

used_domains := {d | some d in table_domains}

# Domains of the non-public tables in the request; public reference tables join freely.
private_domains := {d |
	some name, d in table_domains
	table := data.privgate.catalog.tables[name]
	not table.public == true
}

domain_doc(d) := doc if {
	doc := data.privgate.catalog.domains[d]
	is_object(doc)
} else := {}

domain_allows(doc) if purpose in as_list(object.get(doc, "allowed_purposes", []))

owner_label(doc) := doc.owner if {
	is_string(doc.owner)
	doc.owner != ""
} else := "the data product's owner"

deny_tuples contains ["purpose_not_allowed", msg, rule_label("domains")] if {
	some d in used_domains
	doc := domain_doc(d)
	not domain_allows(doc)
	tables := sort({name | some name, x in table_domains; x == d})
	allowed := strings_of(object.get(doc, "allowed_purposes", []))
	msg := sprintf(
		"purpose %s is not allowed for data product %s (tables %s; allowed purposes: %s); use one of those purposes or ask %s",
		[purpose_label, d, concat(", ", tables), allowed_label(allowed), owner_label(doc)],
	)
}

allowed_label(list) := concat(", ", list) if count(list) > 0

else := "none"

shares(doc, other) if {
	sharing := doc.sharing
	is_object(sharing)
	purpose in as_list(sharing[other])
}

deny_tuples contains ["cross_domain_no_agreement", msg, rule_label("domains")] if {
	count(private_domains) > 1
	some a in private_domains
	doc := domain_doc(a)
	some b in private_domains
	a != b
	not shares(doc, b)
	msg := sprintf(
		"data products %s and %s are combined for purpose %s, but %s has no sharing agreement with %s for it; ask %s to add the purpose to its sharing agreement with %s, or query them separately",
		[a, b, purpose_label, a, b, owner_label(doc), b],
	)
}
