"""Shared test helpers: the demo catalog and the default rules, loaded straight from the repo."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.rules_files import load_rules
from privgate.engine.analysis import Analyzer
from privgate.engine.catalog import Catalog
from privgate.engine.rules import Rules

ROOT = Path(__file__).resolve().parents[1]


@cache
def demo_catalog() -> Catalog:
    return load_catalog(ROOT / "examples" / "demo" / "catalog")


@cache
def default_rules() -> Rules:
    return load_rules()


@cache
def demo_analyzer() -> Analyzer:
    return Analyzer(demo_catalog(), default_rules())
