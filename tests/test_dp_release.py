"""DP answers on the demo warehouse (DuckDB, live): shapes, accuracy, selection, post-noise clauses."""

from __future__ import annotations

import math

from dp_helpers import column, halfwidths, run

from privgate.engine.dp import BoundsPolicy, release

BIG = "1000"  # large epsilon: noise is tiny, so answers must equal the (bounded) truth closely


def truth(executor, sql):
    return dict(executor.execute(sql)[1])


def test_one_row_per_unit_counts_match_the_truth_within_halfwidth(demo_catalog, duck):
    _, _, res = run("SELECT country, COUNT(*) AS n FROM sales.customers GROUP BY country", demo_catalog, duck,
                    eps=BIG)
    exact = truth(duck, "SELECT country, COUNT(*) FROM sales.customers GROUP BY country")
    assert column(res, "country") == ["US", "CA", "GB", "DE", "FR", "NL", "ES", "IT"]  # the declared domain
    for country, n, hw in zip(column(res, "country"), column(res, "n"), halfwidths(res, "n"), strict=True):
        assert abs(n - exact[country]) <= max(2 * hw, 1)


def test_public_domain_releases_absent_keys_too(demo_catalog, duck):
    _, rows, res = run("SELECT country, COUNT(*) AS n FROM sales.customers WHERE country = 'US' GROUP BY country",
                       demo_catalog, duck, eps=BIG)
    assert len(rows) == 1  # the warehouse only saw US ...
    assert len(res.rows) == 8 and res.suppressed_keys == 0  # ... but every declared key is released
    values = dict(zip(column(res, "country"), column(res, "n"), strict=True))
    assert values["US"] > 1000 and all(values[c] <= 2 for c in values if c != "US")


def test_row_bounding_matches_an_independent_computation(demo_catalog, duck):
    # per person: min(orders, linf); no GROUP BY, so one group per person
    _, _, res = run("SELECT COUNT(*) AS n FROM sales.orders", demo_catalog, duck, eps=BIG,
                    policy=BoundsPolicy(linf=3))
    bounded = duck.execute("SELECT SUM(LEAST(n, 3)) FROM (SELECT customer_id, COUNT(*) AS n FROM sales.orders "
                           "GROUP BY customer_id) t")[1][0][0]
    raw = duck.execute("SELECT COUNT(*) FROM sales.orders")[1][0][0]
    assert abs(res.rows[0][0] - bounded) <= 2 and bounded < raw


def test_group_bounding_keeps_at_most_l0_groups_per_person(demo_catalog, duck):
    _, _, res = run("SELECT campaign, COUNT(DISTINCT customer_id) AS people FROM marketing.campaign_events "
                    "GROUP BY campaign", demo_catalog, duck, eps=BIG, policy=BoundsPolicy(l0=1))
    people = duck.execute("SELECT COUNT(DISTINCT customer_id) FROM marketing.campaign_events")[1][0][0]
    # with l0 = 1 each person is counted in exactly one campaign; selection may drop a tiny campaign
    assert people * 0.97 <= sum(column(res, "people")) <= people + 30


def test_partition_selection_suppresses_rare_keys_and_reports_only_a_count(demo_catalog, duck):
    _, rows, res = run("SELECT city, COUNT(*) AS n FROM sales.customers GROUP BY city", demo_catalog, duck,
                       eps="0.5", delta="1e-6")
    exact = truth(duck, "SELECT city, COUNT(*) FROM sales.customers GROUP BY city")
    released = set(column(res, "city"))
    assert res.suppressed_keys == len(rows) - len(released) > 0
    threshold = res.charge.mechanisms[0].threshold
    assert all(exact[c] >= threshold / 2 for c in released)  # no rare city gets through
    assert {c for c, n in exact.items() if n > 3 * threshold} <= released  # big ones all do
    assert "suppressed" not in str(res.rows)


