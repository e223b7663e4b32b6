"""Rules packs: declarative data that policies and the analyzer read, kept apart from Rego.

Rules are data, not policy: which SQL functions are safe to call, how each PII entity type is treated
by default, which roles may see which entity types raw for which purposes, and the privacy budget
per query class. They ship in ``rules/*.yaml`` and may be overridden from ``privgate.yaml``; they reach
Rego as ``data.privgate.rules``. Epsilons are decimals so budget arithmetic stays exact in Python.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Treatment = Literal["allow", "hash", "redact", "tokenize", "deny"]


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiGrant(_Rules):
    """Roles that may see these entity types raw, for these purposes only."""

    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    entities: tuple[str, ...] = Field(description="entity types, or '*' for all")


class QueryClass(_Rules):
    epsilon: Decimal = Field(gt=0)
    delta: Decimal = Field(default=Decimal(0), ge=0, lt=1)


class DpRules(_Rules):
    default_class: str = "standard"
    classes: dict[str, QueryClass] = Field(default_factory=lambda: {"standard": QueryClass(epsilon=Decimal("0.5"))})

    @model_validator(mode="after")
    def _default_exists(self) -> DpRules:
        if self.default_class not in self.classes:
            raise ValueError(f"dp.default_class {self.default_class!r} is not one of dp.classes")
        return self


class Rules(_Rules):
    allowed_functions: frozenset[str] = Field(description="lower-case SQL functions any query may call")
    admin_roles: tuple[str, ...] = ("admin",)
    entity_treatment: dict[str, Treatment] = Field(
        default_factory=dict, description="entity type -> what happens when it would leave raw"
    )
    default_treatment: Treatment = "deny"
    pii_grants: tuple[PiiGrant, ...] = ()
    dp: DpRules = Field(default_factory=DpRules)
    value_revealing_aggregates: tuple[str, ...] = Field(
        default=(), description="extra aggregates whose result is an input value (min/max-like); adds to the "
                               "bundle's built-in set, never removes")
    max_rows: int | None = Field(default=None, ge=1, description="row-limit obligation for non-aggregate reads")

    @field_validator("allowed_functions", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        if isinstance(v, list | tuple | set | frozenset):
            return frozenset(str(f).lower() for f in v)
        return v
