"""``release``: add OpenDP noise to the small per-key result, select partitions, post-process.

Input is what the upstream returned for ``plan.sql`` (one row per observed key). Output is the
released table: every cell noisy, every aggregate cell with its (1-alpha) half-width and a flag when
the noise swamps it, HAVING / ORDER BY / LIMIT applied to the noisy values, and the number of
observed keys that partition selection withheld (never which ones).

Post-processing that cannot cost privacy: counts are clipped at zero, averages are clipped to the
column bounds.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

from .bounding import measure_columns
from .errors import UpstreamError
from .mechanisms import half_width, noisy_min_measurement, selection_measurement, vector_measurement
from .model import DpPlan, DpResult, MeasureSpec, ResultColumn
from .postfilter import evaluate

Key = tuple[Any, ...]
Rec = tuple[dict[str, Any], tuple[Any, ...], tuple[float | None, ...], tuple[bool, ...]]


def _number(v: Any) -> float:
    if v is None:
        return 0.0
    return float(v) if not isinstance(v, float) else v


def _int(v: Any) -> int:
    return 0 if v is None else int(v)


def _key_json(key: Key) -> str:
    return json.dumps([v if isinstance(v, str | int | float | bool) or v is None else str(v) for v in key])


def _canon_table(domain: Sequence[str | int]) -> dict[str, str | int]:
    """Upstream key value (by its text) -> the declared domain value, first one winning.

    One dict per key column: scanning the domain for every row made a release quadratic in the
    size of a public key domain (minutes for 20k values)."""
    table: dict[str, str | int] = {}
    for d in domain:
        table.setdefault(str(d), d)
    return table


def _read_rows(plan: DpPlan, rows: Sequence[Sequence[Any]]) -> dict[Key, dict[str, Any]]:
    cols = measure_columns(plan.measures)
    width = len(plan.keys) + len(cols) + 1
    data: dict[Key, dict[str, Any]] = {}
    tables = [None if k.domain is None else _canon_table(k.domain) for k in plan.keys]
    for row in rows:
        if len(row) != width:
            raise UpstreamError(f"upstream returned {len(row)} columns, the plan expects {width}",
                                code="upstream_bad_result")
        key = tuple(v if t is None else t.get(str(v), v) for v, t in zip(row[:len(plan.keys)], tables, strict=True))
        cells = dict(zip(cols, row[len(plan.keys):-1], strict=True))
        cells["units"] = row[-1]
        data[key] = cells
    return data


def _noisy_vector(plan: DpPlan, m: MeasureSpec, keys: list[Key], data: dict[Key, dict[str, Any]]) -> list[Any]:
    spec = plan.mechanisms[m.mechanism]
    meas = vector_measurement(plan.noise, spec.integer, spec.record.scale)
    name = "units" if m.kind == "units" else m.column
    column: list[int] | list[float]
    if spec.integer:
        column = [_int(data.get(k, {}).get(name)) for k in keys]
    else:
        column = [_number(data.get(k, {}).get(name)) for k in keys]
    return list(meas(column)) if column else []


def _noisy_quantiles(plan: DpPlan, m: MeasureSpec, keys: list[Key], data: dict[Key, dict[str, Any]]) -> list[Any]:
    spec = plan.mechanisms[m.mechanism]
    meas = noisy_min_measurement(plan.noise, spec.record.scale)
    a, b = m.score_weights
    out: list[Any] = []
    for key in keys:
        cells = data.get(key, {})
        scores = [abs(a * _int(cells.get(f"{m.column}_lt{t}")) - b * _int(cells.get(f"{m.column}_gt{t}")))
                  for t in range(len(m.candidates))]
        out.append(m.candidates[int(meas(scores))])
    return out


def _released_keys(plan: DpPlan, data: dict[Key, dict[str, Any]]) -> tuple[list[Key], dict[Key, int], int]:
    """(released keys in a stable order, noisy unit counts from selection, number suppressed)."""
    if not plan.keys:
        return [()], {}, 0
    if plan.selection is None:
        return list(itertools.product(*[k.domain or () for k in plan.keys])), {}, 0
    spec = plan.mechanisms[plan.selection]
    assert spec.record.threshold is not None
    by_json = {_key_json(k): k for k in data}
    released = selection_measurement(spec.record.name, spec.record.scale, spec.record.threshold)(
        {j: _int(data[k]["units"]) for j, k in by_json.items()})
    keys = [by_json[j] for j in sorted(released)]
    return keys, {by_json[j]: int(v) for j, v in released.items()}, len(data) - len(keys)


def release(plan: DpPlan, rows: Sequence[Sequence[Any]]) -> DpResult:
    """Release the upstream result of ``plan.sql`` under the plan's mechanisms (fresh OpenDP noise)."""
    data = _read_rows(plan, rows)
    keys, selected_units, suppressed = _released_keys(plan, data)
    noisy: list[list[Any]] = []
    widths: list[float] = []
    for m in plan.measures:
        if m.kind == "units" and plan.selection is not None and m.mechanism == plan.selection:
            noisy.append([selected_units[k] for k in keys])
            sel = plan.mechanisms[plan.selection].record
            family = "gaussian" if sel.name == "gaussian_threshold" else "laplace"
            widths.append(half_width(family, True, sel.scale, plan.alpha))
        elif m.kind == "quantile":
            noisy.append(_noisy_quantiles(plan, m, keys, data))
            a, b = m.score_weights
            scale = plan.mechanisms[m.mechanism].record.scale
            widths.append(scale * math.log(len(m.candidates) / plan.alpha) / (a + b))
        else:
            noisy.append(_noisy_vector(plan, m, keys, data))
            spec = plan.mechanisms[m.mechanism]
            widths.append(half_width(plan.noise, spec.integer, spec.record.scale, plan.alpha))

    agg_cells: list[list[tuple[Any, float | None]]] = []
    for agg in plan.aggregates:
        cells: list[tuple[Any, float | None]] = []
        for i in range(len(keys)):
            if agg.kind in ("count", "count_col", "count_units"):
                mid = agg.measures[0]
                value = max(0, round(noisy[mid][i]))
                cells.append((value, widths[mid]))
            elif agg.kind == "sum":
                mid = agg.measures[0]
                cells.append((float(noisy[mid][i]), widths[mid]))
            elif agg.kind == "avg":
                s_id, n_id = agg.measures
                lo, hi = plan.measures[s_id].bounds or (-math.inf, math.inf)
                n = max(float(noisy[n_id][i]), 1.0)
                avg = min(max(float(noisy[s_id][i]) / n, lo), hi)
                # delta method around the noisy values: an approximation, documented in docs/dp.md
                spread = math.sqrt(widths[s_id] ** 2 + (avg * widths[n_id]) ** 2) / n
                cells.append((avg, min(spread, hi - lo)))
            else:
                mid = agg.measures[0]
                cells.append((noisy[mid][i], widths[mid]))
        agg_cells.append(cells)

    columns = tuple(ResultColumn(name=o.name, kind=o.kind,
                                 aggregate=plan.aggregates[o.index].kind if o.kind == "aggregate" else None,
                                 accuracy=("rank" if plan.aggregates[o.index].kind == "quantile" else "value")
                                 if o.kind == "aggregate" else None)
                    for o in plan.outputs)
    records: list[Rec] = []
    for i, key in enumerate(keys):
        env: dict[str, Any] = {k.sql: key[j] for j, k in enumerate(plan.keys)}
        env.update({a.sql: agg_cells[j][i][0] for j, a in enumerate(plan.aggregates)})
        values: list[Any] = []
        hws: list[float | None] = []
        flags: list[bool] = []
        for o in plan.outputs:
            if o.kind == "key":
                values.append(key[o.index])
                hws.append(None)
                flags.append(False)
            else:
                value, hw = agg_cells[o.index][i]
                values.append(value)
                hws.append(hw)
                kind = plan.aggregates[o.index].kind
                flags.append(kind != "quantile" and hw is not None and hw > plan.swamp_share * abs(float(value)))
            env[o.name.lower()] = values[-1]
        if plan.having is not None and not evaluate(plan.having, env):
            continue
        records.append((env, tuple(values), tuple(hws), tuple(flags)))

    if plan.order:
        def by_order(x: Rec, y: Rec) -> int:
            return _compare(plan, x[0], y[0])

        records.sort(key=cmp_to_key(by_order))
    start = plan.offset or 0
    end = start + plan.limit if plan.limit is not None else None
    records = records[start:end]
    return DpResult(columns=columns, rows=tuple(r[1] for r in records), half_widths=tuple(r[2] for r in records),
                    swamped=tuple(r[3] for r in records), suppressed_keys=suppressed, charge=plan.charge,
                    sql=plan.sql, alpha=plan.alpha)


def _order_value(plan: DpPlan, expr: Any, env: dict[str, Any]) -> Any:
    from sqlglot import exp

    if isinstance(expr, exp.Literal) and not expr.is_string:
        return env[plan.outputs[int(str(expr.this)) - 1].name.lower()]
    return evaluate(expr, env)


def _compare(plan: DpPlan, a: dict[str, Any], b: dict[str, Any]) -> int:
    for ordered in plan.order:
        va, vb = _order_value(plan, ordered.this, a), _order_value(plan, ordered.this, b)
        if va == vb:
            continue
        desc = bool(ordered.args.get("desc"))
        nulls_first = bool(ordered.args.get("nulls_first"))
        if va is None:
            return -1 if nulls_first else 1
        if vb is None:
            return 1 if nulls_first else -1
        if isinstance(va, Decimal) or isinstance(vb, Decimal):
            va, vb = float(va), float(vb)
        less = va < vb
        return (-1 if less else 1) * (-1 if desc else 1)
    return 0
