"""The scan's rules pack (``rules/pii/*.yaml``) as typed, validated models.

Thresholds, hints and custom recognizers are data so that a team can tune them without touching
code; loading validates them once, so a typo fails at start-up with the file named, not mid-scan.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from privgate.engine.errors import ConfigError


class _R(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_R):
    pii: float = Field(gt=0, le=1)
    possible: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.possible > self.pii:
            raise ValueError("thresholds.possible must not exceed thresholds.pii")
        return self


class FreeText(_R):
    min_mean_chars: float
    min_mean_words: float
    min_hit_ratio: float = Field(ge=0, le=1)
    min_score: float = Field(ge=0, le=1)


class HintWeights(_R):
    boost: float
    hint_only: float
    negative_penalty: float
    date_entities: tuple[str, ...] = ()


class LowCardinality(_R):
    max_distinct: int
    min_rows_per_value: float
    factor: float = Field(ge=0, le=1)


class BirthDates(_R):
    min_age: int
    max_age: int
    min_span_years: int
    min_distinct: int
    confidence: float = Field(ge=0, le=1)


class GazetteerSettings(_R):
    min_city_population: Literal[500, 1000, 5000, 15000] = 1000
    common_last_name_rank: int = Field(default=5000, ge=1)
    alternate_names_min_population: int = Field(default=100_000, ge=0)


class ScanSettings(_R):
    phone_regions: tuple[str, ...] = ("US",)
    phone_leniency: int = Field(default=1, ge=0, le=3)
    min_score: float = 0.3
    thresholds: Thresholds
    free_text: FreeText
    score_floor: float = Field(ge=0, le=1)
    hints: HintWeights
    low_cardinality: LowCardinality
    birth_dates: BirthDates
    chunk_size: int = Field(ge=1)
    max_value_chars: int = Field(default=2000, ge=16)
    min_values: int = Field(ge=1)
    stable_chunks: int = Field(ge=1)
    written_entities: tuple[str, ...]
    presidio_recognizers: tuple[str, ...] = ()
    gazetteer: GazetteerSettings = Field(default_factory=GazetteerSettings)


class HintRules(_R):
    entities: dict[str, tuple[str, ...]]
    negative_phrases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    negative: tuple[str, ...] = ()


class PatternSpec(_R):
    name: str
    regex: str
    score: float = Field(ge=0, le=1)


class RecognizerSpec(_R):
    name: str
    kind: Literal["regex", "deny_list"]
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    patterns: tuple[PatternSpec, ...] = ()
    deny_list: tuple[str, ...] = ()
    score: float = Field(default=0.5, ge=0, le=1)
    context: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _has_body(self) -> RecognizerSpec:
        if self.kind == "regex" and not self.patterns:
            raise ValueError(f"regex recognizer {self.name!r} has no patterns")
        if self.kind == "deny_list" and not self.deny_list:
            raise ValueError(f"deny_list recognizer {self.name!r} has an empty deny_list")
        return self


class RecognizerRules(_R):
    recognizers: tuple[RecognizerSpec, ...] = ()


class PiiRules(_R):
    """Everything the scanner reads from ``rules/pii``; ``revision`` changes when any of it does."""

    settings: ScanSettings
    hints: HintRules
    recognizers: RecognizerRules
    revision: str


def _read(path: Path | Any, name: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"rules/pii/{name}: cannot read: {exc}", code="config_rules_unreadable") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"rules/pii/{name}: expected a mapping at the top level", code="config_rules_invalid"
        )
    return data


def load_pii_rules(directory: Path | None = None) -> PiiRules:
    """Load and validate the rules pack from ``directory`` (default: the packaged ``rules/pii``)."""
    base: Any = directory if directory is not None else resources.files("privgate.rules") / "pii"
    raw = {name: _read(base / name, name) for name in ("scan.yaml", "hints.yaml", "recognizers.yaml")}
    digest = hashlib.sha256(repr(sorted((k, repr(v)) for k, v in raw.items())).encode()).hexdigest()[:12]
    try:
        return PiiRules(
            settings=ScanSettings.model_validate(raw["scan.yaml"]),
            hints=HintRules.model_validate(raw["hints.yaml"]),
            recognizers=RecognizerRules.model_validate(raw["recognizers.yaml"]),
            revision=f"rules:{digest}",
        )
    except ValidationError as exc:
        raise ConfigError(f"rules/pii is invalid: {exc}", code="config_rules_invalid") from exc


@lru_cache(maxsize=1)
def default_rules() -> PiiRules:
    """The packaged rules, parsed once per process."""
    return load_pii_rules()
