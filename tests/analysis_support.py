"""Shared test helpers: the demo catalog and the default rules, loaded straight from the repo."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from privgate.engine.analysis import Analyzer
from privgate.engine.catalog import Catalog, Domain
from privgate.engine.rules import Rules

ROOT = Path(__file__).resolve().parents[1]


@cache
def demo_catalog() -> Catalog:
    domains = []
    for path in sorted((ROOT / "examples" / "demo" / "catalog").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        doc["name"] = doc.pop("domain")
        domains.append(Domain.model_validate(doc))
    return Catalog(domains=tuple(domains))


@cache
def default_rules() -> Rules:
    doc: dict[str, object] = {}
    for name in ("functions.yaml", "policy.yaml"):
        doc.update(yaml.safe_load((ROOT / "rules" / name).read_text()))
    return Rules.model_validate(doc)


@cache
def demo_analyzer() -> Analyzer:
    return Analyzer(demo_catalog(), default_rules())
