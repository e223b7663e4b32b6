"""DP utility benchmark: privgate vs smartnoise-sql 1.0.10 vs pyqrlew 0.9.27 on one DuckDB warehouse.

    python benchmarks/dp_utility/run.py [--data stress|realistic] [--reps 5] [--peers smartnoise,pyqrlew] [--db PATH]

First run: generates the warehouse (benchmarks/dp_utility/.data/bench.duckdb, ~5 s) and creates each
peer's own virtualenv (benchmarks/.venv-smartnoise, benchmarks/.venv-pyqrlew; pip, ~1 min) — they
pin opendp < 0.15 / pandas < 3 and cannot share privgate's environment. Later runs reuse both.
Peers run as subprocess workers (peers/*_worker.py) that read the same DuckDB file and stream JSON.

Per query and system, pooled over the repetitions (fresh noise each time):
  median relative error of the released cells that match a true cell,
  share of true cells answered within 10% (missing keys count as misses),
  key recall (true keys released / true keys), key recall of *releasable* keys (true keys with more
  than ln(1/(2 delta)) / epsilon distinct persons: fixed before any run from the DP lower bound, not
  chosen after the fact), p50 latency (SQL text -> released rows).
Writes results/<out>.json and results/<out>.md next to this file (out: latest for --data stress,
realistic for --data realistic).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import SETTINGS  # noqa: E402
from generate import write as generate_db  # noqa: E402
from workload import DELTA, EPSILON, WORKLOAD, Query  # noqa: E402

PEERS = {
    "smartnoise": {"worker": "smartnoise_worker.py", "packages": ["smartnoise-sql==1.0.10", "duckdb==2.0.1"],
                   "label": "smartnoise-sql 1.0.10"},
    "pyqrlew": {"worker": "pyqrlew_worker.py", "packages": ["pyqrlew==0.9.27", "duckdb==2.0.1"],
                "label": "pyqrlew 0.9.27"},
}
# Contribution bounds given to every system alike: at most L0 groups per person (privgate, qrlew's
# max_privacy_unit_groups) and LINF rows per person per group (privgate linf, qrlew max_multiplicity,
# snsql max_ids — snsql can only bound rows per person overall).
L0, LINF = 8, 100
SELECTION_WEIGHT = 1.0  # privgate's default; --selection-weight explores the threshold/accuracy trade-off
BOUNDS = {"age": [18, 90], "amount": [0, 500], "quantity": [1, 10], "price": [0, 500]}
RANGES = [["users", "age", 18, 90], ["orders", "amount", 0, 500], ["orders", "quantity", 1, 10],
          ["products", "price", 0, 500]]


def set_bounds(l0: int, linf: int, selection_weight: float = 1.0) -> None:
    global L0, LINF, SELECTION_WEIGHT
    L0, LINF, SELECTION_WEIGHT = l0, linf, selection_weight


def public_keys() -> list[list[Any]]:
    from privgate.connectors.catalog_yaml import load_catalog

    out: list[list[Any]] = []
    for _q, _d, table in load_catalog(HERE / "catalog").iter_tables():
        out += [[table.name, c.name, [str(v) for v in c.public_keys]] for c in table.columns if c.public_keys]
    return out


def ensure_venv(peer: str) -> Path:
    """The peer's own virtualenv, created on first use; a marker file records a finished install."""
    venv = HERE.parent / f".venv-{peer}"
    py = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    if marker.exists() and marker.read_text() == " ".join(PEERS[peer]["packages"]):
        return py
    print(f"[setup] creating {venv} with {PEERS[peer]['packages']} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PEERS[peer]["packages"]], check=True)
    marker.write_text(" ".join(PEERS[peer]["packages"]))
    return py


def norm_key(v: Any) -> str:
    if v is None:
        return "NULL"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return str(int(f)) if math.isfinite(f) and f == int(f) else repr(f)


def as_float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def table_of(q: Query, rows: list[list[Any]]) -> dict[tuple[str, ...], list[float | None]]:
    return {tuple(norm_key(v) for v in r[:q.keys]): [as_float(v) for v in r[q.keys:]] for r in rows}


def truth(db: Path) -> dict[str, dict[tuple[str, ...], list[float | None]]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {q.qid: table_of(q, [list(r) for r in con.execute(q.sql).fetchall()]) for q in WORKLOAD}
    finally:
        con.close()


# Keys with fewer distinct persons than ln(1/(2 delta)) / epsilon (~13 at epsilon = 1, delta = 1e-6) are
# below what any (epsilon, delta) partition selection can release reliably, even one spending the
# whole budget on selection with one group per person: their share is the ceiling on key recall.
SUPPORT_FLOOR = math.log(1 / (2 * DELTA)) / EPSILON
WELL_SUPPORTED = 100


def supports(db: Path) -> dict[str, dict[tuple[str, ...], int]]:
    """Distinct persons per true key of the unknown-key GROUP BYs."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {q.qid: {tuple(norm_key(v) for v in r[:q.keys]): int(r[q.keys])
                        for r in con.execute(q.support).fetchall()} for q in WORKLOAD if q.support}
    finally:
        con.close()


def run_privgate(db: Path, reps: int) -> list[dict[str, Any]]:
    from privgate_adapter import Privgate

    from privgate.engine.dp import BoundsPolicy

    system = Privgate(db, EPSILON, DELTA, BoundsPolicy(l0=L0, linf=LINF, selection_weight=SELECTION_WEIGHT))
    out: list[dict[str, Any]] = []
    try:
        for q in WORKLOAD:
            system.run(q.sql)  # warm-up (not timed): every system gets one, see run_peer
            for rep in range(reps):
                try:
                    r = system.run(q.sql)
                    out.append({"qid": q.qid, "rep": rep, "ok": True, **r})
                except Exception as exc:
                    out.append({"qid": q.qid, "rep": rep, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
                    break
    finally:
        system.close()
    return out


def run_peer(peer: str, db: Path, reps: int) -> list[dict[str, Any]]:
    py = ensure_venv(peer)
    # one untimed warm-up repetition, like privgate's: rep 0 is dropped below
    job = {"db": str(db), "epsilon": EPSILON, "delta": DELTA, "reps": reps + 1, "l0": L0, "linf": LINF,
           "bounds": BOUNDS, "ranges": RANGES, "public_keys": public_keys(),
           "queries": [{"qid": q.qid, "sql": q.sql} for q in WORKLOAD]}
    proc = subprocess.run([str(py), str(HERE / "peers" / PEERS[peer]["worker"])], input=json.dumps(job),
                          capture_output=True, text=True, cwd=HERE / "peers", timeout=3600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        print(f"[{peer}] worker exited {proc.returncode}: {proc.stderr[-2000:]}", file=sys.stderr)
    seen = {d["qid"] for d in lines}
    for q in WORKLOAD:
        if q.qid not in seen:
            lines.append({"qid": q.qid, "rep": 0, "ok": False, "error": f"worker died (exit {proc.returncode})"})
    out = []
    for d in lines:
        if d["ok"] and d["rep"] == 0:
            continue
        out.append({**d, "rep": d["rep"] - 1 if d["ok"] else d["rep"]})
    return out


def score(q: Query, true: dict[tuple[str, ...], list[float | None]], runs: list[dict[str, Any]],
          support: dict[tuple[str, ...], int] | None = None) -> dict[str, Any]:
    failed = [r for r in runs if not r["ok"]]
    if failed or not runs:
        return {"answered": False, "error": failed[0]["error"] if failed else "no result"}
    width = len(next(iter(true.values()))) if true else None
    errs: list[float] = []
    within = cells = 0
    recalls: list[float] = []
    strong_recalls: list[float] = []
    strong = {k for k, n in (support or {}).items() if n >= WELL_SUPPORTED and k in true}
    releasable_recalls: list[float] = []
    releasable = {k for k, n in (support or {}).items() if n > SUPPORT_FLOOR and k in true}
    for r in runs:
        if width is not None and any(len(row) != q.keys + width for row in r["rows"]):
            return {"answered": False, "error": f"result shape {r['columns']} does not match the query"}
        got = table_of(q, r["rows"])
        recalls.append(len(true.keys() & got.keys()) / len(true) if true else 1.0)
        if strong:
            strong_recalls.append(len(strong & got.keys()) / len(strong))
        if releasable:
            releasable_recalls.append(len(releasable & got.keys()) / len(releasable))
        for key, values in true.items():
            for j, t in enumerate(values):
                cells += 1
                g = got.get(key, [None] * len(values))[j]
                if t is None or g is None:
                    continue
                e = abs(g - t) / abs(t) if t != 0 else (0.0 if g == 0 else math.inf)
                errs.append(e)
                within += e <= 0.10
    return {"answered": True, "median_rel_error": statistics.median(errs) if errs else None,
            "within_10pct": within / cells if cells else None, "key_recall": statistics.mean(recalls),
            "key_recall_well_supported": statistics.mean(strong_recalls) if strong_recalls else None,
            "key_recall_releasable": statistics.mean(releasable_recalls) if releasable_recalls else None,
            "releasable_keys": len(releasable),
            "recall_ceiling": (sum(n >= SUPPORT_FLOOR for k, n in support.items() if k in true) / len(true))
            if support and true else None,
            "p50_seconds": statistics.median(r["seconds"] for r in runs), "true_cells": cells // len(runs),
            "true_keys": len(true),
            "epsilon": runs[0].get("epsilon"), "delta": runs[0].get("delta")}


def fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.0f}%"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def report(results: dict[str, dict[str, dict[str, Any]]], systems: list[str]) -> tuple[str, dict[str, Any]]:
    lines = ["| query | " + " | ".join(f"{s}: med rel err / within 10% / key recall (releasable) / p50 ms"
                                     for s in systems) + " |",
             "|---|" + "---|" * len(systems)]
    for q in WORKLOAD:
        cells = []
        for s in systems:
            m = results[s][q.qid]
            if not m["answered"]:
                cells.append("**fails**")
                continue
            rel = f" ({fmt(m['key_recall_releasable'], True)})" if m.get("key_recall_releasable") is not None else ""
            cells.append(f"{fmt(m['median_rel_error'])} / {fmt(m['within_10pct'], True)} / "
                         f"{fmt(m['key_recall'], True)}{rel} / {1000 * m['p50_seconds']:.0f}")
        mark = " (unknown keys)" if q.unknown_keys else ""
        lines.append(f"| {q.qid}{mark} | " + " | ".join(cells) + " |")
    summary: dict[str, Any] = {}
    unknown = [q.qid for q in WORKLOAD if q.unknown_keys]
    for s in systems:
        res = results[s]
        answered = [k for k, m in res.items() if m["answered"]]
        summary[s] = {
            "answered": len(answered), "of": len(WORKLOAD),
            "mean_within_10pct_all": statistics.mean(res[k]["within_10pct"] if res[k]["answered"] else 0.0
                                                     for k in res),
            "mean_within_10pct_answered": statistics.mean(res[k]["within_10pct"] for k in answered) if answered
            else None,
            "key_recall_unknown": statistics.mean(res[k]["key_recall"] if res[k]["answered"] else 0.0
                                                  for k in unknown),
            "key_recall_unknown_releasable": statistics.mean(
                (res[k]["key_recall_releasable"] or 0.0) if res[k]["answered"] else 0.0 for k in unknown),
            "key_recall_unknown_well_supported": statistics.mean(
                (res[k]["key_recall_well_supported"] or 0.0) if res[k]["answered"] else 0.0 for k in unknown),
            "failures": {k: m["error"][:160] for k, m in res.items() if not m["answered"]},
        }
    for s in systems:
        if s == "privgate":
            continue
        common = [k for k in results[s] if results[s][k]["answered"] and results["privgate"][k]["answered"]]
        pg = sum(results["privgate"][k]["p50_seconds"] for k in common)
        peer = sum(results[s][k]["p50_seconds"] for k in common)
        summary["privgate"][f"p50_sum_vs_{s}"] = {"queries": len(common), "privgate_s": pg, f"{s}_s": peer,
                                                   "ratio": pg / peer if peer else None}
        summary["privgate"][f"within_10pct_on_{s}_answered"] = statistics.mean(
            results["privgate"][k]["within_10pct"] for k in common) if common else None
    lines += ["", "| system | answered | mean within 10% (failures = 0) | mean within 10% (answered) | "
              f"key recall, unknown-key GROUP BYs: all keys / releasable keys (> {SUPPORT_FLOOR:.1f} persons) / "
              f"keys with >= {WELL_SUPPORTED} persons |",
              "|---|---|---|---|---|"]
    for s in systems:
        m = summary[s]
        lines.append(f"| {s} | {m['answered']}/{m['of']} | {fmt(m['mean_within_10pct_all'], True)} | "
                     f"{fmt(m['mean_within_10pct_answered'], True)} | {fmt(m['key_recall_unknown'], True)} / "
                     f"{fmt(m['key_recall_unknown_releasable'], True)} / "
                     f"{fmt(m['key_recall_unknown_well_supported'], True)} |")
    lines += ["", f"Unknown-key GROUP BYs: share of true keys with > {SUPPORT_FLOOR:.1f} distinct persons (releasable: "
              "the most any (1, 1e-6)-DP partition selection can release reliably) / true keys:"]
    for q in WORKLOAD:
        if q.unknown_keys:
            m = results["privgate"][q.qid]
            if m.get("recall_ceiling") is not None:
                lines.append(f"- {q.qid}: {fmt(m['recall_ceiling'], True)} of {m['true_keys']} keys")
    return "\n".join(lines), summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=sorted(SETTINGS), default="stress",
                    help="key-size setting of the generated warehouse (generate.SETTINGS)")
    ap.add_argument("--db", type=Path, help="default: .data/bench.duckdb (stress), .data/bench-<data>.duckdb")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--peers", default="smartnoise,pyqrlew")
    ap.add_argument("--l0", type=int, default=L0, help="max groups per person (all systems)")
    ap.add_argument("--linf", type=int, default=LINF, help="max rows per person and group (all systems)")
    ap.add_argument("--selection-weight", type=float, default=SELECTION_WEIGHT,
                    help="privgate's share of ε for partition selection (weight vs 1 per released quantity)")
    ap.add_argument("--out", help="results/<out>.json and .md (default: latest for stress, else <data>)")
    args = ap.parse_args()
    args.db = args.db or HERE / ".data" / ("bench.duckdb" if args.data == "stress" else f"bench-{args.data}.duckdb")
    args.out = args.out or ("latest" if args.data == "stress" else args.data)
    set_bounds(args.l0, args.linf, args.selection_weight)
    t0 = time.perf_counter()
    if not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        cities, coupons = SETTINGS[args.data]
        print(f"[setup] generating {args.db} ({args.data}: {cities} cities, {coupons} coupons): "
              f"{generate_db(args.db, args.users, args.seed, cities, coupons)}", flush=True)
    true = truth(args.db)
    support = supports(args.db)
    peers = [p for p in args.peers.split(",") if p]
    runs: dict[str, list[dict[str, Any]]] = {"privgate": run_privgate(args.db, args.reps)}
    for peer in peers:
        runs[peer] = run_peer(peer, args.db, args.reps)
    systems = ["privgate", *peers]
    results = {s: {q.qid: score(q, true[q.qid], [r for r in runs[s] if r["qid"] == q.qid], support.get(q.qid))
                   for q in WORKLOAD} for s in systems}
    table, summary = report(results, systems)
    elapsed = time.perf_counter() - t0
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps({"data": args.data, "cities_coupons": SETTINGS[args.data],
                                                 "epsilon": EPSILON, "delta": DELTA, "l0": L0, "linf": LINF,
                                                 "reps": args.reps, "seconds": elapsed, "summary": summary,
                                                 "results": results}, indent=1, default=str))
    (out / f"{args.out}.md").write_text(table + "\n")
    print(table)
    print(json.dumps(summary, indent=1, default=str))
    print(f"[done] {elapsed:.0f}s")


if __name__ == "__main__":
    main()
