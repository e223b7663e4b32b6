"""``privgate policy test``: run the policy conformance corpus on the configured backend.

The corpus is YAML cases (note, input, data, expected decision) — the same files CI runs on both the
embedded and the OPA-server backend — so a team can check its own bundle or its OPA deployment.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from privgate.config import load_config
from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.policy.corpus import run_corpus
from privgate.connectors.rules_files import load_rules
from privgate.engine.policy_io import build_data
from privgate.wiring import build_evaluator

DEFAULT_CORPUS = Path("tests") / "corpus" / "policy"


def register(sub: Any) -> None:
    p = sub.add_parser("policy", help="policy bundle tools", description=__doc__)
    psub = p.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    t = psub.add_parser("test", help="run the conformance corpus on the configured backend", description=__doc__)
    t.add_argument("paths", nargs="*", metavar="PATH", help=f"case files or folders (default: {DEFAULT_CORPUS})")
    t.add_argument("--backend", choices=["embedded", "opa"], help="override policy.backend from the config")
    t.add_argument("--json", action="store_true", help="print results as JSON")
    t.set_defaults(handler=handle_test)


def handle_test(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.backend:
        cfg = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"backend": args.backend})})
    evaluator = build_evaluator(cfg)
    data = build_data(load_catalog(cfg.catalog), load_rules(cfg.rules, source=cfg.source))
    evaluator.load(data)
    results = run_corpus(evaluator, args.paths or [DEFAULT_CORPUS], base_data=data)
    failed = [r for r in results if not r.passed]
    if args.json:
        print(json.dumps([{"id": r.id, "backend": r.backend, "passed": r.passed, "problems": list(r.problems)}
                          for r in results], indent=2))
    else:
        for r in failed:
            print(f"FAIL {r.id}")
            for problem in r.problems:
                print(f"     {problem}")
        print(f"{len(results)} cases on {evaluator.backend} ({evaluator.revision}): "
              f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
