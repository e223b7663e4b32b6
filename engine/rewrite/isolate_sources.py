"""Rule: replace every reference to a governed table by a derived table over it.

``FROM sales.customers AS c`` becomes ``FROM (SELECT customer_id, ..., consent_analytics FROM
sales.customers) AS c``: same alias, same column names (the catalog's, in catalog order). The next rules
(``mask``, ``row_filter``) shape only these marked inner SELECTs, so every use of the table — FROM, JOIN,
CTE bodies, subqueries, set-operation branches, EXISTS, correlated scalar subqueries — sees only governed
rows and values, and no clause of the user's query needs to be understood or edited. Columns the catalog
does not declare are not exposed, so they cannot leak either (the query fails instead).
"""

from __future__ import annotations

from sqlglot import exp

from ..errors import RewriteError
from .plan import RewriteContext
from .sources import governed_references

SOURCE_META = "privgate_source"
# Arguments that belong to the reference in the outer query, not to reading the base table.
_OUTER_ARGS = ("alias", "joins", "laterals", "pivots")


def source_select(key: str, table: exp.Table, ctx: RewriteContext) -> exp.Select:
    """``SELECT <catalog columns> FROM <table>``, marked as the source of ``key`` for the source rules."""
    columns = [exp.Column(this=exp.to_identifier(c.name)) for c in ctx.plan.tables[key].table.columns]
    select = exp.Select(expressions=columns).from_(table, copy=False)
    select.meta[SOURCE_META] = key
    return select


def isolated_sources(tree: exp.Expr) -> list[tuple[exp.Select, str]]:
    """Source SELECTs (built by ``source_select``) inside ``tree``, with their catalog keys."""
    found = []
    for node in tree.walk(prune=lambda n: SOURCE_META in n.meta):  # never descend into a source body
        if isinstance(node, exp.Select) and SOURCE_META in node.meta:
            found.append((node, node.meta[SOURCE_META]))
    return found


def _isolate(table: exp.Table, key: str, ctx: RewriteContext) -> None:
    alias = table.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        raise RewriteError(
            f"table alias with a column list ({table.sql(ctx.dialect)}) on governed table {key} renames "
            "columns by position, which the rewrite cannot keep exact; alias the columns in the SELECT list "
            "instead", code="rewrite_unsupported_construct")
    outer = {arg: table.args.get(arg) for arg in _OUTER_ARGS}
    for arg in _OUTER_ARGS:
        table.set(arg, None)
    if outer["alias"] is None:
        outer["alias"] = exp.TableAlias(this=table.this.copy())
    derived = exp.Subquery(**outer)
    table.replace(derived)  # detaches the base reference, which moves inside
    derived.set("this", source_select(key, table, ctx))


def _unqualify_columns(tree: exp.Expr, ctx: RewriteContext) -> None:
    """``sales.customers.email`` no longer names a base table: keep only the (alias) table part."""
    for col in tree.find_all(exp.Column):
        db = col.text("db").lower()
        if db and f"{db}.{col.table.lower()}" in ctx.plan.tables:
            col.set("db", None)
            col.set("catalog", None)


def isolate_sources(expression: exp.Expr, ctx: RewriteContext) -> exp.Expr:
    refs = list(governed_references(expression, ctx))
    if refs:
        _unqualify_columns(expression, ctx)  # before the bodies exist: they hold only bare columns
    for table, key in refs:
        if table is expression:
            raise RewriteError("the statement is a bare table reference; nothing to rewrite safely",
                               code="rewrite_unsupported_statement")
        _isolate(table, key, ctx)
    return expression
