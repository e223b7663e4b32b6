"""In-memory reference ``LedgerStore``: the executable spec the SQL backends are tested against.

One lock serializes transactions (the simplest correct isolation); an undo log makes each
transaction all-or-nothing, so a failed charge leaves no trace, exactly like a database rollback.
Like ``httpx.MockTransport`` it is for tests, notebooks and single-process demos — state dies with
the process.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from .config import BudgetConfig
from .models import Amount, GrantRecord, Reservation, ReservationStatus
from .protocol import BUCKET_FIELDS, BucketField, BucketRow, DuplicateKeyError, StoredAccount, Totals
from .service import LedgerService


class _State:
    def __init__(self) -> None:
        self.accounts: dict[str, StoredAccount] = {}
        self.buckets: dict[tuple[str, int], dict[BucketField, Amount]] = {}
        self.reservations: dict[str, Reservation] = {}
        self.by_key: dict[str, str] = {}
        self.grants: list[GrantRecord] = []


class MemoryTx:
    def __init__(self, state: _State) -> None:
        self._s = state
        self.undo: list[Callable[[], None]] = []

    def lock_accounts(self, accounts: Sequence[StoredAccount], created_at: datetime) -> list[StoredAccount]:
        out = []
        for acc in accounts:
            if acc.scope not in self._s.accounts:
                self._s.accounts[acc.scope] = acc
                self.undo.append(functools.partial(self._forget_account, acc.scope))
            out.append(self._s.accounts[acc.scope])
        return out

    def _forget_account(self, scope: str) -> None:
        del self._s.accounts[scope]

    def window_totals(self, scope: str, first: int, last: int) -> Totals:
        sums = {f: Amount() for f in BUCKET_FIELDS}
        for bucket in range(first, last + 1):
            row = self._s.buckets.get((scope, bucket))
            if row is not None:
                sums = {f: sums[f].plus(row[f]) for f in BUCKET_FIELDS}
        return Totals(**sums)

    def add_to_bucket(self, scope: str, bucket: int, field: BucketField, amount: Amount) -> None:
        row = self._s.buckets.setdefault((scope, bucket), {f: Amount() for f in BUCKET_FIELDS})
        before = row[field]
        row[field] = before.plus(amount)
        self.undo.append(lambda: row.__setitem__(field, before))

    def reservation(self, *, rid: str | None = None, key: str | None = None,
                    lock: bool = False) -> Reservation | None:
        if key is not None:
            rid = self._s.by_key.get(key)
        return self._s.reservations.get(rid) if rid is not None else None

    def insert_reservation(self, reservation: Reservation) -> None:
        if reservation.idempotency_key in self._s.by_key:
            raise DuplicateKeyError(reservation.idempotency_key)
        self._s.reservations[reservation.id] = reservation
        self._s.by_key[reservation.idempotency_key] = reservation.id

        def undo() -> None:
            del self._s.reservations[reservation.id]
            del self._s.by_key[reservation.idempotency_key]
        self.undo.append(undo)

    def set_status(self, rid: str, status: ReservationStatus, closed_at: datetime) -> None:
        before = self._s.reservations[rid]
        self._s.reservations[rid] = before.model_copy(update={"status": status, "closed_at": closed_at})
        self.undo.append(lambda: self._s.reservations.__setitem__(rid, before))

    def overdue(self, now: datetime, limit: int) -> list[str]:
        late = [r for r in self._s.reservations.values() if r.status == "pending" and r.expires_at <= now]
        return [r.id for r in sorted(late, key=lambda r: r.expires_at)[:limit]]

    def insert_grant(self, grant: GrantRecord) -> None:
        self._s.grants.append(grant)
        self.undo.append(lambda: self._s.grants.remove(grant))

    def accounts(self) -> list[StoredAccount]:
        return sorted(self._s.accounts.values(), key=lambda a: a.scope)

    def history(self, *, scope: str | None, status: ReservationStatus | None, before: datetime | None,
                limit: int) -> list[Reservation | GrantRecord]:
        entries: list[Reservation | GrantRecord] = []
        for res in self._s.reservations.values():
            if scope is not None and all(a.scope != scope for a in res.accounts):
                continue
            if status is not None and res.status != status:
                continue
            entries.append(res)
        if status is None:
            entries.extend(g for g in self._s.grants if scope is None or g.scope == scope)
        if before is not None:
            entries = [e for e in entries if e.created_at < before]
        entries.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return entries[:limit]

    def iter_buckets(self) -> Iterator[BucketRow]:
        for (scope, bucket), row in sorted(self._s.buckets.items()):
            yield BucketRow(scope, bucket, Totals(**row))

    def iter_reservations(self) -> Iterator[Reservation]:
        yield from self._s.reservations.values()

    def iter_grants(self) -> Iterator[GrantRecord]:
        yield from self._s.grants


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[MemoryTx]:
        with self._lock:
            tx = MemoryTx(self._state)
            try:
                yield tx
            except BaseException:
                for undo in reversed(tx.undo):
                    undo()
                raise

    def close(self) -> None:
        """Nothing to release; present for the ``LedgerStore`` protocol."""


def memory_ledger(config: BudgetConfig | None = None, *, clock: Callable[[], datetime],
                  new_id: Callable[[], str] | None = None) -> LedgerService:
    """A ledger in memory, for tests and notebooks. The clock is injected (the engine reads none);
    ids default to a counter."""
    counter = itertools.count(1)
    return LedgerService(MemoryStore(), config, clock=clock,
                         new_id=new_id or (lambda: f"mem-{next(counter):08d}"))
