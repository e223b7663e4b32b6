"""Obligations → a validated rewrite plan, and the context every rule receives.

Validation happens here, before any tree is touched, so a malformed or unknown obligation fails the
request with a stable code instead of being half-applied. Obligations the rewriter does not own (``dp``,
rewritten by the DP planner) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog import Catalog, Table
from ..decision import Obligation
from ..errors import RewriteError
from .keyed_hash import KeyPads

MaskMethod = Literal["hash", "tokenize", "redact"]
MASK_METHODS: tuple[MaskMethod, ...] = ("hash", "tokenize", "redact")
# When two obligations mask the same column differently the one that reveals least wins.
_STRENGTH: dict[str, int] = {"hash": 1, "tokenize": 2, "redact": 3}
PASS_THROUGH_KINDS = frozenset({"dp"})


class CatalogIndex:
    """Case-insensitive lookups of catalog tables by ``schema.table`` and by bare table name."""

    def __init__(self, catalog: Catalog) -> None:
        self.tables: dict[str, Table] = {}
        self.by_name: dict[str, tuple[str, ...]] = {}
        for key, _domain, table in catalog.iter_tables():
            self.tables[key] = table
            name = key.rsplit(".", 1)[1]
            self.by_name[name] = (*self.by_name.get(name, ()), key)

    def key_for(self, ref: str) -> str:
        """The ``schema.table`` key an obligation names; bare names must be unambiguous."""
        low = ref.strip().lower()
        if low in self.tables:
            return low
        keys = self.by_name.get(low, ())
        if len(keys) == 1:
            return keys[0]
        if keys:
            raise RewriteError(f"obligation names table {ref!r}, which matches {', '.join(keys)}; "
                               "obligations must name tables as schema.table", code="rewrite_ambiguous_table")
        raise RewriteError(f"obligation names table {ref!r}, which is not in the catalog",
                           code="rewrite_unknown_table")


@dataclass(frozen=True)
class TablePlan:
    """What happens to one governed table: columns to mask, and row predicates (None = no consent)."""

    key: str
    table: Table
    masks: Mapping[str, MaskMethod] = field(default_factory=dict)  # lower-case column -> method
    filters: tuple[str | None, ...] = ()  # consent columns; None means nobody consented


@dataclass(frozen=True)
class Plan:
    tables: Mapping[str, TablePlan]
    limit: int | None

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(m for t in self.tables.values() for m in t.masks.values())


@dataclass(frozen=True)
class RewriteContext:
    """Everything a rule may read: the plan, the target dialect and the key pads (never the key)."""

    plan: Plan
    dialect: str
    index: CatalogIndex
    pads: Mapping[str, KeyPads]  # "hash" / "tokenize" -> pads, only for methods the plan uses


def _param(ob: Obligation, name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if name not in ob.params:
        if optional:
            return None
        raise RewriteError(f"{ob.kind} obligation is missing parameter {name!r}: {ob.params}",
                           code="rewrite_invalid_obligation")
    value = ob.params[name]
    if (value is None and optional) or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise RewriteError(f"{ob.kind} obligation parameter {name!r} has an invalid value {value!r}",
                       code="rewrite_invalid_obligation")


def _column(index: CatalogIndex, key: str, name: str) -> str:
    if index.tables[key].column(name) is None:
        raise RewriteError(f"obligation names column {name!r}, which {key} does not have in the catalog",
                           code="rewrite_unknown_column")
    return name.lower()


def build_plan(obligations: Sequence[Obligation], index: CatalogIndex) -> Plan:
    masks: dict[str, dict[str, MaskMethod]] = {}
    filters: dict[str, list[str | None]] = {}
    limit: int | None = None
    for ob in obligations:
        if ob.kind in PASS_THROUGH_KINDS:
            continue
        if ob.kind == "mask":
            key = index.key_for(_param(ob, "table", str))
            col = _column(index, key, _param(ob, "column", str))
            method = _param(ob, "method", str)
            if method not in MASK_METHODS:
                raise RewriteError(f"mask method {method!r} is not one of {', '.join(MASK_METHODS)}",
                                   code="rewrite_invalid_obligation")
            current = masks.setdefault(key, {}).get(col)
            if current is None or _STRENGTH[method] > _STRENGTH[current]:
                masks[key][col] = method
        elif ob.kind == "row_filter":
            key = index.key_for(_param(ob, "table", str))
            consent = _param(ob, "column", str, optional=True)
            entry = filters.setdefault(key, [])
            entry.append(None if consent is None else _column(index, key, consent))
        elif ob.kind == "row_limit":
            raw = _param(ob, "limit", (int, float))
            if isinstance(raw, float) and not raw.is_integer():
                raise RewriteError(f"row_limit must be an integer, got {raw}",
                                   code="rewrite_invalid_obligation")
            n = int(raw)
            if n < 0:
                raise RewriteError(f"row_limit must be >= 0, got {n}", code="rewrite_invalid_obligation")
            limit = n if limit is None else min(limit, n)
        else:
            raise RewriteError(f"unknown obligation kind {ob.kind!r}; the rewriter applies mask, row_filter "
                               "and row_limit (dp passes through); update privgate or the policy bundle",
                               code="rewrite_unknown_obligation")
    keys = sorted(masks.keys() | filters.keys())
    tables = {k: TablePlan(key=k, table=index.tables[k], masks=masks.get(k, {}),
                           filters=tuple(dict.fromkeys(filters.get(k, ())))) for k in keys}
    return Plan(tables=tables, limit=limit)
