"""Privacy soundness, part 1: every rewrite path's sensitivity and charge match OpenDP's maps.

Two independent checks per path (COUNT(*), COUNT(col), COUNT(DISTINCT unit), SUM per_unit/per_row,
AVG, quantiles, partition selection, the one-row and one-group-per-person shortcuts, Laplace and
Gaussian noise, the groups and the total contribution modes), for any declared bounds and budget hypothesis draws:

1. The arithmetic: the test derives the sensitivity from the declared bounds on its own, rebuilds
   each OpenDP measurement from the plan's recorded scale with OpenDP's constructors directly (not
   privgate's helpers) and requires the recorded charge to be exactly what the privacy map says;
   the total must fit the obligation, and the Gaussian rho must convert to at most the epsilon share.
2. The SQL: the bounded query the plan would run is executed in DuckDB on a small random dataset
   and on every neighbour with one person removed; each released column moves by at most the
   sensitivity the charge assumes (L1 for Laplace, L2 for Gaussian; at most l0 keys for selection
   counts; at most linf rows per key for quantile tallies). A bounding bug fails here even when the
   arithmetic is right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import duckdb
import opendp.prelude as dp
import pytest
from dp_helpers import qualified, with_amount_bounds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privgate.engine.dp import BoundsPolicy, plan_query
from privgate.engine.dp.bounding import measure_columns

dp.enable_features("contrib")

ORDERS_CUSTOMERS = "sales.orders AS o JOIN sales.customers AS c ON o.customer_id = c.customer_id"


@dataclass(frozen=True)
class Path:
    """A query that exercises one rewrite path, and what the test expects of it."""

    sql: str
    l0_is_one: bool = False        # no keys, or every key is a per-person attribute
    one_row: bool = False          # customers only: one row per person, linf = 1 too
    selection: bool = False        # unknown keys: partition selection, needs delta


PATHS = {
    "count_star": Path("SELECT COUNT(*) FROM sales.orders", l0_is_one=True),
    "count_col_public": Path("SELECT status, COUNT(amount) FROM sales.orders GROUP BY status"),
    "count_units": Path("SELECT COUNT(DISTINCT customer_id) FROM sales.orders", l0_is_one=True),
    "sum": Path("SELECT SUM(amount) FROM sales.orders", l0_is_one=True),
    "sum_public": Path("SELECT status, SUM(amount), COUNT(*) FROM sales.orders GROUP BY status"),
    "avg_public": Path("SELECT status, AVG(amount) FROM sales.orders GROUP BY status"),
    "median": Path("SELECT MEDIAN(amount) FROM sales.orders", l0_is_one=True),
    "quantile_public": Path("SELECT status, PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY amount) "
                            "FROM sales.orders GROUP BY status"),
    "selection": Path("SELECT EXTRACT(YEAR FROM order_date) AS y, COUNT(*), SUM(amount), "
                      "COUNT(DISTINCT customer_id) FROM sales.orders GROUP BY EXTRACT(YEAR FROM order_date)",
                      selection=True),
    "selection_unit_attr": Path(f"SELECT c.city, COUNT(*), AVG(o.amount) FROM {ORDERS_CUSTOMERS} GROUP BY c.city",
                                l0_is_one=True, selection=True),
    "public_unit_attr": Path(f"SELECT c.country, SUM(o.amount) FROM {ORDERS_CUSTOMERS} GROUP BY c.country",
                             l0_is_one=True),
    "one_row": Path("SELECT country, COUNT(*), COUNT(DISTINCT customer_id) FROM sales.customers GROUP BY country",
                    l0_is_one=True, one_row=True),
    "one_row_selection": Path("SELECT city, COUNT(*) FROM sales.customers GROUP BY city", l0_is_one=True,
                              one_row=True, selection=True),
}


def expected_d_in(kind: str, l0: int, linf: int, bound: float, gaussian: bool, total: int | None = None) -> float:
    """Sensitivity of a released column from the declared bounds alone (add/remove one person).

    Groups mode: l0 keys x linf rows (sqrt(l0) keys in L2). Total mode (at most m = ``total`` rows per
    person over all keys, then still l0 keys and linf rows per key): g = min(l0, m) keys, S = min(m,
    g * linf) rows in all, c = min(linf, m) per key; L1 = S, L2 = sqrt(sum of squares) <= sqrt(min(c*S, g*c*c)).
    """
    if total is None:
        groups = math.sqrt(l0) if gaussian else l0
        return {"rows": groups * linf, "nonnull": groups * linf, "units": groups,
                "sum": groups * linf * bound, "wsum": groups * linf * bound}[kind]
    g, rows, c = min(l0, total), min(total, l0 * linf), min(linf, total)
    if kind == "units":
        return math.sqrt(g) if gaussian else g
    moved = math.sqrt(min(c * rows, g * c * c)) if gaussian else rows
    return moved * (1.0 if kind in ("rows", "nonnull") else bound)


def dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def vector_map(integer: bool, gaussian: bool, scale: float, d_in: float) -> float:
    if gaussian:
        meas = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float),
                                  scale=scale)
        return float(meas.map(float(d_in)))
    if integer:
        meas = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=dp.i64)), dp.l1_distance(T=dp.i64), scale=scale)
        return float(meas.map(int(d_in)))
    meas = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float),
                             scale=scale)
    return float(meas.map(float(d_in)))


budgets = st.tuples(st.decimals(min_value=Decimal("0.05"), max_value=Decimal("4"), places=3),
                    st.sampled_from([Decimal("1e-9"), Decimal("1e-6"), Decimal("1e-4")]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(PATHS)), l0=st.integers(1, 8), linf=st.integers(1, 60),
       lower=st.integers(-300, 0), upper=st.integers(1, 5000), budget=budgets,
       noise=st.sampled_from(["laplace", "gaussian", "auto"]), per_row=st.booleans(),
       selection_weight=st.sampled_from([0.5, 1.0, 2.0]),
       contribution=st.sampled_from(["auto", "groups", "total"]), total_rows=st.one_of(st.none(), st.integers(1, 90)))
def test_every_mechanism_charges_what_opendp_maps_say(demo_catalog, path, l0, linf, lower, upper, budget, noise,
                                                      per_row, selection_weight, contribution, total_rows):
    spec = PATHS[path]
    eps, delta = budget
    catalog = with_amount_bounds(demo_catalog, Decimal(lower), Decimal(upper))
    policy = BoundsPolicy(l0=l0, linf=linf, noise=noise, sum_mode="per_row" if per_row else "per_unit",
                          selection_weight=selection_weight, quantile_candidates=16, contribution=contribution,
                          total_rows=total_rows)
    if noise != "laplace" and path in ("median", "quantile_public"):
        policy = policy.with_overrides(noise="laplace")  # quantiles are planned under pure DP below
        noise = "laplace"
    plan = plan_query(qualified(spec.sql, catalog), catalog, eps, delta, dialect="duckdb", policy=policy, salt="p")
    assert plan.noise == noise or noise == "auto"
    gaussian = plan.noise == "gaussian"
    l0_eff = 1 if spec.l0_is_one else l0
    linf_eff = 1 if spec.one_row else linf
    assert (plan.l0, plan.linf) == (l0_eff, linf_eff)
    bound = float(max(abs(lower), abs(upper)))
    # the total mode applies only where a person can reach several keys and nothing is bounded per key
    eligible = not spec.l0_is_one and path != "quantile_public"
    if contribution == "groups" or not eligible:
        assert plan.total is None
    elif contribution == "total":
        assert plan.total == (total_rows or linf)
    assert plan.total in (None, total_rows or linf)
    total = plan.total
    g_eff = l0_eff if total is None else min(l0_eff, total)  # keys one person can reach

    rho_total = 0.0
    eps_gauss = Decimal(0)
    delta_threshold = 0.0
    for i, mech in enumerate(plan.mechanisms):
        rec = mech.record
        if rec.name == "gaussian_threshold":
            assert spec.selection and plan.selection == i and gaussian
            assert mech.d_in == (g_eff, g_eff, 1)  # OpenDP's map takes L2 = min(l1, sqrt(l0) * linf)
            meas = dp.m.make_gaussian_threshold(dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=dp.i64)),
                                                dp.l02inf_distance(dp.absolute_distance(T=dp.i64)),
                                                scale=rec.scale, threshold=rec.threshold)
            rho, d = meas.map((g_eff, g_eff, 1))
            assert rho == pytest.approx(g_eff / (2 * rec.scale**2), rel=1e-9)  # sqrt(l0), not l0, in L2
            assert rec.rho == dec(rho) and rec.delta >= dec(d)
            rho_total += rho
            eps_gauss += rec.epsilon
            delta_threshold += d
            continue
        if rec.name == "laplace_threshold":
            assert spec.selection and plan.selection == i
            assert mech.d_in == (g_eff, g_eff, 1)  # each person is in at most l0 keys, once each
            meas = dp.m.make_laplace_threshold(dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=dp.i64)),
                                               dp.l01inf_distance(dp.absolute_distance(T=dp.i64)),
                                               scale=rec.scale, threshold=rec.threshold)
            e, d = meas.map((g_eff, g_eff, 1))
            assert (rec.epsilon, rec.delta) == (dec(e), dec(d))
            continue
        users = [m for m in plan.measures if m.mechanism == i]
        assert len(users) == 1, "one mechanism per released quantity"
        m = users[0]
        if rec.name == "report_noisy_max":
            lo, hi = m.bounds
            assert min(m.candidates) == lo and max(m.candidates) == hi  # candidates from the bounds only
            score = dp.t.make_quantile_score_candidates(dp.vector_domain(dp.atom_domain(T=float, nan=False)),
                                                        dp.symmetric_distance(), list(m.candidates), m.alpha)
            meas = score >> dp.m.then_noisy_max(dp.max_divergence(), rec.scale, negate=True)
            assert mech.d_in == linf_eff
            assert rec.epsilon == dec(float(meas.map(linf_eff)) * l0_eff)  # per key, composed over l0 keys
            continue
        want = expected_d_in(m.kind, l0_eff, linf_eff, bound, gaussian, total)
        assert float(mech.d_in) == pytest.approx(want, rel=1e-12)
        if total is not None and total <= linf_eff and m.kind != "units":
            # a cap of m <= linf rows in all: m x bound in L1 and L2 alike, no l0 factor
            assert float(mech.d_in) == pytest.approx(total * (1.0 if m.kind in ("rows", "nonnull") else bound))
        spent = vector_map(mech.integer, gaussian, rec.scale, mech.d_in)
        if gaussian:
            assert rec.rho == dec(spent)
            rho_total += spent
            eps_gauss += rec.epsilon
        else:
            assert rec.epsilon == dec(spent)
            assert mech.integer == (m.kind in ("rows", "nonnull", "units"))

    assert plan.charge.epsilon == sum((r.epsilon for r in plan.charge.mechanisms), Decimal(0))
    assert plan.charge.delta == sum((r.delta for r in plan.charge.mechanisms), Decimal(0))
    assert plan.charge.epsilon <= eps and plan.charge.delta <= delta
    if spec.selection:
        assert plan.charge.delta > 0
    elif not gaussian:
        assert plan.charge.delta == 0
    if gaussian and rho_total:
        # the Gaussian mechanisms together: rho converts (OpenDP's own conversion) to within their share
        # (Gaussian thresholding's own delta is added on top of the conversion's: approximate zCDP)
        d_gauss = float(sum((r.delta for r in plan.charge.mechanisms if r.rho is not None), Decimal(0)))
        conv = dp.c.make_zCDP_to_approxDP(dp.m.make_gaussian(
            dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float),
            scale=1 / math.sqrt(2 * rho_total)))
        assert conv.map(1.0).epsilon(d_gauss - delta_threshold) <= float(eps_gauss) * (1 + 1e-9)
    else:
        # pure DP: the split does not waste budget either (calibration is tight to the share)
        assert plan.charge.epsilon >= eps * Decimal("0.999")


# --- 2. the bounded SQL enforces the sensitivity ---------------------------------------------------

STATUSES = ["placed", "shipped", "delivered", "returned", "cancelled", "lost"]  # 'lost' is outside the domain
CITIES = ["Springfield", "Riverside", "Salem"]
COUNTRIES = ["US", "CA", "GB", "XX"]

order_rows = st.lists(st.tuples(st.integers(1, 5), st.sampled_from(STATUSES), st.integers(2023, 2025),
                                st.one_of(st.none(), st.integers(-400, 1500))), min_size=1, max_size=40)


def load(con: duckdb.DuckDBPyConnection, orders, skip: int | None) -> None:
    con.execute("DROP SCHEMA IF EXISTS sales CASCADE")
    con.execute("CREATE SCHEMA sales")
    con.execute("CREATE TABLE sales.orders (order_id BIGINT, customer_id BIGINT, product_id BIGINT, order_date DATE, "
                "status TEXT, amount DECIMAL(10,2), quantity INTEGER)")
    con.execute("CREATE TABLE sales.customers (customer_id BIGINT, city TEXT, country TEXT)")
    rows = [(i, c, 1, f"{y}-06-01", s, a, 1) for i, (c, s, y, a) in enumerate(orders) if c != skip]
    if rows:
        con.executemany("INSERT INTO sales.orders VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    people = sorted({c for c, *_ in orders} | {1, 2, 3, 4, 5})
    con.executemany("INSERT INTO sales.customers VALUES (?, ?, ?)",
                    [(c, CITIES[c % 3], COUNTRIES[c % 4]) for c in people if c != skip])


def released_columns(plan, rows):
    """{column: {key: value}} of the bounded query's output (what release() adds noise to)."""
    names = [*measure_columns(plan.measures), "units"]
    k = len(plan.keys)
    return {n: {tuple(r[:k]): float(r[k + j] or 0) for r in rows} for j, n in enumerate(names)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(PATHS)), l0=st.integers(1, 3), linf=st.integers(1, 4), orders=order_rows,
       noise=st.sampled_from(["laplace", "gaussian", "auto"]), per_row=st.booleans(),
       salt=st.text("abc", max_size=3), contribution=st.sampled_from(["auto", "groups", "total"]),
       total_rows=st.one_of(st.none(), st.integers(1, 6)))
