"""Federated example: governance overhead per round and governed DP accuracy vs the central baseline.

Run: ``.venv/bin/python benchmarks/fl_overhead.py [--runs N]``. Governance = policy decision + ledger
(forecast read, reserve, commit) per round, measured by ``GovernedStrategy``; round time includes it.
Variants: the example as shipped (SQLite ledger, fsync'd), the same with the in-memory ledger (to
separate the database cost), and the example with 300 local epochs (a heavier, more realistic
local step). Accuracy: mean over runs on the pooled held-out set, the central baseline on the pooled
training data, and federated without DP (settings that do not require DP; no charge) for reference.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.flower.runner import RunSummary, run_job
from privgate.connectors.ledger import open_ledger
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.rules_files import load_rules
from privgate.connectors.training_files import load_budgets, load_job, load_training_settings
from privgate.engine.ledger import memory_ledger
from privgate.engine.training import TrainingJob, TrainingSettings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "federated"


def once(job: TrainingJob, settings: TrainingSettings, ledger_kind: str, seed: int) -> RunSummary:
    ids = itertools.count()
    random.seed(seed)
    budgets = load_budgets(EXAMPLE / "budgets.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        ledger: Any = (open_ledger(f"sqlite:///{Path(tmp) / 'l.db'}", budgets) if ledger_kind == "sqlite"
                       else memory_ledger(budgets, clock=lambda: datetime.now(UTC)))
        try:
            return run_job(job, catalog=load_catalog(EXAMPLE / "catalog"), rules=load_rules(), settings=settings,
                           evaluator=EmbeddedEvaluator(), ledger=ledger, key=b"k" * 32, roles=(),
                           clock=lambda: datetime.now(UTC), new_id=lambda: f"d{next(ids)}", run_id=f"b{seed}",
                           timer=time.perf_counter, out=lambda _: None)
        finally:
            ledger.close()


def report(name: str, runs: list[RunSummary]) -> None:
    gov = [r.governance_s * 1e3 for s in runs for r in s.reports if r.completed]
    rnd = [r.round_s * 1e3 for s in runs for r in s.reports if r.completed]
    share = [s.overhead_share() for s in runs]
    acc = [s.accuracy for s in runs if s.accuracy is not None]
    print(f"{name:<34} rounds={statistics.mean(s.completed_rounds for s in runs):>4.1f} "
          f"governance p50={statistics.median(gov):6.2f}ms  round p50={statistics.median(rnd):8.2f}ms  "
          f"share={statistics.mean(share) * 100:6.2f}%  "
          f"accuracy={statistics.mean(acc):.4f}±{statistics.pstdev(acc):.4f}  baseline={runs[0].baseline_accuracy:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("flwr").setLevel(logging.ERROR)
    job = load_job(EXAMPLE / "job.yaml")
    settings = load_training_settings()
    report("example, SQLite ledger", [once(job, settings, "sqlite", s) for s in range(args.runs)])
    report("example, in-memory ledger", [once(job, settings, "memory", s) for s in range(args.runs)])
    heavy = job.model_copy(update={"model": job.model.model_copy(update={"local_epochs": 300})})
    report("300 local epochs, SQLite ledger", [once(heavy, settings, "sqlite", s) for s in range(args.runs)])
    no_dp = settings.model_copy(update={"default_domain": settings.default_domain.model_copy(
        update={"require_dp": False})})
    plain = job.model_copy(update={"dp": None, "rounds": 8})
    report("8 rounds federated without DP", [once(plain, no_dp, "sqlite", s) for s in range(args.runs)])


if __name__ == "__main__":
    main()
