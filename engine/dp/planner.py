"""``plan_query``: a qualified SELECT + catalog + (ε, δ) → the bounded SQL and its mechanisms.

The plan is complete before anything runs: the upstream SQL, every mechanism with its sensitivity,
scale and share of the budget, and the charge read from OpenDP's privacy maps. So the ledger can
reserve the exact charge first, and a query DP cannot answer is denied before it costs anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.scope import Scope, build_scope

from ..catalog import Catalog
from .bounding import PREFIX, Bounding, build_sql
from .calibrate import choose
from .config import BoundsPolicy
from .errors import DpError
from .mechanisms import score_weights
from .model import AggSpec, DpPlan, KeySpec, MeasureSpec, OutputColumn
from .shape import Aggregate, Shape, read_shape
from .sources import SelectInfo, SourceInfo, analyze_select, derived_source, table_source

MAX_PUBLIC_CELLS = 100_000


def normalized_sql(tree: exp.Expression) -> str:
    """Canonical text of a qualified tree: the release cache's notion of 'the same question'."""
    return tree.sql(dialect="postgres", normalize=True, comments=False)


def _scope_name(scope: Scope) -> str:
    parent = scope.expression.parent
    return parent.alias_or_name if parent is not None and parent.alias_or_name else "subquery"


def _sources(tree: exp.Select, catalog: Catalog) -> SelectInfo:
    if any(isinstance(n, exp.SetOperation) for n in tree.walk()):
        raise DpError("set operations (UNION/INTERSECT/EXCEPT) are not supported under DP; aggregate one SELECT",
                      code="dp_unsupported_statement")
    with_ = tree.args.get("with_")
    if with_ is not None and with_.args.get("recursive"):
        raise DpError("recursive CTEs are not supported under DP", code="dp_unsupported_subquery")
    root = build_scope(tree)
    if root is None:
        raise DpError("could not resolve the query's scopes; is the tree qualified?", code="dp_unsupported_statement")
    infos: dict[Scope, SourceInfo] = {}
    for scope in root.traverse():
        if scope is root:
            continue
        if scope.is_derived_table or scope.is_cte:
            infos[scope] = derived_source(scope, catalog, infos, _scope_name(scope))
        elif scope.is_subquery:
            for table in scope.expression.find_all(exp.Table):
                if table.name.lower() in {c.alias_or_name.lower() for c in (with_.expressions if with_ else [])}:
                    raise DpError("subqueries in WHERE/SELECT may only read public tables under DP",
                                  code="dp_unsupported_subquery")
                if not table_source(catalog, table).public:
                    raise DpError(f"subquery over {table.sql()} (a table of people) is not supported under DP: "
                                  "it could filter by another person's data. Use a JOIN on the privacy unit, or "
                                  "subqueries over public tables only", code="dp_unsupported_subquery")
        else:
            raise DpError(f"{scope.expression.sql()[:60]!r}: table functions, LATERAL and UNNEST are not supported "
                          "under DP", code="dp_unsupported_subquery")
    return analyze_select(root, catalog, infos)


