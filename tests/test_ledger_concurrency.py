"""Races and crashes against the real backends: 32 spawned processes, SIGKILL mid-reservation.

The worker functions live in this module so ``spawn`` children can import them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from privgate.connectors.ledger import open_ledger
from privgate.connectors.ledger.testing import pg_test_url, pg_unavailable, temporary_schema
from privgate.engine.ledger import Amount, BudgetConfig, BudgetExhaustedError, Charge, Cost

D = Decimal

WORKERS = 32
ATTEMPTS = 3
LIMIT, PRESPENT, STEP = D("10"), D("7"), D("0.25")  # 3 left: exactly 12 reservations of 0.25 fit
CONFIG: dict[str, Any] = {
    "reservation_timeout_seconds": 30,
    "accounts": [
        {"scope": "subject:customer", "measure": "approx", "epsilon": str(LIMIT), "delta": "1e-5"},
        {"scope": "principal:*", "measure": "approx", "epsilon": "100", "window": "day"},
        {"scope": "class:standard", "measure": "pure", "epsilon": "1000", "window": "rolling:7"},
    ],
}


def _charge(worker: int, attempt: int) -> Charge:
    return Charge(decision_id=f"dec-{worker}-{attempt}", principal=f"w{worker}",
                  scopes=("subject:customer", f"principal:w{worker}", "class:standard"),
                  cost=Cost(epsilon=STEP))


_BARRIER: Any = None


def _init_worker(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def race_worker(url: str, idx: int) -> dict[str, Any]:
    """One racer: its own connection, then up to ATTEMPTS reservations once all 32 are at the barrier."""
    led = open_ledger(url, BudgetConfig.model_validate(CONFIG))
    stats: dict[str, Any] = {"committed": 0, "released": 0, "exhausted": 0, "replayed": 0, "latency": [],
                             "pid": os.getpid()}
    _BARRIER.wait(timeout=60)
    for attempt in range(ATTEMPTS):
        key = f"w{idx}-a{attempt}"
        t0 = time.perf_counter()
        try:
            res = led.reserve(_charge(idx, attempt), key)
        except BudgetExhaustedError:
            stats["exhausted"] += 1
            stats["latency"].append(time.perf_counter() - t0)
            continue
        stats["latency"].append(time.perf_counter() - t0)
        if led.reserve(_charge(idx, attempt), key).replayed:  # a client retry must not charge again
            stats["replayed"] += 1
        if idx % 4 == 0 and attempt == 0:
            led.release(res.id)
            stats["released"] += 1
        else:
            led.commit(res.id)
            led.commit(res.id)
            stats["committed"] += 1
    led.close()
    return stats


def same_key_worker(url: str, idx: int) -> dict[str, Any]:
    """Every racer retries the very same charge under the very same key at the same moment."""
    led = open_ledger(url, BudgetConfig.model_validate(CONFIG))
    shared = Charge(decision_id="dec-shared", scopes=("subject:customer", "principal:shared"),
                    cost=Cost(epsilon=STEP))
    _BARRIER.wait(timeout=60)
    res = led.reserve(shared, "shared-key")
    led.close()
    return {"id": res.id, "replayed": res.replayed, "pid": os.getpid()}


def crash_worker(url: str, mode: str, ready: Any) -> None:
    led = open_ledger(url, BudgetConfig.model_validate(CONFIG))
    if mode == "after_reserve":
        led.reserve(_charge(999, 0), "doomed")
        ready.set()
    else:  # inside a write transaction, after a partial write: the database must roll it back
        with led.store.transaction(write=True) as tx:  # type: ignore[attr-defined]
            tx.add_to_bucket("subject:customer", 0, "committed", Amount(loss=D("5")))
            ready.set()
            time.sleep(60)
    time.sleep(60)


class Racers:
    """32 spawned processes, started on first use and shared by both backends' races (spawning and
    importing is most of the test's time; a skipped backend spawns nothing).

    Each round maps exactly 32 tasks; a worker blocks at the barrier until all 32 are there, so every
    task runs in a different process and all of them race at once.
    """

    def __init__(self) -> None:
        self.pool: Any = None
        self.spawn_seconds = 0.0

    def starmap(self, fn: Any, args: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        if self.pool is None:
            ctx = mp.get_context("spawn")
            t0 = time.perf_counter()
            self.pool = ctx.Pool(WORKERS, initializer=_init_worker, initargs=(ctx.Barrier(WORKERS),))
            self.pool.starmap(os.getpid, [()] * WORKERS, chunksize=1)  # wait until every worker is up
            self.spawn_seconds = time.perf_counter() - t0
        result: list[dict[str, Any]] = self.pool.starmap(fn, args, chunksize=1)
        return result


@pytest.fixture(scope="module")
def racers() -> Iterator[Racers]:
    holder = Racers()
    yield holder
    if holder.pool is not None:
        holder.pool.close()
        holder.pool.join()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.db'}"
        return
    base = pg_test_url()
    reason = pg_unavailable(base)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    with temporary_schema(base) as schema:
        yield f"{base}?schema={schema}"


def _prespend(url: str) -> None:
    led = open_ledger(url, BudgetConfig.model_validate(CONFIG))
    pre = Charge(decision_id="pre", scopes=("subject:customer",), cost=Cost(epsilon=PRESPENT))
    led.commit(led.reserve(pre, "prespend").id)
    led.close()


def test_32_processes_racing_for_the_last_units_never_overspend(ledger_url, racers, capsys):
    _prespend(ledger_url)
    racers.starmap(os.getpid, [])  # spawn (once) outside the timed race
    t0 = time.perf_counter()
    results = racers.starmap(race_worker, [(ledger_url, i) for i in range(WORKERS)])
    elapsed = time.perf_counter() - t0
    assert len({r["pid"] for r in results}) == WORKERS  # 32 distinct processes raced

    committed = sum(r["committed"] for r in results)
    released = sum(r["released"] for r in results)
    exhausted = sum(r["exhausted"] for r in results)
    assert committed == int((LIMIT - PRESPENT) / STEP) == 12  # every last unit spent, none twice
    assert committed + released + exhausted == WORKERS * ATTEMPTS
    assert sum(r["replayed"] for r in results) == committed + released

    led = open_ledger(ledger_url, BudgetConfig.model_validate(CONFIG))
    (acc,) = led.show("subject:customer").accounts
    assert acc.committed.loss == LIMIT and acc.reserved == Amount() and acc.remaining_loss == 0
    assert led.audit().ok
    committed_rows = led.history(status="committed", limit=1000).entries
    assert len(committed_rows) == committed + 1  # + the pre-spend
    latencies = [x for r in results for x in r["latency"]]
    with capsys.disabled():
        print(f"\n[ledger race {ledger_url.split(':')[0]}] {WORKERS} procs x {ATTEMPTS} attempts in "
              f"{elapsed:.2f}s (pool spawned once in {racers.spawn_seconds:.2f}s): {committed} committed, "
              f"{released} released, {exhausted} exhausted; "
              f"reserve latency p50 {statistics.median(latencies) * 1e3:.1f} ms, "
              f"max {max(latencies) * 1e3:.1f} ms")
    led.close()


def test_32_processes_retrying_one_key_charge_once(ledger_url, racers):
    racers.starmap(os.getpid, [])
    results = racers.starmap(same_key_worker, [(ledger_url, i) for i in range(WORKERS)])
    assert len({r["pid"] for r in results}) == WORKERS
    assert len({r["id"] for r in results}) == 1  # one reservation, handed to all 32
    assert sum(not r["replayed"] for r in results) == 1
    led = open_ledger(ledger_url, BudgetConfig.model_validate(CONFIG))
    assert led.show("subject:customer").accounts[0].reserved.loss == STEP
    assert led.audit().ok
    led.close()


@pytest.mark.parametrize("mode", ["after_reserve", "inside_transaction"])
def test_sigkilled_worker_leaves_the_account_consistent(ledger_url, mode):
    _prespend(ledger_url)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=crash_worker, args=(ledger_url, mode, ready))
    proc.start()
    assert ready.wait(timeout=60), "worker never got ready"
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL

    later = lambda: datetime.now(UTC) + timedelta(seconds=CONFIG["reservation_timeout_seconds"] + 1)  # noqa: E731
    led = open_ledger(ledger_url, BudgetConfig.model_validate(CONFIG), clock=later)
    (acc,) = led.show("subject:customer").accounts  # sweeps the dead worker's reservation
    if mode == "after_reserve":
        assert acc.expired.loss == STEP and acc.reserved == Amount()  # counted as spent: conservative
        (entry,) = led.history(status="expired").entries
        assert entry.idempotency_key == "doomed"
    else:
        assert acc.expired == Amount()  # the half-done transaction left nothing behind
    assert acc.committed.loss == PRESPENT
    assert led.audit().ok  # running totals == sum of the records
    # the lock the dead worker held is gone: the ledger keeps charging
    res = led.reserve(_charge(1, 1), "after-crash")
    assert led.commit(res.id).status == "committed"
    led.close()
