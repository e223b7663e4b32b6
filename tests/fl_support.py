"""Helpers for the governed-FL pipeline tests: a governed strategy over the example's catalog and
policy with test-supplied ClientApps, and ledger readers. Also the child process of the crash test
(``python tests/fl_support.py LEDGER_DB RUN_ID``): a slow governed run that the test SIGKILLs.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp.strategy import FedAvg

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.flower import GovernedStrategy, LocalGrid, NodeDirectory, TokenSigner, governed_mod
from privgate.connectors.ledger import open_ledger
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.rules_files import load_rules
from privgate.connectors.training_files import load_budgets, load_job, load_training_settings
from privgate.engine.ledger import LedgerService, Reservation
from privgate.engine.training import TrainingGovernor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "federated"
KEY = b"k" * 32
N_WEIGHTS = 6  # the example's five features and the bias

TrainHook = Callable[[str, int], None]  # (domain, round) → called inside the client's train step


def example_ledger(db: Path) -> LedgerService:
    return open_ledger(f"sqlite:///{db}", load_budgets(EXAMPLE / "budgets.yaml"))


def hooked_app(domain: str, hook: TrainHook) -> ClientApp:
    """A governed ClientApp whose train step calls ``hook(domain, round)`` and returns a small update."""
    app = ClientApp(mods=[governed_mod(domain, TokenSigner(KEY), ["model_training"])])

    @app.train()
    def _train(msg: Message, context: Context) -> Message:
        hook(domain, int(str(msg.content.config_records["config"]["server-round"])))
        w = msg.content.array_records["arrays"].to_numpy_ndarrays()[0]
        return Message(RecordDict({"arrays": ArrayRecord([w + 0.01]),
                                   "metrics": MetricRecord({"num-examples": 10})}), reply_to=msg)

    return app


def governed(ledger: LedgerService, hook: TrainHook, *, run_id: str) -> tuple[GovernedStrategy, LocalGrid]:
    job = load_job(EXAMPLE / "job.yaml")
    ids = itertools.count()
    gov = TrainingGovernor(job, load_catalog(EXAMPLE / "catalog"), load_rules(), load_training_settings(),
                           EmbeddedEvaluator(), ledger, clock=lambda: datetime.now(UTC),
                           new_id=lambda: f"{run_id}-d{next(ids)}", run_id=run_id)
    grid = LocalGrid()
    nodes = {grid.add_node(hooked_app(d.name, hook), {}): d.name for d in job.domains}
    inner = FedAvg(fraction_train=1e-9, fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3)
    return GovernedStrategy(inner, gov, NodeDirectory(nodes), TokenSigner(KEY)), grid


def start(strategy: GovernedStrategy, grid: LocalGrid, rounds: int) -> None:
    strategy.start(grid, ArrayRecord([np.zeros(N_WEIGHTS)]), num_rounds=rounds)


def charges(ledger: LedgerService) -> dict[int, Reservation]:
    """The ledger's training charges by round number (from the charge note)."""
    out = {}
    for e in ledger.history(limit=10_000).entries:
        if isinstance(e, Reservation):
            out[int(e.note.rsplit(" ", 1)[-1])] = e
    return out


def _crash_child(db: Path, run_id: str) -> None:
    """Slow rounds (0.1 s per client) so the parent can kill the process mid-run."""
    ledger = example_ledger(db)
    strategy, grid = governed(ledger, lambda _d, _r: time.sleep(0.1), run_id=run_id)
    start(strategy, grid, 40)


if __name__ == "__main__":
    _crash_child(Path(sys.argv[1]), sys.argv[2])