def test_sum_avg_and_count_distinct_near_truth_for_large_epsilon(demo_catalog, duck):
    _, _, res = run("SELECT segment, COUNT(DISTINCT customer_id) AS people, COUNT(*) AS n FROM sales.customers "
                    "GROUP BY segment", demo_catalog, duck, eps=BIG)
    exact = truth(duck, "SELECT segment, COUNT(*) FROM sales.customers GROUP BY segment")
    for seg, people, n in zip(column(res, "segment"), column(res, "people"), column(res, "n"), strict=True):
        assert abs(people - exact[seg]) <= 2 and abs(n - exact[seg]) <= 2
    _, _, res = run("SELECT priority, AVG(resolution_minutes) AS a, SUM(resolution_minutes) AS s FROM "
                    "support.tickets GROUP BY priority", demo_catalog, duck, eps=BIG,
                    policy=BoundsPolicy(linf=50, sum_mode="per_row"))
    exact_avg = truth(duck, "SELECT priority, AVG(LEAST(resolution_minutes, 10080)) FROM support.tickets "
                            "GROUP BY priority")
    exact_sum = truth(duck, "SELECT priority, SUM(LEAST(resolution_minutes, 10080)) FROM support.tickets "
                            "GROUP BY priority")
    for p, a, s, ha, hs in zip(column(res, "priority"), column(res, "a"), column(res, "s"), halfwidths(res, "a"),
                               halfwidths(res, "s"), strict=True):
        # 2x the 95% half-width: a Laplace draw lands outside with probability 0.05**2 per cell
        assert abs(s - float(exact_sum[p])) <= 2 * hs
        assert abs(a - float(exact_avg[p])) <= 2 * ha


def test_median_and_percentile_land_on_the_candidate_nearest_the_truth(demo_catalog, duck):
    p, _, res = run("SELECT status, MEDIAN(amount) AS med, PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY amount) "
                    "AS p90 FROM sales.orders GROUP BY status", demo_catalog, duck, eps="100000",
                    policy=BoundsPolicy(linf=400))
    step = 500 / (p.measures[0].candidates.__len__() - 1)
    med = truth(duck, "SELECT status, MEDIAN(LEAST(amount, 500)) FROM sales.orders GROUP BY status")
    p90 = truth(duck, "SELECT status, QUANTILE_CONT(LEAST(amount, 500), 0.9) FROM sales.orders GROUP BY status")
    for s, m, q in zip(column(res, "status"), column(res, "med"), column(res, "p90"), strict=True):
        assert abs(m - float(med[s])) <= step and abs(q - float(p90[s])) <= step
    assert res.columns[1].accuracy == "rank"


def test_having_order_limit_apply_to_noisy_values(demo_catalog, duck):
    _, _, res = run("SELECT c.country, COUNT(*) AS n FROM sales.orders o JOIN sales.customers c "
                    "ON o.customer_id = c.customer_id GROUP BY c.country HAVING COUNT(*) > 500 "
                    "ORDER BY n DESC LIMIT 3", demo_catalog, duck, eps=BIG)
    ns = column(res, "n")
    assert len(ns) == 3 and ns == sorted(ns, reverse=True) and min(ns) > 500
    assert column(res, "country")[0] == "US"
    _, _, asc = run("SELECT status, COUNT(*) FROM sales.orders GROUP BY status ORDER BY 2 LIMIT 2 OFFSET 1",
                    demo_catalog, duck, eps=BIG)
    assert len(asc.rows) == 2 and asc.rows[0][1] <= asc.rows[1][1]


def test_cte_join_and_derived_table_shapes_run(demo_catalog, duck):
    _, _, res = run("WITH us AS (SELECT customer_id FROM sales.customers WHERE country = 'US') "
                    "SELECT t.priority, COUNT(*) AS n FROM support.tickets t JOIN us ON us.customer_id = t.customer_id "
                    "GROUP BY t.priority", demo_catalog, duck, eps=BIG, policy=BoundsPolicy(linf=50))
    exact = truth(duck, "SELECT t.priority, COUNT(*) FROM support.tickets t JOIN sales.customers c ON "
                        "c.customer_id = t.customer_id WHERE c.country = 'US' GROUP BY 1")
    assert all(abs(n - exact[p]) <= 2 for p, n in zip(column(res, "priority"), column(res, "n"), strict=True))
    _, _, res = run("SELECT p.category, SUM(o.quantity) AS q FROM (SELECT customer_id, product_id, quantity "
                    "FROM sales.orders WHERE status <> 'cancelled') o JOIN products.products p "
                    "ON p.product_id = o.product_id GROUP BY p.category", demo_catalog, duck, eps="1")
    assert column(res, "category") == ["books", "games", "garden", "kitchen", "toys"]