def _measures(shape: Shape, policy: BoundsPolicy, one_row: bool,
              is_unit: Callable[[exp.Expression | None], bool]) -> tuple[list[MeasureSpec], list[AggSpec]]:
    """Dedupe released quantities: AVG(x) reuses COUNT(x) and SUM(x) if asked for too.

    Over a one-row-per-person source, COUNT(*) and COUNT(unit) are the distinct-person count: planned
    as that measure, they become the partition selection's own noisy count (the whole selection share
    of ε, no split between selecting a key and counting it).
    """
    index: dict[tuple[object, ...], int] = {}
    measures: list[MeasureSpec] = []
    aggs: list[AggSpec] = []

    def need(kind: str, agg: Aggregate) -> int:
        vsql = agg.value.sql() if agg.value is not None else None
        key = (kind, vsql, agg.alpha)
        if key not in index:
            index[key] = len(measures)
            bounds = (float(agg.bounds[0]), float(agg.bounds[1])) if agg.bounds else None
            measures.append(MeasureSpec(kind=kind, column=f"{PREFIX}m{len(measures)}", value_sql=vsql,  # type: ignore[arg-type]
                                        bounds=bounds, alpha=agg.alpha))
        return index[key]

    for agg in shape.aggregates:
        ids: tuple[int, ...]
        if one_row and (agg.kind == "count" or (agg.kind == "count_col" and is_unit(agg.value))):
            # one row per person (l0 = linf = 1): COUNT(*) per key *is* the number of distinct persons
            ids = (need("units", Aggregate("count_units", agg.sql)),)
        elif agg.kind == "count":
            ids = (need("rows", agg),)
        elif agg.kind == "count_col":
            ids = (need("nonnull", agg),)
        elif agg.kind == "count_units":
            ids = (need("units", Aggregate("count_units", agg.sql)),)
        elif agg.kind == "sum":
            ids = (need("sum", agg),)
        elif agg.kind == "avg":
            weighted = policy.sum_mode == "per_unit" and not one_row
            ids = (need("wsum" if weighted else "sum", agg), need("nonnull", agg))
        else:
            ids = (need("quantile", agg),)
        aggs.append(AggSpec(kind=agg.kind, sql=agg.sql, measures=ids))  # type: ignore[arg-type]
    return measures, aggs


def _candidates(lo: float, hi: float, k: int, grid: str = "linear") -> tuple[float, ...]:
    """Quantile candidates from the declared bounds only (never from the data).

    The log grid keeps relative accuracy for skewed non-negative columns (amounts, durations):
    ``lo``, then geometric steps from ``hi / 10**4`` (or lo if larger) up to ``hi``.
    """
    if lo == hi:
        return (lo, hi + 1.0)
    if grid == "log" and lo >= 0 and hi > 0:
        start = max(lo, hi / 10**4) if lo > 0 else hi / 10**4
        n = k - 1 if lo < start else k
        ratio = (hi / start) ** (1 / (n - 1))
        geo = [round(start * ratio**i, 9) for i in range(n - 1)] + [hi]
        out = ([lo] if lo < start else []) + geo
        return tuple(sorted(set(out)))
    step = (hi - lo) / (k - 1)
    return (*(round(lo + i * step, 12) for i in range(k - 1)), hi)


