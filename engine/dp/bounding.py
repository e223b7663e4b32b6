"""Contribution bounding in SQL: the query the upstream warehouse runs instead of the analyst's.

Stages (CTEs appended after the analyst's own)::

    pgdp_src   the analyst's FROM/JOIN/WHERE, projecting unit, keys and aggregated values
    pgdp_rows  (only for per-row SUM and quantiles) at most linf rows per (unit, key)
    pgdp_ug    one row per (unit, key): row counts, sums of clamped values, quantile tallies
    pgdp_l0    at most l0 keys per unit; in the total mode also the unit's rows in its earlier keys
    final      per key: each (unit, key) contribution clipped (counts to linf, sums to
               linf * bounds), added up; plus the number of distinct units

Which rows or keys a person keeps is decided by ``MD5(salt | unit | key | values)``, ordered inside
that person's own partition: the choice depends on nothing but that person's rows (so adding or
removing someone never changes what anyone else contributes — the bounding is a stable
transformation), it is the same on every engine and every run for one salt (so releases are
repeatable and cacheable), and equal rows are interchangeable, so hash ties cannot change a result.
``random()`` has none of these properties: engines evaluate it differently, it cannot be seeded
portably, and a re-run would pick different rows. The per-query salt keeps the analyst from
steering which rows survive.

The total mode caps each person's rows across all keys at ``total`` = m: the person's keys, in the
same salted order as the l0 stage, are given their rows until m are spent (``kept`` = min(n, m -
rows in earlier keys); keys with nothing left are dropped), and each (unit, key) contribution is
scaled by kept / n (counts floored), i.e. the per-unit mean times the rows kept — aggregate-then-clip,
as ``sum_mode: per_unit`` does per key. One person then moves the whole per-key vector by at most m
rows (L1 = m x bound, no l0 factor) in at most m keys; the l0 stage and the per-key clip to linf
still apply, so every groups-mode bound holds too. This is a window over (unit, key) rows, not over
every row: a row window partitioned by unit alone cost 2-4x the query time on 1M orders.

Tables with ``one_row_per_unit`` (and no joins) skip every stage but ``pgdp_src``: each person is one
row in one group, so l0 = linf = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

from .model import MeasureSpec

PREFIX = "pgdp_"


def _col(name: str) -> exp.Column:
    return exp.column(name)


def _num(value: Decimal | float | int) -> exp.Expression:
    text = format(Decimal(str(value)).normalize(), "f") if not isinstance(value, int) else str(value)
    return exp.Literal.number(text)


def _text(expr: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=exp.cast(expr.copy(), "TEXT"), expressions=[exp.Literal.string("")])


def row_hash(salt: str, parts: Sequence[exp.Expression]) -> exp.Expression:
    pieces: list[exp.Expression] = [exp.Literal.string(salt)]
    for part in parts:
        pieces.extend([exp.Literal.string("|"), _text(part)])
    return exp.MD5(this=exp.Concat(expressions=pieces))


def clamp(expr: exp.Expression, lower: Decimal | float | int, upper: Decimal | float | int) -> exp.Expression:
    """x clamped to [lower, upper], NULL kept NULL, as one CASE: portable (PostgreSQL's GREATEST skips
    NULLs, Snowflake's returns NULL) and compact (sqlglot expands LEAST/GREATEST for DuckDB)."""
    lo, hi = _num(lower), _num(upper)
    return exp.Case(ifs=[exp.If(this=exp.Is(this=expr.copy(), expression=exp.Null()), true=exp.Null()),
                         exp.If(this=exp.LT(this=expr.copy(), expression=lo), true=lo.copy()),
                         exp.If(this=exp.GT(this=expr.copy(), expression=hi), true=hi.copy())],
                    default=expr.copy())


def _count_if(cond: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))],
                                 default=exp.Literal.number(0)))


@dataclass(frozen=True)
class Bounding:
    """Inputs of the SQL builder; expressions are from the analyst's qualified tree."""

    unit: exp.Expression
    keys: tuple[exp.Expression, ...]
    domains: tuple[tuple[str | int, ...] | None, ...]
    values: tuple[exp.Expression, ...]
    measures: tuple[MeasureSpec, ...]
    value_index: dict[str, int]
    l0: int
    linf: int
    one_row: bool
    limit_groups: bool
    per_row: bool
    sum_mode: str
    salt: str
    total: int | None = None


