"""Load the rules packs shipped in ``rules/`` (installed as ``privgate.rules``), with overrides.

Rules are plain data; a deployment overrides keys from ``privgate.yaml`` (``rules:``) — a shallow
merge per top-level key, so overriding ``entity_treatment`` replaces that whole mapping.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from privgate.engine.errors import ConfigError
from privgate.engine.rules import Rules

from .yaml_io import describe_validation, read_yaml

PACKS = ("functions.yaml", "policy.yaml")


def default_rules_data() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    root = resources.files("privgate.rules")
    for name in PACKS:
        with resources.as_file(root / name) as file:
            data = read_yaml(Path(file), ConfigError) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: expected a mapping at the top level")
        merged.update(data)
    return merged


def load_rules(overrides: dict[str, Any] | None = None, *, source: str = "privgate.yaml") -> Rules:
    data = default_rules_data()
    data.update(overrides or {})
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid rules:\n" + describe_validation(source, exc, "rules")) from exc
