"""Budget configuration: which scopes have accounts, in which measure, with which limits and windows.

Config is data (``privgate.yaml`` → ``budgets:``), not database state, so every proxy replica reads
the same limits; the database holds spend, reservations and grants. A scope's account is the first
rule whose ``scope`` glob matches it (``fnmatch`` semantics, case-sensitive); ``principal:*`` gives
every principal an account of their own with the same limit::

    budgets:
      reservation_timeout_seconds: 300
      accounts:
        - {scope: "subject:customer", measure: zcdp, rho: "2", window: "rolling:30", report_delta: "1e-6"}
        - {scope: "dataset:*",        measure: approx, epsilon: "20", delta: "1e-5", window: month}
        - {scope: "principal:*",      measure: approx, epsilon: "5", delta: "1e-6", window: week}
        - {scope: "class:dashboard",  measure: pure, epsilon: "1", window: day}
"""

from __future__ import annotations

from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .amounts import floor_q
from .windows import Window

Measure = Literal["pure", "approx", "zcdp"]
SCOPE_PATTERN = r"^[a-z][a-z0-9_]*:\S+$"


class AccountRule(BaseModel):
    """Limits for the accounts of every scope matching ``scope``.

    ``pure`` accounts track ε and refuse charges with δ > 0; ``approx`` accounts track ε and δ under
    basic composition; ``zcdp`` accounts track rho and report an (ε, δ) equivalent at ``report_delta``.
    A limit left out (``None``) means unlimited: the account still records spend.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = Field(min_length=3, description="glob over scopes, e.g. 'principal:*' or 'subject:customer'")
    measure: Measure = "approx"
    epsilon: Decimal | None = Field(default=None, ge=0)
    delta: Decimal | None = Field(default=None, ge=0, lt=1)
    rho: Decimal | None = Field(default=None, ge=0)
    window: Window = Field(default_factory=Window)
    report_delta: Decimal = Field(default=Decimal("1e-6"), gt=0, lt=1,
                                  description="δ at which a zcdp account's rho is reported as (ε, δ)")

    @field_validator("epsilon", "delta", "rho")
    @classmethod
    def _floor(cls, v: Decimal | None) -> Decimal | None:
        return None if v is None else floor_q(v)

    @model_validator(mode="after")
    def _limits_fit_measure(self) -> AccountRule:
        given = {k for k in ("epsilon", "delta", "rho") if getattr(self, k) is not None}
        allowed = {"pure": {"epsilon"}, "approx": {"epsilon", "delta"}, "zcdp": {"rho"}}[self.measure]
        if given - allowed:
            raise ValueError(f"a {self.measure} account takes limits {sorted(allowed)}, "
                             f"not {sorted(given - allowed)}")
        return self

    @property
    def limits(self) -> tuple[Decimal | None, Decimal | None]:
        """(loss limit, δ limit): loss is ε, or rho for zcdp accounts."""
        if self.measure == "zcdp":
            return self.rho, None
        return self.epsilon, self.delta


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: tuple[AccountRule, ...] = ()
    reservation_timeout_seconds: int = Field(
        default=300, ge=1, description="a pending reservation older than this counts as spent (expired)")
    require_account: bool = Field(
        default=True, description="refuse a charge none of whose scopes has an account (fail closed)")

    def rule_for(self, scope: str) -> AccountRule | None:
        return next((r for r in self.accounts if fnmatchcase(scope, r.scope)), None)

    def literal_scopes(self) -> tuple[str, ...]:
        """Rules without wildcards name exactly one account; ``show`` lists them even before first use."""
        return tuple(r.scope for r in self.accounts if not any(c in r.scope for c in "*?["))
