"""Column-name hints: split a name into words and match hint phrases as whole words.

Substring matching is how `status` becomes a US passport hint (it contains `us`) and `address_id`
becomes an address; matching whole words in order avoids both. Negative phrases cancel a positive
hint for one entity (`product_name` is not a person); negative hints lower every entity (`amount`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rules import HintRules, RecognizerSpec

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def split_words(name: str) -> tuple[str, ...]:
    """``customerEmailAddress2`` -> ``('customer', 'email', 'address', '2')``."""
    spaced = _CAMEL.sub(" ", name)
    return tuple(w.lower() for w in _SPLIT.split(spaced) if w)


def _find(words: tuple[str, ...], phrase: tuple[str, ...]) -> tuple[int, int] | None:
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if words[i : i + n] == phrase:
            return i, i + n
    return None


@dataclass(frozen=True)
class NameHints:
    """What a column's name says: entities it suggests (with the phrase) and whether it says "not PII"."""

    positive: dict[str, str]
    negative: tuple[str, ...]


class HintMatcher:
    """Compiled hint table; built once from the rules pack (plus custom recognizers' context words)."""

    def __init__(self, rules: HintRules, recognizers: tuple[RecognizerSpec, ...] = ()) -> None:
        table: dict[str, list[tuple[str, ...]]] = {}
        for entity, phrases in rules.entities.items():
            table.setdefault(entity, []).extend(split_words(p) for p in phrases)
        for spec in recognizers:
            table.setdefault(spec.entity, []).extend(split_words(p) for p in spec.context)
        # Longest phrases first so the evidence names the most specific hint.
        self._positive = {e: sorted(set(ps), key=len, reverse=True) for e, ps in table.items()}
        self._cancel = {e: [split_words(p) for p in ps] for e, ps in rules.negative_phrases.items()}
        self._negative = sorted({split_words(p) for p in rules.negative}, key=lambda p: (-len(p), p))

    def match(self, column_name: str) -> NameHints:
        words = split_words(column_name)
        positive: dict[str, str] = {}
        spans: list[tuple[int, int]] = []
        for entity, phrases in self._positive.items():
            if any(_find(words, c) for c in self._cancel.get(entity, ())):
                continue
            for phrase in phrases:
                span = _find(words, phrase)
                if span:
                    positive[entity] = " ".join(phrase)
                    spans.append(span)
                    break
        negative: list[str] = []
        for phrase in self._negative:
            span = _find(words, phrase)
            # A negative word inside a positive phrase (`code` in `zip code`) is part of that phrase.
            if span and not any(s[0] <= span[0] and span[1] <= s[1] for s in spans):
                negative.append(" ".join(phrase))
        return NameHints(positive=positive, negative=tuple(negative))
