"""Shared loop of the peer workers (runs inside each peer's own virtualenv; stdlib + duckdb only).

Protocol: the runner writes one JSON job to stdin ``{"db", "epsilon", "delta", "reps", "bounds",
"queries": [{"qid", "sql"}]}``; the worker prints one JSON line per (query, repetition):
``{"qid", "rep", "ok", "columns", "rows", "seconds", "error"}``. ``seconds`` covers SQL text to
released rows (rewrite + execution + noise), the same span the privgate adapter times.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any


def plain(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def serve(setup: Callable[[dict[str, Any]], Callable[[str], tuple[list[str], list[list[Any]]]]]) -> None:
    job = json.loads(sys.stdin.read())
    run = setup(job)
    for q in job["queries"]:
        for rep in range(job["reps"]):
            t0 = time.perf_counter()
            try:
                cols, rows = run(q["sql"])
                out = {"qid": q["qid"], "rep": rep, "ok": True, "columns": cols,
                       "rows": [[plain(v) for v in r] for r in rows], "seconds": time.perf_counter() - t0}
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a peer's failure (pyo3 panics are BaseException) is a result
                msg = f"{type(exc).__name__}: {exc}".strip()
                out = {"qid": q["qid"], "rep": rep, "ok": False, "error": msg[:600],
                       "trace": traceback.format_exc()[-1500:], "seconds": time.perf_counter() - t0}
            print(json.dumps(out), flush=True)
            if not out["ok"]:
                break  # a deterministic rejection: do not repeat it
