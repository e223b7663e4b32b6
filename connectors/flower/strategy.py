"""``GovernedStrategy``: any Flower strategy, with privgate deciding every round before it runs.

Per round: ``governor.authorize`` (policy + ledger reserve) → on deny, stop with the reason → else
wrap the inner strategy in Flower's DP fixed-clipping strategy with the authorized (z, C, K), let it
sample from an ``AuthorizedGrid`` (authorized nodes only, signed token on every message), aggregate
(or, when the decision obliges secure aggregation, run the fit stage through Flower's SecAgg+ over
that same view: ``secagg``) →
commit the charge when a model update was released, release it when the round failed. Wrap, don't
fork: the inner strategy's sampling and aggregation are Flower's own.

The ledger calls are pipelined off the critical path by one ``GovernanceWorker`` thread: round N+1
is authorized while round N trains, N is committed while N+1 trains. A failed round releases its own
reservation and the prefetched one; a crash leaves only pending reservations, which count as spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Result,
    Strategy,
)

from privgate.engine.decision import Reason
from privgate.engine.ledger import Reservation
from privgate.engine.training import RoundDecision, TrainingGovernor

from .grid import AuthorizedGrid
from .identity import NodeDirectory
from .secagg import secagg_fit
from .tokens import RoundToken, TokenSigner
from .worker import GovernanceWorker, Timed


@dataclass
class RoundReport:
    """What happened in one round: the decision, the charge, and how long governance took."""

    round: int
    decision: RoundDecision
    completed: bool = False
    governance_s: float = 0.0  # on the critical path: how long the round waited for governance
    worker_s: float = 0.0  # governance work the worker did for it (authorize, commit/release), mostly overlapped
    worker_cpu_s: float = 0.0  # the worker thread's CPU time for that work (GIL time taken from training)
    round_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.decision.reasons


class GovernedStrategy(Strategy):
    def __init__(self, inner: Strategy, governor: TrainingGovernor, nodes: NodeDirectory, signer: TokenSigner, *,
                 on_round: Callable[[RoundReport], None] | None = None,
                 worker: GovernanceWorker | None = None) -> None:
        """``worker``: a ``GovernanceWorker`` of ``governor`` started (and warmed) earlier by the caller;
        ``start`` uses it for its run and closes it. Without one, ``start`` makes its own."""
        self.inner = inner
        self._worker = worker
        self.governor = governor
        self.nodes = nodes
        self.signer = signer
        self.on_round = on_round
        self.reports: list[RoundReport] = []
        self.stopped: tuple[Reason, ...] = ()
        self._closing: list[tuple[RoundReport | None, Future[Timed[Reservation | None]]]] = []
        nodes.require(d.name for d in governor.job.domains)

    # The Strategy interface, delegated: GovernedStrategy is usable wherever a Strategy is.
    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return self.inner.aggregate_train(server_round, replies)

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.inner.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        self.inner.summary()

    def _wrapped(self, decision: RoundDecision) -> Strategy:
        dp = decision.dp
        if dp is None:
            return self.inner
        k = self.governor.job.clients_per_round
        cls = (DifferentialPrivacyClientSideFixedClipping if dp["clipping"] == "client"
               else DifferentialPrivacyServerSideFixedClipping)
        return cls(self.inner, float(dp["noise_multiplier"]), float(dp["clipping_norm"]), k)

    def start(self, grid: Grid, initial_arrays: ArrayRecord, num_rounds: int = 3, timeout: float = 3600,
              train_config: ConfigRecord | None = None, evaluate_config: ConfigRecord | None = None,
              evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None) -> Result:
        """Run at most ``num_rounds`` governed rounds (training + central evaluation); stops at a denial.

        Governance is pipelined on a ``GovernanceWorker`` (see ``worker``): round N+1 is authorized
        and reserved while round N trains, N is committed while N+1 trains. Round N+1 starts only
        once its reservation is durable; this returns only once every commit/release is durable.
        """
        result = Result()
        arrays = initial_arrays
        train_config = train_config or ConfigRecord()
        self._closing = []
        pending: Future[Timed[RoundDecision]] | None = None
        worker, self._worker = self._worker or GovernanceWorker(self.governor), None
        with worker:
            try:
                pending = worker.authorize(1) if num_rounds >= 1 else None  # overlaps the round-0 evaluation
                if evaluate_fn:
                    res = evaluate_fn(0, arrays)
                    if res is not None:
                        result.evaluate_metrics_serverapp[0] = res
                for rnd in range(1, num_rounds + 1):
                    t0 = time.perf_counter()
                    assert pending is not None
                    decided = pending.result()  # the round starts only once its reservation is durable
                    pending = None
                    decision = decided.value
                    report = RoundReport(rnd, decision, governance_s=time.perf_counter() - t0,
                                         worker_s=decided.seconds, worker_cpu_s=decided.cpu_seconds)
                    self.reports.append(report)
                    if not decision.allowed:
                        self._halt(worker, report, None, decision.reasons)
                        break
                    failures = self._collect(block=False)  # an earlier commit failed: stop, fail closed
                    if failures:
                        self._halt(worker, report, None, failures)
                        break
                    if rnd < num_rounds:
                        pending = worker.authorize(rnd + 1)  # decided and reserved while this round trains
                    token = self.signer.sign(RoundToken(job=self.governor.job.name, purpose=self.governor.job.purpose,
                                                        round=rnd, decision_id=decision.decision.id,
                                                        domains=decision.domains))
                    view = AuthorizedGrid(grid, self.nodes.nodes_of(decision.domains), token)
                    # SecAgg+ when the decision obliges it, and whenever the job declares it (its nodes
                    # are then set up for SecAgg+ rounds only; see secagg_client)
                    secagg = self.governor.job.secure_aggregation or any(
                        o.kind == "secure_aggregation" for o in decision.decision.obligations)
                    agg: ArrayRecord | None = None
                    metrics: MetricRecord | None = None
                    try:
                        if secagg:  # Flower's SecAgg+ over the authorized view: the server sees only the sum
                            agg = secagg_fit(view, rnd, arrays, clients=self.governor.job.clients_per_round,
                                             dp=decision.dp, timeout=timeout)
                        else:
                            strategy = self._wrapped(decision)
                            replies = view.send_and_receive(
                                strategy.configure_train(rnd, arrays, ConfigRecord(dict(train_config)), view),
                                timeout=timeout)
                            agg, metrics = strategy.aggregate_train(rnd, replies)
                    except Exception as exc:
                        failed = f"round {rnd} failed before releasing a model: {exc}"
                    else:
                        failed = ("" if agg is not None else
                                  f"round {rnd} produced no aggregate (replies missing or refused); "
                                  "its charge was released")
                    if failed or agg is None:
                        self._halt(worker, report, pending, (Reason(code="training_round_failed",
                                                                    rule="connectors.flower", message=failed),))
                        pending = None
                        break
                    report.completed = True  # its reservation is durable: a crash from here counts it as spent
                    self._closing.append((report, worker.complete(decision)))
                    arrays = result.arrays = agg
                    if metrics is not None:
                        result.train_metrics_clientapp[rnd] = metrics
                    if evaluate_fn:
                        res = evaluate_fn(rnd, arrays)
                        if res is not None:
                            result.evaluate_metrics_serverapp[rnd] = res
                            report.metrics = {k: float(v) for k, v in res.items() if isinstance(v, int | float)}
                    if rnd == num_rounds:
                        self._settle(worker, report, None)  # the run ends only once every commit is durable
                    report.round_s = time.perf_counter() - t0
                    self._emit(report)
            finally:
                if pending is not None or self._closing:  # an exception escaped: release and drain, then re-raise
                    self._settle(worker, None, pending)
        return result

    def _halt(self, worker: GovernanceWorker, report: RoundReport, pending: Future[Timed[RoundDecision]] | None,
              reasons: tuple[Reason, ...]) -> None:
        """Stop the run at ``report``'s round: release its charge and the prefetched one, drain, emit."""
        if report.decision.reservation is not None:
            self._closing.append((report, worker.abort(report.decision)))
        self.stopped = reasons
        self._settle(worker, report, pending)
        self._emit(report)

    def _settle(self, worker: GovernanceWorker, report: RoundReport | None,
                pending: Future[Timed[RoundDecision]] | None) -> None:
        """Release an unused prefetched reservation and wait until every ledger call is durable.

        The wait is on the critical path and is charged to ``report``'s governance time.
        """
        t = time.perf_counter()
        if pending is not None:
            prefetched = pending.result().value
            if prefetched.reservation is not None:
                self._closing.append((None, worker.abort(prefetched)))
        failures = self._collect(block=True)
        if failures and not self.stopped:
            self.stopped = failures
        if report is not None:
            report.governance_s += time.perf_counter() - t

    def _collect(self, *, block: bool) -> tuple[Reason, ...]:
        """Account finished commits/releases (all of them if ``block``); a failed one is a stop reason."""
        failures: list[Reason] = []
        keep: list[tuple[RoundReport | None, Future[Timed[Reservation | None]]]] = []
        for report, fut in self._closing:
            if not block and not fut.done():
                keep.append((report, fut))
                continue
            try:
                timed = fut.result()
            except Exception as exc:
                which = f"round {report.round}" if report is not None else "a prefetched round"
                failures.append(Reason(
                    code="training_ledger_failed", rule="connectors.flower",
                    message=f"the ledger could not close the charge of {which} ({exc}); its reservation stays "
                            "pending and counts as spent when it expires (nothing is under-charged) — the run stops"))
            else:
                if report is not None:
                    report.worker_s += timed.seconds
                    report.worker_cpu_s += timed.cpu_seconds
        self._closing = keep
        return tuple(failures)

    def _emit(self, report: RoundReport) -> None:
        if self.on_round is not None:
            self.on_round(report)
