"""A release cache that outlives the process: one SQLite file of released DP answers.

Asking the same question again (same normalized SQL, principal scope and data version) must return
the answer already released, at no new cost — otherwise repeating a query averages the noise away.
The in-memory cache in ``engine/dp/cache.py`` covers one process (the proxy); this one covers the CLI,
where every question is a new process. Entries are whole ``DpResult`` records as JSON.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from privgate.engine.dp.errors import DpError
from privgate.engine.dp.model import DpResult

SCHEMA = "CREATE TABLE IF NOT EXISTS releases (key TEXT PRIMARY KEY, result TEXT NOT NULL, created_at TEXT NOT NULL)"


class SqliteReleaseCache:
    """``ReleaseCache`` over a SQLite file; a write is atomic, the first release of a key wins."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DpError(f"cannot open the release cache {self.path}: {exc}", code="dp_release_cache_error") from exc

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, key: str) -> DpResult | None:
        try:
            with self._connect() as con:
                row = con.execute("SELECT result FROM releases WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise DpError(f"cannot read the release cache {self.path}: {exc}", code="dp_release_cache_error") from exc
        if row is None:
            return None
        return DpResult.model_validate_json(row[0]).model_copy(update={"cached": True})

    def put(self, key: str, result: DpResult) -> None:
        try:
            with self._connect() as con:
                con.execute("INSERT OR IGNORE INTO releases (key, result, created_at) VALUES (?, ?, datetime('now'))",
                            (key, result.model_dump_json()))
        except sqlite3.Error as exc:
            raise DpError(f"cannot write the release cache {self.path}: {exc}", code="dp_release_cache_error") from exc
