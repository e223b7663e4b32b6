"""SQLite ledger store: the embedded default — one database file in WAL mode.

Every write transaction starts with ``BEGIN IMMEDIATE``, which takes SQLite's single write lock up
front: check-then-charge across all of a charge's accounts is therefore atomic across processes,
and readers keep reading the last committed state meanwhile (WAL). ``synchronous=FULL`` makes a
committed charge survive power loss, not just a process crash. Waiting writers block up to
``busy_timeout`` seconds, then fail as ``budget_error`` (nothing charged).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from privgate.engine.errors import BudgetError
from privgate.engine.ledger import Amount
from privgate.engine.ledger.protocol import BucketField, DuplicateKeyError

from .migrate import SCHEMA_TABLE, pending
from .sql import SqlTx


class SqliteTx(SqlTx):
    def insert_reservation_row(self, params: tuple[object, ...]) -> None:
        try:
            self.q("INSERT INTO ledger_reservations (id, idempotency_key, decision_id, principal, status, "
                   "created_us, expires_us, closed_us, epsilon, delta, rho, mechanisms, note, fingerprint) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params)
        except sqlite3.IntegrityError as exc:
            if "idempotency_key" in str(exc):
                raise DuplicateKeyError(str(params[1])) from exc
            raise

    def add_to_bucket(self, scope: str, bucket: int, field: BucketField, amount: Amount) -> None:
        # SQLite has no exact decimal type: read-modify-write under the write lock BEGIN IMMEDIATE took.
        key = (scope, bucket)
        self.q("INSERT INTO ledger_buckets (scope, bucket) VALUES (?, ?) "
               "ON CONFLICT (scope, bucket) DO NOTHING", key)
        loss, delta = self.q(f"SELECT {field}_loss, {field}_delta FROM ledger_buckets "
                             "WHERE scope = ? AND bucket = ?", key)[0]
        new = self._amount(loss, delta).plus(amount)
        self.q(f"UPDATE ledger_buckets SET {field}_loss = ?, {field}_delta = ? "
               "WHERE scope = ? AND bucket = ?", (self.dec_in(new.loss), self.dec_in(new.delta), *key))


def _fail(path: str, action: str, exc: sqlite3.Error | OSError) -> BudgetError:
    text = str(exc)
    hint = ("another process held the write lock longer than the busy timeout; retry, or move the ledger to "
            "PostgreSQL for many concurrent writers" if "locked" in text or "busy" in text else
            "check the file exists, is writable, and is a privgate ledger (privgate ledger show)")
    return BudgetError(f"SQLite ledger {path}: {action} failed: {text}; nothing was charged — {hint}")


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: str, *, busy_timeout_seconds: float = 30.0, migrate: bool = True,
                 target_version: int | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_seconds,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise _fail(path, "opening", exc) from exc
        if migrate:
            try:
                self.migrate(target_version)
            except BaseException:
                self._conn.close()
                raise

    def schema_version(self) -> int:
        with self._lock:
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
                               "name TEXT NOT NULL, applied_us INTEGER NOT NULL)")
            row = self._conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}").fetchone()
            return int(row[0])

    def migrate(self, target: int | None = None) -> int:
        """Bring the schema up to ``target`` (default newest); returns the version reached."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
                             "name TEXT NOT NULL, applied_us INTEGER NOT NULL)")
                current = int(conn.execute(
                    f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}").fetchone()[0])
                todo = pending("sqlite", current, target)
                for m in todo:
                    for stmt in m.statements:
                        conn.execute(stmt)
                    conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version, name, applied_us) "
                                 "VALUES (?, ?, CAST(strftime('%s','now') AS INTEGER) * 1000000)",
                                 (m.version, m.name))
                conn.execute("COMMIT")
                return todo[-1].version if todo else current
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _fail(self.path, "schema migration", exc) from exc
                raise

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[SqliteTx]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                raise _fail(self.path, "starting a transaction", exc) from exc
            try:
                yield SqliteTx(conn.cursor())
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # the original error matters; SQLite rolls back on close
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _fail(self.path, "a ledger transaction", exc) from exc
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()
