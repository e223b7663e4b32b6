"""Source rule: keep only consenting rows in the SELECTs ``isolate_sources`` builds over governed tables.

A row filter names the boolean consent column for the request's purpose; ``column = TRUE`` keeps rows
that consented and drops both ``FALSE`` and ``NULL`` (unknown consent is no consent). A filter without
a column means the table records no consent for that purpose at all, so no row may be read: ``FALSE``.
The predicate sits in the derived table's WHERE, on the base table's raw columns, before any masking, so
masking the consent column cannot weaken it and no outer clause (OR, outer joins) can undo it.
"""

from __future__ import annotations

from sqlglot import exp

from .isolate_sources import isolated_sources
from .plan import RewriteContext


def consent_predicate(columns: tuple[str | None, ...]) -> exp.Expr:
    if None in columns:
        return exp.false()
    terms = [exp.EQ(this=exp.Column(this=exp.to_identifier(c)), expression=exp.true()) for c in columns]
    return exp.and_(*terms, copy=False) if len(terms) > 1 else terms[0]


def row_filter(expression: exp.Expr, ctx: RewriteContext) -> exp.Expr:
    for select, key in isolated_sources(expression):
        filters = ctx.plan.tables[key].filters
        if filters:
            select.where(consent_predicate(filters), copy=False)  # ANDed with any WHERE already there
    return expression
