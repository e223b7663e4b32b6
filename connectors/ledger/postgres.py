"""PostgreSQL ledger store (psycopg 3): the production backend shared by every proxy replica.

Transactions run at READ COMMITTED; a charge locks its account rows with ``SELECT ... FOR UPDATE``
one by one in scope order (the service passes them sorted), so two charges over overlapping scopes
queue instead of deadlocking, and every statement after the locks sees the other charge's committed
totals. Bucket increments are done by PostgreSQL itself in NUMERIC (exact). Deadlocks, serialization
failures and duplicate idempotency keys are reported as ``TransientConflictError`` and the service
retries the whole operation. Lock waits are bounded by ``lock_timeout``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerr
from psycopg.types.json import Jsonb

from privgate.engine.errors import BudgetError
from privgate.engine.ledger import Amount
from privgate.engine.ledger.protocol import BucketField, DuplicateKeyError, TransientConflictError

from .migrate import SCHEMA_TABLE, pending
from .sql import SqlTx

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresTx(SqlTx):
    for_update = " FOR UPDATE"

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def dec_in(self, value: Any) -> Any:
        return value

    def json_in(self, value: Any) -> Any:
        return Jsonb(value)

    def insert_reservation_row(self, params: tuple[Any, ...]) -> None:
        try:
            self.q("INSERT INTO ledger_reservations (id, idempotency_key, decision_id, principal, status, "
                   "created_us, expires_us, closed_us, epsilon, delta, rho, mechanisms, note, fingerprint) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params)
        except pgerr.UniqueViolation as exc:
            raise DuplicateKeyError(str(params[1])) from exc

    def add_to_bucket(self, scope: str, bucket: int, field: BucketField, amount: Amount) -> None:
        self.q(f"INSERT INTO ledger_buckets (scope, bucket, {field}_loss, {field}_delta) VALUES (?, ?, ?, ?) "
               f"ON CONFLICT (scope, bucket) DO UPDATE SET "
               f"{field}_loss = ledger_buckets.{field}_loss + EXCLUDED.{field}_loss, "
               f"{field}_delta = ledger_buckets.{field}_delta + EXCLUDED.{field}_delta",
               (scope, bucket, amount.loss, amount.delta))


def _fail(where: str, action: str, exc: Exception) -> BudgetError:
    if isinstance(exc, pgerr.LockNotAvailable | pgerr.QueryCanceled):
        hint = "another transaction held the budget accounts longer than lock_timeout; retry"
    elif isinstance(exc, psycopg.OperationalError):
        hint = "check the ledger URL, that PostgreSQL is running and reachable, and the credentials"
    elif isinstance(exc, pgerr.InsufficientPrivilege):
        hint = "the ledger role needs CREATE on the schema for migrations and DML on the ledger tables"
    else:
        hint = "see the PostgreSQL log; the ledger schema may have been altered by hand"
    return BudgetError(f"PostgreSQL ledger {where}: {action} failed: {str(exc).strip()}; "
                       f"nothing was charged — {hint}")


class PostgresStore:
    name = "postgres"

    def __init__(self, conninfo: str, *, schema: str = "public", lock_timeout_ms: int = 30_000,
                 connect_timeout_s: int = 10, migrate: bool = True,
                 target_version: int | None = None) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise BudgetError(f"ledger schema name {schema!r} must match {_SCHEMA_NAME.pattern}")
        self.schema = schema
        self._conninfo = conninfo
        self._where = f"{_redact(conninfo)} schema {schema}"
        self._kwargs = {"options": f"-c search_path={schema} -c lock_timeout={lock_timeout_ms}",
                        "connect_timeout": connect_timeout_s, "autocommit": True}
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        if migrate:
            try:
                self.migrate(target_version)
            except BaseException:
                self.close()
                raise

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self._conninfo, **self._kwargs)  # type: ignore[arg-type]
            except psycopg.Error as exc:
                raise _fail(self._where, "connecting", exc) from exc
        return self._conn

    def schema_version(self) -> int:
        with self.transaction(write=False) as tx:
            rows = tx.q("SELECT to_regclass(?)", (f"{self.schema}.{SCHEMA_TABLE}",))
            if rows[0][0] is None:
                return 0
            return int(tx.q(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}")[0][0])

    def migrate(self, target: int | None = None) -> int:
        """Bring the schema up to ``target`` (default newest) under an advisory lock; returns the version."""
        with self.transaction(write=True) as tx:
            tx.q("SELECT pg_advisory_xact_lock(hashtext(?))", (f"privgate_ledger:{self.schema}",))
            tx.q(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            tx.q(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_us BIGINT NOT NULL)")
            current = int(tx.q(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}")[0][0])
            todo = pending("postgres", current, target)
            for m in todo:
                for stmt in m.statements:
                    tx.q(stmt)
                tx.q(f"INSERT INTO {SCHEMA_TABLE} (version, name, applied_us) "
                     "VALUES (?, ?, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)",
                     (m.version, m.name))
            return todo[-1].version if todo else current

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[PostgresTx]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    yield PostgresTx(cur)
            except (pgerr.SerializationFailure, pgerr.DeadlockDetected) as exc:
                raise TransientConflictError(str(exc).strip()) from exc
            except psycopg.Error as exc:
                raise _fail(self._where, "a ledger transaction", exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()


def _redact(conninfo: str) -> str:
    """The conninfo without its password, for error messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", re.sub(r"password=\S+", "password=***", conninfo))
