"""The DP planner: what it accepts, what it denies (and says why), and what it charges."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dp_helpers import qualified

from privgate.engine.dp import BoundsPolicy, DpError, plan_query
from privgate.engine.dp.mechanisms import quantile_measurement, threshold_measurement, vector_measurement


def plan(sql, catalog, eps="1.0", delta="1e-6", **kw):
    policy = kw.pop("policy", BoundsPolicy())
    return plan_query(qualified(sql, catalog), catalog, eps, delta, dialect=kw.pop("dialect", "duckdb"),
                      policy=policy, salt=kw.pop("salt", "s1"))


def test_public_keys_need_no_delta_and_split_epsilon_evenly(demo_catalog):
    p = plan("SELECT status, COUNT(*) AS n, SUM(amount) AS s FROM sales.orders GROUP BY status", demo_catalog,
             policy=BoundsPolicy(contribution="groups"))
    assert p.selection is None and p.charge.delta == 0
    assert [m.name for m in p.charge.mechanisms] == ["discrete_laplace", "laplace"]
    assert p.charge.epsilon <= Decimal("1.0")
    assert all(abs(m.epsilon - Decimal("0.5")) < Decimal("1e-6") for m in p.charge.mechanisms)
    # l0 groups x linf rows, and x max |bound| for the sum
    assert p.charge.mechanisms[0].sensitivity == "L1=40"
    assert p.charge.mechanisms[1].sensitivity == "L1=20000.0"
    assert p.keys[0].domain == ("placed", "shipped", "delivered", "returned", "cancelled")


def test_unknown_keys_use_partition_selection_on_units_only(demo_catalog):
    p = plan("SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign", demo_catalog,
             policy=BoundsPolicy(noise="laplace"))
    sel = p.charge.mechanisms[0]
    assert sel.name == "laplace_threshold"
    # bounded by groups per person only: d_in = (l0, l0, 1) whatever linf is
    assert sel.sensitivity == "l0=4, l1=4, linf=1"
    assert 0 < p.charge.delta <= Decimal("1e-6")
    wide = plan("SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign", demo_catalog,
                policy=BoundsPolicy(linf=1000, noise="laplace"))
    assert wide.charge.mechanisms[0].threshold == sel.threshold


def test_charge_is_read_from_the_opendp_privacy_maps(demo_catalog):
    laplace = BoundsPolicy(noise="laplace")
    p = plan("SELECT campaign, COUNT(*), COUNT(DISTINCT customer_id) FROM marketing.campaign_events "
             "GROUP BY campaign", demo_catalog, policy=laplace)
    q = plan("SELECT status, MEDIAN(amount), AVG(quantity) FROM sales.orders GROUP BY status", demo_catalog,
             policy=laplace)
    for pl in (p, q):
        for spec, rec in zip(pl.mechanisms, pl.charge.mechanisms, strict=True):
            if rec.name == "laplace_threshold":
                eps, delta = threshold_measurement(rec.scale, rec.threshold).map(spec.d_in)
                assert (Decimal(repr(eps)), Decimal(repr(delta))) == (rec.epsilon, rec.delta)
            elif rec.name == "report_noisy_max":
                m = next(m for m in pl.measures if m.kind == "quantile")
                per_group = quantile_measurement("laplace", m.candidates, m.alpha, rec.scale).map(spec.d_in)
                assert Decimal(repr(per_group * pl.l0)) == rec.epsilon
            else:
                spent = vector_measurement("laplace", spec.integer, rec.scale).map(spec.d_in)
                assert Decimal(repr(spent)) == rec.epsilon
        assert pl.charge.epsilon == sum(m.epsilon for m in pl.charge.mechanisms)
        assert pl.charge.epsilon <= Decimal("1.0")
    # COUNT(DISTINCT unit) reuses the selection's noisy counts: two mechanisms, not three
    assert len(p.charge.mechanisms) == 2


def test_one_row_per_unit_tables_skip_row_bounding(demo_catalog):
    p = plan("SELECT country, COUNT(*) FROM sales.customers GROUP BY country", demo_catalog)
    assert (p.l0, p.linf) == (1, 1)
    assert "ROW_NUMBER" not in p.sql and p.charge.mechanisms[0].sensitivity == "L1=1"
    joined = plan("SELECT c.country, COUNT(*) FROM sales.customers c JOIN sales.orders o "
                  "ON o.customer_id = c.customer_id GROUP BY c.country", demo_catalog)
    # country is a per-person attribute (customers: one row per unit, joined on it): one group per person
    assert (joined.l0, joined.linf) == (1, 10) and "pgdp_gn" not in joined.sql
    assert joined.charge.mechanisms[0].sensitivity == "L1=10"
    mixed = plan("SELECT c.country, o.status, COUNT(*) FROM sales.customers c JOIN sales.orders o "
                 "ON o.customer_id = c.customer_id GROUP BY c.country, o.status", demo_catalog)
    assert mixed.l0 == 4 and "pgdp_gn <= 4" in mixed.sql
    public_side = plan("SELECT p.category, COUNT(*) FROM sales.orders o JOIN products.products p "
                       "ON p.product_id = o.product_id GROUP BY p.category", demo_catalog)
    assert public_side.l0 == 4


def test_global_aggregate_has_one_group_per_person(demo_catalog):
    p = plan("SELECT COUNT(*) FROM sales.orders", demo_catalog)
    assert p.l0 == 1 and p.charge.mechanisms[0].sensitivity == "L1=10"
    assert "pgdp_gn" not in p.sql


def test_groups_and_rows_are_bounded_separately_in_sql(demo_catalog):
    p = plan("SELECT status, COUNT(*) FROM sales.orders GROUP BY status", demo_catalog,
             policy=BoundsPolicy(l0=3, linf=7, contribution="groups"))
    assert "PARTITION BY pgdp_unit ORDER BY pgdp_h" in p.sql and "pgdp_gn <= 3" in p.sql
    assert "WHEN pgdp_m0 > 7 THEN 7" in p.sql
    per_row = plan("SELECT status, SUM(amount) FROM sales.orders GROUP BY status", demo_catalog,
                   policy=BoundsPolicy(l0=3, linf=7, sum_mode="per_row", contribution="groups"))
    assert "PARTITION BY pgdp_unit, pgdp_k0 ORDER BY MD5(" in per_row.sql and "pgdp_rn <= 7" in per_row.sql
    assert "random" not in per_row.sql.lower()


def test_salt_changes_the_row_choice_and_nothing_else(demo_catalog):
    sql = "SELECT status, SUM(amount) FROM sales.orders GROUP BY status"
    a = plan(sql, demo_catalog, salt="aaa", policy=BoundsPolicy(sum_mode="per_row"))
    b = plan(sql, demo_catalog, salt="aaa", policy=BoundsPolicy(sum_mode="per_row"))
    c = plan(sql, demo_catalog, salt="bbb", policy=BoundsPolicy(sum_mode="per_row"))
    assert a.sql == b.sql and a.charge == b.charge
    assert a.sql != c.sql and a.sql.replace("'aaa'", "'bbb'") == c.sql
    assert a.normalized_sql == c.normalized_sql


def test_auto_noise_picks_the_family_with_the_lower_selection_threshold(demo_catalog):
    sql = "SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign"
    for l0, family in ((1, "laplace"), (8, "gaussian")):
        auto = plan(sql, demo_catalog, policy=BoundsPolicy(l0=l0))
        lap = plan(sql, demo_catalog, policy=BoundsPolicy(l0=l0, noise="laplace"))
        gau = plan(sql, demo_catalog, policy=BoundsPolicy(l0=l0, noise="gaussian"))
        thresholds = {"laplace": lap.charge.mechanisms[0].threshold, "gaussian": gau.charge.mechanisms[0].threshold}
        assert auto.noise == family and auto.charge == (lap if family == "laplace" else gau).charge
        assert thresholds[family] < thresholds["gaussian" if family == "laplace" else "laplace"]
        assert f"noise family {family} (auto: selection threshold" in auto.notes[-1]
    # sqrt(l0) instead of l0: at l0 = 8 Gaussian thresholding needs well under half Laplace's persons per key
    assert thresholds["gaussian"] * 2 < thresholds["laplace"]


def test_auto_noise_without_delta_is_pure_dp(demo_catalog):
    p = plan("SELECT status, COUNT(*) FROM sales.orders GROUP BY status", demo_catalog, delta="0",
             policy=BoundsPolicy(l0=8))
    assert p.noise == "laplace" and p.charge.delta == 0 and "delta = 0" in p.notes[-1]


def test_auto_noise_without_selection_picks_narrower_intervals(demo_catalog):
    sql = "SELECT status, COUNT(*), SUM(amount) FROM sales.orders GROUP BY status"
    one = plan("SELECT COUNT(*), SUM(amount) FROM sales.orders", demo_catalog)  # l0 = 1: L1 = L2, Laplace wins
    # sqrt(8) vs 8 outweighs the zCDP conversion (groups mode: the total mode has no l0 factor to shrink)
    wide = plan(sql, demo_catalog, policy=BoundsPolicy(l0=8, contribution="groups"))
    assert one.noise == "laplace" and wide.noise == "gaussian"
    def ratio(p):
        return float(p.notes[-1].split("half-width ratio ")[1].split(")")[0])

    assert ratio(one) > 1 > ratio(wide)


def test_one_row_count_is_released_as_the_selections_own_count(demo_catalog):
    p = plan("SELECT city, COUNT(*) AS n FROM sales.customers GROUP BY city", demo_catalog)
    assert [m.name for m in p.charge.mechanisms] == ["laplace_threshold"]
    assert p.charge.mechanisms[0].epsilon > Decimal("0.99")  # the whole ε on selection, no 1:1 split
    assert [m.kind for m in p.measures] == ["units"] and p.measures[0].mechanism == p.selection
    assert any("released as that count" in n for n in p.notes)
    split = plan("SELECT city, COUNT(*) AS n FROM sales.customers GROUP BY city", demo_catalog,
                 policy=BoundsPolicy(noise="laplace", selection_weight=1.0))
    assert split.charge == p.charge  # the weight has nothing left to split against
    orders = plan("SELECT EXTRACT(YEAR FROM order_date), COUNT(*) FROM sales.orders "
                  "GROUP BY EXTRACT(YEAR FROM order_date)", demo_catalog,
                  policy=BoundsPolicy(noise="laplace"))
    assert [m.kind for m in orders.measures] == ["rows"] and len(orders.charge.mechanisms) == 2  # rows != persons


def test_gaussian_noise_composes_in_zcdp_within_the_obligation(demo_catalog):
    p = plan("SELECT status, COUNT(*), SUM(amount) FROM sales.orders GROUP BY status", demo_catalog,
             policy=BoundsPolicy(noise="gaussian"))
    assert {m.name for m in p.charge.mechanisms} == {"gaussian"}
    assert all(m.rho is not None and m.rho > 0 for m in p.charge.mechanisms)
    assert p.charge.epsilon <= Decimal("1.0") and 0 < p.charge.delta <= Decimal("1e-6")


DENIALS = [
    ("SELECT MIN(amount) FROM sales.orders", "dp_unsupported_aggregate", "PERCENTILE_CONT"),
    ("SELECT COUNT(DISTINCT product_id) FROM sales.orders", "dp_unsupported_aggregate", "privacy unit"),
    ("SELECT email FROM sales.customers", "dp_unsupported_projection", "GROUP BY key"),
    ("SELECT SUM(product_id) FROM sales.orders", "dp_missing_bounds", "bounds"),
    ("SELECT AVG(amount * 2) FROM sales.orders", "dp_missing_bounds", "declare"),
    ("SELECT customer_id, COUNT(*) FROM sales.orders GROUP BY customer_id", "dp_group_by_unit", "coarser"),
    ("SELECT COUNT(*) FROM sales.orders a JOIN sales.orders b ON a.product_id = b.product_id",
     "dp_unsupported_join", "privacy-unit"),
    ("SELECT COUNT(*) FROM products.products p LEFT JOIN sales.orders o ON o.product_id = p.product_id",
     "dp_unsupported_join", "public"),
    ("WITH t AS (SELECT customer_id, SUM(amount) AS total FROM sales.orders GROUP BY customer_id) "
     "SELECT COUNT(*) FROM t", "dp_unsupported_subquery", "aggregate once"),
    ("WITH t AS (SELECT amount FROM sales.orders) SELECT SUM(amount) FROM t", "dp_unit_not_traceable",
     "customer_id"),
    ("SELECT COUNT(*) FROM sales.orders UNION ALL SELECT COUNT(*) FROM sales.customers",
     "dp_unsupported_statement", "one SELECT"),
    ("SELECT COUNT(*) FROM sales.orders WHERE customer_id IN (SELECT customer_id FROM sales.customers "
     "WHERE country = 'US')", "dp_unsupported_subquery", "JOIN"),
    ("SELECT status, COUNT(*) FROM sales.orders GROUP BY status HAVING MAX(amount) > 3",
     "dp_unsupported_aggregate", "MIN/MAX"),
    ("SELECT status, COUNT(*) FROM sales.orders GROUP BY status ORDER BY LENGTH(status)",
     "dp_unsupported_clause", "HAVING/ORDER BY"),
    ("SELECT COUNT(*) FROM products.products", "dp_no_privacy_unit", "public"),
    ("SELECT status, COUNT(*) FROM sales.orders GROUP BY ROLLUP (status)", "dp_unsupported_clause", "ROLLUP"),
    ("SELECT COUNT(*) OVER () FROM sales.orders", "dp_unsupported_clause", "window"),
    ("WITH pgdp_src AS (SELECT customer_id FROM sales.orders) SELECT COUNT(*) FROM pgdp_src",
     "dp_unsupported_statement", "reserved"),
]


@pytest.mark.parametrize(("sql", "code", "hint"), DENIALS)
def test_denials_have_stable_codes_and_say_what_is_allowed(demo_catalog, sql, code, hint):
    with pytest.raises(DpError) as err:
        plan(sql, demo_catalog)
    assert err.value.code == code
    assert hint.lower() in err.value.message.lower()


def test_partition_selection_needs_delta(demo_catalog):
    with pytest.raises(DpError) as err:
        plan("SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign", demo_catalog, delta="0")
    assert err.value.code == "dp_invalid_budget" and "public_keys" in err.value.message
    ok = plan("SELECT channel, COUNT(*) FROM marketing.campaign_events GROUP BY channel", demo_catalog, delta="0")
    assert ok.charge.delta == 0


def test_supported_shapes_plan(demo_catalog):
    shapes = [
        "SELECT COUNT(*), COUNT(amount), COUNT(DISTINCT customer_id), SUM(amount), AVG(amount) FROM sales.orders",
        "SELECT status, PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY amount) FROM sales.orders GROUP BY status",
        "SELECT p.category, SUM(o.quantity) FROM sales.orders o JOIN products.products p "
        "ON p.product_id = o.product_id WHERE o.order_date >= DATE '2024-01-01' GROUP BY p.category",
        "SELECT c.segment, e.channel, COUNT(*) FROM sales.customers c JOIN marketing.campaign_events e "
        "ON e.customer_id = c.customer_id GROUP BY c.segment, e.channel",
        "WITH us AS (SELECT customer_id, segment FROM sales.customers WHERE country = 'US') "
        "SELECT t.priority, AVG(t.resolution_minutes) FROM support.tickets t JOIN us ON us.customer_id = "
        "t.customer_id GROUP BY t.priority HAVING COUNT(*) > 10 ORDER BY 2 DESC LIMIT 2",
        "SELECT s.campaign, COUNT(*) AS n FROM (SELECT e.customer_id, e.campaign FROM marketing.campaign_events e "
        "WHERE e.consented) AS s GROUP BY s.campaign ORDER BY n DESC",
        "SELECT DATE_TRUNC('month', order_date) AS m, COUNT(*) FROM sales.orders GROUP BY 1",
    ]
    for sql in shapes:
        p = plan(sql, demo_catalog)
        assert p.charge.epsilon <= Decimal("1.0"), sql


def test_analyst_where_cannot_bypass_the_added_filters(demo_catalog):
    p = plan("SELECT status, COUNT(*) FROM sales.orders WHERE amount > 5 OR quantity = 1 GROUP BY status",
             demo_catalog)
    assert ('WHERE (("orders"."amount" > 5 OR "orders"."quantity" = 1) AND NOT "orders"."customer_id" IS NULL) '
            'AND "orders"."status" IN (') in p.sql


def test_total_mode_caps_rows_per_person_across_keys_without_the_l0_factor(demo_catalog):
    sql = "SELECT status, COUNT(*) AS n, SUM(amount) AS s FROM sales.orders GROUP BY status"
    groups = plan(sql, demo_catalog, policy=BoundsPolicy(contribution="groups", noise="laplace"))
    auto = plan(sql, demo_catalog, policy=BoundsPolicy(noise="laplace"))
    assert (groups.total, auto.total) == (None, 10)
    # m = linf = 10 rows per person in total: L1 = 10 and 10 x 500, not l0 x linf (x 500)
    assert [m.sensitivity for m in auto.charge.mechanisms] == ["L1=10", "L1=5000.0"]
    assert [m.sensitivity for m in groups.charge.mechanisms] == ["L1=40", "L1=20000.0"]
    assert [m.epsilon for m in auto.charge.mechanisms] == [m.epsilon for m in groups.charge.mechanisms]
    assert auto.charge.mechanisms[1].scale * 3.9 < groups.charge.mechanisms[1].scale
    # the cap is a running sum of the person's rows over its keys in the l0 stage's salted order (a window
    # over (unit, key) rows, not every row); then l0 and the per-key clip still apply
    assert "SUM(pgdp_n) OVER (PARTITION BY pgdp_unit ORDER BY pgdp_h" in auto.sql
    assert "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING" in auto.sql and "pgdp_before < 10" in auto.sql
    assert "pgdp_gn <= 4" in auto.sql and "pgdp_rn" not in auto.sql and "random" not in auto.sql.lower()
    assert "contribution bound: 10 rows per person in total (auto: total/groups half-width ratio 0.25)" \
        in auto.notes[-1]
    # gaussian: L2 of a total cap of m <= linf rows is m (x bound), not sqrt(l0) x linf
    gau = plan(sql, demo_catalog, policy=BoundsPolicy(noise="gaussian", contribution="total"))
    assert [m.sensitivity for m in gau.charge.mechanisms] == ["L2=10.0", "L2=5000.0"]
    # a cap above linf: each key still moves by at most linf rows, so L2 = sqrt(linf x min(m, l0 x linf))
    big = plan(sql, demo_catalog, policy=BoundsPolicy(noise="gaussian", contribution="total", total_rows=30))
    assert big.charge.mechanisms[0].sensitivity == f"L2={(10 * 30) ** 0.5}"


def test_total_mode_is_chosen_only_where_it_narrows_the_plan(demo_catalog):
    # one group per person, or quantiles (bounded per key): the groups mode, no total cap
    for sql in ("SELECT COUNT(*) FROM sales.orders",
                "SELECT status, MEDIAN(amount) FROM sales.orders GROUP BY status"):
        assert plan(sql, demo_catalog).total is None
    # selection pays for min(l0, m) keys per person: with m >= l0 the thresholds tie and the
    # distinct-person count is no narrower, so the groups mode stays
    sel = plan("SELECT campaign, COUNT(DISTINCT customer_id) FROM marketing.campaign_events GROUP BY campaign",
               demo_catalog)
    assert sel.total is None and "contribution bound: 4 groups x 10 rows" in sel.notes[-1]
    # m < l0 caps the keys per person too: a lower selection threshold
    few = plan("SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign", demo_catalog,
               policy=BoundsPolicy(l0=8, total_rows=2, noise="laplace"))
    grp = plan("SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign", demo_catalog,
               policy=BoundsPolicy(l0=8, noise="laplace", contribution="groups"))
    assert few.total == 2 and few.charge.mechanisms[0].sensitivity == "l0=2, l1=2, linf=1"
    assert few.charge.mechanisms[0].threshold < grp.charge.mechanisms[0].threshold
