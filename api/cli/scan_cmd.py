"""``privgate scan`` and ``privgate catalog review``: find PII in columns, then let a person decide.

``scan`` samples distinct values per column (DuckDB, PostgreSQL, CSV, Parquet), classifies them with
Presidio's pattern and checksum recognizers plus name hints and gazetteers, and merges suggestions
into the catalog without touching tags a person confirmed or rejected. Unchanged columns (same sample
fingerprint) are not analysed again. Evidence never contains raw values. ``catalog review`` lists the
suggestions and confirms or rejects them by id (``schema.table.column:ENTITY``).
"""

from __future__ import annotations

import argparse
from typing import Any

from privgate.config import load_config


def register(sub: Any) -> None:
    p = sub.add_parser("scan", help="classify PII in columns (Presidio)", description=__doc__)
    p.add_argument("source", metavar="SOURCE",
                   help="postgresql://..., duckdb:///path or a .duckdb file, a CSV/Parquet file or folder")
    p.add_argument("--tables", nargs="+", metavar="T", help="only these tables (schema.table)")
    p.add_argument("--sample", type=int, default=100, metavar="N", help="distinct values sampled per column")
    p.add_argument("--catalog", metavar="DIR", help="catalog folder to merge into (default: config catalog)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--dry-run", action="store_true", help="report and diff only; write nothing")
    p.add_argument("--no-ner", action="store_true", help="skip NER on free-text columns even when installed")
    p.set_defaults(handler=handle_scan)
    cat = sub.add_parser("catalog", help="catalog tools", description=__doc__)
    csub = cat.add_subparsers(dest="catalog_command", metavar="COMMAND", required=True)
    r = csub.add_parser("review", help="list, confirm or reject PII suggestions", description=__doc__)
    r.add_argument("--catalog", metavar="DIR", help="catalog folder (default: config catalog)")
    r.add_argument("--confirm", nargs="+", default=[], metavar="ID", help="confirm suggestions by id")
    r.add_argument("--reject", nargs="+", default=[], metavar="ID", help="reject suggestions by id")
    r.add_argument("--confirm-all", action="store_true", help="confirm every pending suggestion")
    r.add_argument("--format", choices=["table", "json"], default="table")
    r.set_defaults(handler=handle_review)


def handle_scan(args: argparse.Namespace) -> int:
    from privgate.connectors.scan import RichProgress, scan

    if args.sample < 1:
        raise SystemExit("privgate: error[usage]: --sample must be at least 1")
    catalog = args.catalog or load_config(args.config).catalog
    with RichProgress() as bar:
        report = scan(args.source, args.tables, args.sample, catalog, progress=bar,
                      use_ner=not args.no_ner, write=not args.dry_run)
    print(report.to_json() if args.format == "json" else report.render_table())
    return 0 if report.ok else 1


def handle_review(args: argparse.Namespace) -> int:
    from privgate.connectors.scan import review

    catalog = args.catalog or load_config(args.config).catalog
    report = review(catalog, confirm=args.confirm, reject=args.reject, confirm_all=args.confirm_all)
    print(report.model_dump_json(indent=2) if args.format == "json" else report.render_table())
    return 0
