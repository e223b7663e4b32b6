"""``privgate ledger show|history|grant``: the privacy-budget ledger, for people and scripts (--json).

Scopes are ``kind:name`` — ``subject:customer`` (everyone behind a privacy-unit namespace),
``dataset:sales.orders``, ``domain:sales``, ``principal:ana``, ``group:analyst``, ``class:standard``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from privgate.config import load_config
from privgate.engine.errors import ConfigError
from privgate.wiring import open_configured_ledger


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="privacy-budget ledger: show, history, grant", description=__doc__)
    lsub = p.add_subparsers(dest="ledger_command", metavar="COMMAND", required=True)
    show = lsub.add_parser("show", help="accounts: limit, spent, reserved, remaining", description=__doc__)
    show.add_argument("pattern", nargs="?", metavar="PATTERN", help="scope glob, e.g. 'principal:*'")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=handle_show)
    hist = lsub.add_parser("history", help="charges and grants, newest first", description=__doc__)
    hist.add_argument("--scope", metavar="S")
    hist.add_argument("--status", choices=["pending", "committed", "released", "expired"])
    hist.add_argument("--before", metavar="ISO", help="page: entries before this timestamp")
    hist.add_argument("--limit", type=int, default=50, metavar="N")
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(handler=handle_history)
    grant = lsub.add_parser("grant", help="add (or with a negative amount, take) budget", description=__doc__)
    grant.add_argument("scope", metavar="SCOPE")
    grant.add_argument("--epsilon", metavar="E", help="epsilon (pure/approx accounts)")
    grant.add_argument("--rho", metavar="R", help="rho (zcdp accounts)")
    grant.add_argument("--delta", metavar="D", default="0")
    grant.add_argument("--reason", required=True, metavar="TEXT")
    grant.add_argument("--by", metavar="WHO", default="cli")
    grant.add_argument("--json", action="store_true")
    grant.set_defaults(handler=handle_grant)


def handle_show(args: argparse.Namespace) -> int:
    snap = open_configured_ledger(load_config(args.config)).show(args.pattern)
    if args.json:
        print(snap.model_dump_json(indent=2))
        return 0
    rows = [(a.scope, a.measure, a.window, _d(a.limit_loss), _d(a.committed), _d(a.reserved), _d(a.expired),
             _d(a.remaining_loss)) for a in snap.accounts]
    _print_table(("scope", "measure", "window", "limit", "spent", "reserved", "expired", "remaining"), rows)
    return 0


def handle_history(args: argparse.Namespace) -> int:
    before = None
    if args.before:
        try:
            before = datetime.fromisoformat(args.before)
        except ValueError as exc:
            raise ConfigError(f"--before {args.before!r} is not an ISO timestamp", code="cli_usage") from exc
    hist = open_configured_ledger(load_config(args.config)).history(
        scope=args.scope, status=args.status, before=before, limit=args.limit)
    print(hist.model_dump_json(indent=2) if args.json else _history_text(hist))
    return 0


def _history_text(hist: Any) -> str:
    doc = hist.model_dump(mode="json")
    lines = []
    for key, items in doc.items():
        if isinstance(items, list):
            for item in items:
                when = item.get("created_at", "")
                what = item.get("status", key)
                cost = item.get("cost") or item.get("amount") or {}
                lines.append(f"{when}  {what:<9}  {item.get('decision_id') or item.get('scope', ''):<34}  "
                             f"{json.dumps(cost, sort_keys=True)}")
    return "\n".join(lines) if lines else "(no entries)"


def handle_grant(args: argparse.Namespace) -> int:
    from privgate.engine.ledger.models import Amount

    if (args.epsilon is None) == (args.rho is None):
        raise ConfigError("give exactly one of --epsilon or --rho", code="cli_usage")
    try:
        loss = Decimal(args.epsilon if args.epsilon is not None else args.rho)
        delta = Decimal(args.delta)
    except InvalidOperation as exc:
        raise ConfigError("--epsilon/--rho/--delta must be decimal numbers", code="cli_usage") from exc
    record = open_configured_ledger(load_config(args.config)).grant(
        args.scope, Amount(loss=loss, delta=delta), reason=args.reason, granted_by=args.by)
    print(record.model_dump_json(indent=2) if args.json else f"granted {loss} to {args.scope}: {args.reason}")
    return 0


def _d(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, Decimal):
        return f"{v.normalize():f}"
    if hasattr(v, "loss"):
        return f"{v.loss.normalize():f}" + (f" (δ {v.delta.normalize():f})" if v.delta else "")
    return str(v)


def _print_table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
