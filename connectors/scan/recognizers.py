"""privgate's Presidio recognizers: gazetteers, street addresses, offline e-mail, rule-declared ones.

Each is a ``presidio_analyzer`` recognizer so they run inside the same ``AnalyzerEngine`` pass as
Presidio's pattern and checksum recognizers and their results merge the same way. None of them needs
NLP artifacts: they look at the characters only, which is what lets the scanner run without a spaCy
model. Regexes never cross a line break because sampled values are analysed one per line.
"""

from __future__ import annotations

from typing import Any

import regex
import tldextract
import usaddress
from presidio_analyzer import (
    AnalysisExplanation,
    LocalRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from .gazetteers import Gazetteers
from .rules import RecognizerSpec

_WORD = r"\p{Lu}[\p{Ll}\p{Lu}'\u2019.\-]*"  # letters, apostrophes (O'Neil, O\u2019Neil), dots, hyphens
_PARTICLE = r"(?:am|an|de|del|der|di|du|la|le|los|las|sur|upon|on|von|van|da|dos|y)"
_CAPITALISED = regex.compile(rf"(?<![\p{{L}}\d]){_WORD}(?:[ ,]{{1,2}}(?:{_PARTICLE}[ ])?{_WORD}){{0,5}}")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "mx"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "md", "phd", "dds", "dvm"})
_ADDRESS_CANDIDATE = regex.compile(r"(?<![\p{L}\d.,])\d{1,6}[A-Za-z]?(?:[ ]+[\p{L}\d.'#\-]+,?){1,9}")
_ADDRESS_LABELS = frozenset(
    {
        "AddressNumber",
        "AddressNumberSuffix",
        "StreetNamePreDirectional",
        "StreetNamePreModifier",
        "StreetNamePreType",
        "StreetName",
        "StreetNamePostType",
        "StreetNamePostDirectional",
        "OccupancyType",
        "OccupancyIdentifier",
        "SubaddressType",
        "SubaddressIdentifier",
        "BuildingName",
        "PlaceName",
        "StateName",
        "ZipCode",
    }
)

# Presidio's EmailRecognizer validates domains with tldextract's default extractor, which fetches the
# public-suffix list over the network on first use; this one only uses the snapshot in the wheel.
_OFFLINE_TLD = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer with the public-suffix check kept offline."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


def _result(
    rec: LocalRecognizer, entity: str, start: int, end: int, score: float, why: str
) -> RecognizerResult:
    name: str = rec.name  # type: ignore[has-type]  # set untyped in Presidio's __init__
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(
            recognizer=name, original_score=score, textual_explanation=why
        ),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id,
        },
    )


