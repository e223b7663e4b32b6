"""One Presidio ``AnalyzerEngine`` for the whole scan, and batch analysis of a column's values.

Presidio runs its recognizers over one text at a time; calling it once per value is what makes the
naive approach slow (about 2 columns/s). Values are instead joined one per line with a separator line
that no recognizer can match across, analysed in one call, and every result is mapped back to its
row by offset; a result that would span two rows is dropped, so entities never merge across values.

The engine is built without any NLP model (Presidio's ``NoOpNlpEngine``): every recognizer here works
on characters. If a spaCy English model is installed as a package, a second engine with spaCy NER is
built for free-text columns only; the model is loaded from site-packages and never downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy.util
from presidio_analyzer import (
    AnalyzerEngine,
    BatchAnalyzerEngine,
    ContextAwareEnhancer,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer import predefined_recognizers as presidio_recognizers
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import PhoneRecognizer, SpacyRecognizer

from privgate.engine.errors import ConfigError

from .gazetteers import load_gazetteers
from .recognizers import (
    OfflineEmailRecognizer,
    PersonGazetteerRecognizer,
    PlaceGazetteerRecognizer,
    StreetAddressRecognizer,
    recognizer_name,
    rule_recognizer,
)
from .rules import PiiRules

log = logging.getLogger(__name__)

SEPARATOR = "\n\u00a6\n"
"""Between two values: line breaks (no recognizer regex crosses one) around a broken bar."""

NER_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_trf")
"""spaCy model packages used for free-text NER when one is installed, best first."""


@dataclass(frozen=True)
class Hit:
    """One entity found in one sampled value (by row index): never the matched text itself."""

    row: int
    entity: str
    score: float
    recognizer: str


class _NameHintsInstead(ContextAwareEnhancer):
    """No in-text context boosting for values: the column name is the context, applied by ``hints``.

    Presidio's default enhancer matches context words as substrings (``status`` contains ``us``) and
    deep-copies every result; neither is wanted for single values.
    """

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0.0,
            min_score_with_context_similarity=0.0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        return raw_results


def _registry(rules: PiiRules) -> RecognizerRegistry:
    settings = rules.settings
    g = settings.gazetteer
    gaz = load_gazetteers(g.min_city_population, g.common_last_name_rank, g.alternate_names_min_population)
    recognizers: list[EntityRecognizer] = [
        OfflineEmailRecognizer(),
        PhoneRecognizer(supported_regions=settings.phone_regions, leniency=settings.phone_leniency),
        PersonGazetteerRecognizer(gaz),
        PlaceGazetteerRecognizer(gaz),
        StreetAddressRecognizer(),
    ]
    for name in settings.presidio_recognizers:
        cls: Any = getattr(presidio_recognizers, name, None)
        if not (isinstance(cls, type) and issubclass(cls, EntityRecognizer)):
            raise ConfigError(
                f"rules/pii/scan.yaml: presidio_recognizers: unknown recognizer {name!r}",
                code="config_rules_invalid",
            )
        factory: Callable[[], EntityRecognizer] = cls  # Presidio's predefined ones need no arguments
        recognizers.append(factory())
    recognizers.extend(rule_recognizer(spec) for spec in rules.recognizers.recognizers)
    return RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])


def installed_ner_model() -> str | None:
    """The first spaCy English model installed as a package, or ``None`` (nothing is downloaded)."""
    return next((m for m in NER_MODELS if spacy.util.is_package(m)), None)


class ValueAnalyzer:
    """Builds the engines once; ``analyze`` maps Presidio results back to sampled rows."""

    def __init__(self, rules: PiiRules, *, use_ner: bool = True, ner_model: str | None = None) -> None:
        """``ner_model``: a spaCy model package name or a model folder; by default the first installed
        package of ``NER_MODELS``. Nothing is ever downloaded."""
        self.rules = rules
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        self._engine = AnalyzerEngine(
            registry=_registry(rules),
            nlp_engine=nlp,
            supported_languages=["en"],
            context_aware_enhancer=_NameHintsInstead(),
        )
        self._batch = BatchAnalyzerEngine(self._engine)
        self.ner_model = (ner_model or installed_ner_model()) if use_ner else None
        self._ner_batch: BatchAnalyzerEngine | None = None
        if self.ner_model is not None:
            if not (spacy.util.is_package(self.ner_model) or Path(self.ner_model).is_dir()):
                # SpacyNlpEngine would try to download a missing model: refuse instead.
                raise ConfigError(
                    f"spaCy model {self.ner_model!r} is not installed; install its package or "
                    "scan without NER",
                    code="config_ner_model_missing",
                )
            ner_registry = _registry(rules)
            ner_registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]))
            engine = AnalyzerEngine(
                registry=ner_registry,
                supported_languages=["en"],
                nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": self.ner_model}]),
            )
            self._ner_batch = BatchAnalyzerEngine(engine)
            log.info("free-text NER enabled with spaCy model package %s", self.ner_model)

    def analyze(self, values: Sequence[str], *, free_text: bool = False) -> list[Hit]:
        """Entities found per row (several per row when they do not nest)."""
        if not values:
            return []
        clean = [v.replace("\r", " ").replace("\n", " ") for v in values]
        text = SEPARATOR.join(clean)
        starts: list[int] = []
        pos = 0
        for v in clean:
            starts.append(pos)
            pos += len(v) + len(SEPARATOR)
        batch = self._ner_batch if free_text and self._ner_batch is not None else self._batch
        results = batch.analyze_iterator(
            [text], language="en", score_threshold=self.rules.settings.min_score
        )[0]
        by_row: dict[int, list[tuple[int, int, float, str, str]]] = {}
        for r in results:
            row = _row_of(starts, r.start)
            if r.end > starts[row] + len(clean[row]):
                continue  # spans the separator: two rows merged, not an entity
            by_row.setdefault(row, []).append((r.start, r.end, r.score, r.entity_type, recognizer_name(r)))
        hits: list[Hit] = []
        for row, found in by_row.items():
            for start, end, score, entity, rec in found:
                # A result inside a longer one is part of it: the domain in an e-mail is no URL, the
                # surname in a street address no person. Equal spans (Jackson: name or city) both stay.
                if any(s <= start and end <= e and e - s > end - start for s, e, _, _, _ in found):
                    continue
                hits.append(Hit(row=row, entity=entity, score=score, recognizer=rec))
        return hits


def _row_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo
