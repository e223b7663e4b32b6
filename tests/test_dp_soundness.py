"""Privacy soundness: charges match OpenDP's maps for any declared bounds (property tests), and outputs
on neighbouring datasets (one person removed) stay within e^epsilon of each other (empirical check)."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

import duckdb
import pytest
from dp_helpers import qualified, with_amount_bounds
from hypothesis import given, settings
from hypothesis import strategies as st

from privgate.engine.dp import BoundsPolicy, plan_query
from privgate.engine.dp.mechanisms import vector_measurement


@settings(max_examples=25, deadline=None)
@given(l0=st.integers(1, 12), linf=st.integers(1, 40), lower=st.integers(-500, 0), upper=st.integers(1, 5000),
       eps=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5"), places=3),
       per_row=st.booleans(), contribution=st.sampled_from(["auto", "groups", "total"]))
def test_sensitivity_and_charge_follow_the_declared_bounds(demo_catalog, l0, linf, lower, upper, eps, per_row,
                                                           contribution):
    catalog = with_amount_bounds(demo_catalog, Decimal(lower), Decimal(upper))
    policy = BoundsPolicy(l0=l0, linf=linf, sum_mode="per_row" if per_row else "per_unit", contribution=contribution)
    plan = plan_query(qualified("SELECT status, COUNT(*), SUM(amount) FROM sales.orders GROUP BY status", catalog),
                      catalog, eps, "0", dialect="duckdb", policy=policy, salt="h")
    count, total = plan.mechanisms
    # groups: l0 groups x linf rows; total (m = linf rows per person over all groups): no l0 factor
    rows = l0 * linf if plan.total is None else linf
    assert plan.total == {"groups": None, "total": linf}.get(contribution, None if l0 == 1 else linf)
    assert count.d_in == rows
    assert total.d_in == pytest.approx(rows * max(abs(lower), abs(upper)))
    for spec in plan.mechanisms:
        spent = vector_measurement("laplace", spec.integer, spec.record.scale).map(spec.d_in)
        assert Decimal(repr(spent)) == spec.record.epsilon
        assert spec.record.scale >= float(spec.d_in) / float(eps / 2) * (1 - 1e-9)
    assert plan.charge.epsilon <= eps and plan.charge.delta == 0
    # the SQL enforces what the sensitivity assumes
    assert f"pgdp_gn <= {l0}" in plan.sql
    if plan.total is not None:
        assert "SUM(pgdp_n) OVER (PARTITION BY pgdp_unit ORDER BY pgdp_h" in plan.sql
        assert f"pgdp_before < {linf}" in plan.sql
    assert f"> {linf} THEN {linf}" in plan.sql  # the per-key clip of the count
    if plan.total is None:
        assert f"WHEN pgdp_m0 > {linf} THEN {linf}" in plan.sql


def neighbours(path, tmp_path):
    """D = the demo orders of 300 customers; D' = D without the customer who ordered most."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS demo (READ_ONLY)")
    heavy = con.execute("SELECT customer_id FROM demo.sales.orders WHERE customer_id <= 300 GROUP BY 1 "
                        "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    out = []
    for name, cond in (("d", "customer_id <= 300"), ("d_prime", f"customer_id <= 300 AND customer_id <> {heavy}")):
        file = tmp_path / f"{name}.duckdb"
        con.execute(f"ATTACH '{file}' AS {name}")
        con.execute(f"CREATE SCHEMA {name}.sales")
        con.execute(f"CREATE TABLE {name}.sales.orders AS SELECT * FROM demo.sales.orders WHERE {cond}")
        con.execute(f"DETACH {name}")
        out.append(file)
    con.close()
    return out


def max_log_ratio(a, b, min_count):
    ca, cb = Counter(a), Counter(b)
    ratios = [abs(math.log(ca[k] / cb[k])) for k in ca.keys() & cb.keys() if min(ca[k], cb[k]) >= min_count]
    assert len(ratios) >= 5, "too few comparable bins"
    return max(ratios)


@pytest.mark.parametrize("query", ["SELECT COUNT(*) FROM sales.orders", "SELECT SUM(amount) FROM sales.orders"])
def test_neighbouring_datasets_stay_within_e_to_the_epsilon(demo_catalog, demo_duckdb, tmp_path, query):
    eps = 0.5
    policy = BoundsPolicy(linf=5)
    plan = plan_query(qualified(query, demo_catalog), demo_catalog, str(eps), "0", dialect="duckdb", policy=policy,
                      salt="n")
    spec = plan.mechanisms[0]
    truths = []
    for file in neighbours(demo_duckdb, tmp_path):
        con = duckdb.connect(str(file), read_only=True)
        truths.append(con.execute(plan.sql).fetchall()[0][0] or 0)
        con.close()
    assert 0 < abs(float(truths[0]) - float(truths[1])) <= float(spec.d_in)  # the heavy customer was bounded
    n = 60_000
    width = spec.record.scale / 2

    def sample(truth, scale):
        meas = vector_measurement("laplace", spec.integer, scale)
        value = int(truth) if spec.integer else float(truth)
        return [math.floor(x / width) for x in meas([value] * n)]

    a, b = sample(truths[0], spec.record.scale), sample(truths[1], spec.record.scale)
    # bins of width scale/2 add at most eps/2 of slack to the pointwise bound, plus sampling error
    assert max_log_ratio(a, b, 1000) <= eps + eps / 2 + 0.15
    # the check has power: a mechanism whose noise is too small for this pair (ratio 3 eps) is caught
    gap = abs(float(truths[0]) - float(truths[1]))
    weak_scale = gap / (3 * eps)
    width = weak_scale / 2
    weak = sample(truths[0], weak_scale), sample(truths[1], weak_scale)
    assert max_log_ratio(*weak, 1000) > eps + eps / 2 + 0.15