def plan_query(tree: exp.Expression, catalog: Catalog, epsilon: Decimal | str | float, delta: Decimal | str | float,
               *, dialect: str, policy: BoundsPolicy | None = None, salt: str = "") -> DpPlan:
    """Plan one DP query. ``tree`` must be qualified against the catalog schema.

    ``epsilon``/``delta`` are the DP obligation's totals; the returned plan's charge never exceeds
    them. ``salt`` decides which rows/keys survive contribution bounding (inject a fresh random value
    per query; equal salts give equal SQL). Raises ``DpError`` with a ``dp_*`` code when DP cannot
    answer the query as written.
    """
    policy = policy or BoundsPolicy()
    eps, dlt = Decimal(str(epsilon)), Decimal(str(delta))
    if not eps > 0 or not 0 <= dlt < 1:
        raise DpError(f"invalid DP budget epsilon={eps} delta={dlt}; need epsilon > 0 and 0 <= delta < 1",
                      code="dp_invalid_budget")
    if any(isinstance(n, exp.Identifier) and n.name.lower().startswith(PREFIX) for n in tree.walk()):
        raise DpError(f"names starting with {PREFIX!r} are reserved for privgate's bounding stages; rename them",
                      code="dp_unsupported_statement")
    if not isinstance(tree, exp.Select):
        raise DpError("only one SELECT (no UNION/INTERSECT/EXCEPT, no DML) can run under DP; aggregate one SELECT",
                      code="dp_unsupported_statement")
    info = _sources(tree, catalog)
    if info.unit is None:
        raise DpError("the query reads only public tables: nothing to protect, so no DP plan is made",
                      code="dp_no_privacy_unit")
    shape = read_shape(tree, info)
    one_row = info.one_row_per_unit
    # A person falls into one group only when there are no keys, or every key is an attribute of a
    # one-row-per-person table joined on the unit (e.g. customers.country): then l0 = 1 exactly.
    single_group = one_row or not shape.keys or all(k.per_unit for k in shape.keys)
    l0 = 1 if single_group else policy.l0
    linf = 1 if one_row else policy.linf
    has_selection = any(k.domain is None for k in shape.keys)
    if not has_selection and shape.keys and math.prod(len(k.domain or ()) for k in shape.keys) > MAX_PUBLIC_CELLS:
        raise DpError("the product of the public key domains is too large to release every cell",
                      code="dp_unsupported_clause")
    measures, aggs = _measures(shape, policy, one_row,
                              lambda e: isinstance(e, exp.Column) and info.is_unit(e))
    per_row = not one_row and any(m.kind == "quantile" or (m.kind == "sum" and policy.sum_mode == "per_row")
                                  for m in measures)
    measures = [_with_candidates(m, policy) for m in measures]
    # the total mode (m rows per person across all keys) only helps when a person can reach several
    # keys; quantile tallies are bounded per key, so they keep the groups mode
    # (limit_groups is set whenever the total mode is possible: it needs the l0 stage's window)
    total_cap = None if single_group or any(m.kind == "quantile" for m in measures) else \
        (policy.total_rows or policy.linf)

    cal, family_note, total = choose(measures, has_selection=has_selection, l0=l0, linf=linf, eps=eps, dlt=dlt,
                                     policy=policy, total=total_cap)
    specs, final_measures, selection, charge = list(cal.specs), list(cal.measures), cal.selection, cal.charge

    values: list[exp.Expression] = []
    value_index: dict[str, int] = {}
    for agg in shape.aggregates:
        if agg.value is not None and agg.value.sql() not in value_index:
            value_index[agg.value.sql()] = len(values)
            values.append(agg.value)
    bounding = Bounding(unit=info.unit, keys=tuple(k.expr for k in shape.keys),
                        domains=tuple(k.domain for k in shape.keys), values=tuple(values),
                        measures=tuple(final_measures), value_index=value_index, l0=l0, linf=linf, one_row=one_row,
                        limit_groups=not single_group,
                        per_row=per_row and total is None, sum_mode=policy.sum_mode, salt=salt, total=total)
    try:
        sql = build_sql(tree, bounding).sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise DpError(f"the bounded query cannot be written in {dialect}: {exc}",
                      code="dp_unsupported_dialect") from exc
    notes = []
    if one_row:
        notes.append("one row per privacy unit: no row bounding needed (l0 = linf = 1)")
    elif single_group and shape.keys:
        notes.append("every GROUP BY key is a per-person attribute: one group per person (l0 = 1)")
    if one_row and any(a.kind in ("count", "count_col") for a in shape.aggregates) and \
            any(m.kind == "units" for m in final_measures):
        notes.append("one row per privacy unit: COUNT(*) counts distinct persons and is released as that count"
                     + (" (the partition selection's own noisy count, no extra budget)" if has_selection else ""))
    notes.append(family_note)
    return DpPlan(
        sql=sql, dialect=dialect,
        keys=tuple(KeySpec(name=k.name, sql=k.sql, domain=k.domain) for k in shape.keys),
        measures=tuple(final_measures), aggregates=tuple(aggs),
        outputs=tuple(OutputColumn(name=n, kind=kind, index=i) for n, kind, i in shape.outputs),  # type: ignore[arg-type]
        mechanisms=tuple(specs), selection=selection, charge=charge, l0=l0, linf=linf, total=total, salt=salt,
        alpha=policy.alpha, swamp_share=policy.swamp_share, noise=cal.family, having=shape.having,
        order=shape.order, limit=shape.limit, offset=shape.offset, normalized_sql=normalized_sql(tree),
        notes=tuple(notes))


def _replace(m: MeasureSpec, **changes: object) -> MeasureSpec:
    from dataclasses import replace

    return replace(m, **changes)  # type: ignore[arg-type]


def _with_candidates(m: MeasureSpec, policy: BoundsPolicy) -> MeasureSpec:
    if m.kind != "quantile" or m.bounds is None:
        return m
    cands = _candidates(m.bounds[0], m.bounds[1], policy.quantile_candidates, policy.quantile_grid)
    assert all(a < b for a, b in pairwise(cands))
    return _replace(m, candidates=cands, score_weights=score_weights(cands, m.alpha or 0.5))
