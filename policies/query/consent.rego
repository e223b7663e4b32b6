# Consent: a table that records consent per purpose is read only where the person consented to the
# request's purpose. The obligation names the consent column for the purpose, or null when the table
# records no consent for it (the rewriter then lets no row through).
package privgate.query

consent_column(consent) := col if {
	col := consent[purpose]
	is_string(col)
} else := null

obligation_tuples contains ["row_filter", name, params] if {
	some name in used_tables
	table := data.privgate.catalog.tables[name]
	consent := table.consent
	is_object(consent)
	count(consent) > 0
	params := {"table": name, "column": consent_column(consent), "purpose": purpose}
}
