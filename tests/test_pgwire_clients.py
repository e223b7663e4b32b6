"""Real clients against a live ``privgate serve``: psql, psycopg 3, asyncpg, SQLAlchemy.

Each connects with SCRAM, gets a DP aggregate (with the accuracy notice), a masked projection, a
denial with SQLSTATE 42501 after which the session keeps working, and prepared statements.
Needs PostgreSQL at 127.0.0.1:5432 (a fresh database ``privgate_test_<pid>`` is created and dropped);
fails in CI when it or a client is missing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest
from pgwire_support import require_binary, serve_demo

pytestmark = pytest.mark.service

DP_SQL = "SELECT status, count(*) AS n FROM sales.orders GROUP BY status"
MASKED_SQL = "SELECT customer_id, email, country FROM sales.customers ORDER BY customer_id LIMIT 5"
DENIED_SQL = "SELECT customer_id, ssn FROM sales.customers"
STATUSES = {"delivered", "shipped", "placed", "returned", "cancelled"}
LONG_SQL = ("SELECT count(*) FROM products.products a CROSS JOIN products.products b "
            "CROSS JOIN products.products c CROSS JOIN products.products d")


@pytest.fixture(scope="module")
def proxy(demo_catalog):  # type: ignore[no-untyped-def]
    yield from serve_demo(demo_catalog)


def raw_emails(proxy) -> list[str]:  # type: ignore[no-untyped-def]
    import psycopg

    with psycopg.connect(proxy.upstream) as con:
        return [r[0] for r in con.execute("SELECT email FROM sales.customers ORDER BY customer_id LIMIT 50")]


# ---- psql ---------------------------------------------------------------------------------------

def test_psql_dp_masked_denied_and_session_survives(proxy):
    psql = require_binary("psql")
    env = {**os.environ, "PGPASSWORD": "ana"}
    out = subprocess.run([psql, "-X", "-A", "-t", f"postgresql://ana@127.0.0.1:{proxy.port}/{proxy.db}",
                          "-c", DP_SQL, "-c", DENIED_SQL, "-c", MASKED_SQL, "-c", "SELECT 41 + 1"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert "42501" in out.stderr or "denied" in out.stderr
    assert "pii_raw_projection" in out.stderr
    assert "ε charged" in out.stderr and "budget left" in out.stderr
    lines = out.stdout.split()
    assert {ln.split("|")[0] for ln in lines if "|" in ln} >= STATUSES
    assert "42" in lines  # the session kept working after the denial
    emails = [ln.split("|")[1] for ln in lines if ln.count("|") == 2]
    assert len(emails) == 5 and all(len(e) == 64 and "@" not in e for e in emails)


def test_psql_describe_commands_use_the_catalog(proxy):
    psql = require_binary("psql")
    out = subprocess.run([psql, "-X", f"postgresql://ana@127.0.0.1:{proxy.port}/{proxy.db}", "-c", r"\dt sales.*",
                          "-c", r"\d sales.customers"], capture_output=True, text=True,
                         env={**os.environ, "PGPASSWORD": "ana"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "customers" in out.stdout and "orders" in out.stdout and "consent_marketing" in out.stdout


def test_wrong_password_is_refused(proxy):
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(proxy.url("ana", "wrong"))


def test_tls_when_a_certificate_is_configured(proxy, tmp_path):
    import psycopg
    from pgwire_support import RunningProxy

    from privgate.config import ServeTls

    openssl = require_binary("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert), "-days", "1"], check=True, capture_output=True)
    tls_proxy = RunningProxy(proxy.upstream, {"tls": ServeTls(cert=cert, key=key), "allow_cleartext": True})
    tls_proxy.db = proxy.db
    try:
        with psycopg.connect(tls_proxy.url() + "?sslmode=require", autocommit=True) as con:
            assert con.pgconn.ssl_in_use
            assert con.execute("SELECT 8").fetchone() == (8,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(tls_proxy.url("ana", "nope") + "?sslmode=require")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(proxy.url() + "?sslmode=require")  # no certificate: SSLRequest refused
    finally:
        tls_proxy.stop()


# ---- psycopg 3 ----------------------------------------------------------------------------------

def test_psycopg_simple_protocol_dp_with_notice(proxy):
    import psycopg

    notices: list[tuple[str, str]] = []
    with psycopg.connect(proxy.url(), autocommit=True, cursor_factory=psycopg.ClientCursor) as con:
        con.add_notice_handler(lambda d: notices.append((d.message_primary or "", d.message_detail or "")))
        rows = con.execute(DP_SQL).fetchall()
        assert {r[0] for r in rows} <= STATUSES and len(rows) >= 4
        assert all(isinstance(r[1], int) for r in rows)
        assert notices and "ε charged" in notices[-1][0]
        assert '"half_widths"' in notices[-1][1]


def test_psycopg_extended_masked_binds_and_binary(proxy):
    import psycopg

    raw = set(raw_emails(proxy))
    with psycopg.connect(proxy.url(), autocommit=True) as con:
        rows = con.execute("SELECT customer_id, email FROM sales.customers WHERE customer_id = %s", (7,)).fetchall()
        assert len(rows) <= 1
        rows = con.execute(MASKED_SQL, binary=True).fetchall()
        assert len(rows) == 5 and all(isinstance(r[0], int) for r in rows)
        assert not raw & {r[1] for r in rows}
        prod = con.execute("SELECT product_id, name FROM products.products WHERE product_id = %s", (3,),
                           prepare=True).fetchall()
        again = con.execute("SELECT product_id, name FROM products.products WHERE product_id = %s", (3,),
                            prepare=True).fetchall()
        assert prod == again and prod[0][0] == 3


def test_psycopg_denial_keeps_session_and_transaction(proxy):
    import psycopg

    with psycopg.connect(proxy.url()) as con:
        con.execute("SELECT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute(DENIED_SQL)
        assert err.value.diag.sqlstate == "42501"
        assert "pii_raw_projection" in (err.value.diag.message_detail or "")
        con.rollback()
        assert con.execute("SELECT 2").fetchone() == (2,)
        con.commit()


def test_psycopg_parse_error_is_42601(proxy):
    import psycopg

    with psycopg.connect(proxy.url(), autocommit=True) as con:
        with pytest.raises(psycopg.Error) as err:
            con.execute("SELEC broken FROM")
        assert err.value.diag.sqlstate in ("42601", "42501")
        assert con.execute("SELECT 3").fetchone() == (3,)


def test_psycopg_pipeline_mode(proxy):
    import psycopg

    with psycopg.connect(proxy.url(), autocommit=True) as con, con.pipeline():
        a = con.execute("SELECT product_id FROM products.products WHERE product_id = %s", (1,))
        b = con.execute("SELECT product_id FROM products.products WHERE product_id = %s", (2,))
        c = con.execute(DP_SQL)
        assert a.fetchone() == (1,) and b.fetchone() == (2,)
        assert {r[0] for r in c.fetchall()} <= STATUSES


def test_psycopg_purpose_switch_changes_the_decision(proxy):
    import psycopg

    sql = ("SELECT e.channel, count(*) AS n FROM marketing.campaign_events e "
           "JOIN sales.customers c ON c.customer_id = e.customer_id GROUP BY e.channel")
    with psycopg.connect(proxy.url("mia"), autocommit=True) as con:
        assert con.execute("SHOW privgate.purpose").fetchone() == ("marketing",)
        assert con.execute(sql).fetchall()  # marketing has a sharing agreement with sales
        con.execute("SET privgate.purpose = 'analytics'")
        assert con.execute("SHOW privgate.purpose").fetchone() == ("analytics",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(sql)


def test_psycopg_search_path_and_sensitive_catalog_refused(proxy):
    import psycopg

    with psycopg.connect(proxy.url(), autocommit=True) as con:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SET search_path TO sales, pg_catalog")  # pg_catalog after a schema: refused
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT query_to_xml('select email from sales.customers', true, true, '') FROM pg_class")
        assert con.execute("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'sales'").fetchone() == (1,)


def test_cancel_a_long_query(proxy):
    """asyncpg sends a CancelRequest when the wait times out; the proxy forwards it to the upstream backend.

    (psycopg's blocking ``cancel()`` holds the GIL inside libpq, which would starve this in-process proxy;
    it works against a separate ``privgate serve`` process.)
    """
    import asyncpg

    async def main() -> None:
        con = await asyncpg.connect(proxy.url())
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(con.fetch(LONG_SQL), 0.5)
        assert time.monotonic() - t0 < 10
        assert await con.fetchval("SELECT 7") == 7
        await con.close()

    asyncio.run(main())


# ---- asyncpg ------------------------------------------------------------------------------------

def test_asyncpg_dp_prepared_masked_denied(proxy):
    import asyncpg

    async def main() -> None:
        con = await asyncpg.connect(proxy.url())
        notices: list[object] = []
        con.add_log_listener(lambda _c, msg: notices.append(msg))
        rows = await con.fetch(DP_SQL)
        assert {r["status"] for r in rows} <= STATUSES and all(isinstance(r["n"], int) for r in rows)
        stmt = await con.prepare("SELECT product_id, name FROM products.products WHERE product_id = $1")
        assert (await stmt.fetchrow(4))["product_id"] == 4
        masked = await con.fetch(MASKED_SQL)
        assert len(masked) == 5 and all("@" not in r["email"] for r in masked)
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await con.fetch(DENIED_SQL)
        assert await con.fetchval("SELECT 6") == 6
        await con.close()
        assert notices

    asyncio.run(main())


# ---- SQLAlchemy ---------------------------------------------------------------------------------

def test_sqlalchemy_engine_and_inspector(proxy):
    import sqlalchemy as sa

    engine = sa.create_engine(proxy.url(driver="postgresql+psycopg"))
    try:
        insp = sa.inspect(engine)
        assert {"customers", "orders"} <= set(insp.get_table_names(schema="sales"))
        cols = {c["name"] for c in insp.get_columns("customers", schema="sales")}
        assert {"email", "ssn", "consent_marketing"} <= cols
        with engine.connect() as con:
            rows = con.execute(sa.text("SELECT category, count(*) AS n FROM products.products GROUP BY category"))
            assert {r.category for r in rows}
            chart = con.execute(sa.text("SELECT status, count(*) AS n FROM sales.orders GROUP BY status")).all()
            assert {r.status for r in chart} <= STATUSES
            with pytest.raises(sa.exc.ProgrammingError):
                con.execute(sa.text(DENIED_SQL))
    finally:
        engine.dispose()


# ---- node-postgres ------------------------------------------------------------------------------

def test_node_postgres(proxy):
    import json
    from pathlib import Path

    from conftest import require_service

    node = require_binary("node")
    modules = Path(__file__).resolve().parent.parent / ".cache" / "node-pg" / "node_modules"
    if not (modules / "pg").is_dir():
        require_service("node-postgres", f"not installed in {modules} (make node-pg)")
    out = subprocess.run([node, str(Path(__file__).parent / "node" / "pgwire_client.js"), proxy.url()],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "NODE_PATH": str(modules)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {r["status"] for r in result["dp"]} <= STATUSES and result["dpTypes"][1] == 20
    assert result["notices"] and "ε charged" in result["notices"][0]
    assert [int(x) for x in result["prepared"]] == [5, 6]  # int8 arrives as a string in node-postgres
    assert all("@" not in (r["email"] or "") for r in result["masked"])
    assert result["denied"]["code"] == "42501" and "pii_raw_projection" in result["denied"]["detail"]
    assert result["after"] == 11


# ---- pgjdbc -------------------------------------------------------------------------------------

def test_pgjdbc(proxy, tmp_path):
    from pathlib import Path

    from conftest import require_service

    java, javac = require_binary("java"), require_binary("javac")
    jar = Path("/usr/share/java/postgresql.jar")
    if not jar.is_file():
        require_service("pgjdbc", "Debian package libpostgresql-jdbc-java is not installed")
    src = Path(__file__).parent / "java" / "PgwireClient.java"
    subprocess.run([javac, "-d", str(tmp_path), str(src)], check=True, capture_output=True, timeout=120)
    url = f"jdbc:postgresql://127.0.0.1:{proxy.port}/{proxy.db}"
    out = subprocess.run([java, "-cp", f"{tmp_path}:{jar}", "PgwireClient", url, "ana", "ana"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = dict(line.split("=", 1) for line in out.stdout.split())
    assert int(got["dp_rows"]) >= 4 and got["dp_type"] == "int8" and got["dp_notice"] == "true"
    assert got["prepared_sum"] == "21" and got["masked_raw"] == "false"
    assert got["denied"] == "42501" and got["after"] == "12"


def test_psycopg_server_side_cursor_is_governed(proxy):
    import psycopg

    raw = set(raw_emails(proxy))
    with psycopg.connect(proxy.url()) as con:
        with con.cursor(name="emails") as cur:
            cur.execute("SELECT customer_id, email FROM sales.customers WHERE customer_id > %s", (0,))
            rows = cur.fetchmany(4)
        assert len(rows) == 4 and not raw & {r[1] for r in rows}
        con.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege), con.cursor(name="ssn") as cur:
            cur.execute(DENIED_SQL)
        con.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege), con.cursor(name="dp") as cur:
            cur.execute(DP_SQL)
        con.rollback()
        assert con.execute("SELECT 13").fetchone() == (13,)