def _whole_line(text: str, start: int, end: int) -> bool:
    return (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")


def _tokens(span_text: str, offset: int) -> list[tuple[str, int, int]]:
    out = []
    for m in regex.finditer(r"[^ ,]+", span_text):
        word = m.group().rstrip(".")
        out.append((word.lower(), offset + m.start(), offset + m.start() + len(word)))
    return out


class PersonGazetteerRecognizer(LocalRecognizer):
    """Person names from the US census lists: a known first name followed by a known surname.

    Scores: first + last name 0.85; a title and a surname 0.6; a known first name and another
    capitalised word 0.5; a whole value that is one known first name 0.4 or one common surname 0.3
    (weak alone: a column of them needs many hits or a name hint).
    """

    def __init__(self, gazetteers: Gazetteers) -> None:
        self._g = gazetteers
        super().__init__(supported_entities=["PERSON"], name="PersonGazetteer", supported_language="en")

    def load(self) -> None:
        """Nothing to load: the gazetteers are passed in, loaded once per process."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _CAPITALISED.finditer(text):
            toks = _tokens(m.group(), m.start())
            found = self._full_names(toks)
            if found:
                results.extend(
                    _result(self, "PERSON", s, e, sc, "census first and last name") for s, e, sc in found
                )
                continue
            core = [t for t in toks if t[0] not in _TITLES and t[0] not in _SUFFIXES]
            if (
                len(core) == 1
                and len(toks) > 1
                and toks[0][0] in _TITLES
                and core[0][0] in self._g.last_names
            ):
                results.append(
                    _result(self, "PERSON", toks[0][1], core[0][2], 0.6, "title and census surname")
                )
            elif len(core) == 1 and _whole_line(text, m.start(), m.end()):
                word = core[0][0]
                if word in self._g.first_names:
                    results.append(_result(self, "PERSON", m.start(), m.end(), 0.4, "census first name"))
                elif word in self._g.common_last_names:
                    results.append(_result(self, "PERSON", m.start(), m.end(), 0.3, "common census surname"))
        return results

    def _full_names(self, toks: list[tuple[str, int, int]]) -> list[tuple[int, int, float]]:
        found: list[tuple[int, int, float]] = []
        i = 0
        while i < len(toks):
            if toks[i][0] in self._g.first_names:
                best = None
                for j in range(i + 1, min(i + 4, len(toks))):
                    if toks[j][0] in self._g.last_names and toks[j][0] not in _SUFFIXES:
                        best = j
                if best is not None:
                    start = toks[i - 1][1] if i > 0 and toks[i - 1][0] in _TITLES else toks[i][1]
                    found.append((start, toks[best][2], 0.85))
                    i = best + 1
                    continue
                if i + 1 < len(toks) and len(toks[i + 1][0]) > 1 and toks[i + 1][0] not in _SUFFIXES:
                    found.append((toks[i][1], toks[i + 1][2], 0.5))
                    i += 2
                    continue
            i += 1
        return found


class PlaceGazetteerRecognizer(LocalRecognizer):
    """Cities, countries and US states from GeoNames: 0.6 for a whole value, 0.45 inside prose."""

    def __init__(self, gazetteers: Gazetteers) -> None:
        self._g = gazetteers
        super().__init__(supported_entities=["LOCATION"], name="PlaceGazetteer", supported_language="en")

    def load(self) -> None:
        """Nothing to load: the gazetteers are passed in, loaded once per process."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _CAPITALISED.finditer(text):
            toks = _tokens(m.group(), m.start())
            i = 0
            while i < len(toks):
                hit = None
                for j in range(min(len(toks), i + self._g.longest_place), i, -1):
                    start, end = toks[i][1], toks[j - 1][2]
                    if text[start:end].lower() in self._g.places:
                        hit = (start, end, j)
                        break
                if hit is None:
                    i += 1
                    continue
                start, end, i = hit
                score = 0.6 if _whole_line(text, start, end) else 0.45
                results.append(_result(self, "LOCATION", start, end, score, "GeoNames place"))
        return results


class StreetAddressRecognizer(LocalRecognizer):
    """US street addresses: a house number, a street name and a USPS street type, tagged by usaddress."""

    SCORE = 0.7

    def __init__(self) -> None:
        super().__init__(supported_entities=["LOCATION"], name="StreetAddress", supported_language="en")

    def load(self) -> None:
        """usaddress ships its trained tagger in the wheel."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in _ADDRESS_CANDIDATE.finditer(text):
            end = self._address_end(m.group())
            if end:
                results.append(
                    _result(
                        self, "LOCATION", m.start(), m.start() + end, self.SCORE, "usaddress street address"
                    )
                )
        return results

    @staticmethod
    def _address_end(candidate: str) -> int:
        parsed: list[tuple[str, str]] = usaddress.parse(candidate)
        if not parsed or parsed[0][1] != "AddressNumber":
            return 0
        labels: set[str] = set()
        pos = end = 0
        for token, label in parsed:
            if label not in _ADDRESS_LABELS:
                break
            found = candidate.find(token, pos)
            if found < 0:
                break
            pos = end = found + len(token)
            labels.add(label)
        if "StreetName" in labels and ({"StreetNamePostType", "StreetNamePreType"} & labels):
            return end
        return 0


def rule_recognizer(spec: RecognizerSpec) -> PatternRecognizer:
    """A Presidio PatternRecognizer from a recognizer declared in ``rules/pii/recognizers.yaml``."""
    if spec.kind == "regex":
        return PatternRecognizer(
            supported_entity=spec.entity,
            name=spec.name,
            supported_language="en",
            patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
        )
    rec = PatternRecognizer(
        supported_entity=spec.entity,
        name=spec.name,
        supported_language="en",
        deny_list=list(spec.deny_list),
        deny_list_score=spec.score,
    )
    return rec


def recognizer_name(result: RecognizerResult) -> str:
    meta: dict[str, Any] = result.recognition_metadata or {}
    return str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"))
