"""PostgreSQL executor (psycopg 3): read-only transactions, errors as ``UpstreamError``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from privgate.engine.dp.errors import UpstreamError


class PostgresExecutor:
    dialect = "postgres"

    def __init__(self, url: str, *, read_only: bool = True, connect_timeout: int = 5) -> None:
        self.url = url
        try:
            self._con = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as exc:
            raise UpstreamError(f"cannot connect to PostgreSQL: {exc}", code="upstream_unreachable") from exc
        self._read_only = read_only

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
                ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run ``sql``; named ``params`` fill the rewriter's ``%(name)s`` placeholders (every other ``%``
        is escaped first, since psycopg reads each one as placeholder syntax)."""
        bind: Any = list(params) or None
        if isinstance(params, Mapping) and params:
            sql = sql.replace("%", "%%")
            for name in params:
                sql = sql.replace(f"%%({name})s", f"%({name})s")
            bind = dict(params)
        try:
            with self._con.transaction(), self._con.cursor() as cur:
                if self._read_only:
                    cur.execute("SET TRANSACTION READ ONLY")
                cur.execute(sql, bind)
                if cur.description is None:  # a statement without a result set
                    return [], []
                names = [d.name for d in cur.description]
                return names, [tuple(r) for r in cur.fetchall()]
        except psycopg.Error as exc:
            raise UpstreamError(f"PostgreSQL rejected the query: {exc}", code="upstream_error") from exc

    def data_version(self, tables: Sequence[str]) -> str:
        """Row-change counters of the tables (pg_stat): they move on every committed write.

        Statistics are flushed asynchronously (up to about a second); a stale version only makes the
        cache return an earlier release, never a cheaper one.
        """
        names = sorted({t.lower() for t in tables})
        _, rows = self.execute(
            "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup "
            "FROM pg_stat_all_tables WHERE lower(schemaname || '.' || relname) = ANY(%s) ORDER BY 1", (names,))
        blob = repr((self.url.split("@")[-1], rows)).encode()
        return "postgres:" + hashlib.sha256(blob).hexdigest()[:16]

    def close(self) -> None:
        self._con.close()
