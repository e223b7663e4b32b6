"""``privgate sync datahub pull|push``: exchange schemas, owners, domains and PII tags with DataHub.

Pull reads DataHub (a GMS server or a metadata file) into the catalog folder, atomically. Push
writes privgate's confirmed (and with --include-suggested, suggested) classifications back as
field-level tags and glossary terms using patch semantics: people's tags in DataHub are never
removed, and a second push changes nothing. Table naming comes from ``datahub:`` in privgate.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from privgate.config import load_config
from privgate.engine.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("sync", help="catalog sync jobs (DataHub)", description=__doc__)
    psub = p.add_subparsers(dest="sync_target", metavar="TARGET", required=True)
    dh = psub.add_parser("datahub", help="sync with DataHub", description=__doc__)
    dsub = dh.add_subparsers(dest="datahub_command", metavar="COMMAND", required=True)
    pull = dsub.add_parser("pull", help="DataHub -> privgate catalog", description=__doc__)
    _source(pull)
    pull.add_argument("--platform", metavar="P", help="DataHub platform (default: datahub.platform or postgres)")
    pull.add_argument("--dataset-filter", action="append", default=[], metavar="GLOB",
                      help="only datasets matching (DataHub name or schema.table; repeatable)")
    pull.add_argument("--format", choices=["text", "json"], default="text")
    pull.set_defaults(handler=handle_pull)
    push = dsub.add_parser("push", help="privgate classifications -> DataHub", description=__doc__)
    _source(push)
    push.add_argument("--base", metavar="EXPORT", help="with --file: a DataHub export to diff against")
    push.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    push.add_argument("--include-suggested", action="store_true", help="also push suggested (unreviewed) tags")
    push.add_argument("--dataset-filter", action="append", default=[], metavar="GLOB")
    push.add_argument("--format", choices=["text", "json"], default="text")
    push.set_defaults(handler=handle_push)


def _source(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--server", metavar="URL", help="DataHub GMS URL, e.g. http://datahub-gms:8080")
    g.add_argument("--file", metavar="F", help="DataHub metadata file (JSON MCE/MCP list)")
    p.add_argument("--token-env", metavar="VAR", help="environment variable holding the GMS access token")


def _target(args: argparse.Namespace) -> Any:
    from privgate.connectors.datahub import DataHubFile, DataHubServer

    if args.server:
        return DataHubServer(url=args.server, token_env=args.token_env)
    if args.token_env:
        raise ConfigError("--token-env only applies with --server", code="cli_usage")
    base = getattr(args, "base", None)
    return DataHubFile(path=Path(args.file), base=Path(base) if base else None)


def _naming(raw: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from privgate.connectors.datahub import DatasetNaming
    from privgate.connectors.yaml_io import describe_validation

    try:
        return DatasetNaming.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("invalid configuration:\n" + describe_validation("privgate.yaml", exc, "datahub")) from exc


def handle_pull(args: argparse.Namespace) -> int:
    from privgate.connectors.datahub import pull

    cfg = load_config(args.config)
    report = pull(_target(args), cfg.catalog, args.platform, args.dataset_filter, naming=_naming(cfg.datahub))
    print(report.model_dump_json(indent=2) if args.format == "json" else report.render_text())
    return 0


def handle_push(args: argparse.Namespace) -> int:
    from privgate.connectors.datahub import push

    cfg = load_config(args.config)
    if args.base and not args.file:
        raise ConfigError("--base only applies with --file", code="cli_usage")
    report = push(cfg.catalog, _target(args), args.include_suggested, args.dry_run,
                  dataset_filter=args.dataset_filter, naming=_naming(cfg.datahub))
    print(report.model_dump_json(indent=2) if args.format == "json" else report.render_text())
    return 0
