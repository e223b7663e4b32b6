"""DP queries running live on PostgreSQL (127.0.0.1:5432, trust auth, database ``test``).

Each run loads the demo warehouse into its own schemas (``pg<hex>_sales`` ...) and drops them after.
Fails when the CI env var is set and PostgreSQL is unreachable; skips visibly otherwise.
"""

from __future__ import annotations

import os
import uuid

import pytest
from dp_helpers import column, halfwidths, qualified, renamed

from privgate.engine.dp import BoundsPolicy, UpstreamError, plan_query, release

PG_URL = os.environ.get("PRIVGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def pg(demo_catalog):  # type: ignore[no-untyped-def]
    from conftest import require_service

    from privgate.connectors.demo_data import write_postgres
    from privgate.connectors.executors import open_executor

    try:
        admin = open_executor(PG_URL, read_only=False)
    except UpstreamError as exc:
        require_service("PostgreSQL", str(exc))
    prefix = f"pg{uuid.uuid4().hex[:8]}_"
    catalog = renamed(demo_catalog, prefix)
    try:
        write_postgres(PG_URL, demo_catalog, customers=3000, seed=5,
                       schemas={d.sql_schema: f"{prefix}{d.sql_schema}" for d in demo_catalog.domains})
        executor = open_executor(PG_URL)
        yield catalog, executor, prefix
        executor.close()
    finally:
        for d in demo_catalog.domains:
            admin.execute(f"DROP SCHEMA IF EXISTS {prefix}{d.sql_schema} CASCADE")
        admin.close()


def run_pg(sql, pg, eps="1000", delta="1e-6", policy=None):  # type: ignore[no-untyped-def]
    catalog, executor, prefix = pg
    sql = sql.format(p=prefix)
    plan = plan_query(qualified(sql, catalog, "postgres"), catalog, eps, delta, dialect="postgres",
                      policy=policy or BoundsPolicy(), salt="pg")
    _, rows = executor.execute(plan.sql)
    return plan, release(plan, rows), executor


def test_counts_by_public_key_match_postgres_truth(pg):
    _, res, ex = run_pg("SELECT country, COUNT(*) AS n FROM {p}sales.customers GROUP BY country", pg)
    exact = dict(ex.execute(f"SELECT country, COUNT(*) FROM {pg[2]}sales.customers GROUP BY country")[1])
    for c, n in zip(column(res, "country"), column(res, "n"), strict=True):
        assert abs(n - exact.get(c, 0)) <= 2


def test_join_sum_avg_with_row_bounding(pg):
    plan, res, ex = run_pg("SELECT c.segment, SUM(o.amount) AS s, AVG(o.amount) AS a FROM {p}sales.orders o "
                           "JOIN {p}sales.customers c ON c.customer_id = o.customer_id GROUP BY c.segment", pg,
                           policy=BoundsPolicy(linf=400, sum_mode="per_row"))
    assert "ROW_NUMBER() OVER (PARTITION BY pgdp_unit, pgdp_k0 ORDER BY MD5(" in plan.sql
    exact = {r[0]: (float(r[1]), float(r[2])) for r in ex.execute(
        f"SELECT c.segment, SUM(LEAST(o.amount, 500)), AVG(LEAST(o.amount, 500)) FROM {pg[2]}sales.orders o "
        f"JOIN {pg[2]}sales.customers c ON c.customer_id = o.customer_id GROUP BY 1")[1]}
    for seg, s, a, hs, ha in zip(column(res, "segment"), column(res, "s"), column(res, "a"), halfwidths(res, "s"),
                                 halfwidths(res, "a"), strict=True):
        assert abs(s - exact[seg][0]) <= 2 * hs and abs(a - exact[seg][1]) <= 2 * ha


def test_partition_selection_and_quantile_run_on_postgres(pg):
    _, res, _ = run_pg("SELECT e.campaign, COUNT(DISTINCT e.customer_id) AS people FROM "
                        "{p}marketing.campaign_events e GROUP BY e.campaign ORDER BY people DESC LIMIT 3", pg,
                        eps="1")
    assert len(res.rows) == 3 and res.charge.delta > 0
    _, med, _ = run_pg("SELECT t.priority, MEDIAN(t.resolution_minutes) AS m FROM {p}support.tickets t "
                       "GROUP BY t.priority", pg, eps="100000", policy=BoundsPolicy(linf=50))
    assert len(med.rows) == 4 and all(0 <= m <= 10080 for m in column(med, "m"))


def test_postgres_errors_are_upstream_errors(pg):
    _, executor, _ = pg
    with pytest.raises(UpstreamError) as err:
        executor.execute("SELECT * FROM no_such_table_here")
    assert err.value.code == "upstream_error"
    with pytest.raises(UpstreamError):
        executor.execute("CREATE TABLE should_not_exist (x int)")  # read-only transaction


def test_data_version_moves_with_writes(pg):
    from privgate.connectors.executors import open_executor

    _, executor, prefix = pg
    table = f"{prefix}support.tickets"
    before = executor.data_version([table])
    writer = open_executor(PG_URL, read_only=False)
    writer.execute(f"UPDATE {table} SET priority = priority WHERE ticket_id = 1")
    writer.execute("SELECT pg_stat_force_next_flush()")
    writer.close()
    assert executor.data_version([table]) != before


def test_unreachable_postgres_is_a_clear_error():
    from privgate.connectors.executors import open_executor

    with pytest.raises(UpstreamError) as err:
        open_executor("postgresql://postgres@127.0.0.1:1/test")
    assert err.value.code == "upstream_unreachable" and "cannot connect" in err.value.message
