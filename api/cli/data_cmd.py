"""``privgate demo-data PATH``: generate the seeded demo warehouse the demo catalog describes.

Customers with PII, orders with heavy-tailed activity per customer, products, campaign events and
support tickets, with consent columns; into a DuckDB file and, with --postgres, into PostgreSQL.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from privgate.config import load_config
from privgate.connectors.catalog_yaml import load_catalog


def register(sub: Any) -> None:
    p = sub.add_parser("demo-data", help="generate the seeded demo warehouse", description=__doc__)
    p.add_argument("path", metavar="PATH", help="DuckDB file to write")
    p.add_argument("--customers", type=int, default=20_000, metavar="N")
    p.add_argument("--seed", type=int, default=7, metavar="S")
    p.add_argument("--postgres", metavar="URL", help="also load into this PostgreSQL database")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from privgate.connectors.demo_data import demo_data

    if args.customers < 1:
        raise SystemExit("privgate: error[usage]: --customers must be at least 1")
    catalog = load_catalog(load_config(args.config).catalog)
    Path(args.path).parent.mkdir(parents=True, exist_ok=True)
    demo_data(args.path, catalog, customers=args.customers, seed=args.seed, postgres_url=args.postgres)
    return 0
