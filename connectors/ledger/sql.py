"""The SQL shared by the SQLite and PostgreSQL stores; each backend supplies the few differing parts.

Statements are written with ``?`` placeholders (PostgreSQL's subclass rewrites them to ``%s``). Amounts
cross the driver boundary as ``Decimal`` (PostgreSQL NUMERIC) or plain decimal text (SQLite), never
as floats; times as integer microseconds since the epoch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from privgate.engine.ledger import Amount, Cost, GrantRecord, Mechanism, Reservation, ReservationStatus
from privgate.engine.ledger.models import AccountCharge
from privgate.engine.ledger.protocol import BUCKET_FIELDS, BucketField, BucketRow, StoredAccount, Totals

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_RES_COLS = ("id, idempotency_key, decision_id, principal, status, created_us, expires_us, closed_us, "
             "epsilon, delta, rho, mechanisms, note, fingerprint")
_GRANT_COLS = "id, scope, bucket, loss, delta, reason, granted_by, created_us"
_BUCKET_COLS = ", ".join(f"{f}_loss, {f}_delta" for f in BUCKET_FIELDS)


def to_us(t: datetime) -> int:
    return (t - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + us * _US


class SqlTx:
    """``LedgerTx`` over a DB-API cursor; subclasses set the dialect hooks."""

    for_update = ""

    def __init__(self, cursor: Any) -> None:
        self.cur = cursor

    # -- dialect hooks ---------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        return text

    def dec_in(self, value: Decimal) -> Any:
        return format(value, "f")

    def dec_out(self, value: Any) -> Decimal:
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def json_in(self, value: Any) -> Any:
        return json.dumps(value, sort_keys=True)

    def json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def insert_reservation_row(self, params: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def add_to_bucket(self, scope: str, bucket: int, field: BucketField, amount: Amount) -> None:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------

    def q(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(self.sql(text), tuple(params))
        return list(self.cur.fetchall()) if self.cur.description is not None else []

    def _amount(self, loss: Any, delta: Any) -> Amount:
        return Amount(loss=self.dec_out(loss), delta=self.dec_out(delta))

    def _totals(self, row: Sequence[Any]) -> Totals:
        values = [self._amount(row[2 * i], row[2 * i + 1]) for i in range(len(BUCKET_FIELDS))]
        return Totals(*values)

    # -- LedgerTx --------------------------------------------------------------------------------

    def lock_accounts(self, accounts: Sequence[StoredAccount], created_at: datetime) -> list[StoredAccount]:
        out = []
        for acc in accounts:  # one at a time, in the caller's (sorted) order
            self.q("INSERT INTO ledger_accounts (scope, measure, window_spec, created_us) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING",
                   (acc.scope, acc.measure, acc.window, to_us(created_at)))
            row = self.q("SELECT scope, measure, window_spec FROM ledger_accounts "
                         f"WHERE scope = ?{self.for_update}", (acc.scope,))[0]
            out.append(StoredAccount(row[0], row[1], row[2]))
        return out

    def window_totals(self, scope: str, first: int, last: int) -> Totals:
        rows = self.q(f"SELECT {_BUCKET_COLS} FROM ledger_buckets WHERE scope = ? AND bucket BETWEEN ? AND ?",
                      (scope, first, last))
        total = Totals(*(Amount() for _ in BUCKET_FIELDS))
        for row in rows:
            t = self._totals(row)
            total = Totals(*(getattr(total, f).plus(getattr(t, f)) for f in BUCKET_FIELDS))
        return total

    def _reservation_from(self, row: Sequence[Any]) -> Reservation:
        parts = self.q("SELECT scope, measure, window_spec, bucket, loss, delta "
                       "FROM ledger_reservation_accounts WHERE reservation_id = ? ORDER BY scope", (row[0],))
        return Reservation(
            id=row[0], idempotency_key=row[1], decision_id=row[2], principal=row[3], status=row[4],
            created_at=from_us(row[5]), expires_at=from_us(row[6]),
            closed_at=None if row[7] is None else from_us(row[7]),
            cost=Cost(epsilon=self.dec_out(row[8]), delta=self.dec_out(row[9]),
                      rho=None if row[10] is None else self.dec_out(row[10])),
            mechanisms=tuple(Mechanism.model_validate(m) for m in self.json_out(row[11])),
            accounts=tuple(AccountCharge(scope=p[0], measure=p[1], window=p[2], bucket=p[3],
                                         amount=self._amount(p[4], p[5])) for p in parts),
            note=row[12], fingerprint=row[13])

    def reservation(self, *, rid: str | None = None, key: str | None = None,
                    lock: bool = False) -> Reservation | None:
        column, value = ("id", rid) if rid is not None else ("idempotency_key", key)
        rows = self.q(f"SELECT {_RES_COLS} FROM ledger_reservations WHERE {column} = ?"
                      f"{self.for_update if lock else ''}", (value,))
        return self._reservation_from(rows[0]) if rows else None

    def insert_reservation(self, r: Reservation) -> None:
        self.insert_reservation_row((
            r.id, r.idempotency_key, r.decision_id, r.principal, r.status, to_us(r.created_at),
            to_us(r.expires_at), None, self.dec_in(r.cost.epsilon), self.dec_in(r.cost.delta),
            None if r.cost.rho is None else self.dec_in(r.cost.rho),
            self.json_in([m.model_dump(mode="json") for m in r.mechanisms]), r.note, r.fingerprint))
        for a in r.accounts:
            self.q("INSERT INTO ledger_reservation_accounts (reservation_id, scope, measure, window_spec, "
                   "bucket, loss, delta) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (r.id, a.scope, a.measure, a.window, a.bucket, self.dec_in(a.amount.loss),
                    self.dec_in(a.amount.delta)))

    def set_status(self, rid: str, status: ReservationStatus, closed_at: datetime) -> None:
        self.q("UPDATE ledger_reservations SET status = ?, closed_us = ? WHERE id = ?",
               (status, to_us(closed_at), rid))

    def overdue(self, now: datetime, limit: int) -> list[str]:
        rows = self.q("SELECT id FROM ledger_reservations WHERE status = 'pending' AND expires_us <= ? "
                      "ORDER BY expires_us LIMIT ?", (to_us(now), limit))
        return [r[0] for r in rows]

    def insert_grant(self, g: GrantRecord) -> None:
        self.q("INSERT INTO ledger_grants (id, scope, bucket, loss, delta, reason, granted_by, created_us) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (g.id, g.scope, g.bucket, self.dec_in(g.amount.loss), self.dec_in(g.amount.delta), g.reason,
                g.granted_by, to_us(g.created_at)))

    def _grant_from(self, row: Sequence[Any]) -> GrantRecord:
        return GrantRecord(id=row[0], scope=row[1], bucket=row[2], amount=self._amount(row[3], row[4]),
                           reason=row[5], granted_by=row[6], created_at=from_us(row[7]))

    def accounts(self) -> list[StoredAccount]:
        rows = self.q("SELECT scope, measure, window_spec FROM ledger_accounts ORDER BY scope")
        return [StoredAccount(r[0], r[1], r[2]) for r in rows]

    def history(self, *, scope: str | None, status: ReservationStatus | None, before: datetime | None,
                limit: int) -> list[Reservation | GrantRecord]:
        where: list[str] = ["1 = 1"]
        params: list[str | int] = []
        if scope is not None:
            where.append("EXISTS (SELECT 1 FROM ledger_reservation_accounts a "
                         "WHERE a.reservation_id = r.id AND a.scope = ?)")
            params.append(scope)
        if status is not None:
            where.append("r.status = ?")
            params.append(status)
        if before is not None:
            where.append("r.created_us < ?")
            params.append(to_us(before))
        cols = ", ".join(f"r.{c.strip()}" for c in _RES_COLS.split(","))
        rows = self.q(f"SELECT {cols} FROM ledger_reservations r WHERE {' AND '.join(where)} "
                      "ORDER BY r.created_us DESC, r.id DESC LIMIT ?", [*params, limit])
        entries: list[Reservation | GrantRecord] = [self._reservation_from(r) for r in rows]
        if status is None:
            gwhere: list[str] = ["1 = 1"]
            gparams: list[str | int] = []
            if scope is not None:
                gwhere.append("scope = ?")
                gparams.append(scope)
            if before is not None:
                gwhere.append("created_us < ?")
                gparams.append(to_us(before))
            grows = self.q(f"SELECT {_GRANT_COLS} FROM ledger_grants "
                           f"WHERE {' AND '.join(gwhere)} ORDER BY created_us DESC, id DESC LIMIT ?",
                           [*gparams, limit])
            entries.extend(self._grant_from(g) for g in grows)
        entries.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return entries[:limit]

    def iter_buckets(self) -> Iterator[BucketRow]:
        for row in self.q(f"SELECT scope, bucket, {_BUCKET_COLS} FROM ledger_buckets ORDER BY scope, bucket"):
            yield BucketRow(row[0], row[1], self._totals(row[2:]))

    def iter_reservations(self) -> Iterator[Reservation]:
        for row in self.q(f"SELECT {_RES_COLS} FROM ledger_reservations ORDER BY created_us"):
            yield self._reservation_from(row)

    def iter_grants(self) -> Iterator[GrantRecord]:
        for row in self.q(f"SELECT {_GRANT_COLS} FROM ledger_grants ORDER BY created_us"):
            yield self._grant_from(row)
