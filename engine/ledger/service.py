"""``LedgerService``: the accounting rules, written once, over any ``LedgerStore``.

Per charge the service does a constant amount of work: resolve each scope to its account rule, lock
those accounts (sorted by scope), read at most one bounded bucket range per account, and write one
bucket increment per account plus the reservation row — never a replay of history. Reservation
state moves only along

    pending ──commit──▶ committed
       │ ╲──release (before deadline)──▶ released      (refunds the reservation)
       │  ╲─release/sweep (after deadline)─▶ expired    (counts as spent; a late commit → committed)

and each move shifts the same amounts between the bucket fields ``reserved``, ``committed`` and
``expired`` in the same transaction, so the running totals always equal the sum of the records
(``audit`` recomputes that). Time and ids are injected; the service itself does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, TypeVar

from ..errors import BudgetError
from .amounts import ZERO, add, floor_q, plain, sub, zcdp_pure_headroom, zcdp_to_epsilon
from .config import AccountRule, BudgetConfig
from .errors import (
    AccountConfigChangedError,
    BudgetExhaustedError,
    IdempotencyConflictError,
    MeasureMismatchError,
    NoBudgetAccountError,
    ReservationReleasedError,
    UnknownReservationError,
)
from .models import (
    AccountCharge,
    AccountStatus,
    Amount,
    AuditReport,
    Charge,
    GrantRecord,
    History,
    LedgerSnapshot,
    Reservation,
    ReservationStatus,
)
from .protocol import (
    BUCKET_FIELDS,
    BucketField,
    LedgerStore,
    LedgerTx,
    StoredAccount,
    Totals,
    TransientConflictError,
)
from .windows import Window

_HOLDING: dict[ReservationStatus, BucketField | None] = {
    "pending": "reserved", "committed": "committed", "expired": "expired", "released": None,
}


_T = TypeVar("_T")
_ATTEMPTS = 5


@dataclass(frozen=True)
class _Part:
    rule: AccountRule
    account: StoredAccount
    bucket: int
    span: tuple[int, int]
    amount: Amount


def _used(t: Totals) -> Amount:
    return t.committed.plus(t.reserved).plus(t.expired)


def _remaining(limit: Decimal | None, granted: Decimal, used: Decimal) -> Decimal | None:
    return None if limit is None else sub(add(limit, granted), used)


class LedgerService:
    """The ``Ledger`` implementation shared by every backend (see ``protocol``)."""

    def __init__(self, store: LedgerStore, config: BudgetConfig | None = None, *,
                 clock: Callable[[], datetime], new_id: Callable[[], str]) -> None:
        self.store = store
        self.config = config or BudgetConfig()
        self._clock = clock
        self._new_id = new_id

    def _retrying(self, op: Callable[[], _T]) -> _T:
        """Run a whole transaction again when the store reports a lost race (bounded)."""
        for attempt in range(_ATTEMPTS):
            try:
                return op()
            except TransientConflictError as exc:
                if attempt == _ATTEMPTS - 1:
                    raise BudgetError(f"the ledger stayed contended after {_ATTEMPTS} attempts ({exc}); "
                                      "nothing was charged — retry the request") from exc
        raise AssertionError("unreachable")

    # -- charging -------------------------------------------------------------------------------

    def _plan(self, charge: Charge, now: datetime) -> list[_Part]:
        parts = []
        for scope in charge.scopes:  # sorted by the Charge model: the global lock order
            rule = self.config.rule_for(scope)
            if rule is None:
                continue
            parts.append(_Part(rule, StoredAccount(scope, rule.measure, rule.window.descriptor),
                               rule.window.bucket(now), rule.window.span(now),
                               charge.cost.in_measure(rule.measure, scope)))
        if not parts and self.config.require_account:
            raise NoBudgetAccountError(
                f"no budget account covers any of the scopes {', '.join(charge.scopes)}; add a rule to "
                "budgets.accounts in privgate.yaml (e.g. scope: 'principal:*'), or set "
                "budgets.require_account: false to run unbudgeted")
        return parts

    @staticmethod
    def _lock(tx: LedgerTx, parts: Sequence[_Part], now: datetime) -> None:
        stored = tx.lock_accounts([p.account for p in parts], now)
        for want, have in zip(parts, stored, strict=True):
            if (have.measure, have.window) != (want.account.measure, want.account.window):
                raise AccountConfigChangedError(
                    f"account {have.scope} was created as {have.measure}/{have.window} but the config now "
                    f"says {want.account.measure}/{want.account.window}; spend recorded under one measure "
                    "or window cannot be reinterpreted — restore the rule, or budget under a new scope name")

    @staticmethod
    def _check_fits(tx: LedgerTx, part: _Part) -> None:
        totals = tx.window_totals(part.account.scope, *part.span)
        used = _used(totals)
        limit_loss, limit_delta = part.rule.limits
        quantity = "rho" if part.rule.measure == "zcdp" else "epsilon"
        for name, limit, granted, spent, need in (
            (quantity, limit_loss, totals.granted.loss, used.loss, part.amount.loss),
            ("delta", limit_delta, totals.granted.delta, used.delta, part.amount.delta),
        ):
            left = _remaining(limit, granted, spent)
            if left is not None and need > left:
                raise BudgetExhaustedError(part.account.scope, name, need, max(left, ZERO),
                                           part.account.window)

    def reserve(self, charge: Charge, idempotency_key: str, *,
                timeout_seconds: int | None = None) -> Reservation:
        if not idempotency_key:
            raise BudgetError("reserve needs a non-empty idempotency key (e.g. the decision id)")
        now = self._clock()
        parts = self._plan(charge, now)
        fingerprint = charge.fingerprint()
        timeout = timeout_seconds if timeout_seconds is not None else self.config.reservation_timeout_seconds
        return self._retrying(
            lambda: self._reserve(charge, idempotency_key, parts, fingerprint, now, timeout))

    def _reserve(self, charge: Charge, idempotency_key: str, parts: list[_Part], fingerprint: str,
                 now: datetime, timeout: int) -> Reservation:
        with self.store.transaction(write=True) as tx:
            self._lock(tx, parts, now)
            existing = tx.reservation(key=idempotency_key)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise IdempotencyConflictError(
                        f"idempotency key {idempotency_key!r} was already used for a different charge "
                        f"(reservation {existing.id}, decision {existing.decision_id}); "
                        "use a fresh key per charge")
                return existing.model_copy(update={"replayed": True})
            for part in parts:
                self._check_fits(tx, part)
            reservation = Reservation(
                id=self._new_id(), idempotency_key=idempotency_key, decision_id=charge.decision_id,
                principal=charge.principal, status="pending", created_at=now,
                expires_at=now + timedelta(seconds=timeout), cost=charge.cost, mechanisms=charge.mechanisms,
                accounts=tuple(AccountCharge(scope=p.account.scope, measure=p.account.measure,
                                             window=p.account.window, bucket=p.bucket, amount=p.amount)
                               for p in parts),
                note=charge.note, fingerprint=fingerprint)
            for part in parts:
                tx.add_to_bucket(part.account.scope, part.bucket, "reserved", part.amount)
            tx.insert_reservation(reservation)
        return reservation

    def _locked(self, tx: LedgerTx, rid: str, now: datetime) -> Reservation:
        """The reservation, re-read after locking its accounts (accounts first: the global lock order)."""
        first = tx.reservation(rid=rid)
        if first is None:
            raise UnknownReservationError(
                f"no reservation with id {rid!r}; check the id (see `privgate ledger history`)")
        tx.lock_accounts([StoredAccount(a.scope, a.measure, a.window) for a in first.accounts], now)
        locked = tx.reservation(rid=rid, lock=True)
        assert locked is not None
        return locked

    @staticmethod
    def _move(tx: LedgerTx, res: Reservation, to: ReservationStatus, now: datetime) -> Reservation:
        src, dst = _HOLDING[res.status], _HOLDING[to]
        for part in res.accounts:
            if src is not None:
                tx.add_to_bucket(part.scope, part.bucket, src, part.amount.negated())
            if dst is not None:
                tx.add_to_bucket(part.scope, part.bucket, dst, part.amount)
        tx.set_status(res.id, to, now)
        return res.model_copy(update={"status": to, "closed_at": now, "replayed": False})

    def commit(self, reservation_id: str) -> Reservation:
        """Make the reservation spent. Idempotent; a late commit of an expired reservation is accepted."""
        return self._retrying(lambda: self._commit(reservation_id))

    def _commit(self, reservation_id: str) -> Reservation:
        now = self._clock()
        with self.store.transaction(write=True) as tx:
            res = self._locked(tx, reservation_id, now)
            if res.status == "committed":
                return res
            if res.status == "released":
                raise ReservationReleasedError(
                    f"reservation {res.id} (decision {res.decision_id}) was released, so its budget was "
                    "refunded; do not release the result — reserve again under a new key")
            return self._move(tx, res, "committed", now)

    def release(self, reservation_id: str) -> Reservation:
        """Refund a pending reservation; after its deadline it expires (counts as spent) instead.

        Idempotent, and never refunds a committed or expired reservation: the returned status says
        what happened.
        """
        return self._retrying(lambda: self._release(reservation_id))

    def _release(self, reservation_id: str) -> Reservation:
        now = self._clock()
        with self.store.transaction(write=True) as tx:
            res = self._locked(tx, reservation_id, now)
            if res.status != "pending":
                return res
            return self._move(tx, res, "expired" if res.expires_at <= now else "released", now)

    def sweep(self, limit: int = 1000) -> int:
        """Turn up to ``limit`` overdue pending reservations into ``expired``; returns how many."""
        return self._retrying(lambda: self._sweep(limit))

    def _sweep(self, limit: int) -> int:
        now = self._clock()
        with self.store.transaction(write=True) as tx:
            ids = tx.overdue(now, limit)
            if not ids:
                return 0
            found = [r for r in (tx.reservation(rid=i) for i in ids) if r is not None]
            scopes = {(a.scope, a.measure, a.window) for r in found for a in r.accounts}
            tx.lock_accounts([StoredAccount(*s) for s in sorted(scopes)], now)
            moved = 0
            for rid in ids:
                res = tx.reservation(rid=rid, lock=True)
                if res is not None and res.status == "pending" and res.expires_at <= now:
                    self._move(tx, res, "expired", now)
                    moved += 1
            return moved

    # -- administration -------------------------------------------------------------------------

    def grant(self, scope: str, amount: Amount, *, reason: str, granted_by: str) -> GrantRecord:
        """Add ``amount`` (in the account's measure; negative takes away) to the current window."""
        rule = self.config.rule_for(scope)
        if rule is None:
            raise NoBudgetAccountError(
                f"no budget rule matches {scope!r}; grants go to configured accounts only")
        if not reason.strip() or not granted_by.strip():
            raise BudgetError("a grant needs a reason and who granted it (they are kept for audit)")
        if rule.measure != "approx" and amount.delta != 0:
            raise MeasureMismatchError(
                f"account {scope} is {rule.measure}: grant epsilon/rho only, not delta")
        now = self._clock()
        bucket = rule.window.bucket(now)
        record = GrantRecord(id=self._new_id(), scope=scope, bucket=bucket,
                             amount=Amount(loss=floor_q(amount.loss), delta=floor_q(amount.delta)),
                             reason=reason, granted_by=granted_by, created_at=now)
        part = _Part(rule, StoredAccount(scope, rule.measure, rule.window.descriptor), bucket,
                     rule.window.span(now), record.amount)
        def run() -> GrantRecord:
            with self.store.transaction(write=True) as tx:
                self._lock(tx, [part], now)
                tx.add_to_bucket(scope, bucket, "granted", record.amount)
                tx.insert_grant(record)
            return record
        return self._retrying(run)

    # -- reporting ------------------------------------------------------------------------------

    def _status(self, tx: LedgerTx, account: StoredAccount, now: datetime) -> AccountStatus:
        rule = self.config.rule_for(account.scope)
        configured = (rule is not None
                      and (rule.measure, rule.window.descriptor) == (account.measure, account.window))
        window = Window.model_validate(account.window)
        totals = tx.window_totals(account.scope, *window.span(now))
        used = _used(totals)
        limit_loss, limit_delta = rule.limits if rule is not None and configured else (None, None)
        start, end = window.bounds(now)
        zcdp = account.measure == "zcdp" and rule is not None
        report = rule.report_delta if zcdp and rule is not None else None
        return AccountStatus(
            scope=account.scope, measure=account.measure, window=account.window, window_start=start,
            window_end=end, configured=configured, limit_loss=limit_loss, limit_delta=limit_delta,
            granted=totals.granted, committed=totals.committed, reserved=totals.reserved,
            expired=totals.expired,
            remaining_loss=_remaining(limit_loss, totals.granted.loss, used.loss),
            remaining_delta=_remaining(limit_delta, totals.granted.delta, used.delta),
            report_delta=report,
            epsilon_spent_equivalent=zcdp_to_epsilon(used.loss, report) if report is not None else None,
            epsilon_limit_equivalent=(zcdp_to_epsilon(add(limit_loss, totals.granted.loss), report)
                                      if report is not None and limit_loss is not None else None),
        )

    def show(self, pattern: str | None = None) -> LedgerSnapshot:
        """Every account matching the glob ``pattern``: those with records, those named literally in
        config, and — when ``pattern`` is itself a scope a rule covers — that account even if unused."""
        self.sweep()
        now = self._clock()
        with self.store.transaction(write=False) as tx:
            accounts = {a.scope: a for a in tx.accounts()}
            literal = () if pattern is None or any(c in pattern for c in "*?[") else (pattern,)
            for scope in (*self.config.literal_scopes(), *literal):
                rule = self.config.rule_for(scope)
                if scope not in accounts and rule is not None:
                    accounts[scope] = StoredAccount(scope, rule.measure, rule.window.descriptor)
            chosen = [accounts[s] for s in sorted(accounts) if pattern is None or fnmatchcase(s, pattern)]
            return LedgerSnapshot(at=now, accounts=tuple(self._status(tx, a, now) for a in chosen))

    def history(self, *, scope: str | None = None, status: ReservationStatus | None = None,
                before: datetime | None = None, limit: int = 100) -> History:
        """Charges and grants, newest first; page with ``before=result.next_before``."""
        if not 1 <= limit <= 10_000:
            raise BudgetError(f"history limit must be between 1 and 10000; got {limit}")
        self.sweep()
        now = self._clock()
        with self.store.transaction(write=False) as tx:
            entries = tx.history(scope=scope, status=status, before=before, limit=limit)
        return History(at=now, entries=tuple(entries),
                       next_before=entries[-1].created_at if len(entries) == limit else None)

    def remaining_epsilon(self, scopes: Sequence[str]) -> Decimal | None:
        """The largest pure ε a charge on all ``scopes`` could still spend now; ``None``: unlimited.

        For zcdp accounts that is √(2·remaining rho) (a pure ε costs ε²/2 rho). Pending reservations
        count as spent. δ is not considered: the reservation is the authority.
        """
        now = self._clock()
        best: Decimal | None = None
        with self.store.transaction(write=False) as tx:
            for scope in sorted(set(scopes)):
                rule = self.config.rule_for(scope)
                limit_loss = rule.limits[0] if rule is not None else None
                if rule is None or limit_loss is None:
                    continue
                totals = tx.window_totals(scope, *rule.window.span(now))
                left = max(ZERO, sub(add(limit_loss, totals.granted.loss), _used(totals).loss))
                if rule.measure == "zcdp":
                    left = zcdp_pure_headroom(left)
                best = left if best is None else min(best, left)
        return None if best is None else Decimal(plain(best))  # same value, no trailing zeros

    def audit(self) -> AuditReport:
        """Recompute every bucket from the reservations and grants and compare with the running totals."""
        expected: dict[tuple[str, int], dict[BucketField, Amount]] = {}

        def slot(scope: str, bucket: int) -> dict[BucketField, Amount]:
            return expected.setdefault((scope, bucket), {f: Amount() for f in BUCKET_FIELDS})

        problems: list[str] = []
        n_res = 0
        with self.store.transaction(write=False) as tx:
            for res in tx.iter_reservations():
                n_res += 1
                held = _HOLDING[res.status]
                for part in res.accounts:
                    if held is not None:
                        s = slot(part.scope, part.bucket)
                        s[held] = s[held].plus(part.amount)
            for grant in tx.iter_grants():
                s = slot(grant.scope, grant.bucket)
                s["granted"] = s["granted"].plus(grant.amount)
            actual = {(row.scope, row.bucket): row.totals for row in tx.iter_buckets()}
            n_acc = len(tx.accounts())
        for key in sorted(set(expected) | set(actual)):
            want = expected.get(key, {f: Amount() for f in BUCKET_FIELDS})
            have = actual.get(key)
            for field in BUCKET_FIELDS:
                got = getattr(have, field) if have is not None else Amount()
                if got != want[field]:
                    problems.append(f"{key[0]} bucket {key[1]} {field}: running total "
                                    f"({plain(got.loss)}, {plain(got.delta)}) != sum of records "
                                    f"({plain(want[field].loss)}, {plain(want[field].delta)})")
        return AuditReport(ok=not problems, accounts_checked=n_acc, reservations_checked=n_res,
                           problems=tuple(problems))

    def close(self) -> None:
        self.store.close()


if TYPE_CHECKING:
    from .protocol import Ledger

    def _implements_ledger(service: LedgerService) -> Ledger:  # mypy proves the Protocol is met
        return service
