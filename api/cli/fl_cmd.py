"""``privgate fl run JOB``: run a governed federated training job on this machine.

Each domain of the job gets an in-process Flower node (``LocalGrid``) holding its generated data in
its own DuckDB; the server side is Flower's FedAvg inside ``GovernedStrategy``. Every round is
decided by the training policy and charged to the ledger before it runs; the run stops at the first
denial (budget exhausted, a domain losing its agreement, ...). Prints per-round decisions, ε spent,
model accuracy, and the central baseline trained on the pooled data. Exit 0 when every round ran,
1 when the run was stopped by a denial.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privgate.config import load_config
from privgate.engine.errors import ConfigError
from privgate.wiring import build_evaluator


def register(sub: Any) -> None:
    p = sub.add_parser("fl", help="governed federated learning (Flower)", description=__doc__)
    fl = p.add_subparsers(dest="fl_command", metavar="SUBCOMMAND", required=True)
    r = fl.add_parser("run", help="run a training job (the example: examples/federated/job.yaml)", description=__doc__)
    r.add_argument("job", metavar="JOB", help="training job spec (YAML)")
    r.add_argument("--budgets", metavar="FILE", help="ledger budgets (default: budgets.yaml next to the job)")
    r.add_argument("--ledger", metavar="URL", help="ledger database URL (default: a fresh SQLite file in a temp dir)")
    r.add_argument("--settings", metavar="FILE", help="training policy settings (default: rules/training.yaml)")
    r.add_argument("--rounds", type=int, metavar="N", help="override the job's rounds")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        from privgate.connectors.flower.runner import run_job
    except ImportError as exc:
        raise ConfigError(f"federated learning needs the fl extra: pip install 'privgate[fl]' ({exc})",
                          code="config_missing_extra") from exc
    from privgate.connectors.catalog_yaml import load_catalog
    from privgate.connectors.ledger import open_ledger
    from privgate.connectors.rules_files import load_rules
    from privgate.connectors.training_files import load_budgets, load_job, load_training_settings

    job_path = Path(args.job)
    job = load_job(job_path)
    if args.rounds:
        job = job.model_copy(update={"rounds": args.rounds})
    config_file = args.config or (job_path.parent / "privgate.yaml" if (job_path.parent / "privgate.yaml").is_file()
                                  else None)
    cfg = load_config(config_file)
    budgets_file = Path(args.budgets) if args.budgets else job_path.parent / "budgets.yaml"
    with tempfile.TemporaryDirectory(prefix="privgate-fl-") as tmp:
        url = args.ledger or f"sqlite:///{Path(tmp) / 'ledger.db'}"
        ledger = open_ledger(url, load_budgets(budgets_file))
        try:
            key = os.environ.get("PRIVGATE_FL_KEY", "").encode() or os.urandom(32)
            random.seed(job.seed)  # Flower's FedAvg samples nodes with the global `random`
            print(f"privgate fl: job {job.name} ({job.rounds} rounds, {len(job.domains)} domains), ledger {url}")
            summary = run_job(job, catalog=load_catalog(cfg.catalog), rules=load_rules(cfg.rules, source=cfg.source),
                              settings=load_training_settings(args.settings), evaluator=build_evaluator(cfg),
                              ledger=ledger, key=key, roles=cfg.roles_of(job.principal),
                              clock=lambda: datetime.now(UTC), new_id=lambda: uuid.uuid4().hex,
                              run_id=uuid.uuid4().hex[:12], timer=time.perf_counter, out=print)
        finally:
            ledger.close()
    return 0 if summary.completed_all else 1
