"""``privgate decide``: one statement in, one decision out (text or --json)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from privgate.config import Config, load_config
from privgate.engine.decision import Decision, Principal, Request
from privgate.engine.errors import ConfigError
from privgate.wiring import build_engine, principal


def register(sub: Any) -> None:
    p = sub.add_parser("decide", help="decide one SQL request", description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sql", metavar="S", help="the SQL text")
    src.add_argument("--file", metavar="F", help="read the SQL from a file ('-' for stdin)")
    add_identity(p)
    p.add_argument("--json", action="store_true", help="print the full decision record as JSON")
    p.set_defaults(handler=handle)


def add_identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--principal", metavar="P", help="who asks (roles come from privgate.yaml principals)")
    p.add_argument("--role", action="append", default=[], metavar="R", help="extra role (repeatable)")
    p.add_argument("--purpose", metavar="U", help="purpose of use (default: the principal's default_purpose)")
    p.add_argument("--dialect", metavar="D", help="SQL dialect (default: config dialect)")


def read_sql(args: argparse.Namespace) -> str:
    if args.sql is not None:
        return str(args.sql)
    if args.file == "-":
        return sys.stdin.read()
    try:
        return Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{args.file}: cannot read: {exc}", code="cli_unreadable_file") from exc


def identity(cfg: Config, args: argparse.Namespace) -> tuple[Principal, str]:
    """The principal (roles from the config plus --role) and purpose (--purpose or its default)."""
    if not args.principal:
        raise ConfigError("--principal is required", code="cli_no_principal")
    purpose = args.purpose or (cfg.principals[args.principal].default_purpose
                               if args.principal in cfg.principals else None)
    if not purpose:
        raise ConfigError(f"--purpose is required (principal {args.principal!r} has no default_purpose)",
                          code="cli_no_purpose")
    return principal(cfg, args.principal, tuple(args.role)), purpose


def handle(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    who, purpose = identity(cfg, args)
    engine = build_engine(cfg)
    decision = engine.decide(Request(principal=who, purpose=purpose, sql=read_sql(args),
                                     dialect=args.dialect or cfg.dialect, surface="query"))
    print(decision.model_dump_json(indent=2) if args.json else render(decision))
    return 0 if decision.allowed else 1


def render(d: Decision) -> str:
    head = {"allow": "ALLOW", "rewrite": "ALLOW (rewritten)", "deny": "DENY"}[d.outcome]
    lines = [f"{head}  decision {d.id}  principal={d.principal} purpose={d.purpose}"]
    lines += [f"  reason  {r.code}: {r.message}" for r in d.reasons]
    for o in d.obligations:
        params = ", ".join(f"{k}={v}" for k, v in sorted(o.params.items()))
        lines.append(f"  oblige  {o.kind}: {params}")
    if d.epsilon is not None:
        lines.append(f"  budget  ε={d.epsilon.normalize():f}" + (f" δ={d.delta}" if d.delta else ""))
    if d.rewritten_sql:
        lines.append("  rewritten SQL:")
        lines += [f"    {line}" for line in d.rewritten_sql.splitlines()]
    timing = " ".join(f"{k}={v:.2f}ms" for k, v in d.timings_ms.items())
    lines.append(f"  timings {timing}" + (" (analysis cached)" if d.cached_analysis else ""))
    return "\n".join(lines)
