"""Test-only loaders for the demo catalog and the default rules pack.

Stand-ins until the lead's ``connectors/catalog_yaml.py::load_catalog`` and
``connectors/rules_files.py::load_rules`` land on main; they read the same files the same way so the
swap is a one-line import change.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from privgate.engine.catalog import Catalog
from privgate.engine.policy_io import build_data
from privgate.engine.rules import Rules

REPO = Path(__file__).resolve().parent.parent
DEMO_CATALOG = REPO / "examples" / "demo" / "catalog"


def load_catalog(path: Path = DEMO_CATALOG) -> Catalog:
    """One YAML file per domain; the file's ``domain`` key is the domain's name."""
    domains = []
    for f in sorted(path.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        doc["name"] = doc.pop("domain")
        domains.append(doc)
    return Catalog.model_validate({"domains": domains})


def load_rules(overrides: dict[str, Any] | None = None) -> Rules:
    """The packaged rules files merged (shallowly) with overrides."""
    doc: dict[str, Any] = {}
    pkg = resources.files("privgate.rules")
    for name in ("functions.yaml", "policy.yaml"):
        doc.update(yaml.safe_load(pkg.joinpath(name).read_text(encoding="utf-8")))
    doc.update(overrides or {})
    return Rules.model_validate(doc)


@cache
def _default_data_json() -> str:
    import json

    return json.dumps(build_data(load_catalog(), load_rules()))


def default_data() -> dict[str, Any]:
    """A fresh copy of the ``data`` document built from the demo catalog and default rules."""
    import json

    return json.loads(_default_data_json())  # type: ignore[no-any-return]
