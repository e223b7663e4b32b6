"""Session state through the proxy, as PostgreSQL keeps it: failed transaction blocks and the search path.

Transactions: after an error inside BEGIN (a privgate denial, a failed DP answer or an upstream error)
PostgreSQL marks the block failed — every further statement gets 25P02 until ROLLBACK (or ROLLBACK TO
SAVEPOINT), COMMIT reports ROLLBACK, ReadyForQuery carries 'E'. In the extended protocol an error also
rolls back the batch's implicit transaction. The proxy reproduces that with real clients (psycopg
non-autocommit, simple and extended; asyncpg transactions and savepoints; psql) and a raw protocol client.
Needs PostgreSQL at 127.0.0.1:5432 (fails in CI without).
"""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
from pgwire_support import (
    frame,
    query,
    raw_login,
    read_until_ready,
    require_binary,
    serve_demo,
)

pytestmark = pytest.mark.service

DENIED_SQL = "SELECT customer_id, ssn FROM sales.customers"
DP_SQL = "SELECT status, count(*) AS n FROM sales.orders GROUP BY status"
ABORTED = "current transaction is aborted"


@pytest.fixture(scope="module")
def proxy(demo_catalog):  # type: ignore[no-untyped-def]
    yield from serve_demo(demo_catalog)


def _extended(sql: str) -> bytes:
    """Parse/Bind/Execute of the unnamed statement and portal, no parameters, text results."""
    return (frame(b"P", b"\x00" + sql.encode() + b"\x00\x00\x00") + frame(b"B", b"\x00\x00" + b"\x00\x00" * 3)
            + frame(b"E", b"\x00" + b"\x00" * 4))


def _errors(msgs: list[tuple[bytes, bytes]]) -> list[str]:
    """SQLSTATEs of the ErrorResponses."""
    states = []
    for kind, body in msgs:
        if kind == b"E":
            fields = dict((f[:1], f[1:]) for f in body.split(b"\x00") if f)
            states.append(fields[b"C"].decode())
    return states


def _tags(msgs: list[tuple[bytes, bytes]]) -> list[str]:
    return [body.rstrip(b"\x00").decode() for kind, body in msgs if kind == b"C"]


# ---- failed transaction blocks ------------------------------------------------------------------

def test_psycopg_denial_fails_the_transaction_until_rollback(proxy):
    import psycopg
    from psycopg.pq import TransactionStatus

    with psycopg.connect(proxy.url()) as con:  # not autocommit: psycopg opens a block (extended protocol)
        con.execute("SET statement_timeout = 4321")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute(DENIED_SQL)
        assert "pii_raw_projection" in (err.value.diag.message_detail or "")  # privgate's own error and code
        assert con.info.transaction_status == TransactionStatus.INERROR
        for sql in ("SELECT 1", DP_SQL, DENIED_SQL, "SHOW statement_timeout", "SET privgate.purpose = 'x'"):
            with pytest.raises(psycopg.errors.InFailedSqlTransaction) as err:
                con.execute(sql)
            assert err.value.diag.sqlstate == "25P02" and ABORTED in str(err.value)
            assert con.info.transaction_status == TransactionStatus.INERROR
        cur = con.execute("COMMIT")
        assert cur.statusmessage == "ROLLBACK"  # COMMIT of a failed block reports ROLLBACK
        assert con.info.transaction_status == TransactionStatus.IDLE
        assert con.execute("SHOW statement_timeout").fetchone() == ("0",)  # the SET was rolled back upstream
        assert con.execute("SHOW privgate.purpose").fetchone() == ("analytics",)
        con.rollback()


def test_psycopg_simple_protocol_denial_and_savepoint(proxy):
    import psycopg
    from psycopg.pq import TransactionStatus

    with psycopg.connect(proxy.url(), cursor_factory=psycopg.ClientCursor) as con:
        con.execute("SET statement_timeout = 5555")
        con.execute("SAVEPOINT before_denial")
        con.execute("SET lock_timeout = 777")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(DENIED_SQL)
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            con.execute("SELECT 1")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            con.execute("RELEASE SAVEPOINT before_denial")  # not a transaction exit: the upstream says 25P02
        con.execute("ROLLBACK TO SAVEPOINT before_denial")
        assert con.info.transaction_status == TransactionStatus.INTRANS
        assert con.execute("SELECT 3").fetchone() == (3,)
        assert con.execute("SHOW lock_timeout").fetchone() == ("0",)  # rolled back to the savepoint
        assert con.execute("COMMIT").statusmessage == "COMMIT"
        assert con.execute("SHOW statement_timeout").fetchone() == ("5555ms",)  # kept: before the savepoint
        con.rollback()


def test_upstream_error_in_a_block_also_blocks_governed_statements(proxy):
    import psycopg

    with psycopg.connect(proxy.url()) as con:
        with pytest.raises(psycopg.errors.DivisionByZero):
            con.execute("SELECT 1 / (count(*) - count(*)) FROM products.products")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            con.execute(DENIED_SQL)  # 25P02, not a fresh decision
        con.rollback()
        assert con.execute("SELECT 4").fetchone() == (4,)


