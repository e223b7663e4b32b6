"""The governance pipeline of ``GovernedStrategy``: round N+1 is reserved while round N trains, N is
committed while N+1 trains — and that stays sound: failures release, a crash leaves only
reservations that count as spent, a retry never charges twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fl_support import EXAMPLE, charges, example_ledger, governed, start

from privgate.connectors.ledger import open_ledger
from privgate.connectors.training_files import load_budgets

TESTS = Path(__file__).resolve().parent


def test_next_round_is_reserved_while_the_current_one_trains(tmp_path: Path) -> None:
    ledger = example_ledger(tmp_path / "l.db")
    reader = example_ledger(tmp_path / "l.db")  # a second connection: what another process would see
    seen: dict[int, dict[int, str]] = {}

    def hook(domain: str, rnd: int) -> None:
        if domain != "clinic_north":
            return
        deadline = time.monotonic() + 10
        while rnd + 1 not in charges(reader) and rnd < 4 and time.monotonic() < deadline:
            time.sleep(0.005)  # the worker reserves round rnd+1 while this round trains
        seen[rnd] = {r: c.status for r, c in charges(reader).items()}

    strategy, grid = governed(ledger, hook, run_id="overlap")
    try:
        start(strategy, grid, 4)
        assert not strategy.stopped and [r.completed for r in strategy.reports] == [True] * 4
        for rnd in (1, 2, 3):
            assert seen[rnd][rnd] == "pending" and seen[rnd][rnd + 1] == "pending"
        assert set(seen[4]) == {1, 2, 3, 4}  # no prefetch after the last round
        # the run returned only once every commit was durable: one committed charge per round
        assert {r: c.status for r, c in charges(reader).items()} == {r: "committed" for r in (1, 2, 3, 4)}
        assert ledger.audit().ok
    finally:
        reader.close()
        ledger.close()


def test_failed_round_releases_its_own_and_the_prefetched_reservation(tmp_path: Path) -> None:
    ledger = example_ledger(tmp_path / "l.db")

    def hook(domain: str, rnd: int) -> None:
        if rnd == 2 and domain == "clinic_south":
            raise RuntimeError("clinic_south lost its data volume")

    strategy, grid = governed(ledger, hook, run_id="fail")
    try:
        start(strategy, grid, 5)
        assert [r.code for r in strategy.stopped] == ["training_round_failed"]
        assert [r.completed for r in strategy.reports] == [True, False]
        assert {r: c.status for r, c in charges(ledger).items()} == {1: "committed", 2: "released",
                                                                     3: "released"}
        north = next(a for a in ledger.show().accounts if a.scope == "subject:patient_north")
        assert north.committed.loss == charges(ledger)[1].cost.rho and north.reserved.loss == 0
        assert ledger.audit().ok
    finally:
        ledger.close()


def test_denied_prefetch_stops_after_the_current_round(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text((EXAMPLE / "budgets.yaml").read_text().replace('rho: "2"', 'rho: "0.5"'))
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}", load_budgets(budgets))
    strategy, grid = governed(ledger, lambda _d, _r: None, run_id="deny")
    try:
        start(strategy, grid, 5)  # rho 0.5 / 0.2222 per round: round 3 is denied while round 2 trains
        assert [(r.round, r.completed) for r in strategy.reports] == [(1, True), (2, True), (3, False)]
        assert strategy.stopped[0].code == "budget_exhausted"
        assert {r: c.status for r, c in charges(ledger).items()} == {1: "committed", 2: "committed"}
    finally:
        ledger.close()


def test_sigkill_mid_run_leaves_only_spent_reservations_and_a_retry_charges_nothing(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    example_ledger(db).close()  # migrate before the child and the reader race for it
    reader = example_ledger(db)
    log = tmp_path / "child.log"
    with log.open("wb") as err:
        child = subprocess.Popen([sys.executable, str(TESTS / "fl_support.py"), str(db), "crash"],
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while sum(c.status == "committed" for c in charges(reader).values()) < 2:
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the child never committed two rounds"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        reader.close()

    ledger = example_ledger(db)
    try:
        assert ledger.audit().ok, ledger.audit().problems
        after_crash = charges(ledger)
        statuses = [c.status for c in after_crash.values()]
        # completed rounds committed, the rest pending: never released by a crash, and pending counts as spent
        assert set(statuses) <= {"committed", "pending"} and "pending" in statuses
        north = next(a for a in ledger.show().accounts if a.scope == "subject:patient_north")
        rho = next(iter(after_crash.values())).cost.rho
        assert north.committed.loss + north.reserved.loss == len(after_crash) * rho
        assert north.remaining_loss == 2 - len(after_crash) * rho

        # retry the same run (same idempotency keys): every round it reaches was charged before → refused
        strategy, grid = governed(ledger, lambda _d, _r: None, run_id="crash")
        start(strategy, grid, 40)
        assert [r.code for r in strategy.stopped] == ["training_round_replayed"]
        for rnd in after_crash:
            again = strategy.governor.authorize(rnd)
            assert not again.allowed and again.reasons[0].code == "training_round_replayed"
        assert charges(ledger) == after_crash
    finally:
        ledger.close()

    # the pending reservations time out as spent, never refunded
    later = open_ledger(f"sqlite:///{db}", load_budgets(EXAMPLE / "budgets.yaml"),
                        clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    try:
        assert later.sweep() == statuses.count("pending")
        north_later = next(a for a in later.show().accounts if a.scope == "subject:patient_north")
        assert north_later.reserved.loss == 0
        assert north_later.committed.loss + north_later.expired.loss == len(after_crash) * rho
        assert later.audit().ok
    finally:
        later.close()