def _source(select: exp.Select, b: Bounding) -> exp.Select:
    src = select.copy()
    for arg in ("with_", "group", "having", "order", "limit", "offset", "distinct"):
        src.set(arg, None)
    projections: list[exp.Expr] = [exp.alias_(b.unit.copy(), f"{PREFIX}unit")]
    projections += [exp.alias_(k.copy(), f"{PREFIX}k{i}") for i, k in enumerate(b.keys)]
    projections += [exp.alias_(v.copy(), f"{PREFIX}v{j}") for j, v in enumerate(b.values)]
    src.set("expressions", projections)
    conds: list[exp.Expression] = [exp.Not(this=exp.Is(this=b.unit.copy(), expression=exp.Null()))]
    for key, domain in zip(b.keys, b.domains, strict=True):
        if domain is not None:
            lits = [exp.Literal.string(v) if isinstance(v, str) else exp.Literal.number(v) for v in domain]
            conds.append(exp.In(this=key.copy(), expressions=lits))
    for cond in conds:
        src = src.where(cond, copy=False)
    return src


def _value(b: Bounding, m: MeasureSpec) -> exp.Expression:
    return _col(f"{PREFIX}v{b.value_index[m.value_sql or '']}")


def _per_group_columns(b: Bounding) -> list[exp.Expr]:
    """Per (unit, key) in the general path, or per key in the one-row path: raw, clipped later."""
    cols: list[exp.Expr] = []
    for m in b.measures:
        if m.kind == "rows":
            cols.append(exp.alias_(exp.Count(this=exp.Star()), m.column))
        elif m.kind == "nonnull":
            cols.append(exp.alias_(exp.Count(this=_value(b, m)), m.column))
        elif m.kind == "sum":
            assert m.bounds is not None
            cols.append(exp.alias_(exp.Sum(this=clamp(_value(b, m), *m.bounds)), m.column))
        elif m.kind == "wsum":
            # AVG in per_unit mode: the person's mean times min(rows, linf), so the count and the sum
            # of an average weigh each person alike and neither is biased by the other's clipping.
            assert m.bounds is not None
            n = exp.Count(this=_value(b, m))
            total = exp.cast(exp.Sum(this=clamp(_value(b, m), *m.bounds)), "DOUBLE")
            capped = exp.Case(ifs=[exp.If(this=exp.GT(this=n.copy(), expression=exp.Literal.number(b.linf)),
                                          true=exp.Literal.number(b.linf))], default=n.copy())
            weighted = exp.Div(this=exp.Mul(this=total, expression=capped), expression=n.copy())
            cols.append(exp.alias_(exp.Case(ifs=[exp.If(this=exp.EQ(this=n.copy(), expression=exp.Literal.number(0)),
                                                         true=exp.Null())], default=weighted), m.column))
        elif m.kind == "quantile":
            assert m.bounds is not None
            v = clamp(_value(b, m), *m.bounds)
            for t, c in enumerate(m.candidates):
                cols.append(exp.alias_(_count_if(exp.LT(this=v.copy(), expression=_num(c))), f"{m.column}_lt{t}"))
                cols.append(exp.alias_(_count_if(exp.GT(this=v.copy(), expression=_num(c))), f"{m.column}_gt{t}"))
    return cols


def _kept(b: Bounding) -> exp.Expression:
    """Total mode: the rows of this (unit, key) still within the unit's m, given its earlier keys."""
    left = exp.Sub(this=exp.Literal.number(b.total or 0), expression=_col(f"{PREFIX}before"))
    return exp.Case(ifs=[exp.If(this=exp.LTE(this=_col(f"{PREFIX}n"), expression=left.copy()),
                                true=_col(f"{PREFIX}n"))], default=left)


def _share(b: Bounding, m: MeasureSpec) -> exp.Expression:
    """A (unit, key) contribution before clipping; in the total mode scaled to the rows kept."""
    if b.total is None:
        return _col(m.column)
    if m.kind == "rows":
        return _kept(b)
    scaled = exp.Div(this=exp.Mul(this=exp.cast(_col(m.column), "DOUBLE"), expression=_kept(b)),
                     expression=_col(f"{PREFIX}n"))
    return exp.Floor(this=scaled) if m.kind == "nonnull" else scaled


def _clipped_sums(b: Bounding) -> list[exp.Expr]:
    """Final stage: clip each (unit, key) contribution, then add them up per key."""
    out: list[exp.Expr] = []
    for m in b.measures:
        if m.kind in ("rows", "nonnull"):
            out.append(exp.alias_(exp.Sum(this=clamp(_share(b, m), 0, b.linf)), m.column))
        elif m.kind in ("sum", "wsum"):
            assert m.bounds is not None
            lo, hi = m.bounds
            out.append(exp.alias_(exp.Sum(this=clamp(_share(b, m), b.linf * min(lo, 0.0), b.linf * max(hi, 0.0))),
                                  m.column))
        elif m.kind == "quantile":
            out += [exp.alias_(exp.Sum(this=_col(c)), c) for c in measure_columns([m])]
    return out