def test_asyncpg_transactions_and_savepoints(proxy):
    import asyncpg

    async def main() -> None:
        con = await asyncpg.connect(proxy.url())
        tr = con.transaction()
        await tr.start()
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await con.fetch(DENIED_SQL)
        with pytest.raises(asyncpg.exceptions.InFailedSQLTransactionError):
            await con.fetchval("SELECT 1")
        with pytest.raises(asyncpg.exceptions.InFailedSQLTransactionError):
            await con.fetch(DP_SQL)  # no DP answer, no charge, in a failed block
        await tr.rollback()
        assert await con.fetchval("SELECT 5") == 5

        async with con.transaction():
            await con.execute("SET LOCAL lock_timeout = 888")
            inner = con.transaction()  # a savepoint
            await inner.start()
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await con.fetch(DENIED_SQL)
            with pytest.raises(asyncpg.exceptions.InFailedSQLTransactionError):
                await con.execute("SELECT 1")  # simple protocol in asyncpg
            await inner.rollback()
            assert await con.fetchval("SHOW lock_timeout") == "888ms"
            assert await con.fetchval("SELECT 6") == 6
        await con.close()

    asyncio.run(main())


def test_psql_script_in_a_block(proxy):
    psql = require_binary("psql")
    script = f"BEGIN;\nSELECT 1 AS one;\n{DENIED_SQL};\nSELECT 2 AS two;\nCOMMIT;\nSELECT 3 AS three;\n"
    out = subprocess.run([psql, "-X", "-A", "-t", f"postgresql://ana@127.0.0.1:{proxy.port}/{proxy.db}"],
                         input=script, capture_output=True, text=True, env={**os.environ, "PGPASSWORD": "ana"},
                         timeout=60)
    assert "pii_raw_projection" in out.stderr and ABORTED in out.stderr
    assert out.stdout.split() == ["BEGIN", "1", "ROLLBACK", "3"]


def test_raw_simple_and_extended_protocol_status(proxy):
    s = raw_login(proxy.port, proxy.db)
    assert query(s, "BEGIN")[-1] == (b"Z", b"T")
    out = query(s, DENIED_SQL)
    assert _errors(out) == ["42501"] and out[-1] == (b"Z", b"E")
    s.sendall(_extended("SELECT 1") + frame(b"S", b""))
    out = read_until_ready(s)
    assert _errors(out) == ["25P02"] and out[-1] == (b"Z", b"E")
    out = query(s, "COMMIT")
    assert _tags(out) == ["ROLLBACK"] and out[-1] == (b"Z", b"I")

    # Extended, inside a block: the denial fails the block; a ROLLBACK queued in the same batch ends it.
    assert query(s, "BEGIN")[-1] == (b"Z", b"T")
    s.sendall(_extended(DENIED_SQL) + _extended("SELECT 7") + frame(b"S", b""))
    out = read_until_ready(s)
    assert _errors(out) == ["42501"] and out[-1] == (b"Z", b"E")
    s.sendall(_extended("ROLLBACK") + _extended("SELECT 8") + frame(b"S", b""))
    out = read_until_ready(s)
    assert _errors(out) == [] and _tags(out) == ["ROLLBACK", "SELECT 1"] and out[-1] == (b"Z", b"I")
    s.close()


def test_extended_batch_error_rolls_back_its_implicit_transaction(proxy):
    """Outside a block, Parse/Bind/Execute up to Sync is one implicit transaction: PostgreSQL rolls all of
    it back after an error, so a SET earlier in the batch does not stick; in the next batch it does."""
    s = raw_login(proxy.port, proxy.db)
    s.sendall(_extended("SET statement_timeout = 6543") + _extended(DENIED_SQL) + frame(b"S", b""))
    out = read_until_ready(s)
    assert _tags(out) == ["SET"] and _errors(out) == ["42501"] and out[-1] == (b"Z", b"I")
    assert any(k == b"D" and b"\x00\x00\x00\x010" in d for k, d in query(s, "SHOW statement_timeout"))
    s.sendall(_extended("SET statement_timeout = 6543") + frame(b"S", b""))
    assert read_until_ready(s)[-1] == (b"Z", b"I")
    assert any(k == b"D" and b"6543ms" in d for k, d in query(s, "SHOW statement_timeout"))
    s.close()


# ---- search_path --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shadow(proxy):  # type: ignore[no-untyped-def]
    """Upstream objects the catalog does not describe: a schema shadowing ``customers`` and a table hidden in a
    catalog schema. Nothing may reach them through an unqualified name."""
    import psycopg

    with psycopg.connect(proxy.upstream, autocommit=True) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS shadow")
        con.execute("CREATE TABLE IF NOT EXISTS shadow.customers (customer_id int, email text, ssn text)")
        con.execute("INSERT INTO shadow.customers VALUES (1, 'raw@example.com', '123-45-6789')")
        con.execute("CREATE TABLE IF NOT EXISTS shadow.secrets (s text)")
        con.execute("CREATE TABLE IF NOT EXISTS sales.sneaky (s text)")
    return proxy


