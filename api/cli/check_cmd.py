"""``privgate check``: judge SQL files in CI (text, JSON, SARIF 2.1.0, JUnit), exit 1 on any deny."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from privgate.check.formats import FORMATS
from privgate.check.runner import Context, run_check
from privgate.config import load_config
from privgate.engine.errors import ConfigError
from privgate.wiring import build_engine, principal


def register(sub: Any) -> None:
    p = sub.add_parser("check", help="judge SQL files before deploy (CI)", description=__doc__,
                       epilog="Files may set context with a comment: -- privgate: purpose=marketing principal=job")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".sql files or folders (walked for *.sql)")
    p.add_argument("--format", choices=sorted(FORMATS), default="text")
    p.add_argument("--output", metavar="F", help="write the report here instead of stdout")
    p.add_argument("--principal", metavar="P", help="default principal (config check.principal)")
    p.add_argument("--purpose", metavar="U", help="default purpose (config check.purpose)")
    p.add_argument("--dialect", metavar="D", help="default dialect (config dialect)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    name = args.principal or cfg.check.principal
    base = Context(principal(cfg, name), args.purpose or cfg.check.purpose, args.dialect or cfg.dialect)
    engine = build_engine(cfg)
    roles = {n: p.roles for n, p in cfg.principals.items()}
    result = run_check(engine, args.paths, base, roles)
    if not result.findings and not result.files:
        raise ConfigError("no .sql files found under the given paths", code="check_no_files")
    report = FORMATS[args.format](result)
    if args.output:
        try:
            Path(args.output).write_text(report, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{args.output}: cannot write report: {exc}", code="check_unwritable") from exc
        if args.format != "text":
            sys.stdout.write(FORMATS["text"](result))
    else:
        sys.stdout.write(report)
    return 1 if result.denied else 0
