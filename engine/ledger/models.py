"""The ledger's records: what a charge costs, what was reserved, and what the ledger reports.

Amounts are ``Decimal`` quantized to 1e-18 (see ``amounts``) and serialize to JSON as plain decimal
strings ("0.5", never floats). An ``Amount`` is a pair (loss, δ) in an account's own measure: loss is
ε for ``pure``/``approx`` accounts and rho for ``zcdp`` accounts.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from .amounts import ZERO, add, ceil_q, neg, plain, pure_to_zcdp, zcdp_to_epsilon
from .config import SCOPE_PATTERN, Measure
from .errors import MeasureMismatchError

Dec = Annotated[Decimal, PlainSerializer(plain, return_type=str, when_used="json")]
ReservationStatus = Literal["pending", "committed", "released", "expired"]
Scope = Annotated[str, Field(pattern=SCOPE_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Amount(_Model):
    loss: Dec = ZERO
    delta: Dec = ZERO

    def plus(self, other: Amount) -> Amount:
        return Amount(loss=add(self.loss, other.loss), delta=add(self.delta, other.delta))

    def negated(self) -> Amount:
        return Amount(loss=neg(self.loss), delta=neg(self.delta))


class Cost(_Model):
    """The privacy cost of one charge as the mechanisms' privacy maps give it.

    ``epsilon``/``delta`` are always present (the approximate-DP view every account can read);
    ``rho`` is given when the mechanisms are zCDP (Gaussian), so zcdp accounts compose tightly.
    Values are rounded up to 1e-18 on the way in.
    """

    epsilon: Dec = Field(ge=0)
    delta: Dec = Field(default=ZERO, ge=0, lt=1)
    rho: Dec | None = Field(default=None, ge=0)

    @field_validator("epsilon", "delta", "rho")
    @classmethod
    def _ceil(cls, v: Decimal | None) -> Decimal | None:
        return None if v is None else ceil_q(v)

    @classmethod
    def from_zcdp(cls, rho: Decimal, delta: Decimal) -> Cost:
        """A zCDP cost with its (ε, δ) view: ε = rho + 2·√(rho·ln(1/δ)), rounded up."""
        return cls(epsilon=zcdp_to_epsilon(rho, delta), delta=delta, rho=rho)

    def in_measure(self, measure: Measure, scope: str) -> Amount:
        """What this cost takes from an account of ``measure``; refuses when it cannot be expressed."""
        if measure == "approx":
            return Amount(loss=self.epsilon, delta=self.delta)
        if measure == "pure":
            if self.delta > 0:
                raise MeasureMismatchError(
                    f"account {scope} tracks pure epsilon-DP but this charge has delta={plain(self.delta)}; "
                    "configure the account with measure: approx (or zcdp), "
                    "or avoid mechanisms that cost delta")
            return Amount(loss=self.epsilon)
        if self.rho is not None:
            return Amount(loss=self.rho)
        if self.delta == 0:
            return Amount(loss=pure_to_zcdp(self.epsilon))
        raise MeasureMismatchError(
            f"account {scope} tracks zCDP rho but this charge is (epsilon={plain(self.epsilon)}, "
            f"delta={plain(self.delta)})-DP without a rho; approximate DP does not convert to zCDP — "
            "give the charge's rho, or configure the account with measure: approx")


class Mechanism(_Model):
    """One noise mechanism of a charge, as recorded for audit."""

    mechanism: str = Field(min_length=1, description="e.g. laplace, discrete_laplace, gaussian, threshold")
    sensitivity: Dec | None = None
    scale: Dec | None = None
    epsilon: Dec | None = None
    delta: Dec | None = None
    rho: Dec | None = None
    detail: dict[str, Any] = Field(default_factory=dict, description="column, bounds, query part ...")


class Charge(_Model):
    """What a decision asks the ledger for: one cost against every listed scope, all or nothing."""

    decision_id: str = Field(min_length=1)
    scopes: tuple[Scope, ...] = Field(min_length=1)
    cost: Cost
    mechanisms: tuple[Mechanism, ...] = ()
    principal: str | None = None
    note: str = ""

    @field_validator("scopes")
    @classmethod
    def _canonical(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))

    def fingerprint(self) -> str:
        """Hash of the canonical charge: a retried key must carry the same charge."""
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


class AccountCharge(_Model):
    """The part of a reservation that landed on one account."""

    scope: str
    measure: Measure
    window: str
    bucket: int
    amount: Amount


class Reservation(_Model):
    kind: Literal["charge"] = "charge"
    id: str
    idempotency_key: str
    decision_id: str
    principal: str | None = None
    status: ReservationStatus
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None
    cost: Cost
    mechanisms: tuple[Mechanism, ...] = ()
    accounts: tuple[AccountCharge, ...] = ()
    note: str = ""
    fingerprint: str
    replayed: bool = Field(default=False, description="true when reserve returned an existing reservation")


class GrantRecord(_Model):
    """Extra budget added to one account's current window (negative amounts take budget away)."""

    kind: Literal["grant"] = "grant"
    id: str
    scope: str
    bucket: int
    amount: Amount
    reason: str
    granted_by: str
    created_at: datetime


class AccountStatus(_Model):
    scope: str
    measure: Measure
    window: str
    window_start: datetime | None
    window_end: datetime | None
    configured: bool = Field(description="false when no rule in the current config matches this account")
    limit_loss: Dec | None = Field(description="ε limit (rho for zcdp); null: unlimited")
    limit_delta: Dec | None
    granted: Amount
    committed: Amount
    reserved: Amount = Field(description="pending reservations not yet past their deadline")
    expired: Amount = Field(description="reservations that timed out: counted as spent")
    remaining_loss: Dec | None
    remaining_delta: Dec | None
    report_delta: Dec | None = Field(default=None, description="zcdp: δ of the (ε, δ) equivalents below")
    epsilon_spent_equivalent: Dec | None = Field(
        default=None, description="zcdp: ε of (committed + reserved + expired) rho at report_delta")
    epsilon_limit_equivalent: Dec | None = None


class LedgerSnapshot(_Model):
    at: datetime
    accounts: tuple[AccountStatus, ...]


HistoryEntry = Annotated[Reservation | GrantRecord, Field(discriminator="kind")]


class History(_Model):
    at: datetime
    entries: tuple[HistoryEntry, ...]
    next_before: datetime | None = Field(default=None, description="pass as `before` for the next page")


class AuditReport(_Model):
    """Totals recomputed from every reservation and grant (a full scan: an operator's check)."""

    ok: bool
    accounts_checked: int
    reservations_checked: int
    problems: tuple[str, ...] = ()
