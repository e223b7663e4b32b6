"""The ``privgate`` command: a thin face that reads config, wires connectors and prints.

Exit codes everywhere: 0 success / all allowed, 1 something was denied (or a test failed),
2 usage or configuration error. Errors print ``privgate: error[<code>]: <message>`` on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from privgate.engine import __version__
from privgate.engine.errors import PrivgateError

from . import check_cmd, decide_cmd, demo_cmd, policy_cmd, serve_cmd, sync_cmd

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2

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
    for module in (decide_cmd, check_cmd, policy_cmd, sync_cmd, demo_cmd, serve_cmd):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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


def run() -> None:
    sys.exit(main())
