"""Federated example, end to end and noise-free: instructions executed by governed vs ungoverned rounds.

Run: ``.venv/bin/python benchmarks/fl_instructions.py [--rounds 3]`` (needs valgrind; ~3 min).

Why: ``fl_overhead.py`` (b) compares wall and CPU time of governed and ungoverned runs, and on a
shared 2-core box the same training takes 1.6-3.3 s of CPU from run to run, so it cannot resolve a
2 % difference. Instruction counts can: callgrind counts the instructions of every thread (the
governance worker's policy evaluations, ledger SQL and bookkeeping, token signing and checking,
the authorized grid view) and the count does not depend on what else the machine is doing.

Each variant runs in its own process under ``valgrind --tool=callgrind --instr-atstart=no``; the
process switches instrumentation on (``callgrind_control -i on``) right before the strategy's
``start`` and off right after, so imports, data generation, the whole-job forecast and the central
baseline are not counted — only the rounds, as in ``fl_overhead.py``. The variants are those of
``fl_overhead.py``: the example's federation with ``GovernedStrategy`` and the fsync'd SQLite
ledger, and the same federation, FedAvg and Flower server-side DP wrapper run by Flower's own
``Strategy.start`` with no governance. What instructions cannot show is time spent waiting (the
ledger's fsyncs): that is off the critical path, and ``fl_overhead.py`` (a) measures the wait.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _instrument(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL)


def _counted(cls: type) -> None:
    """Count only the instructions executed inside ``cls.start`` (the rounds)."""
    original: Callable[..., Any] = cls.start  # type: ignore[attr-defined]

    def start(self: object, *args: object, **kwargs: object) -> Any:
        _instrument(True)
        try:
            return original(self, *args, **kwargs)
        finally:
            _instrument(False)

    cls.start = start  # type: ignore[attr-defined]


def child(variant: str, rounds: int) -> None:
    """Runs inside valgrind: one variant, ``rounds`` rounds."""
    sys.path.insert(0, str(HERE))
    import fl_overhead as bench

    from privgate.connectors.flower.strategy import GovernedStrategy

    logging.getLogger("flwr").setLevel(logging.ERROR)
    job = bench.load_job(bench.EXAMPLE / "job.yaml").model_copy(update={"rounds": rounds})
    if variant == "governed":
        _counted(GovernedStrategy)
        summary = bench.governed(job, bench.load_training_settings(), "sqlite", 0)
        if summary.completed_rounds != rounds:
            raise SystemExit(f"governed run completed {summary.completed_rounds} of {rounds} rounds")
    else:
        _counted(bench.DifferentialPrivacyServerSideFixedClipping)
        bench.ungoverned(job, rounds, 0)


def measure(variant: str, rounds: int, out_dir: Path) -> int:
    out = out_dir / f"callgrind.{variant}.out"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
           sys.executable, __file__, "--child", variant, "--rounds", str(rounds)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed under valgrind:\n{proc.stderr[-3000:]}")
    match = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no instruction total in {out}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("governed", "ungoverned"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rounds)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        counts = {v: measure(v, args.rounds, Path(tmp)) for v in ("ungoverned", "governed")}
    extra = counts["governed"] - counts["ungoverned"]
    print(f"{args.rounds} rounds, instructions (every thread, rounds only):")
    print(f"  ungoverned (FedAvg + server-side DP, Flower's Strategy.start): {counts['ungoverned']:,}")
    print(f"  governed (GovernedStrategy, SQLite ledger):                    {counts['governed']:,}")
    print(f"  governance: {extra:,} instructions = {extra / counts['ungoverned'] * 100:.2f} % of the ungoverned "
          f"rounds ({extra / args.rounds:,.0f} per round)")


if __name__ == "__main__":
    main()
