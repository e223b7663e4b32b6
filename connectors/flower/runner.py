"""Run a governed training job on one machine: the body of ``privgate fl run``.

Wires the engine's ``TrainingGovernor`` (policy + ledger), Flower's FedAvg inside ``GovernedStrategy``,
and the example's federation (``federation``: one in-process node per domain, guarded by
``governed_mod``); then trains the central baseline on the pooled data.
All I/O the engine needs is passed in (clock, ids, timer, printer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from flwr.app import ConfigRecord
from flwr.clientapp.typing import Mod
from flwr.serverapp.strategy import FedAvg

from privgate.engine.catalog import Catalog
from privgate.engine.ledger import Ledger, zcdp_to_epsilon
from privgate.engine.ports import PolicyEvaluator
from privgate.engine.rules import Rules
from privgate.engine.training import TrainingGovernor, TrainingJob, TrainingSettings

from .client_mod import governed_mod
from .federation import build_federation
from .identity import NodeDirectory
from .strategy import GovernedStrategy, RoundReport
from .tokens import TokenSigner
from .worker import GovernanceWorker


@dataclass
class RunSummary:
    reports: list[RoundReport]
    completed_all: bool
    accuracy: float | None
    baseline_accuracy: float
    charges: int
    stopped: tuple[str, ...] = ()
    refusals: list[str] = field(default_factory=list)
    wall_s: float = 0.0  # the governed rounds' wall time (``GovernedStrategy.start``)
    cpu_s: float = 0.0  # the process's CPU time over the same span (every thread: the worker's work too)
    main_cpu_s: float = 0.0  # the calling thread's CPU time over the same span (training, evaluation, tokens)

    @property
    def completed_rounds(self) -> int:
        return sum(1 for r in self.reports if r.completed)

    def overhead_share(self) -> float:
        """Governance time on the critical path as a share of the run's round time.

        Numerator: every round's wait for governance (its decision, and the final drain of commits
        and releases), including the round that was denied or failed. Denominator: the completed
        rounds' wall time plus the waits of the rounds that did not complete.
        """
        gov = sum(r.governance_s for r in self.reports)
        total = sum(r.round_s for r in self.reports if r.completed) + sum(
            r.governance_s for r in self.reports if not r.completed)
        return gov / total if total > 0 else 0.0


def run_job(job: TrainingJob, *, catalog: Catalog, rules: Rules, settings: TrainingSettings,
            evaluator: PolicyEvaluator, ledger: Ledger, key: bytes, roles: Sequence[str],
            clock: Callable[[], datetime], new_id: Callable[[], str], run_id: str,
            timer: Callable[[], float], out: Callable[[str], None]) -> RunSummary:
    governor = TrainingGovernor(job, catalog, rules, settings, evaluator, ledger, clock=clock, new_id=new_id,
                                run_id=run_id, roles=roles)
    signer = TokenSigner(key)
    refusals: list[str] = []

    def mods(domain: str) -> list[Mod]:
        spec = next((d for d in catalog.domains if d.name == domain), None)
        return [governed_mod(domain, signer, spec.allowed_purposes if spec else (), refusals=refusals)]

    spent_rho: list[Decimal] = []

    def job_epsilon() -> str:
        # the job's own zCDP sum so far, from its decisions: the ledger belongs to the governance worker
        # during the run, and its commits land asynchronously (the accounts are printed at the end)
        if not spent_rho or job.dp is None:
            return "-"
        return f"{zcdp_to_epsilon(sum(spent_rho, Decimal(0)), job.dp.target_delta):.4f}"

    def show(report: RoundReport) -> None:
        d = report.decision
        if not d.allowed:
            for r in d.reasons:
                out(f"round {report.round:>3}: DENY  [{r.code}] {r.message}")
            return
        if report.completed and d.cost is not None and d.cost.cost.rho is not None:
            spent_rho.append(d.cost.cost.rho)
        acc = report.metrics.get("accuracy")
        status = "ok" if report.completed else "FAILED (charge released)"
        out(f"round {report.round:>3}: ALLOW domains={','.join(d.domains)} rho={d.cost.cost.rho if d.cost else 0} "
            f"eps_round={d.cost.cost.epsilon if d.cost else 0:.4f} job_eps={job_epsilon()} "
            f"accuracy={'-' if acc is None else f'{acc:.4f}'} governance={report.governance_s * 1e3:.2f}ms "
            f"(off-path {report.worker_s * 1e3:.1f}ms) round={report.round_s * 1e3:.1f}ms {status}")
        for e in d.excluded:
            out(f"           excluded {e['domain']}: [{e['code']}] {e['message']}")

    # the governance worker owns the ledger from here until ``start`` returns; its first job (the
    # whole-job forecast) also compiles its thread's policy engine while the federation is set up
    worker = GovernanceWorker(governor)
    forecasting = worker.forecast()
    try:
        fed = build_federation(job, catalog, mods)
        inner = FedAvg(fraction_train=1e-9, fraction_evaluate=0.0, min_train_nodes=job.clients_per_round,
                       min_available_nodes=job.clients_per_round)
        strategy = GovernedStrategy(inner, governor, NodeDirectory(fed.nodes), signer, on_round=show,
                                    worker=worker)
        forecast = forecasting.result().value
        if forecast.forecast is not None:
            f = forecast.forecast
            out(f"forecast: {job.rounds} rounds would cost rho={f.rho} → epsilon {f.epsilon_zcdp:.3f} "
                f"(zCDP, ledger) / {f.epsilon_rdp:.3f} (RDP, dp-accounting) at delta={f.target_delta}")
        t0, c0, m0 = timer(), time.process_time(), time.thread_time()
        result = strategy.start(fed.grid, fed.initial_arrays(), num_rounds=job.rounds,
                                train_config=ConfigRecord(), evaluate_fn=fed.evaluate)
        elapsed, cpu, main_cpu = timer() - t0, time.process_time() - c0, time.thread_time() - m0
    finally:
        worker.close()  # idempotent: ``start`` closed it already, unless setup failed before it ran
    wall_s = elapsed
    final = result.evaluate_metrics_serverapp.get(max(result.evaluate_metrics_serverapp, default=0))
    completed = any(r.completed for r in strategy.reports)
    acc = float(str(final["accuracy"])) if final is not None and completed else None
    baseline = fed.central_baseline()
    history = ledger.history(status="committed", limit=10_000)
    summary = RunSummary(reports=strategy.reports, completed_all=not strategy.stopped, accuracy=acc,
                         baseline_accuracy=baseline, charges=sum(1 for e in history.entries if e.kind == "charge"),
                         stopped=tuple(f"[{r.code}] {r.message}" for r in strategy.stopped), refusals=refusals,
                         wall_s=wall_s, cpu_s=cpu, main_cpu_s=main_cpu)
    out(f"done in {elapsed:.2f}s: {summary.completed_rounds} round(s) completed"
        + (f", stopped: {'; '.join(summary.stopped)}" if summary.stopped else ""))
    out(f"ledger: {summary.charges} committed charge(s) (one per completed round)")
    for a in ledger.show().accounts:
        eq = ""
        if a.epsilon_spent_equivalent is not None and a.epsilon_limit_equivalent is not None:
            eq = (f" (epsilon {a.epsilon_spent_equivalent:.4f} of {a.epsilon_limit_equivalent:.4f}"
                  f" at delta {a.report_delta})")
        out(f"  {a.scope} [{a.measure}, {a.window}]: spent {a.committed.loss} of {a.limit_loss}{eq}")

    out(f"accuracy: governed DP federated {'-' if acc is None else f'{acc:.4f}'} vs central baseline {baseline:.4f} "
        f"(pooled data, no DP)")
    out(f"governance overhead: {summary.overhead_share() * 100:.2f}% of round time on the critical path "
        f"(decision + ledger work done off it by the governance worker: "
        f"{sum(r.worker_s for r in summary.reports) * 1e3:.1f}ms in all)")
    return summary
