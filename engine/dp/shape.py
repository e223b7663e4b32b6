"""Read the outer SELECT of a DP query into keys, aggregates and post-noise clauses.

The accepted shape is ``SELECT keys, aggregates FROM sources [WHERE] [GROUP BY keys] [HAVING]
[ORDER BY] [LIMIT]``. Everything the outer query computes after aggregation (HAVING, ORDER BY,
LIMIT) is re-evaluated over the noisy cells, never upstream over true values.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

from .errors import DpError
from .postfilter import check_expression
from .sources import SelectInfo

ALLOWED = ("COUNT(*), COUNT(col), COUNT(DISTINCT <privacy unit>), SUM(col), AVG(col), MEDIAN(col) and "
           "PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY col) over columns with declared bounds")


@dataclass(frozen=True)
class Aggregate:
    kind: str
    sql: str
    value: exp.Expression | None = None
    bounds: tuple[Decimal, Decimal] | None = None
    alpha: float | None = None


@dataclass(frozen=True)
class Key:
    expr: exp.Expression
    sql: str
    name: str
    domain: tuple[str | int, ...] | None
    per_unit: bool = False


@dataclass(frozen=True)
class Shape:
    keys: tuple[Key, ...]
    aggregates: tuple[Aggregate, ...]
    outputs: tuple[tuple[str, str, int], ...]
    having: exp.Expression | None
    order: tuple[exp.Ordered, ...]
    limit: int | None
    offset: int | None


def _bounds(info: SelectInfo, arg: exp.Expression, func: str) -> tuple[Decimal, Decimal]:
    origin = info.origin(arg) if isinstance(arg, exp.Column) else None
    if origin is None or origin.column.bounds is None:
        where = f"{origin.table}.{origin.column.name}" if origin else arg.sql()
        raise DpError(f"{func}({arg.sql()}) needs declared value bounds and {where} has none; declare "
                      "bounds: {lower, upper} on that column in the catalog (privgate never reads bounds from the "
                      "data), or aggregate a column that has them", code="dp_missing_bounds")
    return origin.column.bounds.lower, origin.column.bounds.upper


def _alpha(node: exp.Expression) -> float:
    if not isinstance(node, exp.Literal) or node.is_string:
        raise DpError(f"percentile {node.sql()} must be a numeric literal", code="dp_unsupported_aggregate")
    value = float(node.this)
    if not 0 < value < 1:
        raise DpError(f"percentile {value} must be strictly between 0 and 1", code="dp_unsupported_aggregate")
    return value


def classify(node: exp.Expr, info: SelectInfo) -> Aggregate:
    """One supported aggregate, or a denial that says which aggregates would be allowed."""
    sql = node.sql()
    if isinstance(node, exp.Count):
        arg = node.this
        if isinstance(arg, exp.Star) or arg is None:
            return Aggregate("count", sql)
        if isinstance(arg, exp.Distinct):
            inner = arg.expressions
            if len(inner) == 1 and isinstance(inner[0], exp.Column) and info.is_unit(inner[0]):
                return Aggregate("count_units", sql)
            raise DpError(f"{sql}: COUNT(DISTINCT ...) is only supported on the privacy unit (one per person); "
                          f"allowed: {ALLOWED}", code="dp_unsupported_aggregate")
        return Aggregate("count_col", sql, value=arg)
    if isinstance(node, exp.Sum | exp.Avg):
        func = "SUM" if isinstance(node, exp.Sum) else "AVG"
        if isinstance(node.this, exp.Distinct):
            raise DpError(f"{sql}: {func}(DISTINCT ...) is not supported under DP; allowed: {ALLOWED}",
                          code="dp_unsupported_aggregate")
        return Aggregate(func.lower(), sql, value=node.this, bounds=_bounds(info, node.this, func))
    if isinstance(node, exp.Median):
        return Aggregate("quantile", sql, value=node.this, bounds=_bounds(info, node.this, "MEDIAN"), alpha=0.5)
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont | exp.PercentileDisc):
        order = node.expression
        ordered = order.expressions if isinstance(order, exp.Order) else []
        if len(ordered) != 1:
            raise DpError(f"{sql}: WITHIN GROUP needs exactly one ORDER BY column", code="dp_unsupported_aggregate")
        col = ordered[0].this
        return Aggregate("quantile", sql, value=col, bounds=_bounds(info, col, "PERCENTILE_CONT"),
                         alpha=_alpha(node.this.this))
    if isinstance(node, exp.PercentileCont | exp.PercentileDisc | exp.Quantile) and node.args.get("expression"):
        col = node.this
        q: exp.Expression = node.args.get("expression") or node.args["quantile"]
        return Aggregate("quantile", sql, value=col, bounds=_bounds(info, col, "QUANTILE"), alpha=_alpha(q))
    if isinstance(node, exp.Min | exp.Max):
        raise DpError(f"{sql}: MIN/MAX release one person's value and have no useful DP form; use "
                      f"PERCENTILE_CONT(0.05/0.95) instead. Allowed: {ALLOWED}", code="dp_unsupported_aggregate")
    raise DpError(f"{sql}: aggregate not supported under DP; allowed: {ALLOWED}", code="dp_unsupported_aggregate")


def _is_agg(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc | exp.WithinGroup)


def _collect(expr: exp.Expression, info: SelectInfo, aggs: dict[str, Aggregate]) -> None:
    """Add every aggregate inside expr (HAVING / ORDER BY) to aggs."""
    if _is_agg(expr):
        agg = classify(expr, info)
        aggs.setdefault(agg.sql, agg)
        return
    for child in expr.iter_expressions():
        _collect(child, info, aggs)


def _int_literal(node: exp.Expression | None, what: str) -> int | None:
    if node is None:
        return None
    value = node.expression if isinstance(node, exp.Limit | exp.Offset) else node
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    raise DpError(f"{what} must be a non-negative integer literal under DP", code="dp_unsupported_clause")


def read_shape(select: exp.Select, info: SelectInfo) -> Shape:
    for arg in ("distinct", "qualify", "windows"):
        if select.args.get(arg):
            raise DpError(f"{arg.upper()} is not supported in a DP query; drop it", code="dp_unsupported_clause")
    if any(isinstance(n, exp.Window) for proj in select.selects for n in proj.walk()):
        raise DpError("window functions are not supported in a DP query; aggregate with GROUP BY instead",
                      code="dp_unsupported_clause")
    group = select.args.get("group")
    if group and (any(group.args.get(a) for a in ("rollup", "cube", "grouping_sets", "totals"))
                  or any(isinstance(e, exp.Rollup | exp.Cube | exp.GroupingSets) for e in group.expressions)):
        raise DpError("ROLLUP/CUBE/GROUPING SETS are not supported under DP; run one GROUP BY per grouping",
                      code="dp_unsupported_clause")
    keys: list[Key] = []
    names = {(p.this if isinstance(p, exp.Alias) else p).sql(): p.alias_or_name for p in select.selects}
    for expr in group.expressions if group else []:
        if any(_is_agg(n) or isinstance(n, exp.Window | exp.Subquery | exp.Select) for n in expr.walk()):
            raise DpError(f"GROUP BY {expr.sql()}: keys must be plain columns or scalar expressions",
                          code="dp_unsupported_clause")
        if isinstance(expr, exp.Column) and info.is_unit(expr):
            raise DpError(f"GROUP BY {expr.sql()} groups by the privacy unit, which releases per-person values; "
                          "group by a coarser attribute (e.g. country, segment)", code="dp_group_by_unit")
        origin = info.origin(expr) if isinstance(expr, exp.Column) else None
        domain = origin.column.public_keys if origin is not None else None
        cols = list(expr.find_all(exp.Column))
        per_unit = bool(cols) and all(info.one_value_per_unit(c) for c in cols)
        keys.append(Key(expr, expr.sql(), names.get(expr.sql(), expr.alias_or_name or expr.sql()), domain, per_unit))
    key_sqls = {k.sql: i for i, k in enumerate(keys)}
    aggs: dict[str, Aggregate] = {}
    outputs: list[tuple[str, str, int]] = []
    for proj in select.selects:
        target: exp.Expr = proj.this if isinstance(proj, exp.Alias) else proj
        if target.sql() in key_sqls:
            outputs.append((proj.alias_or_name, "key", key_sqls[target.sql()]))
        elif _is_agg(target):
            agg = classify(target, info)
            aggs.setdefault(agg.sql, agg)
            outputs.append((proj.alias_or_name, "aggregate", list(aggs).index(agg.sql)))
        else:
            raise DpError(f"SELECT item {target.sql()} is neither a GROUP BY key nor an aggregate; under DP the "
                          f"SELECT list may hold GROUP BY keys and {ALLOWED}", code="dp_unsupported_projection")
    if not any(kind == "aggregate" for _, kind, _ in outputs):
        raise DpError(f"a DP query must release at least one aggregate ({ALLOWED})", code="dp_unsupported_projection")
    having = select.args.get("having")
    having_expr = having.this if having else None
    if having_expr is not None:
        _collect(having_expr, info, aggs)
    order = select.args.get("order")
    ordered = tuple(order.expressions) if order else ()
    for o in ordered:
        _collect(o.this, info, aggs)
    out_names = {name.lower() for name, _, _ in outputs}
    for expr in ([having_expr] if having_expr is not None else []) + [o.this for o in ordered]:
        check_expression(expr, set(aggs), set(key_sqls), out_names)
    return Shape(keys=tuple(keys), aggregates=tuple(aggs.values()), outputs=tuple(outputs), having=having_expr,
                 order=ordered, limit=_int_literal(select.args.get("limit"), "LIMIT"),
                 offset=_int_literal(select.args.get("offset"), "OFFSET"))
