"""``privgate query``: ask a question of the warehouse and get an answer you are allowed to see.

Aggregates over people's data come back with differential-privacy noise, a 95% half-width per cell
and a charge in the ledger (asking the same question again returns the same release at no cost);
row-level reads come back masked, consent-filtered and capped; denials say why.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from privgate.config import load_config
from privgate.engine.decision import Request
from privgate.engine.dp.errors import DpError
from privgate.engine.ledger.errors import BudgetExhaustedError
from privgate.query import QueryOutcome, run_query
from privgate.wiring import build_engine, load_mask_key, open_configured_ledger

from .decide_cmd import add_identity, identity, read_sql, render


def register(sub: Any) -> None:
    p = sub.add_parser("query", help="answer a SQL question under policy, with DP where required",
                       description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sql", metavar="S")
    src.add_argument("--file", metavar="F", help="read the SQL from a file ('-' for stdin)")
    add_identity(p)
    p.add_argument("--upstream", metavar="URL", help="duckdb://path.duckdb or postgresql://... (config upstream)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from privgate.connectors.dp_config import load_bounds_policy
    from privgate.connectors.executors import open_executor
    from privgate.connectors.release_cache import SqliteReleaseCache

    cfg = load_config(args.config)
    who, purpose = identity(cfg, args)
    executor = open_executor(args.upstream or cfg.upstream)
    ledger = open_configured_ledger(cfg)
    engine = build_engine(cfg, ledger=ledger, mask_key=load_mask_key(cfg))
    request = Request(principal=who, purpose=purpose, sql=read_sql(args),
                      dialect=args.dialect or executor.dialect, surface="query")
    try:
        outcome = run_query(engine, request, executor, ledger=ledger, bounds=load_bounds_policy(),
                            release_cache=SqliteReleaseCache(cfg.ledger.release_cache))
    except (DpError, BudgetExhaustedError) as exc:  # the DP planner or the ledger refused: a denial
        print(f"DENY  {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    if not outcome.decision.allowed:
        print(render(outcome.decision), file=sys.stderr)
        return 1
    sys.stdout.write(FORMATS[args.format](outcome))
    if args.format == "table":
        remaining = engine.budget.remaining(request.principal.id, engine.rules.dp.default_class) \
            if engine.budget else None
        print(_footer(outcome, remaining), file=sys.stderr)
    return 0


def _footer(outcome: QueryOutcome, remaining: Any) -> str:
    d = outcome.decision
    if outcome.dp is None:
        kinds = ", ".join(sorted({o.kind for o in d.obligations})) or "none"
        return f"-- {len(outcome.rows)} rows; decision {d.id}; obligations: {kinds}"
    r = outcome.dp
    spent = "0 (same question answered before: the earlier release, no new charge)" if r.cached \
        else f"{r.charge.epsilon.normalize():f}" + (f", δ={r.charge.delta.normalize():f}" if r.charge.delta else "")
    return (f"-- DP answer: ε charged {spent}; remaining ε for you: {remaining}; "
            f"{r.suppressed_keys} group(s) suppressed; decision {d.id}\n"
            f"-- each value ± its _halfwidth at 95%; _swamped marks cells whose noise swamps the value")


def _table(outcome: QueryOutcome) -> str:
    cols = outcome.columns
    cells = [[_fmt(row.get(c)) for c in cols] for row in outcome.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return "" if v is None else str(v)


def _json(outcome: QueryOutcome) -> str:
    doc = {"decision": json.loads(outcome.decision.to_json()), "columns": outcome.columns, "rows": outcome.rows,
           "dp": json.loads(outcome.dp.model_dump_json(include={"charge", "suppressed_keys", "cached", "alpha"}))
           if outcome.dp else None}
    return json.dumps(doc, indent=2, default=str) + "\n"


def _csv(outcome: QueryOutcome) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=outcome.columns)
    w.writeheader()
    w.writerows(outcome.rows)
    return buf.getvalue()


FORMATS = {"table": _table, "json": _json, "csv": _csv}
