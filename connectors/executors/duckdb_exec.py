"""DuckDB executor: the embedded default upstream (a local file, opened read-only)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from privgate.engine.dp.errors import UpstreamError


class DuckDBExecutor:
    dialect = "duckdb"

    def __init__(self, path: str, *, read_only: bool = True) -> None:
        self.path = path
        in_memory = path == ":memory:"
        if not in_memory and read_only and not Path(path).exists():
            raise UpstreamError(f"DuckDB file {path} does not exist; create one with `privgate demo-data {path}`",
                                code="upstream_unreachable")
        try:
            self._con = duckdb.connect(path, read_only=read_only and not in_memory)
        except duckdb.Error as exc:
            raise UpstreamError(f"cannot open DuckDB file {path}: {exc}", code="upstream_unreachable") from exc

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
                ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run ``sql``; ``params`` positional (``?``/``$1``) or named (``$name``, as the rewriter emits)."""
        try:
            cur = self._con.execute(sql, dict(params) if isinstance(params, Mapping) else list(params))
            if cur.description is None:
                return [], []
            return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]
        except duckdb.Error as exc:
            raise UpstreamError(f"DuckDB rejected the query: {exc}", code="upstream_error") from exc

    def data_version(self, tables: Sequence[str]) -> str:
        """File identity and modification time: any write to the file is a new version."""
        if self.path == ":memory:":
            return f"memory:{id(self._con)}"
        st = Path(self.path).stat()
        blob = f"{Path(self.path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
        return "duckdb:" + hashlib.sha256(blob).hexdigest()[:16]

    def close(self) -> None:
        self._con.close()
