"""Apache Superset (from PyPI, in its own virtualenv) against a live ``privgate serve``.

Superset's dependency set cannot share privgate's venv, so ``make superset`` builds ``.cache/venv-superset``
with the pins in ``tests/superset/constraints.txt`` and this test runs ``tests/superset/superset_probe.py``
with that interpreter: a real Superset app (SQLite metadata DB in a temp dir), its ``Database`` model and
``PostgresEngineSpec``, the dataset picker's inspector path, a chart query as Superset builds it (month time
grain, COUNT(*)/SUM metrics, its row limit), a masked projection, and a denial after which the same
``Database`` keeps working. Needs PostgreSQL at 127.0.0.1:5432 and the Superset venv; fails in CI without them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pgwire_support import ROOT, drop_database, start_proxy

pytestmark = pytest.mark.service

SUPERSET_VENV = ROOT / ".cache" / "venv-superset"
SUPERSET_PYTHON = Path(os.environ.get("PRIVGATE_SUPERSET_PYTHON", SUPERSET_VENV / "bin" / "python"))
PROBE = ROOT / "tests" / "superset" / "superset_probe.py"
STATUSES = {"delivered", "shipped", "placed", "returned", "cancelled"}


@pytest.fixture(scope="module")
def superset_result(demo_catalog, tmp_path_factory):  # type: ignore[no-untyped-def]
    from conftest import require_service

    complete = "PRIVGATE_SUPERSET_PYTHON" in os.environ or (SUPERSET_VENV / ".installed").exists()
    if not SUPERSET_PYTHON.exists() or not complete:
        require_service("Apache Superset",
                        f"{SUPERSET_PYTHON} missing or its venv incomplete; run `make superset`")
    proxy, db, upstream = start_proxy(demo_catalog)
    try:
        state = tmp_path_factory.mktemp("superset")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SUPERSET"))}
        out = subprocess.run([str(SUPERSET_PYTHON), str(PROBE), proxy.url(driver="postgresql+psycopg2"), str(state)],
                             capture_output=True, text=True, env=env, timeout=240, cwd=state)
        assert out.returncode == 0, out.stderr[-4000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["upstream"] = upstream
        yield result
    finally:
        proxy.stop()
        drop_database(db)


def test_superset_uses_its_postgres_engine_spec(superset_result):
    assert superset_result["engine_spec"] == "superset.db_engine_specs.postgres.PostgresEngineSpec"
    assert superset_result["backend"] == "postgresql"


def test_superset_dataset_picker_lists_schemas_tables_and_columns(superset_result):
    assert {"sales", "products", "marketing"} <= set(superset_result["schemas"])
    assert {"customers", "orders"} <= set(superset_result["tables"])
    assert {"order_id", "customer_id", "order_date", "amount"} <= set(superset_result["columns"])


def notice_detail(notices: list[str]) -> dict:  # type: ignore[type-arg]
    """The JSON DETAIL of the proxy's DP notice, as psycopg2 hands notices to Superset."""
    dp = [n for n in notices if "ε charged" in n]
    assert dp, notices
    return json.loads(dp[-1].split("DETAIL:", 1)[1].strip())  # type: ignore[no-any-return]


def test_superset_year_chart_gets_a_dp_answer_with_notice(superset_result):
    chart = superset_result["P1Y"]
    assert "DATE_TRUNC('year', order_date)" in chart["sql"] and chart["sql"].rstrip().endswith("LIMIT 10000")
    rows = chart["rows"]
    assert {r[0][:4] for r in rows} == {"2023", "2024"}
    assert all(isinstance(r[1], int) and r[1] > 0 for r in rows)
    detail = notice_detail(chart["notices"])
    assert float(detail["epsilon_charged"]) > 0 and detail["half_widths"]["count"] > 0
    assert chart["df_columns"] == ["order_date", "count", "SUM(amount)"] and chart["df_len"] == len(rows)


def test_superset_year_chart_numbers_are_noisy(superset_result):
    import psycopg

    with psycopg.connect(superset_result["upstream"]) as con:
        truth = {str(y)[:4]: (n, float(s)) for y, n, s in con.execute(
            "SELECT DATE_TRUNC('year', order_date), COUNT(*), SUM(amount) FROM sales.orders GROUP BY 1")}
    rows = superset_result["P1Y"]["rows"]
    assert rows and all((r[1], r[2]) != truth[r[0][:4]] for r in rows), "a bucket equals the raw answer"


def test_superset_month_chart_small_buckets_are_suppressed_not_leaked(superset_result):
    """~100 orders a month from ~1500 customers: DP partition selection releases no month bucket, and says so."""
    chart = superset_result["P1M"]
    assert "DATE_TRUNC('month', order_date)" in chart["sql"]
    detail = notice_detail(chart["notices"])
    assert detail["suppressed_keys"] + len(chart["rows"]) == 24  # Jan 2023 .. Dec 2024
    assert chart["df_len"] == len(chart["rows"])


def test_superset_masked_projection(superset_result):
    import psycopg

    with psycopg.connect(superset_result["upstream"]) as con:
        raw = {r[0] for r in con.execute("SELECT email FROM sales.customers")}
    masked = superset_result["masked"]
    assert len(masked) == 5
    assert all(len(email) == 64 and "@" not in email and email not in raw for _id, email, _c in masked)


def test_superset_denial_is_42501_and_database_stays_usable(superset_result):
    denied = superset_result["denied"]
    assert denied is not None, "the ssn projection was not refused"
    assert denied["pgcode"] == "42501", denied
    assert "pii_raw_projection" in denied["message"] or "denied" in denied["message"].lower()
    assert superset_result["after_denial"] == [[42]]
    assert superset_result["engine_after_denial"] == 7


def test_superset_with_a_schema_selected_resolves_names_in_it(superset_result):
    """With a schema selected Superset first runs ``set search_path = "<schema>"``: unqualified names resolve
    in that schema, the policy judges sales.orders / sales.customers, and a DP aggregate comes back."""
    sqllab = superset_result["schema_sqllab"]
    assert sqllab.get("columns") == ["status", "count"], sqllab
    assert {r[0] for r in sqllab["rows"]} <= STATUSES and all(isinstance(r[1], int) for r in sqllab["rows"])
    denied = superset_result["schema_denied"]
    assert denied is not None and denied["pgcode"] == "42501" and "pii_raw_projection" in denied["message"]


def test_superset_physical_dataset_with_a_schema(superset_result):
    physical = superset_result["physical"]
    assert physical["error"] is None and "success" in physical["status"], physical
    assert "FROM sales.orders" in physical["sql"] and "COUNT(*)" in physical["sql"]
    assert physical["columns"] == ["status", "count"]
    assert physical["rows"] and {r[0] for r in physical["rows"]} <= STATUSES
