"""The ``privgate`` command: a thin face that reads config, wires connectors and prints.

Exit codes everywhere: 0 success / all allowed, 1 something was denied (or a test failed),
2 usage, configuration or upstream error, 70 an internal error (a bug: please report it).
Errors print ``privgate: error[<code>]: <message>`` on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from privgate.engine import __version__
from privgate.engine.errors import PrivgateError

from . import (
    check_cmd,
    data_cmd,
    decide_cmd,
    demo_cmd,
    fl_cmd,
    ledger_cmd,
    policy_cmd,
    query_cmd,
    scan_cmd,
    serve_cmd,
    sync_cmd,
)

EXIT_OK, EXIT_DENIED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its message but add a hint."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"privgate: error[usage]: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="privgate", description="Policy-as-code governance for privacy-first analytics.")
    parser.add_argument("--version", action="version", version=f"privgate {__version__}")
    parser.add_argument("--config", metavar="FILE", help="privgate.yaml (default: $PRIVGATE_CONFIG or ./privgate.yaml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    for module in (serve_cmd, query_cmd, decide_cmd, check_cmd, ledger_cmd, scan_cmd, sync_cmd, fl_cmd, policy_cmd,
                   data_cmd, demo_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # sqlglot logs a warning (with the SQL) for every construct it parses as a generic Command; the
    # analyzer already reports those as `unsupported` facts, so keep the CLI's stderr for our messages.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: return argparse's code, don't exit
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args)
    except PrivgateError as exc:
        print(f"privgate: error[{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("privgate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug, or a library error nobody translated: say so, never a bare traceback
        if os.environ.get("PRIVGATE_DEBUG"):
            raise
        print(f"privgate: error[internal_error]: unexpected {type(exc).__name__}: {exc} "
              "(set PRIVGATE_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())
