"""Shared fixtures. Service-backed tests fail in CI (env CI set) and skip visibly elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# DP fixtures (demo DuckDB warehouse, executors) live in tests/dp_helpers.py.
pytest_plugins = ("dp_helpers",)

ROOT = Path(__file__).resolve().parent.parent
DEMO_CATALOG = ROOT / "examples" / "demo" / "catalog"
CONFIG = ROOT / "privgate.yaml"


def require_service(name: str, reason: str) -> None:
    """Fail in CI, skip with a visible reason elsewhere."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (mandatory in CI)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def demo_catalog():  # type: ignore[no-untyped-def]
    from privgate.connectors.catalog_yaml import load_catalog

    return load_catalog(DEMO_CATALOG)


@pytest.fixture(scope="session")
def default_rules():  # type: ignore[no-untyped-def]
    from privgate.connectors.rules_files import load_rules

    return load_rules()
