"""Read training-job specs and the training policy settings (``rules/training.yaml``) from disk.

The engine validates (``engine.training``); this module only reads files and turns YAML problems
into ``ConfigError``s that name the file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from privgate.engine.errors import ConfigError
from privgate.engine.ledger import BudgetConfig
from privgate.engine.training import TrainingJob, TrainingSettings, parse_job

from .yaml_io import describe_validation, read_yaml

SETTINGS_PACK = "training.yaml"


def load_job(path: str | Path) -> TrainingJob:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: training job file not found", code="config_not_found")
    return parse_job(read_yaml(file, ConfigError), source=str(file))


def load_training_settings(path: str | Path | None = None) -> TrainingSettings:
    """The shipped ``rules/training.yaml``, or the file at ``path`` (a whole replacement)."""
    if path is None:
        with resources.as_file(resources.files("privgate.rules") / SETTINGS_PACK) as file:
            return _validate(read_yaml(Path(file), ConfigError), str(file))
    return _validate(read_yaml(Path(path), ConfigError), str(path))


def _validate(doc: Any, source: str) -> TrainingSettings:
    try:
        return TrainingSettings.model_validate(doc or {})
    except ValidationError as exc:
        raise ConfigError("invalid training settings:\n" + describe_validation(source, exc)) from exc


def load_budgets(path: str | Path) -> BudgetConfig:
    """A budgets file (``budgets:`` mapping, docs/ledger.md) for the training ledger."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: budgets file not found (pass --budgets)", code="config_not_found")
    doc = read_yaml(file, ConfigError)
    try:
        return BudgetConfig.model_validate((doc or {}).get("budgets", {}) if isinstance(doc, dict) else doc)
    except ValidationError as exc:
        raise ConfigError("invalid budgets:\n" + describe_validation(str(file), exc, "budgets")) from exc
