"""Schema migrations on both backends: fresh install, upgrade from v1 with data, refusal of newer schemas."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from privgate.connectors.ledger import latest_schema_version, open_ledger, open_store
from privgate.connectors.ledger.migrate import migrations, pending
from privgate.connectors.ledger.testing import pg_test_url, pg_unavailable, temporary_schema
from privgate.engine.ledger import Amount, BudgetConfig, Charge, Cost, LedgerService, SchemaTooNewError

D = Decimal

CFG = BudgetConfig.model_validate({"accounts": [{"scope": "principal:*", "epsilon": "1"}]})


def clock() -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = pg_test_url()
    reason = pg_unavailable(base)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    with temporary_schema(base) as schema:
        yield f"{base}?schema={schema}"


def test_both_backends_ship_the_same_numbered_migrations():
    sqlite_names = [(m.version, m.name) for m in migrations("sqlite")]
    assert sqlite_names == [(m.version, m.name) for m in migrations("postgres")]
    assert [v for v, _ in sqlite_names] == list(range(1, latest_schema_version() + 1))
    assert latest_schema_version() >= 2
    assert all(m.statements for m in migrations("postgres"))


def test_pending_refuses_a_newer_schema():
    assert [m.version for m in pending("sqlite", 0)] == list(range(1, latest_schema_version() + 1))
    assert pending("sqlite", latest_schema_version()) == []
    with pytest.raises(SchemaTooNewError) as info:
        pending("sqlite", latest_schema_version() + 1)
    assert info.value.code == "budget_schema_too_new" and "upgrade privgate" in str(info.value)


def test_fresh_database_is_migrated_to_the_newest_version(url):
    store = open_store(url)
    assert store.schema_version() == latest_schema_version()
    store.close()
    again = open_store(url)  # opening an up-to-date database applies nothing
    assert again.schema_version() == latest_schema_version()
    again.close()


def test_upgrade_from_v1_keeps_the_data(url):
    old = open_store(url, target_version=1)
    assert old.schema_version() == 1
    led = LedgerService(old, CFG, clock=clock, new_id=lambda: "res-1")
    res = led.reserve(Charge(decision_id="d", scopes=("principal:alice",), cost=Cost(epsilon=D("0.4"))), "k")
    led.commit(res.id)
    old.close()

    new = open_ledger(url, CFG, clock=clock)
    assert new.store.schema_version() == latest_schema_version()  # type: ignore[attr-defined]
    (acc,) = new.show("principal:alice").accounts
    assert acc.committed.loss == D("0.4") and acc.remaining_loss == D("0.6")
    assert new.history().entries[0].id == "res-1"
    new.grant("principal:alice", Amount(loss=D("1")), reason="v2 feature", granted_by="test")  # table from v2
    assert new.show("principal:alice").accounts[0].remaining_loss == D("1.6")
    assert new.audit().ok
    new.close()


def _set_version(url: str, version: int) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("INSERT INTO privgate_ledger_schema (version, name, applied_us) "
                         "VALUES (?, 'future', 0)",
                         (version,))
    else:
        base, _, schema = url.partition("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {schema}.privgate_ledger_schema (version, name, applied_us) "
                         "VALUES (%s, 'future', 0)", (version,))


def test_a_database_migrated_by_newer_code_is_refused(url):
    open_store(url).close()
    _set_version(url, latest_schema_version() + 1)
    with pytest.raises(SchemaTooNewError) as info:
        open_ledger(url, CFG)
    assert f"schema version {latest_schema_version() + 1}" in str(info.value)