def measure_columns(measures: Sequence[MeasureSpec]) -> list[str]:
    """Names of the final SELECT's measure columns, in order (after the keys, before ``pgdp_units``)."""
    out: list[str] = []
    for m in measures:
        if m.kind == "quantile":
            for t in range(len(m.candidates)):
                out += [f"{m.column}_lt{t}", f"{m.column}_gt{t}"]
        elif m.kind != "units":
            out.append(m.column)
    return out


def build_sql(select: exp.Select, b: Bounding) -> exp.Select:
    """The bounded query as a sqlglot tree; generate it in the upstream dialect."""
    key_cols = [_col(f"{PREFIX}k{i}") for i in range(len(b.keys))]
    src = _source(select, b)
    ctes: list[tuple[str, exp.Select]] = []
    if b.one_row:
        final = exp.select(*[k.copy() for k in key_cols], *_per_group_columns(b),
                           exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col(f"{PREFIX}unit")])),
                                      f"{PREFIX}units")).from_(f"{PREFIX}src")
    else:
        grouping = [_col(f"{PREFIX}unit"), *[k.copy() for k in key_cols]]
        stage_from = f"{PREFIX}src"
        if b.per_row:
            order = row_hash(b.salt, [_col(f"{PREFIX}unit"), *key_cols,
                                      *[_col(f"{PREFIX}v{j}") for j in range(len(b.values))]])
            rn = exp.Window(this=exp.RowNumber(), partition_by=[g.copy() for g in grouping],
                            order=exp.Order(expressions=[exp.Ordered(this=order)]))
            ctes.append((f"{PREFIX}rows", exp.select(exp.Star(), exp.alias_(rn, f"{PREFIX}rn")).from_(stage_from)))
            stage_from = f"{PREFIX}rows"
        extra: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), f"{PREFIX}n")] if b.total is not None else []
        ug = exp.select(*[g.copy() for g in grouping], *_per_group_columns(b), *extra,
                        exp.alias_(row_hash(b.salt, grouping), f"{PREFIX}h")).from_(stage_from)
        if b.per_row:
            ug = ug.where(exp.LTE(this=_col(f"{PREFIX}rn"), expression=exp.Literal.number(b.linf)))
        ug = ug.group_by(*[g.copy() for g in grouping])
        ctes.append((f"{PREFIX}ug", ug))
        final_from = f"{PREFIX}ug"
        if b.limit_groups:
            gn = exp.Window(this=exp.RowNumber(), partition_by=[_col(f"{PREFIX}unit")],
                            order=exp.Order(expressions=[exp.Ordered(this=_col(f"{PREFIX}h"))]))
            cols: list[exp.Expr] = [exp.Star(), exp.alias_(gn, f"{PREFIX}gn")]
            if b.total is not None:
                # rows of the unit's earlier keys, in the same order (0 for its first key)
                before = exp.Window(this=exp.Sum(this=_col(f"{PREFIX}n")), partition_by=[_col(f"{PREFIX}unit")],
                                    # (h is never NULL; NULLS FIRST is BigQuery's default, so it stays writable there)
                                    order=exp.Order(expressions=[exp.Ordered(this=_col(f"{PREFIX}h"),
                                                                             nulls_first=True)]),
                                    spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                                                        end=exp.Literal.number(1), end_side="PRECEDING"))
                cols.append(exp.alias_(exp.Coalesce(this=before, expressions=[exp.Literal.number(0)]),
                                       f"{PREFIX}before"))
            ctes.append((f"{PREFIX}l0", exp.select(*cols).from_(final_from)))
            final_from = f"{PREFIX}l0"
        final = exp.select(*[k.copy() for k in key_cols], *_clipped_sums(b),
                           exp.alias_(exp.Count(this=exp.Star()), f"{PREFIX}units")).from_(final_from)
        if b.limit_groups:
            final = final.where(exp.LTE(this=_col(f"{PREFIX}gn"), expression=exp.Literal.number(b.l0)))
        if b.total is not None:
            final = final.where(exp.LT(this=_col(f"{PREFIX}before"), expression=exp.Literal.number(b.total)))
    if b.keys:
        final = final.group_by(*[k.copy() for k in key_cols])
    original = select.args.get("with_")
    if original is not None:
        final.set("with_", original.copy())
    final = final.with_(f"{PREFIX}src", as_=src, copy=False)
    for name, cte in ctes:
        final = final.with_(name, as_=cte, copy=False)
    return final
