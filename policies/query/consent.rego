# Consent: a table that records consent per purpose is read only where the person consented to the
# request's purpose. The obligation names the consent column for the purpose, or null when the table
# records no consent for it (the rewriter then lets no row through).
package privgate.query

consent_column(consent) := col if {
	col := consent[purpose]
	is_string(col)
} else := null

# A purpose the data owner declared as not resting on consent (``support: null`` in the catalog, e.g.
# contract performance) needs no filter. A purpose missing from the map gets a filter with a null
# column, which the rewriter turns into "no rows": nobody consented to it (fail closed).
consent_exempt(consent) if {
	some p, col in consent
	p == purpose
	col == null
}

obligation_tuples contains ["row_filter", name, params] if {
	some name in used_tables
	table := data.privgate.catalog.tables[name]
	consent := table.consent
	is_object(consent)
	count(consent) > 0
	not consent_exempt(consent)
	params := {"table": name, "column": consent_column(consent), "purpose": purpose}
}
