"""Which table references in a tree read a governed table.

Works on qualified trees (``"sales"."customers" AS "c"``) and on raw parsed ones alike. A bare name is a
CTE when a CTE of that name is *visible* at that point (dialect identifier normalization, non-recursive
WITH only sees earlier CTEs), otherwise it resolves to the catalog table of that name when exactly one
exists. Shapes that could name a governed table in a way we cannot follow (dynamic identifiers, BigQuery
wildcard tables, bare names matching several governed tables) fail instead of being skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from ..errors import RewriteError
from .plan import RewriteContext


def _norm(ident: exp.Expr, dialect: Dialect) -> str:
    if not isinstance(ident, exp.Identifier):
        return ident.name
    return dialect.normalize_identifier(ident.copy()).name


def _cte_names(with_: exp.With, upto: exp.Expr | None, dialect: Dialect) -> set[str]:
    """CTE names visible from inside ``upto`` (a CTE of this WITH), or from the query body when None."""
    names: set[str] = set()
    for cte in with_.expressions:
        if cte is upto and not with_.args.get("recursive"):
            break
        alias = cte.args.get("alias")
        if alias is not None and alias.this is not None:
            names.add(_norm(alias.this, dialect))
    return names


def is_cte_reference(table: exp.Table, dialect: Dialect) -> bool:
    """True when an unqualified table name refers to a CTE visible at its position."""
    if table.args.get("db") is not None or table.args.get("catalog") is not None:
        return False
    name = _norm(table.this, dialect)
    node: exp.Expr = table
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.With):
            if name in _cte_names(parent, node, dialect):
                return True
            owner = parent.parent
            if owner is None:
                return False
            node = owner  # the owner's own WITH was just checked with the right visibility
            continue
        with_ = parent.args.get("with_")
        if isinstance(with_, exp.With) and with_ is not node and name in _cte_names(with_, None, dialect):
            return True
        node = parent
    return False


def _governed_key(table: exp.Table, ctx: RewriteContext, dialect: Dialect) -> str | None:
    name = table.name.lower()
    db = table.text("db").lower()
    governed = ctx.plan.tables
    if "*" in name:  # BigQuery wildcard tables read every table with the prefix
        prefix = name.split("*", 1)[0]
        hits = [k for k in governed
                if k.rsplit(".", 1)[1].startswith(prefix) and (not db or k.startswith(db + "."))]
        if hits:
            raise RewriteError(f"wildcard table {table.sql()} may read governed table(s) {', '.join(hits)}; "
                               "name the tables explicitly", code="rewrite_wildcard_table")
        return None
    if db:
        key = f"{db}.{name}"
        return key if key in governed else None
    keys = ctx.index.by_name.get(name, ())
    hits = [k for k in keys if k in governed]
    if not hits or is_cte_reference(table, dialect):
        return None
    if len(keys) > 1:
        raise RewriteError(f"table {name!r} without a schema could be any of {', '.join(keys)}; "
                           "qualify it as schema.table", code="rewrite_ambiguous_table")
    return hits[0]


def _check_dynamic(source: exp.Expr, ctx: RewriteContext) -> None:
    """A source named by a string (Snowflake ``IDENTIFIER('t')`` / ``TABLE('t')``) must not name a governed
    table: we cannot wrap what we cannot see. Nested queries are skipped (their tables are visited)."""
    for node in source.walk(prune=lambda n: isinstance(n, exp.Query) and n is not source):
        is_text = isinstance(node, exp.RawString) or (isinstance(node, exp.Literal) and node.is_string)
        if is_text:
            text = node.name.lower().replace('"', "").replace("`", "")
            for key in ctx.plan.tables:
                if key.rsplit(".", 1)[1] in text:
                    raise RewriteError(f"source {source.sql()} is computed from a string that names governed "
                                       f"table {key}; use a plain table name",
                                       code="rewrite_dynamic_table_reference")


def governed_references(tree: exp.Expr, ctx: RewriteContext) -> Iterator[tuple[exp.Table, str]]:
    """Yield every table reference in ``tree`` that reads a governed table, with its catalog key."""
    if not ctx.plan.tables:
        return
    dialect = Dialect.get_or_raise(ctx.dialect)
    found = []
    for node in tree.walk():
        if isinstance(node, exp.From | exp.Join):
            if not isinstance(node.this, exp.Table | exp.Subquery | exp.Values | exp.Unnest | exp.Lateral):
                _check_dynamic(node.this, ctx)  # e.g. TABLE('...'), table functions
        elif isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                _check_dynamic(node, ctx)
                continue
            key = _governed_key(node, ctx, dialect)
            if key is not None:
                found.append((node, key))
    yield from found  # collected first: callers replace nodes while iterating
