"""Ledger backends and the one call the CLI needs: ``open_ledger(url, config)``.

URLs::

    sqlite:///relative/path/ledger.db     sqlite:////absolute/path/ledger.db
    postgresql://user@host:5432/db?schema=privgate_ledger     (also postgres://; schema defaults to public)

The returned ``LedgerService`` implements ``privgate.engine.ledger.Ledger``: ``reserve``/``commit``/
``release`` for the pipeline, and ``show``/``history``/``grant``/``audit`` for ``privgate ledger``,
each returning pydantic models (``.model_dump_json()`` for ``--json``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from privgate.engine.errors import BudgetError
from privgate.engine.ledger import BudgetConfig, LedgerService

from .migrate import migrations
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["latest_schema_version", "open_ledger", "open_store"]


def latest_schema_version() -> int:
    return len(migrations("sqlite"))


def open_store(url: str, *, migrate: bool = True,
               target_version: int | None = None) -> SqliteStore | PostgresStore:
    """The store behind ``url`` (migrated to the newest schema unless told otherwise)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise BudgetError(f"sqlite ledger URL {url!r} has a host; write sqlite:///relative.db or sqlite:////abs.db")
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise BudgetError(f"sqlite ledger URL {url!r} names no file; e.g. sqlite:///.privgate/ledger.db")
        return SqliteStore(path, migrate=migrate, target_version=target_version)
    if parts.scheme in ("postgresql", "postgres"):
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", "public")
        conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
        from .postgres import PostgresStore  # psycopg is imported only when a PostgreSQL ledger is used

        return PostgresStore(conninfo, schema=schema, migrate=migrate, target_version=target_version)
    raise BudgetError(f"unsupported ledger URL {url!r}: use sqlite:///path.db or postgresql://user@host/db")


def open_ledger(url: str, config: BudgetConfig | None = None, *, clock: Callable[[], datetime] | None = None,
                new_id: Callable[[], str] | None = None) -> LedgerService:
    """A ledger over the database at ``url`` with the budgets of ``config``; migrates the schema first."""
    return LedgerService(open_store(url), config, clock=clock or (lambda: datetime.now(UTC)),
                         new_id=new_id or (lambda: uuid.uuid4().hex))
