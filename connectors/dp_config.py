"""Load the DP execution defaults (``rules/dp.yaml``, installed as ``privgate.rules``) with overrides.

Kept apart from the policy rules packs: ``dp.yaml`` says how a DP budget is spent (contribution
bounds, noise, split), not whether a query may run. ``privgate.yaml`` may override keys under
``dp_execution:``; a malformed file or an unknown key is a ``ConfigError`` naming the key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from privgate.engine.dp.config import BoundsPolicy
from privgate.engine.errors import ConfigError

from .yaml_io import describe_validation, read_yaml


def load_bounds_policy(overrides: dict[str, Any] | None = None, *, path: Path | None = None) -> BoundsPolicy:
    """``rules/dp.yaml`` (or ``path``) merged with ``overrides``, validated."""
    if path is None:
        with resources.as_file(resources.files("privgate.rules") / "dp.yaml") as file:
            data = read_yaml(Path(file), ConfigError) or {}
        source: Path | str = "rules/dp.yaml"
    else:
        data = read_yaml(path, ConfigError) or {}
        source = path
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    data.update(overrides or {})
    try:
        return BoundsPolicy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid DP settings:\n" + describe_validation(source, exc, "dp"),
                          code="config_invalid_dp") from exc
