"""Qualification: fold identifiers, resolve table names against the catalog, qualify columns.

Only the qualify steps the analyzer needs run (no full optimizer): ``normalize_identifiers``, the
catalog search path (below), ``qualify_tables``, ``qualify_columns`` (expanding ``*`` and
positional/alias references) and ``quote_identifiers`` with ``identify=False`` — identifiers are
quoted only where the dialect needs it, so the tree generates back to ordinary-looking SQL.

Unknown columns are not an error here (``validate_qualify_columns`` is off and partial
qualification is allowed): they stay as written and the lineage walk reports them as facts.
Output columns keep the names a client would see:
sqlglot aliases every projection, and for projections the person left unnamed (``count(*)``) the
generated ``_col_N`` alias is removed again after qualification (an ORDER BY that referred to it is
turned back into its position), so BI tools get the column names they asked for.
"""

from __future__ import annotations

from typing import TypeVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify_columns import qualify_columns, quote_identifiers
from sqlglot.optimizer.qualify_tables import qualify_tables

from .schema import DialectCatalog

E = TypeVar("E", bound=exp.Expr)

_UNNAMED = "privgate_unnamed"


def resolve_tables(tables: list[exp.Table], view: DialectCatalog, ctes: set[str],
                   search_path: tuple[str, ...] | None = None) -> None:
    """Give unqualified catalog table names their schema (``DialectCatalog.resolve``).

    Must run after ``normalize_identifiers``: names are compared in the dialect's folded form.
    """
    for table in tables:
        if table.args.get("db") is not None or not isinstance(table.this, exp.Identifier):
            continue
        if table.name in ctes:
            continue
        schema = view.resolve(table.name, search_path)
        if schema is not None:
            table.set("db", exp.to_identifier(schema))


def qualify(statement: E, view: DialectCatalog, dialect: Dialect, tables: list[exp.Table],
            ctes: list[exp.CTE], search_path: tuple[str, ...] | None = None) -> E:
    """Qualify ``statement`` in place (it must be a fresh parse); returns the qualified root.

    ``tables`` and ``ctes`` are the statement's Table and CTE nodes (see ``collect``).
    """
    _mark_unnamed(statement)
    statement = normalize_identifiers(statement, dialect=dialect, store_original_column_identifiers=True)
    resolve_tables(tables, view, {cte.alias for cte in ctes}, search_path)
    statement = qualify_tables(statement, dialect=dialect)
    statement = qualify_columns(statement, view.schema, expand_alias_refs=True, expand_stars=True,
                                allow_partial_qualification=True, dialect=dialect)
    statement = quote_identifiers(statement, dialect=dialect, identify=False)
    _unname(statement)
    return statement


def normalize_only(statement: E, view: DialectCatalog, dialect: Dialect, tables: list[exp.Table],
                   ctes: list[exp.CTE], search_path: tuple[str, ...] | None = None) -> E:
    """Folding and the search path without column qualification (statements without a query)."""
    statement = normalize_identifiers(statement, dialect=dialect)
    resolve_tables(tables, view, {cte.alias for cte in ctes}, search_path)
    return statement


def _outer_selects(statement: exp.Expr) -> list[exp.Select]:
    node = statement
    while isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.Select):
        return [node]
    if isinstance(node, exp.SetOperation):
        return [*_outer_selects(node.left), *_outer_selects(node.right)]
    return []


def _mark_unnamed(statement: exp.Expr) -> None:
    for select in _outer_selects(statement):
        for proj in select.expressions:
            if not isinstance(proj, exp.Alias | exp.Column | exp.Star | exp.Dot):
                proj.meta[_UNNAMED] = True


def _unname(statement: exp.Expr) -> None:
    for select in _outer_selects(statement):
        positions: dict[str, int] = {}
        for i, proj in enumerate(select.expressions):
            if isinstance(proj, exp.Alias) and proj.this.meta.get(_UNNAMED):
                positions[proj.alias] = i + 1
                proj.replace(proj.this)
            elif isinstance(proj, exp.Subquery) and proj.meta.get(_UNNAMED) and proj.alias:
                positions[proj.alias] = i + 1
                proj.set("alias", None)
        if not positions:
            continue
        order = select.args.get("order")
        if order is None:
            continue
        for ordered in order.expressions:
            key = ordered.this
            if isinstance(key, exp.Column) and not key.table and key.name in positions:
                key.replace(exp.Literal.number(positions[key.name]))
