"""``privgate demo``: a guided tour of decisions over the demo catalog, on embedded defaults."""

from __future__ import annotations

import argparse
from typing import Any

from privgate.config import load_config
from privgate.engine.decision import Request
from privgate.wiring import build_engine, principal

from .decide_cmd import render

TOUR: tuple[tuple[str, str, str, str], ...] = (
    ("An analyst counts orders per country: an aggregate over people's data must run under DP.",
     "ana", "analytics",
     "SELECT c.country, count(*) AS orders, avg(o.amount) AS avg_amount\n"
     "FROM sales.orders o JOIN sales.customers c ON c.customer_id = o.customer_id\nGROUP BY c.country"),
    ("The same analyst lists customers: emails are hashed, names redacted, consent filtered, rows capped.",
     "ana", "analytics", "SELECT customer_id, full_name, email, country FROM sales.customers"),
    ("Social security numbers never leave raw without a grant.",
     "ana", "analytics", "SELECT customer_id, ssn FROM sales.customers"),
    ("A support agent, for support, sees contact details raw (a pii grant in rules/policy.yaml).",
     "sam", "support", "SELECT full_name, email, phone FROM sales.customers WHERE customer_id = 42"),
    ("Looking one person's orders up by email, without DP, singles them out.",
     "ana", "analytics",
     "SELECT o.order_date, o.amount FROM sales.orders o JOIN sales.customers c USING (customer_id)\n"
     "WHERE c.email = 'jane@example.com'"),
    ("Hiding a statement behind a comment does not work.",
     "ana", "analytics", "SELECT 1; -- harmless?\nDROP TABLE sales.orders"),
    ("Reading server files through SQL functions is refused.",
     "ana", "analytics", "SELECT pg_read_file('/etc/passwd')"),
    ("Marketing joins its events to sales customers: allowed for marketing (agreements both ways)...",
     "mia", "marketing", "SELECT e.channel, count(*) FROM marketing.campaign_events e\n"
     "JOIN sales.customers c ON c.customer_id = e.customer_id GROUP BY e.channel"),
    ("...but the same join for analytics has no sharing agreement from marketing.",
     "ana", "analytics", "SELECT e.channel, count(*) FROM marketing.campaign_events e\n"
     "JOIN sales.customers c ON c.customer_id = e.customer_id GROUP BY e.channel"),
    ("An analyst whose privacy budget is nearly spent is refused further DP answers.",
     "ivy", "analytics", "SELECT status, count(*) FROM sales.orders GROUP BY status"),
)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="guided tour of decisions over the demo catalog", description=__doc__)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    engine = build_engine(cfg)
    print(f"privgate demo — catalog {cfg.catalog} ({engine.catalog.revision}), "
          f"policy backend {engine.evaluator.backend} ({engine.evaluator.revision})\n")
    for n, (story, who, purpose, sql) in enumerate(TOUR, 1):
        print(f"{n}. {story}")
        print(f"   {who} ({', '.join(cfg.roles_of(who))}) for {purpose}:")
        print("\n".join(f"   | {line}" for line in sql.splitlines()))
        d = engine.decide(Request(principal=principal(cfg, who), purpose=purpose, sql=sql, dialect=cfg.dialect))
        print("\n".join(f"   {line}" for line in render(d).splitlines()))
        print()
    print("Try your own:  .venv/bin/privgate decide --principal ana --sql 'SELECT ...'")
    print("Check SQL in CI: .venv/bin/privgate check examples/check --format sarif")
    return 0
