"""The bounded SQL per upstream dialect, pinned by fixture files (tests/fixtures/dp/<case>.<dialect>.sql).

DuckDB and PostgreSQL output also runs live elsewhere; Snowflake, BigQuery and Trino output is only
snapshot-tested here and must parse back in its own dialect. Regenerate after an intended change with
``PRIVGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_dp_dialects.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot
from dp_helpers import qualified

from privgate.engine.dp import BoundsPolicy, plan_query

FIXTURES = Path(__file__).parent / "fixtures" / "dp"
DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery", "trino")
CASES = {
    "public_key_join": ("SELECT c.country, COUNT(*) AS n, AVG(o.amount) AS a FROM sales.orders o "
                        "JOIN sales.customers c ON c.customer_id = o.customer_id GROUP BY c.country", BoundsPolicy()),
    "selection_cte": ("WITH ev AS (SELECT customer_id, campaign FROM marketing.campaign_events WHERE consented) "
                      "SELECT campaign, COUNT(DISTINCT customer_id) AS people FROM ev GROUP BY campaign",
                      BoundsPolicy()),
    "per_row_sum": ("SELECT status, SUM(quantity) AS q FROM sales.orders GROUP BY status",
                    BoundsPolicy(sum_mode="per_row", l0=2, linf=5, contribution="groups")),
    "total_rows": ("SELECT status, COUNT(*) AS n, SUM(quantity) AS q FROM sales.orders GROUP BY status",
                   BoundsPolicy(l0=2, linf=5)),
    "quantile": ("SELECT priority, MEDIAN(resolution_minutes) AS m FROM support.tickets GROUP BY priority",
                 BoundsPolicy(quantile_candidates=4)),
    "one_row": ("SELECT segment, COUNT(*) AS n FROM sales.customers WHERE consent_analytics GROUP BY segment",
                BoundsPolicy()),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bounded_sql_snapshot(demo_catalog, case, dialect):
    sql, policy = CASES[case]
    plan = plan_query(qualified(sql, demo_catalog), demo_catalog, "1", "1e-6", dialect=dialect, policy=policy,
                      salt="snap")
    text = sqlglot.transpile(plan.sql, read=dialect, write=dialect, pretty=True)[0] + "\n"
    path = FIXTURES / f"{case}.{dialect}.sql"
    if os.environ.get("PRIVGATE_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing snapshot {path}; run with PRIVGATE_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text()
    sqlglot.parse_one(plan.sql, read=dialect)  # parses back in its own dialect
    assert "random" not in plan.sql.lower()
