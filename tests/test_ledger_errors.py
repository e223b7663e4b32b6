"""Database failures become ``budget_error`` with actionable text, and never lose or half-write records."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from privgate.connectors.ledger import open_ledger
from privgate.connectors.ledger.postgres import PostgresStore
from privgate.connectors.ledger.sqlite import SqliteStore
from privgate.connectors.ledger.testing import pg_test_url, pg_unavailable, temporary_schema
from privgate.engine.errors import BudgetError
from privgate.engine.ledger import Amount, BudgetConfig, BudgetExhaustedError, Charge, Cost, LedgerService

D = Decimal

CFG = BudgetConfig.model_validate({"accounts": [{"scope": "principal:*", "epsilon": "1"}]})


def clock() -> datetime:
    return datetime.now(UTC)


def _service(store: SqliteStore | PostgresStore) -> LedgerService:
    return LedgerService(store, CFG, clock=clock, new_id=lambda: uuid.uuid4().hex)


def _charge(eps: str = "0.5") -> Charge:
    return Charge(decision_id="d", scopes=("principal:alice",), cost=Cost(epsilon=D(eps)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = pg_test_url()
    reason = pg_unavailable(base)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    with temporary_schema(base) as schema:
        yield f"{base}?schema={schema}"


def test_unreachable_postgres_is_a_budget_error_with_a_remedy():
    with pytest.raises(BudgetError) as info:
        open_ledger("postgresql://privgate:secret@127.0.0.1:1/nowhere", CFG)
    err = info.value
    assert err.code == "budget_error" and "check the ledger URL" in str(err) and "secret" not in str(err)


def test_unopenable_sqlite_file_is_a_budget_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BudgetError) as info:
        open_ledger(f"sqlite:///{blocker / 'ledger.db'}", CFG)
    assert info.value.code == "budget_error"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BudgetError, match="is a privgate ledger"):
        open_ledger(f"sqlite:///{junk}", CFG)


def test_sqlite_busy_writer_fails_closed_and_charges_nothing(tmp_path: Path):
    path = str(tmp_path / "busy.db")
    led = _service(SqliteStore(path, busy_timeout_seconds=0.2))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(BudgetError) as info:
        led.reserve(_charge(), "k1")
    assert info.value.code == "budget_error" and "busy timeout" in str(info.value)
    other.execute("ROLLBACK")
    other.close()
    assert led.show("principal:alice").accounts[0].reserved == Amount()
    assert led.reserve(_charge(), "k1").status == "pending"  # the same key works once the lock is free
    led.close()


@pytest.mark.service
def test_postgres_lock_timeout_fails_closed(pg_url: str):
    base, _, schema = pg_url.partition("?schema=")
    led = _service(PostgresStore(base, schema=schema, lock_timeout_ms=200))
    led.commit(led.reserve(_charge("0.1"), "first").id)
    with psycopg.connect(base) as holder:
        holder.execute(f"SELECT * FROM {schema}.ledger_accounts WHERE scope = 'principal:alice' FOR UPDATE")
        with pytest.raises(BudgetError) as info:
            led.reserve(_charge(), "k2")
        assert info.value.code == "budget_error" and "lock_timeout" in str(info.value)
        holder.rollback()
    assert led.show("principal:alice").accounts[0].reserved == Amount()
    led.close()


@pytest.mark.service
def test_postgres_reconnects_after_the_server_drops_the_connection(pg_url: str):
    led = open_ledger(pg_url, CFG)
    led.commit(led.reserve(_charge("0.25"), "k1").id)
    base = pg_url.partition("?schema=")[0]
    pid = led.store._conn.info.backend_pid  # type: ignore[attr-defined]  # only this ledger's session
    with psycopg.connect(base, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    with pytest.raises(BudgetError) as info:
        led.reserve(_charge("0.25"), "k2")
    assert info.value.code == "budget_error"
    res = led.reserve(_charge("0.25"), "k2")  # next call reconnects; the failed attempt left nothing
    assert led.show("principal:alice").accounts[0].reserved.loss == D("0.25") and res.status == "pending"
    with pytest.raises(BudgetExhaustedError):
        led.reserve(_charge("0.6"), "k3")
    led.close()


def test_work_per_charge_does_not_grow_with_history(tmp_path: Path):
    """O(1) per charge: the SQL a reserve+commit runs is the same after 1 and after 300 charges."""
    store = SqliteStore(str(tmp_path / "o1.db"))
    cfg = BudgetConfig.model_validate({"accounts": [
        {"scope": "principal:*", "epsilon": "1000", "window": "rolling:30"},
        {"scope": "subject:customer", "measure": "zcdp", "rho": "1000"}]})
    led = LedgerService(store, cfg, clock=clock, new_id=lambda: uuid.uuid4().hex)
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)

    def one(i: int) -> list[str]:
        seen.clear()
        ch = Charge(decision_id=f"d{i}", scopes=("principal:alice", "subject:customer"),
                    cost=Cost(epsilon=D("0.1")))
        led.commit(led.reserve(ch, f"k{i}").id)
        return list(seen)

    first = one(0)
    for i in range(1, 300):
        one(i)
    last = one(300)
    assert len(last) == len(first) < 60  # two accounts: a constant number of statements
    assert not any("ledger_reservations" in s and "SUM" in s.upper() for s in last)
    led.close()
