"""Decision latency per stage over the analysis corpus, cold and cached, against plain sqlglot parsing.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/decide.py [--rounds N] [--backend embedded|opa]``).

Cold = a fresh analysis for every decision (cache disabled); cached = the analysis comes from the
cache keyed by normalized SQL (the proxy's steady state for dashboards that repeat statements).
The baseline is ``sqlglot.parse`` of the same statements in the same run, so the ratio column is
comparable across noisy shared machines. Targets (issue 2, embedded backend, 2 cores):
full decision p50 <= 2 ms, p99 <= 10 ms; cached p50 <= 0.3 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import sqlglot
import yaml

from privgate.config import load_config
from privgate.engine.decision import Principal, Request
from privgate.wiring import build_engine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "analysis"
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"cold_p50": 2.0, "cold_p99": 10.0, "cached_p50": 0.3}


def load_cases() -> list[tuple[str, str, Principal, str]]:
    cases = []
    for f in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(f.read_text()) or []:
            roles = tuple(case.get("roles", ["analyst"]))
            cases.append((case["sql"], case.get("dialect", "postgres"),
                          Principal(id=case.get("principal", "ana"), roles=roles), case.get("purpose", "analytics")))
    return cases


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the corpus per measurement")
    ap.add_argument("--backend", choices=["embedded", "opa"], default="embedded")
    args = ap.parse_args()
    cfg = load_config(ROOT / "privgate.yaml", env={"PRIVGATE_POLICY_BACKEND": args.backend})
    cases = load_cases()
    requests = [Request(principal=p, purpose=u, sql=sql, dialect=d) for sql, d, p, u in cases]

    parse_ms: list[float] = []
    for _ in range(args.rounds):
        for sql, d, _p, _u in cases:
            t = time.perf_counter()
            with contextlib.suppress(sqlglot.errors.SqlglotError, ValueError):
                sqlglot.parse(sql, read=d)
            parse_ms.append((time.perf_counter() - t) * 1e3)

    cold = build_engine(cfg, cache_size=0)
    stage: dict[str, list[float]] = {}
    cold_ms: list[float] = []
    for r in requests[:20]:
        cold.decide(r)  # warm imports and the policy engine
    gc.collect()
    for _ in range(args.rounds):
        for r in requests:
            t = time.perf_counter()
            d = cold.decide(r)
            cold_ms.append((time.perf_counter() - t) * 1e3)
            for k, v in d.timings_ms.items():
                stage.setdefault(k, []).append(v)

    warm = build_engine(cfg)
    for r in requests:
        warm.decide(r)
    cached_ms: list[float] = []
    for _ in range(args.rounds):
        for r in requests:
            t = time.perf_counter()
            warm.decide(r)
            cached_ms.append((time.perf_counter() - t) * 1e3)

    p50_parse = statistics.median(parse_ms)
    rows = [("sqlglot.parse (baseline)", parse_ms)] + [(f"stage: {k}", v) for k, v in stage.items()] + [
        ("full decision, cold", cold_ms), ("full decision, cached analysis", cached_ms)]
    lines = [f"{len(cases)} statements x {args.rounds} rounds, backend {args.backend}, "
             f"Python {platform.python_version()}, {platform.machine()}",
             "", "| measurement | p50 ms | p99 ms | p50 / parse p50 |", "|---|---:|---:|---:|"]
    for name, vals in rows:
        lines.append(f"| {name} | {statistics.median(vals):.3f} | {pct(vals, 99):.3f} | "
                     f"{statistics.median(vals) / p50_parse:.2f}x |")
    got = {"cold_p50": statistics.median(cold_ms), "cold_p99": pct(cold_ms, 99),
           "cached_p50": statistics.median(cached_ms)}
    lines.append("")
    ok = True
    for k, target in TARGETS.items():
        met = got[k] <= target
        ok &= met
        lines.append(f"- {k}: {got[k]:.3f} ms (target <= {target} ms) {'MET' if met else 'MISSED'}")
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"decide-{args.backend}.md").write_text(report + "\n")
    (RESULTS / f"decide-{args.backend}.json").write_text(json.dumps(
        {"statements": len(cases), "rounds": args.rounds, **got,
         "parse_p50": p50_parse, "stages": {k: statistics.median(v) for k, v in stage.items()}}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
