"""Two seams: ``Ledger`` (what the pipeline and the CLI call) and ``LedgerStore`` (what a backend implements).

``Ledger`` is the public interface: reserve → commit/release, plus grant, show, history, sweep and
audit. ``LedgerService`` implements it once, over a ``LedgerStore``; a backend (in-memory, SQLite,
PostgreSQL) implements only the store — a handful of primitive reads and increments inside one
transaction — so the accounting rules live in one place and every backend obeys the same ones.

A store transaction must be atomic and isolated for the accounts it locks: ``lock_accounts`` creates
missing account rows and locks them *in the order given* (the service always passes them sorted by
scope, which is what keeps PostgreSQL free of deadlocks); everything the service then reads or writes
about those accounts and their reservations is protected by those locks until the transaction ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from .config import Measure
from .models import (
    Amount,
    AuditReport,
    Charge,
    GrantRecord,
    History,
    LedgerSnapshot,
    Reservation,
    ReservationStatus,
)

BucketField = Literal["granted", "committed", "reserved", "expired"]
BUCKET_FIELDS: tuple[BucketField, ...] = ("granted", "committed", "reserved", "expired")


@runtime_checkable
class Ledger(Protocol):
    """The privacy-budget ledger: the single source of truth for spend."""

    def reserve(self, charge: Charge, idempotency_key: str, *,
                timeout_seconds: int | None = None) -> Reservation:
        """Reserve ``charge`` on every scope it lists, atomically, or raise ``BudgetExhaustedError``.

        Retrying with the same key returns the existing reservation (``replayed=True``), never charges twice.
        """
        ...

    def commit(self, reservation_id: str) -> Reservation: ...

    def release(self, reservation_id: str) -> Reservation: ...

    def grant(self, scope: str, amount: Amount, *, reason: str, granted_by: str) -> GrantRecord: ...

    def show(self, pattern: str | None = None) -> LedgerSnapshot: ...

    def history(self, *, scope: str | None = None, status: ReservationStatus | None = None,
                before: datetime | None = None, limit: int = 100) -> History: ...

    def sweep(self, limit: int = 1000) -> int: ...

    def audit(self) -> AuditReport: ...

    def remaining_epsilon(self, scopes: Sequence[str]) -> Decimal | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoredAccount:
    scope: str
    measure: Measure
    window: str


@dataclass(frozen=True)
class Totals:
    granted: Amount
    committed: Amount
    reserved: Amount
    expired: Amount


@dataclass(frozen=True)
class BucketRow:
    scope: str
    bucket: int
    totals: Totals


class TransientConflictError(Exception):
    """A store's transaction lost a race (serialization failure, deadlock, duplicate key); the
    service retries the whole operation, which then sees the winner's committed state."""


class DuplicateKeyError(TransientConflictError):
    """Raised by ``insert_reservation`` when the idempotency key already exists (a concurrent retry)."""


class LedgerTx(Protocol):
    """One store transaction. Every method is O(1) or bounded, except the ``iter_*`` audit scans."""

    def lock_accounts(self, accounts: Sequence[StoredAccount], created_at: datetime) -> list[StoredAccount]:
        """Create missing accounts, lock all in the given order, return them as stored."""
        ...

    def window_totals(self, scope: str, first: int, last: int) -> Totals:
        """Sum of the account's buckets ``first..last`` (inclusive; at most 366 buckets)."""
        ...

    def add_to_bucket(self, scope: str, bucket: int, field: BucketField, amount: Amount) -> None: ...

    def reservation(self, *, rid: str | None = None, key: str | None = None,
                    lock: bool = False) -> Reservation | None: ...

    def insert_reservation(self, reservation: Reservation) -> None: ...

    def set_status(self, rid: str, status: ReservationStatus, closed_at: datetime) -> None: ...

    def overdue(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending reservations whose deadline has passed, oldest first."""
        ...

    def insert_grant(self, grant: GrantRecord) -> None: ...

    def accounts(self) -> list[StoredAccount]: ...

    def history(self, *, scope: str | None, status: ReservationStatus | None, before: datetime | None,
                limit: int) -> list[Reservation | GrantRecord]:
        """Newest first, reservations and grants interleaved by creation time."""
        ...

    def iter_buckets(self) -> Iterator[BucketRow]: ...

    def iter_reservations(self) -> Iterator[Reservation]: ...

    def iter_grants(self) -> Iterator[GrantRecord]: ...


class LedgerStore(Protocol):
    """A backend: hands out transactions. ``write=True`` transactions take the write lock up front."""

    name: str

    def transaction(self, *, write: bool) -> AbstractContextManager[LedgerTx]: ...

    def close(self) -> None: ...
