"""Test helpers: the policy ``data`` document built from the demo catalog and the shipped rules."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from privgate.connectors.catalog_yaml import load_catalog
from privgate.connectors.rules_files import load_rules
from privgate.engine.policy_io import build_data

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "examples" / "demo" / "catalog"


@cache
def _default_data_json() -> str:
    return json.dumps(build_data(load_catalog(DEMO_CATALOG), load_rules()))


def default_data() -> dict[str, Any]:
    """A fresh copy of the ``data`` document built from the demo catalog and default rules."""
    return json.loads(_default_data_json())  # type: ignore[no-any-return]
