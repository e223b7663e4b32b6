"""Follow the privacy unit through FROM, JOINs, CTEs and derived tables of a qualified SELECT.

DP needs to know, for every row the outer query aggregates, which person it belongs to. This module
walks sqlglot scopes bottom-up and, for every source of a SELECT, records which of its output columns
carry the privacy unit and where each output column comes from (for bounds and public key domains).
Anything that would hide the unit or mix two people's rows in one row is refused here, with the
shape that would be accepted.

Prerequisite: the tree is qualified (``sqlglot.optimizer.qualify.qualify`` against the catalog
schema), so every column names its source alias.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from ..catalog import Catalog, Column, Table
from .errors import DpError


@dataclass(frozen=True)
class Origin:
    """A base-table column an output column is a plain copy of."""

    table: str
    column: Column
    is_unit: bool


@dataclass(frozen=True)
class SourceInfo:
    """What the DP planner knows about one FROM/JOIN source (a table or a derived SELECT)."""

    name: str
    public: bool
    namespace: str | None
    unit_columns: frozenset[str]
    one_row_per_unit: bool
    columns: dict[str, Origin | None] = field(default_factory=dict)


@dataclass(frozen=True)
class SelectInfo:
    """The sources of one SELECT and the privacy unit chosen for it."""

    sources: dict[str, SourceInfo]
    unit: exp.Column | None
    namespace: str | None
    one_row_per_unit: bool

    def origin(self, col: exp.Column) -> Origin | None:
        src = self.sources.get(col.table.lower()) if col.table else None
        return src.columns.get(col.name.lower()) if src else None

    def one_value_per_unit(self, col: exp.Column) -> bool:
        """True when col comes from a one-row-per-unit source joined on the unit: constant per person."""
        src = self.sources.get(col.table.lower()) if col.table else None
        return bool(src and not src.public and src.one_row_per_unit)

    def is_unit(self, col: exp.Column) -> bool:
        src = self.sources.get(col.table.lower()) if col.table else None
        return bool(src and not src.public and col.name.lower() in src.unit_columns)


def _catalog_table(catalog: Catalog, table: exp.Table) -> tuple[str, Table]:
    qname = f"{table.db}.{table.name}".lower() if table.db else table.name.lower()
    for name, _domain, t in catalog.iter_tables():
        if name == qname or (not table.db and name.split(".", 1)[1] == qname):
            return name, t
    raise DpError(f"table {qname!r} is not in the catalog; DP can only bound contributions for declared tables",
                  code="dp_unknown_table")


def table_source(catalog: Catalog, table: exp.Table) -> SourceInfo:
    qname, t = _catalog_table(catalog, table)
    unit = t.privacy_unit.column.lower() if t.privacy_unit else None
    if not t.public and unit is None:
        raise DpError(f"table {qname!r} is neither public nor declares a privacy_unit, so no one's contribution "
                      "can be bounded; declare its privacy_unit in the catalog", code="dp_no_privacy_unit")
    cols: dict[str, Origin | None] = {c.name.lower(): Origin(qname, c, c.name.lower() == unit) for c in t.columns}
    return SourceInfo(name=qname, public=t.public, namespace=t.privacy_unit.namespace if t.privacy_unit else None,
                      unit_columns=frozenset({unit} if unit else set()), one_row_per_unit=t.one_row_per_unit,
                      columns=cols)


def _unit_edges(select: exp.Select) -> list[exp.EQ]:
    """Top-level equalities of every ON clause and of WHERE: the conditions that can tie two units."""
    conds: list[exp.Expression] = []
    for join in select.args.get("joins") or []:
        if join.args.get("on"):
            conds.append(join.args["on"])
    if select.args.get("where"):
        conds.append(select.args["where"].this)
    eqs: list[exp.EQ] = []
    for cond in conds:
        for part in cond.flatten() if isinstance(cond, exp.And) else [cond]:
            node = part.unnest()
            if isinstance(node, exp.EQ) and isinstance(node.this, exp.Column) and isinstance(node.expression,
                                                                                             exp.Column):
                eqs.append(node)
    return eqs


def _check_joins(select: exp.Select, sources: dict[str, SourceInfo]) -> None:
    for join in select.args.get("joins") or []:
        alias = join.this.alias_or_name.lower()
        src = sources.get(alias)
        side = (join.args.get("side") or "").upper()
        kind = (join.args.get("kind") or "").upper()
        if join.args.get("using"):
            raise DpError("JOIN ... USING is not supported under DP; write JOIN ... ON a.col = b.col",
                          code="dp_unsupported_join")
        if kind in ("SEMI", "ANTI", "ASOF") or join.args.get("method"):
            raise DpError(f"{kind or 'this'} join is not supported under DP; use INNER JOIN or LEFT JOIN to a "
                          "public table", code="dp_unsupported_join")
        if side in ("RIGHT", "FULL") or (side == "LEFT" and src is not None and not src.public):
            raise DpError(f"{side} JOIN that can produce rows without a person ({alias}) is not supported under DP; "
                          "use INNER JOIN, or LEFT JOIN where the right side is a public table",
                          code="dp_unsupported_join")
        if kind == "CROSS" and src is not None and not src.public:
            raise DpError("CROSS JOIN of two tables with a privacy unit mixes people's rows; join them ON their "
                          "privacy-unit columns", code="dp_unsupported_join")


def _connected(select: exp.Select, sources: dict[str, SourceInfo]) -> None:
    private = [a for a, s in sources.items() if not s.public]
    parent = {a: a for a in private}

    def find(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a

    for eq in _unit_edges(select):
        left, right = eq.this, eq.expression
        la, ra = left.table.lower(), right.table.lower()
        ls, rs = sources.get(la), sources.get(ra)
        if (ls and rs and la != ra and not ls.public and not rs.public
                and left.name.lower() in ls.unit_columns and right.name.lower() in rs.unit_columns):
            parent[find(la)] = find(ra)
    roots = {find(a) for a in private}
    if len(roots) > 1:
        names = ", ".join(sorted(private))
        raise DpError(f"sources {names} carry a privacy unit but are not joined on it, so one row could belong to "
                      "two people; join them ON their privacy-unit columns (e.g. o.customer_id = c.customer_id)",
                      code="dp_unsupported_join")


def analyze_select(scope: Scope, catalog: Catalog, infos: dict[Scope, SourceInfo]) -> SelectInfo:
    """Sources of ``scope`` (derived ones must already be in ``infos``) and the unit of its rows."""
    select = scope.expression
    if not isinstance(select, exp.Select):
        raise DpError("set operations (UNION/INTERSECT/EXCEPT) are not supported under DP; aggregate one SELECT",
                      code="dp_unsupported_statement")
    sources: dict[str, SourceInfo] = {}
    for alias, (node, source) in scope.selected_sources.items():
        if isinstance(source, exp.Table):
            sources[alias.lower()] = table_source(catalog, source)
        elif isinstance(source, Scope) and source in infos:
            sources[alias.lower()] = infos[source]
        else:
            raise DpError(f"FROM item {node.sql()!r} is not a table, CTE or derived table; DP needs every row to "
                          "come from a declared table", code="dp_unsupported_subquery")
    _check_joins(select, sources)
    private = {a: s for a, s in sources.items() if not s.public}
    namespaces = {s.namespace for s in private.values()}
    if len(namespaces) > 1:
        raise DpError(f"tables with different privacy units ({', '.join(sorted(str(n) for n in namespaces))}) "
                      "cannot be combined in one DP query", code="dp_mixed_privacy_units")
    _connected(select, sources)
    unit: exp.Column | None = None
    for alias, src in private.items():
        if not src.unit_columns:
            raise DpError(f"{alias!r} has rows of people but its privacy-unit column is not selected; project the "
                          "unit column (e.g. customer_id) in the subquery or CTE", code="dp_unit_not_traceable")
        unit = exp.column(sorted(src.unit_columns)[0], table=alias, quoted=True)
        break
    one_row = len(sources) == 1 and not select.args.get("joins") and all(
        s.one_row_per_unit for s in private.values()) and bool(private)
    return SelectInfo(sources=sources, unit=unit, namespace=next(iter(namespaces), None), one_row_per_unit=one_row)


_BLOCKING = (exp.AggFunc, exp.Window)


def derived_source(scope: Scope, catalog: Catalog, infos: dict[Scope, SourceInfo], name: str) -> SourceInfo:
    """A CTE/derived table as a source: filters, joins and projections only, the unit kept."""
    select = scope.expression
    if not isinstance(select, exp.Select):
        raise DpError(f"{name!r} uses a set operation; DP needs one SELECT per CTE/subquery",
                      code="dp_unsupported_subquery")
    for arg in ("group", "having", "limit", "offset", "distinct", "qualify"):
        if select.args.get(arg):
            raise DpError(f"CTE/subquery {name!r} uses {arg.upper()}; under DP a CTE or subquery may only filter, "
                          "join and project rows (aggregate once, in the outer query)", code="dp_unsupported_subquery")
    if any(isinstance(e, _BLOCKING) for proj in select.selects for e in proj.walk()):
        raise DpError(f"CTE/subquery {name!r} aggregates or uses window functions; under DP a CTE or subquery may "
                      "only filter, join and project rows", code="dp_unsupported_subquery")
    info = analyze_select(scope, catalog, infos)
    cols: dict[str, Origin | None] = {}
    units: set[str] = set()
    for proj in select.selects:
        target = proj.this if isinstance(proj, exp.Alias) else proj
        origin = info.origin(target) if isinstance(target, exp.Column) else None
        cols[proj.alias_or_name.lower()] = origin
        if isinstance(target, exp.Column) and info.is_unit(target):
            units.add(proj.alias_or_name.lower())
    public = all(s.public for s in info.sources.values())
    if not public and not units:
        raise DpError(f"CTE/subquery {name!r} reads rows of people but does not select their privacy-unit column; "
                      "add it (e.g. customer_id) to its SELECT list", code="dp_unit_not_traceable")
    return SourceInfo(name=name, public=public, namespace=info.namespace, unit_columns=frozenset(units),
                      one_row_per_unit=info.one_row_per_unit, columns=cols)