def test_bounded_sql_moves_each_column_by_at_most_its_sensitivity(demo_catalog, path, l0, linf, orders, noise,
                                                                    per_row, salt, contribution, total_rows):
    spec = PATHS[path]
    if noise != "laplace" and path in ("median", "quantile_public"):
        noise = "laplace"
    policy = BoundsPolicy(l0=l0, linf=linf, noise=noise, sum_mode="per_row" if per_row else "per_unit",
                          quantile_candidates=8, contribution=contribution, total_rows=total_rows)
    plan = plan_query(qualified(spec.sql, demo_catalog), demo_catalog, "1", "1e-6", dialect="duckdb", policy=policy,
                      salt=salt)
    groups = plan.l0 if plan.total is None else min(plan.l0, plan.total)
    con = duckdb.connect()
    try:
        load(con, orders, None)
        full = released_columns(plan, con.execute(plan.sql).fetchall())
        for person in sorted({c for c, *_ in orders}):
            load(con, orders, person)
            less = released_columns(plan, con.execute(plan.sql).fetchall())
            for m in plan.measures:
                mech = plan.mechanisms[m.mechanism]
                if m.kind == "quantile":
                    # symmetric distance per key <= linf, and at most l0 keys change
                    changed = 0
                    for key in full[f"{m.column}_lt0"].keys() | less[f"{m.column}_lt0"].keys():
                        moves = [abs(full[f"{m.column}_lt{t}"].get(key, 0) - less[f"{m.column}_lt{t}"].get(key, 0))
                                 + abs(full[f"{m.column}_gt{t}"].get(key, 0) - less[f"{m.column}_gt{t}"].get(key, 0))
                                 for t in range(len(m.candidates))]
                        assert max(moves) <= plan.linf
                        changed += max(moves) > 0
                    assert changed <= plan.l0
                    continue
                if m.kind == "units" and plan.selection is not None and m.mechanism == plan.selection:
                    name = "units"
                else:
                    name = "units" if m.kind == "units" else m.column
                a, b = full[name], less[name]
                diffs = [abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in a.keys() | b.keys()]
                if plan.total is not None and m.kind in ("rows", "nonnull"):
                    assert sum(diffs) <= plan.total  # the total cap: m rows per person over all keys
                if mech.record.name in ("laplace_threshold", "gaussian_threshold"):
                    assert max(diffs, default=0) <= 1 and sum(d > 0 for d in diffs) <= groups
                elif plan.noise == "gaussian":
                    assert math.sqrt(sum(d * d for d in diffs)) <= float(mech.d_in) * (1 + 1e-9)
                else:
                    assert sum(diffs) <= float(mech.d_in) * (1 + 1e-9)
            if plan.selection is not None:
                a, b = full["units"], less["units"]
                diffs = [abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in a.keys() | b.keys()]
                assert max(diffs, default=0) <= 1 and sum(d > 0 for d in diffs) <= groups
    finally:
        con.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=order_rows, budget=budgets, count=st.sampled_from(["COUNT(*)", "COUNT(customer_id)"]))
