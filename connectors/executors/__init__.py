"""Upstream executors behind ``privgate.engine.dp.Executor``: DuckDB files and PostgreSQL.

``open_executor(url)`` picks one by URL: ``duckdb:///path/to/file.duckdb`` (``duckdb://:memory:``
for an empty in-memory database) or ``postgresql://user@host:port/db``. Both open read-only
sessions where the driver allows it and translate driver errors into ``UpstreamError``.
"""

from __future__ import annotations

from privgate.engine.dp.errors import UpstreamError
from privgate.engine.dp.ports import Executor


def open_executor(url: str, *, read_only: bool = True) -> Executor:
    """An executor for ``url``; raises ``UpstreamError`` (code ``upstream_unreachable``) if it cannot connect."""
    if url.startswith("duckdb://"):
        from .duckdb_exec import DuckDBExecutor

        path = url.removeprefix("duckdb://")
        path = path.removeprefix("/") if path.startswith("/:memory:") else path
        return DuckDBExecutor(path or ":memory:", read_only=read_only)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres_exec import PostgresExecutor

        return PostgresExecutor(url, read_only=read_only)
    raise UpstreamError(f"unsupported upstream URL {url!r}; use duckdb:///path.duckdb or postgresql://host/db",
                        code="upstream_unsupported")


__all__ = ["open_executor"]
