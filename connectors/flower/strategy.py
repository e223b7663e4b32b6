"""``GovernedStrategy``: any Flower strategy, with privgate deciding every round before it runs.

Per round: ``governor.authorize`` (policy + ledger reserve) → on deny, stop with the reason → else
wrap the inner strategy in Flower's DP fixed-clipping strategy with the authorized (z, C, K), let it
sample from an ``AuthorizedGrid`` (authorized nodes only, signed token on every message), aggregate →
commit the charge when a model update was released, release it when the round failed. Wrap, don't
fork: the inner strategy's sampling and aggregation are Flower's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
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
from privgate.engine.training import RoundDecision, TrainingGovernor

from .grid import AuthorizedGrid
from .identity import NodeDirectory
from .tokens import RoundToken, TokenSigner


@dataclass
class RoundReport:
    """What happened in one round: the decision, the charge, and how long governance took."""

    round: int
    decision: RoundDecision
    completed: bool = False
    governance_s: float = 0.0
    round_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.decision.reasons


class GovernedStrategy(Strategy):
    def __init__(self, inner: Strategy, governor: TrainingGovernor, nodes: NodeDirectory, signer: TokenSigner, *,
                 on_round: Callable[[RoundReport], None] | None = None) -> None:
        self.inner = inner
        self.governor = governor
        self.nodes = nodes
        self.signer = signer
        self.on_round = on_round
        self.reports: list[RoundReport] = []
        self.stopped: tuple[Reason, ...] = ()
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
        """Run at most ``num_rounds`` governed rounds (training + central evaluation); stops at a denial."""
        result = Result()
        arrays = initial_arrays
        train_config = train_config or ConfigRecord()
        if evaluate_fn:
            res = evaluate_fn(0, arrays)
            if res is not None:
                result.evaluate_metrics_serverapp[0] = res
        for rnd in range(1, num_rounds + 1):
            t0 = time.perf_counter()
            decision = self.governor.authorize(rnd)
            report = RoundReport(rnd, decision, governance_s=time.perf_counter() - t0)
            self.reports.append(report)
            if not decision.allowed:
                self.stopped = decision.reasons
                self._emit(report)
                break
            if any(o.kind == "secure_aggregation" for o in decision.decision.obligations):
                # fail closed: an obligation this run cannot honour is a stop, never a silent skip
                self._close(report, ok=False)
                self.stopped = (Reason(code="training_secagg_unavailable", rule="connectors.flower",
                                       message="the policy requires secure aggregation (SecAgg+) for this round, "
                                               "which this Flower integration does not provide yet; "
                                               "its charge was released"),)
                self._emit(report)
                break
            token = self.signer.sign(RoundToken(job=self.governor.job.name, purpose=self.governor.job.purpose,
                                                round=rnd, decision_id=decision.decision.id, domains=decision.domains))
            view = AuthorizedGrid(grid, self.nodes.nodes_of(decision.domains), token)
            strategy = self._wrapped(decision)
            try:
                replies = view.send_and_receive(strategy.configure_train(rnd, arrays, ConfigRecord(dict(train_config)),
                                                                         view), timeout=timeout)
                agg, metrics = strategy.aggregate_train(rnd, replies)
            except Exception as exc:
                self._close(report, ok=False)
                self.stopped = (Reason(code="training_round_failed", rule="connectors.flower",
                                       message=f"round {rnd} failed before releasing a model: {exc}"),)
                self._emit(report)
                break
            if agg is None:
                self._close(report, ok=False)
                self.stopped = (Reason(code="training_round_failed", rule="connectors.flower",
                                       message=f"round {rnd} produced no aggregate (replies missing or refused); "
                                               "its charge was released"),)
                self._emit(report)
                break
            self._close(report, ok=True)
            arrays = result.arrays = agg
            if metrics is not None:
                result.train_metrics_clientapp[rnd] = metrics
            if evaluate_fn:
                res = evaluate_fn(rnd, arrays)
                if res is not None:
                    result.evaluate_metrics_serverapp[rnd] = res
                    report.metrics = {k: float(v) for k, v in res.items() if isinstance(v, int | float)}
            report.round_s = time.perf_counter() - t0
            self._emit(report)
        return result

    def _close(self, report: RoundReport, *, ok: bool) -> None:
        t = time.perf_counter()
        if ok:
            self.governor.complete(report.decision)
        else:
            self.governor.abort(report.decision)
        report.completed = ok
        report.governance_s += time.perf_counter() - t

    def _emit(self, report: RoundReport) -> None:
        if self.on_round is not None:
            self.on_round(report)