def test_halfwidths_cover_the_noise_about_95_percent_of_the_time(demo_catalog, duck):
    p, rows, _ = run("SELECT status, COUNT(*) AS n, SUM(amount) AS s FROM sales.orders GROUP BY status",
                     demo_catalog, duck, eps="0.5")
    bounded = {r[0]: (r[1], float(r[2])) for r in rows}
    hits = total = 0
    for _ in range(200):
        res = release(p, rows)
        for status, n, s, hn, hs in zip(column(res, "status"), column(res, "n"), column(res, "s"),
                                        halfwidths(res, "n"), halfwidths(res, "s"), strict=True):
            hits += (abs(n - bounded[status][0]) <= hn) + (abs(s - bounded[status][1]) <= hs)
            total += 2
    assert 0.92 <= hits / total <= 0.98


def test_thin_slices_are_flagged(demo_catalog, duck):
    _, _, res = run("SELECT country, AVG(o.amount) AS a FROM sales.orders o JOIN sales.customers c "
                    "ON c.customer_id = o.customer_id WHERE c.segment = 'enterprise' GROUP BY country",
                    demo_catalog, duck, eps="0.05")
    assert any(flag for row in res.swamped for flag in row)
    _, _, big = run("SELECT country, COUNT(*) AS n FROM sales.customers GROUP BY country", demo_catalog, duck,
                    eps=BIG)
    assert not any(flag for row in big.swamped for flag in row)


def test_results_serialize_with_accuracy_beside_values(demo_catalog, duck):
    _, _, res = run("SELECT segment, COUNT(*) AS n FROM sales.customers GROUP BY segment", demo_catalog, duck)
    rec = res.records()[0]
    assert set(rec) == {"segment", "n", "n_halfwidth", "n_swamped"}
    assert math.isfinite(rec["n_halfwidth"])
    assert '"mechanisms"' in res.model_dump_json()


def test_per_person_keys_need_no_group_bounding_and_lose_nothing(demo_catalog, duck):
    plan, _, res = run("SELECT c.country, COUNT(DISTINCT o.customer_id) AS people, COUNT(*) AS n FROM sales.orders o "
                       "JOIN sales.customers c ON c.customer_id = o.customer_id GROUP BY c.country", demo_catalog,
                       duck, eps=BIG, policy=BoundsPolicy(linf=1000))
    assert plan.l0 == 1
    buyers, orders = duck.execute("SELECT COUNT(DISTINCT customer_id), COUNT(*) FROM sales.orders")[1][0]
    assert abs(sum(column(res, "people")) - buyers) <= sum(halfwidths(res, "people"))
    assert abs(sum(column(res, "n")) - orders) <= sum(halfwidths(res, "n"))


def test_gaussian_noise_path_releases_near_truth(demo_catalog, duck):
    plan, _, res = run("SELECT campaign, COUNT(*) AS n FROM marketing.campaign_events GROUP BY campaign",
                       demo_catalog, duck, eps="50", delta="1e-5", policy=BoundsPolicy(noise="gaussian", linf=1000))
    assert [m.name for m in plan.charge.mechanisms] == ["gaussian_threshold", "gaussian"]
    exact = truth(duck, "SELECT campaign, COUNT(*) FROM marketing.campaign_events GROUP BY campaign")
    for c, n, hw in zip(column(res, "campaign"), column(res, "n"), halfwidths(res, "n"), strict=True):
        assert abs(n - exact[c]) <= 2 * hw + 1
