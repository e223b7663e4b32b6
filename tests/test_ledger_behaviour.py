"""One behavioural suite, three ``Ledger`` implementations: in-memory reference, SQLite, PostgreSQL.

Every test gets ``make(config) -> Ledger`` sharing one backend (so a test can reopen the same
database with a different config) and a settable clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from privgate.connectors.ledger import open_ledger, open_store
from privgate.connectors.ledger.testing import pg_test_url, pg_unavailable, temporary_schema
from privgate.engine.ledger import (
    AccountConfigChangedError,
    Amount,
    BudgetConfig,
    BudgetExhaustedError,
    Charge,
    Cost,
    IdempotencyConflictError,
    Ledger,
    LedgerBudgetView,
    LedgerService,
    MeasureMismatchError,
    Mechanism,
    MemoryStore,
    NoBudgetAccountError,
    Reservation,
    ReservationReleasedError,
    UnknownReservationError,
    memory_ledger,
)

D = Decimal


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def config(*accounts: dict[str, object], timeout: int = 60) -> BudgetConfig:
    return BudgetConfig.model_validate({"accounts": list(accounts), "reservation_timeout_seconds": timeout})


DEFAULT = config(
    {"scope": "subject:customer", "measure": "approx", "epsilon": "3", "delta": "1e-6"},
    {"scope": "principal:*", "measure": "approx", "epsilon": "2", "delta": "1e-5", "window": "day"},
    {"scope": "class:dashboard", "measure": "pure", "epsilon": "1", "window": "week"},
    {"scope": "dataset:sales.orders", "measure": "zcdp", "rho": "0.5", "window": "rolling:3"},
)

Make = Callable[[BudgetConfig], Ledger]


def require_pg() -> str:
    url = pg_test_url()
    reason = pg_unavailable(url)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Make, Clock]]:
    clock = Clock()
    opened: list[Ledger] = []
    if request.param == "memory":
        store = MemoryStore()

        def make(cfg: BudgetConfig) -> Ledger:
            return LedgerService(store, cfg, clock=clock, new_id=_ids())
        yield make, clock
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"

        def make_sql(cfg: BudgetConfig) -> Ledger:
            led = open_ledger(url, cfg, clock=clock)
            opened.append(led)
            return led
        yield make_sql, clock
    else:
        base = require_pg()
        with temporary_schema(base) as schema:
            url = f"{base}?schema={schema}"

            def make_pg(cfg: BudgetConfig) -> Ledger:
                led = open_ledger(url, cfg, clock=clock)
                opened.append(led)
                return led
            yield make_pg, clock
            for led in opened:
                led.close()
            opened.clear()
    for led in opened:
        led.close()


def _ids() -> Callable[[], str]:
    n = iter(range(1, 1_000_000))
    return lambda: f"r{next(n):06d}"


def charge(*scopes: str, eps: str = "0.5", delta: str = "0", rho: str | None = None,
           decision: str = "dec-1") -> Charge:
    return Charge(decision_id=decision, scopes=scopes,
                  cost=Cost(epsilon=D(eps), delta=D(delta), rho=None if rho is None else D(rho)))


def status(led: Ledger, scope: str):  # type: ignore[no-untyped-def]
    (acc,) = led.show(scope).accounts
    return acc


def test_reserve_then_commit_moves_spend_from_reserved_to_committed(backend):
    make, _ = backend
    led = make(DEFAULT)
    assert isinstance(led, Ledger)
    res = led.reserve(charge("principal:alice", "subject:customer", eps="0.5", delta="1e-7"), "k1")
    assert res.status == "pending"
    assert {a.scope for a in res.accounts} == {"principal:alice", "subject:customer"}
    alice = status(led, "principal:alice")
    assert alice.reserved == Amount(loss=D("0.5"), delta=D("1e-7")) and alice.committed == Amount()
    assert alice.remaining_loss == D("1.5")
    done = led.commit(res.id)
    assert done.status == "committed" and done.closed_at is not None
    alice = status(led, "principal:alice")
    assert alice.committed == Amount(loss=D("0.5"), delta=D("1e-7")) and alice.reserved == Amount()
    assert alice.remaining_loss == D("1.5") and alice.remaining_delta == D("0.0000099")
    assert led.audit().ok


def test_charge_is_all_or_nothing_and_names_the_overflowing_scope(backend):
    make, _ = backend
    led = make(DEFAULT)
    led.commit(led.reserve(charge("principal:bob", "subject:customer", eps="1.8"), "k1").id)
    led.commit(led.reserve(charge("principal:carol", "subject:customer", eps="1"), "k2").id)
    # alice has 2 left, but the subject namespace has only 0.2 left: nothing may land anywhere
    with pytest.raises(BudgetExhaustedError) as info:
        led.reserve(charge("principal:alice", "subject:customer", eps="0.5"), "k3")
    err = info.value
    assert err.code == "budget_exhausted" and err.scope == "subject:customer"
    assert err.remaining == D("0.2") and err.requested == D("0.5") and "subject:customer" in str(err)
    assert status(led, "principal:alice").remaining_loss == D("2")
    assert status(led, "principal:alice").reserved == Amount()
    assert led.reserve(charge("principal:alice", "subject:customer", eps="0.2"), "k4").status == "pending"
    assert led.audit().ok


def test_exact_decimal_arithmetic_spends_the_budget_to_the_last_unit(backend):
    make, _ = backend
    led = make(DEFAULT)
    for i in range(20):  # 20 * 0.1 == 2 exactly (as floats the sum would be 1.9999999999999998)
        led.commit(led.reserve(charge("principal:alice", eps="0.1"), f"k{i}").id)
    assert status(led, "principal:alice").remaining_loss == D(0)
    with pytest.raises(BudgetExhaustedError):
        led.reserve(charge("principal:alice", eps="0.000000000000000001"), "one-more")


def test_retry_with_same_key_never_charges_twice(backend):
    make, _ = backend
    led = make(DEFAULT)
    first = led.reserve(charge("principal:alice", eps="0.7"), "key-A")
    again = led.reserve(charge("principal:alice", eps="0.7"), "key-A")
    assert again.id == first.id and again.replayed and not first.replayed
    assert status(led, "principal:alice").reserved.loss == D("0.7")
    led.commit(first.id)
    # a retry after commit still returns the (now committed) reservation, even when budget is short
    led.commit(led.reserve(charge("principal:alice", eps="1.3"), "key-B").id)
    late = led.reserve(charge("principal:alice", eps="0.7"), "key-A")
    assert late.id == first.id and late.status == "committed"
    with pytest.raises(IdempotencyConflictError):
        led.reserve(charge("principal:alice", eps="0.1"), "key-A")
    assert status(led, "principal:alice").committed.loss == D("2")


def test_commit_and_release_are_idempotent_and_never_refund_spent_budget(backend):
    make, _ = backend
    led = make(DEFAULT)
    a = led.reserve(charge("principal:alice", eps="0.5"), "a")
    assert led.release(a.id).status == "released"
    assert led.release(a.id).status == "released"
    assert status(led, "principal:alice").reserved == Amount()
    with pytest.raises(ReservationReleasedError) as info:
        led.commit(a.id)
    assert info.value.code == "budget_reservation_released"
    b = led.reserve(charge("principal:alice", eps="0.5"), "b")
    assert led.commit(b.id).status == "committed"
    assert led.commit(b.id).status == "committed"
    assert led.release(b.id).status == "committed"  # no refund after commit
    assert status(led, "principal:alice").committed.loss == D("0.5")
    with pytest.raises(UnknownReservationError):
        led.commit("no-such-id")
    assert led.audit().ok


def test_reservation_past_its_timeout_counts_as_spent_and_is_reported(backend):
    make, clock = backend
    led = make(DEFAULT)
    res = led.reserve(charge("principal:alice", eps="0.8"), "slow")
    clock.advance(seconds=61)
    alice = status(led, "principal:alice")  # show sweeps overdue reservations
    assert alice.expired.loss == D("0.8") and alice.reserved == Amount() and alice.remaining_loss == D("1.2")
    (entry,) = led.history(status="expired").entries
    assert isinstance(entry, Reservation) and entry.id == res.id and entry.status == "expired"
    assert led.release(res.id).status == "expired"  # too late to refund
    assert status(led, "principal:alice").remaining_loss == D("1.2")
    assert led.commit(res.id).status == "committed"  # the work finished late: still counted once
    alice = status(led, "principal:alice")
    assert alice.committed.loss == D("0.8") and alice.expired == Amount() and alice.remaining_loss == D("1.2")
    assert led.audit().ok


def test_release_after_deadline_expires_instead_of_refunding(backend):
    make, clock = backend
    led = make(DEFAULT)
    res = led.reserve(charge("principal:alice", eps="0.8"), "slow", timeout_seconds=5)
    clock.advance(seconds=6)
    assert led.release(res.id).status == "expired"
    assert status(led, "principal:alice").remaining_loss == D("1.2")


def test_calendar_and_rolling_windows(backend):
    make, clock = backend
    led = make(DEFAULT)
    led.commit(led.reserve(charge("principal:alice", eps="2"), "d1").id)
    with pytest.raises(BudgetExhaustedError):
        led.reserve(charge("principal:alice", eps="0.1"), "d1b")
    clock.advance(days=1)  # daily window: fresh budget
    assert status(led, "principal:alice").remaining_loss == D("2")
    # rolling:3 on a zcdp dataset account, pure charges cost eps^2/2
    ds = "dataset:sales.orders"
    led.commit(led.reserve(charge(ds, eps="0.6"), "r1").id)  # rho 0.18 on day 0
    clock.advance(days=1)
    led.commit(led.reserve(charge(ds, eps="0.6"), "r2").id)  # day 1
    clock.advance(days=1)
    with pytest.raises(BudgetExhaustedError) as info:  # 0.5 - 0.36 = 0.14 < 0.18
        led.reserve(charge(ds, eps="0.6"), "r3")
    assert info.value.quantity == "rho" and info.value.remaining == D("0.14")
    clock.advance(days=1)  # day 0 falls out of the 3-day window
    assert status(led, ds).remaining_loss == D("0.32")
    led.commit(led.reserve(charge(ds, eps="0.6"), "r4").id)
    # weekly class window: resets on Monday 00:00 UTC
    assert clock.now.weekday() == 5  # Saturday
    led.commit(led.reserve(charge("class:dashboard", eps="1"), "w1").id)
    clock.advance(days=1, hours=11, minutes=59)  # Sunday 23:59, same ISO week
    assert status(led, "class:dashboard").remaining_loss == D("0")
    clock.advance(minutes=1)
    assert status(led, "class:dashboard").remaining_loss == D("1")
    assert led.audit().ok


def test_measures_pure_refuses_delta_and_zcdp_reports_epsilon(backend):
    make, _ = backend
    led = make(DEFAULT)
    with pytest.raises(MeasureMismatchError):
        led.reserve(charge("class:dashboard", eps="0.1", delta="1e-9"), "p1")
    with pytest.raises(MeasureMismatchError):  # approximate DP does not convert to zCDP
        led.reserve(charge("dataset:sales.orders", eps="0.1", delta="1e-9"), "z0")
    gauss = Charge(decision_id="g", scopes=("dataset:sales.orders", "principal:alice"),
                   cost=Cost.from_zcdp(D("0.05"), D("1e-6")))
    res = led.reserve(gauss, "z1")
    parts = {a.scope: a.amount for a in res.accounts}
    assert parts["dataset:sales.orders"] == Amount(loss=D("0.05"))
    assert parts["principal:alice"].loss == gauss.cost.epsilon and parts["principal:alice"].delta == D("1e-6")
    ds = status(led, "dataset:sales.orders")
    assert ds.report_delta == D("1e-6")
    assert ds.epsilon_spent_equivalent == gauss.cost.epsilon  # same conversion, same rounding
    assert ds.epsilon_limit_equivalent is not None and ds.epsilon_limit_equivalent > D("5.7")


def test_grants_raise_the_current_window_and_are_audited(backend):
    make, clock = backend
    led = make(DEFAULT)
    led.commit(led.reserve(charge("principal:alice", eps="2"), "a").id)
    g = led.grant("principal:alice", Amount(loss=D("0.5")), reason="quarter close", granted_by="dpo")
    assert status(led, "principal:alice").remaining_loss == D("0.5")
    led.commit(led.reserve(charge("principal:alice", eps="0.5"), "b").id)
    kinds = [e.kind for e in led.history(scope="principal:alice").entries]
    assert kinds.count("grant") == 1 and kinds.count("charge") == 2
    (grant,) = [e for e in led.history(scope="principal:alice").entries if e.kind == "grant"]
    assert grant.id == g.id and grant.reason == "quarter close" and grant.granted_by == "dpo"
    clock.advance(days=1)  # a grant belongs to its window
    assert status(led, "principal:alice").remaining_loss == D("2")
    with pytest.raises(NoBudgetAccountError):
        led.grant("group:nobody", Amount(loss=D(1)), reason="x", granted_by="y")
    with pytest.raises(MeasureMismatchError):
        led.grant("class:dashboard", Amount(loss=D(1), delta=D("1e-6")), reason="x", granted_by="y")
    assert led.audit().ok


def test_charge_records_decision_and_mechanisms(backend):
    make, _ = backend
    led = make(DEFAULT)
    mechs = (Mechanism(mechanism="laplace", sensitivity=D(1), scale=D("4"), epsilon=D("0.25"),
                       detail={"column": "count(*)"}),
             Mechanism(mechanism="threshold", epsilon=D("0.25"), delta=D("1e-7"), detail={"threshold": 42}))
    ch = Charge(decision_id="dec-77", scopes=("principal:alice",), principal="alice", note="q7",
                cost=Cost(epsilon=D("0.5"), delta=D("1e-7")), mechanisms=mechs)
    res = led.reserve(ch, "m1")
    (entry,) = led.history().entries
    assert isinstance(entry, Reservation)
    assert entry.id == res.id and entry.decision_id == "dec-77" and entry.principal == "alice"
    assert entry.mechanisms == mechs and entry.note == "q7"
    blob = led.history().model_dump_json()
    assert '"scale":"4"' in blob and '"threshold":42' in blob and '"delta":"0.0000001"' in blob


def test_history_filters_and_pages(backend):
    make, clock = backend
    led = make(DEFAULT)
    ids = []
    for i in range(5):
        clock.advance(seconds=1)
        ids.append(led.reserve(charge("principal:alice", eps="0.1", decision=f"d{i}"), f"h{i}").id)
    led.reserve(charge("principal:bob", eps="0.1"), "hb")
    page1 = led.history(scope="principal:alice", limit=3)
    assert [e.id for e in page1.entries] == ids[::-1][:3] and page1.next_before is not None
    page2 = led.history(scope="principal:alice", limit=3, before=page1.next_before)
    assert [e.id for e in page2.entries] == ids[::-1][3:] and page2.next_before is None
    led.commit(ids[0])
    assert [e.id for e in led.history(status="committed").entries] == [ids[0]]


def test_unbudgeted_scopes_fail_closed_unless_allowed(backend):
    make, _ = backend
    led = make(DEFAULT)
    with pytest.raises(NoBudgetAccountError) as info:
        led.reserve(charge("group:analysts"), "u1")
    assert info.value.code == "budget_no_account"
    open_cfg = DEFAULT.model_copy(update={"require_account": False})
    assert make(open_cfg).reserve(charge("group:analysts"), "u2").accounts == ()


def test_changing_an_accounts_measure_is_refused(backend):
    make, _ = backend
    make(DEFAULT).reserve(charge("principal:alice"), "c1")
    changed = config({"scope": "principal:*", "measure": "pure", "epsilon": "2", "window": "day"})
    with pytest.raises(AccountConfigChangedError) as info:
        make(changed).reserve(charge("principal:alice"), "c2")
    assert "approx/day" in str(info.value) and info.value.code == "budget_config_mismatch"
    # raising a limit is fine: limits live in config, spend in the ledger
    bigger = config({"scope": "principal:*", "measure": "approx", "epsilon": "9", "window": "day"})
    assert status(make(bigger), "principal:alice").remaining_loss == D("8.5")


def test_budget_view_gives_the_engine_remaining_epsilon(backend):
    make, _ = backend
    cfg = config(
        {"scope": "principal:*", "measure": "approx", "epsilon": "2", "delta": "1e-5"},
        {"scope": "class:standard", "measure": "zcdp", "rho": "0.5"},
    )
    led = make(cfg)
    view = LedgerBudgetView(led)
    assert view.remaining("alice", "standard") == D(1)  # sqrt(2 * 0.5): the zcdp account binds
    led.commit(led.reserve(charge("principal:alice", "class:standard", eps="0.6"), "v1").id)
    # principal: 2 - 0.6 = 1.4; class: rho 0.5 - 0.18 = 0.32 -> sqrt(0.64) = 0.8
    assert view.remaining("alice", "standard") == D("0.8")
    assert view.remaining("bob", "standard") == D("0.8")
    assert view.remaining("bob", "other") == D("2")
    assert LedgerBudgetView(make(BudgetConfig())).remaining("alice", "standard") is None


def test_audit_detects_a_tampered_running_total(backend):
    make, _ = backend
    led = make(DEFAULT)
    led.commit(led.reserve(charge("principal:alice", eps="0.5"), "t1").id)
    assert led.audit().ok
    bucket = led.history().entries[0].accounts[0].bucket  # type: ignore[union-attr]
    with led.store.transaction(write=True) as tx:  # type: ignore[attr-defined]
        tx.add_to_bucket("principal:alice", bucket, "committed", Amount(loss=D("-0.1")))
    report = led.audit()
    assert not report.ok and "principal:alice" in report.problems[0] and "committed" in report.problems[0]


def test_memory_ledger_factory_needs_an_injected_clock():
    clock = Clock()
    led = memory_ledger(DEFAULT, clock=clock)
    assert led.reserve(charge("principal:alice"), "x").created_at == clock.now


def test_open_store_rejects_unknown_urls(tmp_path):
    from privgate.engine.errors import BudgetError
    for url in ("mysql://x/y", "sqlite://host/x.db", "sqlite:///"):
        with pytest.raises(BudgetError):
            open_store(url)
