"""The column decision: from per-value hits and the column's name to entities with a confidence.

Pure functions over counts (no I/O, no clock: the scan's date is passed in). A structured column is
judged by the share of sampled values an entity was found in and how strong those findings were; a
free-text column by whether a real share of its rows mentions the entity at all. Name hints move the
confidence up or down but cannot invent evidence the values contradict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .analyzer import Hit
from .hints import NameHints
from .rules import ScanSettings

ValueKind = Literal["text", "number", "date", "boolean", "unsupported"]
Level = Literal["pii", "possible"]

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass
class EntityStats:
    rows: int = 0
    score_sum: float = 0.0
    strong_rows: int = 0
    strong_score_sum: float = 0.0
    recognizers: set[str] = field(default_factory=set)


@dataclass
class Observation:
    """What analysis saw in a column's sample: counts and aggregates only, never the values."""

    values: int = 0
    chars: int = 0
    words: int = 0
    entities: dict[str, EntityStats] = field(default_factory=dict)
    dates: int = 0
    date_min: date | None = None
    date_max: date | None = None

    @property
    def mean_chars(self) -> float:
        return self.chars / self.values if self.values else 0.0

    @property
    def mean_words(self) -> float:
        return self.words / self.values if self.values else 0.0

    def add(self, values: Sequence[str], hits: Sequence[Hit], *, strong_score: float) -> None:
        """Fold one analysed chunk in (hits' rows are indexes into ``values``)."""
        base = self.values
        for v in values:
            self.chars += len(v)
            self.words += len(v.split())
            d = _as_date(v)
            if d is not None:
                self.dates += 1
                self.date_min = d if self.date_min is None else min(self.date_min, d)
                self.date_max = d if self.date_max is None else max(self.date_max, d)
        self.values += len(values)
        best: dict[tuple[int, str], Hit] = {}
        for h in hits:
            key = (base + h.row, h.entity)
            if key not in best or h.score > best[key].score:
                best[key] = h
        for (_, entity), h in best.items():
            st = self.entities.setdefault(entity, EntityStats())
            st.rows += 1
            st.score_sum += h.score
            st.recognizers.add(h.recognizer)
            if h.score >= strong_score:
                st.strong_rows += 1
                st.strong_score_sum += h.score


def _as_date(v: str) -> date | None:
    m = _ISO_DATE.match(v)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


class Finding(BaseModel):
    """One entity suggested for a column, with the evidence for it (no raw values, ever)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    confidence: float
    level: Level
    evidence: dict[str, object]


def is_free_text(obs: Observation, settings: ScanSettings) -> bool:
    ft = settings.free_text
    return obs.values > 0 and obs.mean_chars >= ft.min_mean_chars and obs.mean_words >= ft.min_mean_words


def decide(
    obs: Observation,
    hints: NameHints,
    *,
    kind: ValueKind,
    row_count: int | None,
    today: date,
    settings: ScanSettings,
) -> list[Finding]:
    """Entities at ``pii`` or ``possible`` level, most confident first."""
    free_text = is_free_text(obs, settings)
    conf: dict[str, float] = {}
    evidence: dict[str, dict[str, object]] = {}
    n = max(obs.values, 1)
    for entity, st in obs.entities.items():
        if entity not in settings.written_entities:
            continue
        if free_text:
            ratio = st.strong_rows / n
            if ratio < settings.free_text.min_hit_ratio:
                continue
            c = settings.thresholds.pii + ratio
            mean = st.strong_score_sum / st.strong_rows
        else:
            ratio = st.rows / n
            mean = st.score_sum / st.rows
            c = ratio * (settings.score_floor + (1 - settings.score_floor) * mean)
        if entity in hints.positive:
            c += settings.hints.boost
        conf[entity] = c
        evidence[entity] = {
            "recognizers": sorted(st.recognizers),
            "hit_ratio": round(ratio, 3),
            "mean_score": round(mean, 3),
        }
    date_ratio = obs.dates / n
    for entity in hints.positive:
        if entity in conf or entity not in settings.written_entities:
            continue
        if entity in settings.hints.date_entities and obs.values and date_ratio >= 0.8:
            conf[entity] = settings.hints.hint_only + settings.hints.boost + 0.2 * date_ratio
            evidence[entity] = {"recognizers": ["date values"], "hit_ratio": round(date_ratio, 3)}
        elif entity not in settings.hints.date_entities or kind not in ("number", "boolean"):
            conf[entity] = settings.hints.hint_only
            evidence[entity] = {"recognizers": [], "hit_ratio": 0.0}
    if "DATE_OF_BIRTH" not in conf and _looks_like_birth_dates(obs, today, settings):
        conf["DATE_OF_BIRTH"] = settings.birth_dates.confidence
        evidence["DATE_OF_BIRTH"] = {"recognizers": ["birth-date range"], "hit_ratio": round(date_ratio, 3)}
    low_card = (
        not free_text
        and row_count is not None
        and 0 < obs.values <= settings.low_cardinality.max_distinct
        and row_count >= obs.values * settings.low_cardinality.min_rows_per_value
    )
    findings: list[Finding] = []
    for entity, c in conf.items():
        if hints.negative:
            # A negative name suppresses weak evidence; values that match almost every row still win
            # (e-mails in a column called `amount` are e-mails).
            ratio = float(str(evidence[entity].get("hit_ratio", 0.0)))
            c -= settings.hints.negative_penalty * min(1.0, 2 * (1 - ratio))
        if low_card:
            c *= settings.low_cardinality.factor
        c = round(min(1.0, max(0.0, c)), 3)
        level: Level | None = (
            "pii"
            if c >= settings.thresholds.pii
            else "possible"
            if c >= settings.thresholds.possible
            else None
        )
        if level is None:
            continue
        ev = dict(evidence[entity])
        ev.update({"sample_size": obs.values, "free_text": free_text})
        if entity in hints.positive:
            ev["name_hint"] = hints.positive[entity]
        if hints.negative:
            ev["negative_hints"] = list(hints.negative)
        if low_card:
            ev["low_cardinality"] = True
        findings.append(Finding(entity=entity, confidence=c, level=level, evidence=ev))
    findings.sort(key=lambda f: (-f.confidence, f.entity))
    if not free_text and findings:
        # One kind of value per structured column: runners-up stay only if independently certain.
        findings = findings[:1] + [
            f for f in findings[1:] if f.level == "pii" and float(str(f.evidence.get("hit_ratio", 0))) >= 0.5
        ]
    return findings


def _looks_like_birth_dates(obs: Observation, today: date, settings: ScanSettings) -> bool:
    bd = settings.birth_dates
    if obs.values < bd.min_distinct or obs.dates < 0.9 * obs.values or not obs.date_min or not obs.date_max:
        return False
    youngest = today.year - obs.date_max.year
    oldest = today.year - obs.date_min.year
    return bd.min_age <= youngest and oldest <= bd.max_age and oldest - youngest >= bd.min_span_years


def signature(findings: Sequence[Finding]) -> tuple[tuple[str, str], ...]:
    """What the decision is, ignoring exact numbers: used to stop sampling once it is stable."""
    return tuple(sorted((f.entity, f.level) for f in findings))
