"""Versioned schema migrations: numbered SQL files per backend, recorded in ``privgate_ledger_schema``.

``schema-migrations/<backend>/NNNN_name.sql`` are applied in order, each in the same transaction as the row
that records it, under the backend's exclusive lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL an
advisory transaction lock), so replicas starting together migrate once. A database whose recorded
version is newer than the newest file this code ships is refused (``budget_schema_too_new``): old
code must not write into a schema it does not understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

from privgate.engine.errors import BudgetError
from privgate.engine.ledger import SchemaTooNewError

Backend = Literal["sqlite", "postgres"]
SCHEMA_TABLE = "privgate_ledger_schema"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _statements(sql: str) -> tuple[str, ...]:
    """Split a migration file on ';'; comment lines are dropped (the files hold no literals with ';')."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return tuple(s.strip() for s in body.split(";") if s.strip())


@cache
def migrations(backend: Backend) -> tuple[Migration, ...]:
    root = files("privgate.connectors.ledger").joinpath("schema-migrations", backend)
    found = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    out = tuple(Migration(int(p.name[:4]), p.name[5:-4], _statements(p.read_text(encoding="utf-8")))
                for p in found)
    if [m.version for m in out] != list(range(1, len(out) + 1)):
        raise BudgetError(f"ledger migrations for {backend} are not numbered 0001..{len(out):04d}: "
                          f"{[m.version for m in out]} (packaging error)")
    return out


def pending(backend: Backend, current: int, target: int | None = None) -> list[Migration]:
    """Migrations to apply from ``current`` up to ``target`` (default: the newest known)."""
    known = migrations(backend)
    latest = len(known)
    if current > latest:
        raise SchemaTooNewError(
            f"the ledger database is at schema version {current} but this privgate knows only up to "
            f"{latest}; it was migrated by a newer privgate — upgrade privgate (do not downgrade the schema)")
    goal = latest if target is None else min(target, latest)
    return [m for m in known if current < m.version <= goal]