def test_one_row_count_is_released_as_the_selections_own_noisy_count(demo_catalog, orders, budget, count):
    """Over a one-row-per-person table (l0 = linf = 1), COUNT(*) per key is the distinct-person count
    partition selection already noises: one OpenDP measurement, its map at (1, 1, 1) is the whole charge,
    and the value it releases is the true COUNT(*) per key."""
    eps, delta = budget
    plan = plan_query(qualified(f"SELECT city, {count} FROM sales.customers GROUP BY city", demo_catalog),
                      demo_catalog, eps, delta, dialect="duckdb", policy=BoundsPolicy(noise="laplace"), salt="o")
    assert len(plan.mechanisms) == 1 and plan.selection == 0 and [m.mechanism for m in plan.measures] == [0]
    rec = plan.mechanisms[0].record
    meas = dp.m.make_laplace_threshold(dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=dp.i64)),
                                       dp.l01inf_distance(dp.absolute_distance(T=dp.i64)), scale=rec.scale,
                                       threshold=rec.threshold)
    e, d = meas.map((1, 1, 1))
    assert plan.charge.epsilon == dec(e) and plan.charge.delta == dec(d)
    assert plan.charge.epsilon >= eps * Decimal("0.999")  # the whole ε on selection: no split
    con = duckdb.connect()
    try:
        load(con, orders, None)
        released = released_columns(plan, con.execute(plan.sql).fetchall())["units"]
        truth = {(c,): float(n) for c, n in con.execute("SELECT city, COUNT(*) FROM sales.customers GROUP BY city")
                 .fetchall()}
        assert released == truth
    finally:
        con.close()
