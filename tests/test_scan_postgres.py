"""PII scan against a real PostgreSQL (127.0.0.1:5432, trust auth, database `test`).

Each run creates its own schema and drops it afterwards. Without the server the tests skip visibly,
except in CI (env `CI` set), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from scan_data import EXPECTED, customers

from privgate.connectors.scan import scan

PG_URL = os.environ.get("PRIVGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PG_TYPES = {
    "customer_id": "bigint",
    "birth_date": "date",
    "amount": "numeric(10,2)",
    "consent_marketing": "boolean",
}

pytestmark = pytest.mark.service


@pytest.fixture
def pg_schema() -> Iterator[str]:
    try:
        con = psycopg.connect(PG_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
    schema = f"scan_{uuid.uuid4().hex[:10]}"
    rows = customers(150)
    cols = list(rows)
    with con.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                sql.Identifier(schema, "customers"),
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PG_TYPES.get(c, "text"))) for c in cols
                ),
            )
        )
        cur.executemany(
            sql.SQL("INSERT INTO {} VALUES ({})").format(
                sql.Identifier(schema, "customers"), sql.SQL(", ").join(sql.Placeholder() * len(cols))
            ),
            list(zip(*(rows[c] for c in cols), strict=True)),
        )
        cur.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(schema, "nothing")))
    try:
        yield schema
    finally:
        with con.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        con.close()


def test_postgres_scan_tags_pii_and_rescan_is_a_no_op(pg_schema: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    report = scan(
        PG_URL, tables=[f"{pg_schema}.customers", f"{pg_schema}.nothing"], catalog_dir=catalog, now=NOW
    )
    assert [(e.table, e.code) for e in report.errors] == [(f"{pg_schema}.nothing", "scan_empty_table")]
    got = {c.column: {f.entity for f in c.findings if f.level == "pii"} for c in report.columns}
    assert got == EXPECTED
    assert [p.name for p in map(Path, report.written)] == [f"{pg_schema}.yaml"]
    again = scan(PG_URL, tables=[f"{pg_schema}.customers"], catalog_dir=catalog, now=NOW)
    assert again.stats.analyzed == 0 and again.diff == () and again.written == ()


def test_postgres_unreachable_is_a_clear_error() -> None:
    report = scan("postgresql://nobody:secret@127.0.0.1:1/none", now=NOW)
    assert [e.code for e in report.errors] == ["scan_source_unreachable"]
    assert "secret" not in report.to_json()


def test_postgres_missing_table_is_reported(pg_schema: str) -> None:
    report = scan(PG_URL, tables=[f"{pg_schema}.missing"], now=NOW)
    assert [e.code for e in report.errors] == ["scan_table_not_found"]
