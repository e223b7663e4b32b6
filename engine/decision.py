"""Request in, Decision out: the two records every surface (check, query, proxy, training) shares.

A Decision is JSON-serialisable and self-describing: it says what was decided, why (stable reason
codes), what must happen to the SQL (obligations), the rewritten SQL, and where the decision came
from (bundle, catalog and engine revisions), so an auditor can replay it later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

Surface = Literal["query", "check", "training"]
Outcome = Literal["allow", "rewrite", "deny"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Principal(_Record):
    id: str = Field(min_length=1)
    roles: tuple[str, ...] = ()


class Request(_Record):
    principal: Principal
    purpose: str = Field(min_length=1)
    sql: str
    dialect: str = "postgres"
    surface: Surface = "query"
    query_class: str | None = Field(default=None, description="overrides the class derived from the facts")
    now: datetime | None = Field(default=None, description="injected time; the engine's clock when None")
    params: tuple[str | None, ...] = Field(default=(), description="bound parameter values, when known")
    search_path: tuple[str, ...] | None = Field(
        default=None, description="the session's schema search path (exact schema names, in order) for "
        "unqualified table names; None: a name resolves to the one catalog schema holding it")


class Reason(_Record):
    code: str = Field(description="stable machine-readable code, e.g. pii_raw_projection")
    message: str = Field(description="what happened and what the person can do about it")
    rule: str = Field(default="", description="policy rule (package.rule) or engine stage that produced it")


class Obligation(_Record):
    """Something that must happen to the request before it may run.

    Kinds: ``mask`` (table, column, method: hash|redact|tokenize), ``row_filter`` (table, column,
    purpose), ``row_limit`` (limit), ``dp`` (epsilon, delta, query_class).
    """

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)


class Provenance(_Record):
    engine_version: str
    bundle_revision: str
    catalog_revision: str
    policy_backend: str
    input_version: int


class Decision(_Record):
    id: str
    created_at: datetime
    allowed: bool
    outcome: Outcome
    principal: str
    purpose: str
    surface: Surface
    sql: str
    reasons: tuple[Reason, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    rewritten_sql: str | None = None
    epsilon: Decimal | None = Field(default=None, description="forecast privacy cost from the DP obligation")
    delta: Decimal | None = None
    provenance: Provenance
    timings_ms: dict[str, float] = Field(default_factory=dict)
    cached_analysis: bool = False
    _bind: Callable[[], dict[str, str]] | None = PrivateAttr(default=None)

    def with_bind_params(self, bind: Callable[[], dict[str, str]] | None) -> Decision:
        """Attach the rewritten SQL's bind values (key material): never serialised, only executed."""
        self._bind = bind
        return self

    def bind_params(self) -> dict[str, str]:
        """Values for ``rewritten_sql``'s placeholders; raises ``RewriteError`` when the mask key is missing."""
        return self._bind() if self._bind is not None else {}

    def to_json(self) -> str:
        return self.model_dump_json()
