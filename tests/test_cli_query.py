"""`privgate query` and `privgate ledger` end to end: demo warehouse (DuckDB), SQLite ledger, real policy."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import DEMO_CATALOG

from privgate.cli.main import main

COUNTRY = ("SELECT c.country, count(*) AS orders FROM sales.orders o "
           "JOIN sales.customers c ON c.customer_id = o.customer_id GROUP BY c.country")
STATUS = "SELECT status, sum(amount) AS revenue FROM sales.orders GROUP BY status"
SEGMENT = "SELECT segment, count(*) AS n FROM sales.customers GROUP BY segment"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "demo.duckdb"
    assert main(["--config", str(_config(path.parent)), "demo-data", str(path), "--customers", "2000"]) == 0
    return path


def _config(folder: Path, upstream: Path | None = None) -> Path:
    cfg = folder / "privgate.yaml"
    cfg.write_text(
        f"catalog: {DEMO_CATALOG}\n"
        "principals: {ana: {roles: [analyst], default_purpose: analytics}}\n"
        + (f"upstream: duckdb://{upstream}\n" if upstream else "")
        + "ledger:\n  url: sqlite:///ledger.db\n  budgets:\n    accounts:\n"
        "      - {scope: 'principal:*', measure: approx, epsilon: '1', delta: '1e-5', window: week}\n")
    return cfg


def run(capsys: pytest.CaptureFixture[str], cfg: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(cfg), *args])
    out, err = capsys.readouterr()
    return code, out, err


def spent(capsys: pytest.CaptureFixture[str], cfg: Path) -> Decimal:
    code, out, _ = run(capsys, cfg, "ledger", "show", "principal:ana", "--json")
    assert code == 0
    [account] = json.loads(out)["accounts"]
    return Decimal(account["committed"]["loss"])


def test_dp_answers_charge_once_and_stop_at_the_budget(warehouse, tmp_path, capsys):
    cfg = _config(tmp_path, warehouse)
    code, out, _ = run(capsys, cfg, "query", "--principal", "ana", "--sql", COUNTRY, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    first = Decimal(doc["dp"]["charge"]["epsilon"])
    assert Decimal("0.4") < first <= Decimal("0.5")
    assert {"country", "orders", "orders_halfwidth", "orders_swamped"} <= set(doc["columns"])
    assert {r["country"] for r in doc["rows"]} <= {"US", "CA", "GB", "DE", "FR", "NL", "ES", "IT"}
    assert spent(capsys, cfg) == first
    # the same question again: the earlier release, no new charge
    code, out, _ = run(capsys, cfg, "query", "--principal", "ana", "--sql", COUNTRY, "--format", "json")
    again = json.loads(out)
    assert code == 0 and again["dp"]["cached"] is True and again["rows"] == doc["rows"]
    assert spent(capsys, cfg) == first
    assert run(capsys, cfg, "query", "--principal", "ana", "--sql", STATUS, "--format", "csv")[0] == 0
    total = spent(capsys, cfg)
    assert total > first
    # a third question would overspend the weekly epsilon of 1: the policy denies it up front
    code, _, err = run(capsys, cfg, "query", "--principal", "ana", "--sql", SEGMENT)
    assert code == 1 and "budget_exhausted" in err
    assert spent(capsys, cfg) == total
    code, out, _ = run(capsys, cfg, "ledger", "history", "--json")
    assert code == 0
    assert len([e for e in json.loads(out)["entries"] if e["status"] == "committed"]) == 2
    # an operator grants more budget; the question goes through
    assert run(capsys, cfg, "ledger", "grant", "principal:ana", "--epsilon", "1", "--delta", "1e-5",
               "--reason", "quarterly report")[0] == 0
    assert run(capsys, cfg, "query", "--principal", "ana", "--sql", SEGMENT)[0] == 0


def test_row_level_reads_are_masked_and_pii_is_denied(warehouse, tmp_path, capsys):
    cfg = _config(tmp_path, warehouse)
    code, out, _ = run(capsys, cfg, "query", "--principal", "ana", "--format", "json", "--sql",
                       "SELECT customer_id, full_name, email FROM sales.customers ORDER BY customer_id LIMIT 5")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert rows and all(r["full_name"] == "[REDACTED]" for r in rows)
    assert all(r["email"] is None or re.fullmatch(r"[0-9a-f]{64}", r["email"]) for r in rows)
    assert (tmp_path / ".privgate" / "mask.key").stat().st_mode & 0o077 == 0
    code, _, err = run(capsys, cfg, "query", "--principal", "ana", "--sql", "SELECT ssn FROM sales.customers")
    assert code == 1 and "pii_raw_projection" in err


def test_missing_upstream_is_a_clear_error(tmp_path, capsys):
    cfg = _config(tmp_path, tmp_path / "nope.duckdb")
    code, _, err = run(capsys, cfg, "query", "--principal", "ana", "--sql", COUNTRY)
    assert code == 2 and "upstream_unreachable" in err and "privgate demo-data" in err


def test_shapes_dp_cannot_answer_are_denials_with_what_would_work(warehouse, tmp_path, capsys):
    cfg = _config(tmp_path, warehouse)
    code, _, err = run(capsys, cfg, "query", "--principal", "ana", "--sql", "SELECT max(amount) FROM sales.orders")
    assert code == 1
    assert "dp_unsupported_aggregate" in err and "Allowed: COUNT(*)" in err
    assert spent(capsys, cfg) == 0


def test_dp_answers_respect_consent_filters(warehouse, tmp_path, capsys):
    """DP runs over the rewritten SQL: customers who did not consent to analytics are not counted."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        total, consenting = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE consent_analytics) FROM sales.customers").fetchone()
    assert total - consenting > 100  # the demo data has enough non-consenting customers to tell apart
    cfg = _config(tmp_path, warehouse)
    code, out, _ = run(capsys, cfg, "query", "--principal", "ana", "--format", "json", "--sql",
                       "SELECT segment, count(*) AS n FROM sales.customers GROUP BY segment")
    assert code == 0
    released = sum(r["n"] for r in json.loads(out)["rows"])
    assert abs(released - consenting) < 60 < abs(released - total)


def test_unqualified_names_run_against_the_table_the_policy_judged(tmp_path, capsys):
    """A table named like a catalog table but outside the catalog (DuckDB's default schema here) must not
    be what an unqualified name reads upstream: allowed queries run as the analyzer qualified them."""
    import duckdb

    db = tmp_path / "shadow.duckdb"
    cfg = _config(tmp_path, db)
    assert main(["--config", str(cfg), "demo-data", str(db), "--customers", "200"]) == 0
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE main.products AS SELECT 1 AS product_id, 'leaked secret' AS name, 1.0 AS price")
    capsys.readouterr()
    code, out, _ = run(capsys, cfg, "query", "--principal", "ana", "--format", "json", "--sql",
                       "SELECT name FROM products WHERE product_id = 1")
    doc = json.loads(out)
    assert code == 0 and doc["rows"] and doc["rows"][0]["name"] != "leaked secret"
    assert "products.products" in doc["decision"]["rewritten_sql"]
