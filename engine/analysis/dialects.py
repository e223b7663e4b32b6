"""Dialect names: the request names one, sqlglot must know it, and nothing else is guessed.

An unknown name is an error with a stable code rather than a silent fall-back to sqlglot's generic
dialect, because the generic dialect folds identifiers and parses functions differently from the
warehouse that will run the SQL, and the policy would then judge a different statement.
"""

from __future__ import annotations

from functools import cache

from sqlglot.dialects.dialect import Dialect, Dialects

from ..errors import AnalysisError

#: Every dialect sqlglot ships, by its lower-case name; the generic dialect ("") is not a warehouse.
KNOWN_DIALECTS: frozenset[str] = frozenset(d.value for d in Dialects if d.value)


def resolve_dialect(name: str) -> Dialect:
    """The sqlglot dialect instance for ``name``; raises ``analysis_unknown_dialect`` otherwise."""
    key = name.strip().lower()
    if key not in KNOWN_DIALECTS:
        raise AnalysisError(
            f"unknown SQL dialect {name!r}; use one of: {', '.join(sorted(KNOWN_DIALECTS))}",
            code="analysis_unknown_dialect",
        )
    return _dialect(key)


@cache
def _dialect(key: str) -> Dialect:  # keyed by known names only, so the cache stays small
    return Dialect.get_or_raise(key)
