"""The governance worker: one thread that makes every ledger call of a governed run.

Why a thread: a round's governance is a policy evaluation plus two durable ledger writes (reserve,
commit), a few milliseconds of mostly fsync. Done inline they sit on every round's critical path.
The reservation is the durable point (an unreleased reservation that times out counts as spent), so
they can move off it soundly: while round N trains, this worker authorizes round N+1 (policy +
reserve; N's open reservation counts against the budget, so the check is conservative) and, once
N's aggregate exists, commits N. Round N+1 starts only once its own reservation is durable.

Why one thread: the ledger's connection is then used by exactly one thread for the whole run (the
caller touches the ledger again only after ``close``), and the calls are executed in the order they
were submitted — the reservation of N+1 is never raced by the commit or release of N.

Warm it early: the embedded policy engine is thread-affine (each thread compiles its own regorus
engine, ~60-120 ms), so a worker created right before round 1 would put that compile on round 1's
critical path. ``forecast`` submitted while the caller sets up (loads data, starts nodes) pays it
off the path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from privgate.engine.ledger import Reservation
from privgate.engine.training import JobForecast, RoundDecision, TrainingGovernor

_T = TypeVar("_T")


@dataclass(frozen=True)
class Timed(Generic[_T]):
    """A worker call's result, how long it took, and the worker thread's CPU time for it.

    The CPU time matters because the worker's Python work holds the GIL: it is taken from training
    even when nothing waits for the call, so it bounds what the overlap cannot hide.
    """

    value: _T
    seconds: float
    cpu_seconds: float = 0.0


class GovernanceWorker:
    """Runs ``authorize`` / ``complete`` / ``abort`` of one governor on a single background thread."""

    def __init__(self, governor: TrainingGovernor) -> None:
        self._governor = governor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="privgate-governance")

    def _submit(self, fn: Callable[[], _T]) -> Future[Timed[_T]]:
        def timed() -> Timed[_T]:
            t0, c0 = time.perf_counter(), time.thread_time()
            value = fn()
            return Timed(value, time.perf_counter() - t0, time.thread_time() - c0)

        return self._pool.submit(timed)

    def authorize(self, round_no: int) -> Future[Timed[RoundDecision]]:
        """Decide and reserve ``round_no``; ``authorize`` itself never raises (fail closed)."""
        return self._submit(lambda: self._governor.authorize(round_no))

    def forecast(self) -> Future[Timed[JobForecast]]:
        """The whole-job decision and ε forecast, on this thread (which also warms its policy engine)."""
        return self._submit(self._governor.forecast)

    def complete(self, decision: RoundDecision) -> Future[Timed[Reservation | None]]:
        """Commit a round whose aggregate exists; a failure leaves a reservation that counts as spent."""
        return self._submit(lambda: self._governor.complete(decision))

    def abort(self, decision: RoundDecision) -> Future[Timed[Reservation | None]]:
        """Release a round that released nothing (or was prefetched and never ran)."""
        return self._submit(lambda: self._governor.abort(decision))

    def close(self) -> None:
        """Wait for every submitted call to finish (durable), then stop the thread."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> GovernanceWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["GovernanceWorker", "Timed"]