def _deny_codes(err: BaseException) -> str:
    return getattr(getattr(err, "diag", None), "message_detail", "") or ""


def test_set_search_path_resolves_unqualified_names_in_that_schema(shadow):
    import psycopg

    raw = set()
    with psycopg.connect(shadow.upstream) as con:
        raw = {r[0] for r in con.execute("SELECT email FROM sales.customers")}
    with psycopg.connect(shadow.url(), autocommit=True) as con:
        con.execute('set search_path = "sales"')  # Superset's prequery when a schema is selected
        assert con.execute("SHOW search_path").fetchone() == ("sales",)
        assert con.execute("SELECT current_schema()").fetchone() == ("sales",)
        rows = con.execute("SELECT customer_id, email FROM customers ORDER BY customer_id LIMIT 5").fetchall()
        assert len(rows) == 5 and not raw & {r[1] for r in rows}  # judged as sales.customers: masked
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute("SELECT customer_id, ssn FROM customers")
        assert "pii_raw_projection" in _deny_codes(err.value)
        dp = con.execute("SELECT status, count(*) AS n FROM orders GROUP BY status").fetchall()  # DP, via the path
        assert dp and all(isinstance(n, int) for _s, n in dp)
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute("SELECT product_id FROM products")  # products.products is not on the path
        assert "unknown_table" in _deny_codes(err.value)
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute("SELECT s FROM sneaky")  # upstream sales.sneaky, unknown to the catalog
        assert "unknown_table" in _deny_codes(err.value)

        con.execute("SET search_path TO products, sales")
        assert con.execute("SELECT count(*) FROM products").fetchone()[0] > 0
        con.execute("RESET search_path")
        assert con.execute("SELECT product_id FROM products LIMIT 1").fetchone()  # default: the one catalog schema


def test_a_search_path_through_schemas_outside_the_catalog_lets_nothing_unjudged_through(shadow):
    import psycopg

    with psycopg.connect(shadow.url(), autocommit=True) as con:
        con.execute("SET search_path = shadow, sales")  # upstream resolves `customers` to shadow.customers
        for sql in ("SELECT customer_id FROM customers", "SELECT email FROM customers", "SELECT s FROM secrets"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
                con.execute(sql)
            assert "unknown_table" in _deny_codes(err.value)
        con.execute("SET search_path = sales, shadow")  # sales.customers comes first and is what runs
        emails = [r[0] for r in con.execute("SELECT email FROM customers ORDER BY customer_id LIMIT 3")]
        assert emails and "raw@example.com" not in emails and all("@" not in e for e in emails)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT s FROM secrets")  # behind sales, but shadow is not in the catalog
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute("SET search_path = shadow, pg_catalog")
        assert "search_path_not_allowed" in _deny_codes(err.value)
        assert con.execute("SHOW search_path").fetchone() == ("sales, shadow",)
        con.execute('SET search_path = "$user", sales')  # $user: the proxy's upstream login's schema, unknown
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            con.execute("SELECT order_id FROM orders LIMIT 1")
        assert "unknown_table" in _deny_codes(err.value)
        con.execute("SET search_path = pg_catalog, sales")  # PostgreSQL's own order: pg_catalog holds no tables
        assert con.execute("SELECT order_id FROM orders ORDER BY order_id LIMIT 1").fetchone()


def test_search_path_follows_the_upstream_through_rollback_and_set_local(shadow):
    import psycopg

    orders = "SELECT order_id FROM orders ORDER BY order_id LIMIT 1"  # the catalog-wide default finds sales.orders
    with psycopg.connect(shadow.url()) as con:  # psycopg opens a block before each statement
        con.execute("SET search_path = products")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(orders)  # products has no orders
        con.rollback()  # the SET is rolled back with the block, upstream and in the proxy
        assert con.execute("SHOW search_path").fetchone() == ('"$user", public',)
        assert con.execute(orders).fetchone()
        con.commit()
        con.execute("SET LOCAL search_path = products")
        assert con.execute("SELECT count(*) FROM products").fetchone()[0] > 0
        con.commit()  # SET LOCAL ends with the block
        assert con.execute(orders).fetchone()
        con.commit()
        con.execute("SET search_path = products")
        con.commit()  # committed: it stays
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(orders)
        con.rollback()


def test_asyncpg_extended_protocol_uses_the_search_path(shadow):
    import asyncpg

    async def main() -> None:
        con = await asyncpg.connect(shadow.url())
        await con.execute('SET search_path = "sales"')
        stmt = await con.prepare("SELECT customer_id, email FROM customers WHERE customer_id = $1")
        row = await stmt.fetchrow(5)
        assert row["customer_id"] == 5 and "@" not in row["email"]
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="ssn"):
            await con.fetch("SELECT ssn FROM customers WHERE customer_id = $1", 5)
        await con.execute("SET search_path = shadow, sales")
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="not in the catalog"):
            await con.fetch("SELECT email FROM customers WHERE customer_id = $1", 1)
        await con.close()

    asyncio.run(main())
