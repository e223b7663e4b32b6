"""Where sampled values come from: DuckDB files, PostgreSQL, CSV and Parquet files.

Each source lists tables and columns and returns a bounded, deterministic sample of distinct
non-null values as text. Reading is bounded twice (a row window, then a number of distinct values)
so a scan costs about the same on a billion-row table as on a small one, and the sample is ordered
by a hash of the value so two scans of unchanged data see the same values (the fingerprint relies
on it). Every library error becomes a ``ScanError`` with a stable code naming the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import duckdb
import psycopg
from psycopg import sql

from privgate.engine.errors import ScanError

from .decide import ValueKind

ROW_WINDOW = 20
"""Rows read per wanted distinct value: a sample of 100 looks at no more than 2,000 rows."""
COUNT_CAP = 1_000_000
"""Row counts stop here; they only tell empty and low-cardinality tables apart."""


@dataclass(frozen=True)
class TableRef:
    schema: str | None
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    kind: ValueKind


_NUMBER = ("INT", "DECIMAL", "NUMERIC", "DOUBLE", "REAL", "FLOAT", "SERIAL", "MONEY")
_DATE = ("DATE", "TIMESTAMP", "TIME")
_UNSUPPORTED = ("BLOB", "BYTEA", "STRUCT", "MAP", "LIST", "ARRAY", "UNION", "BIT", "INTERVAL", "[]")


def value_kind(type_name: str) -> ValueKind:
    """Map a DuckDB or PostgreSQL type name to what the classifier can do with its values."""
    t = type_name.upper()
    if any(u in t for u in _UNSUPPORTED):
        return "unsupported"
    if t in ("BOOLEAN", "BOOL"):
        return "boolean"
    if any(t.startswith(d) for d in _DATE):
        return "date"
    if any(n in t for n in _NUMBER):
        return "number"
    return "text"


class Source(Protocol):
    """What the scanner needs from a data source; raise ``ScanError`` for anything that goes wrong."""

    url: str

    def tables(self) -> list[TableRef]: ...

    def columns(self, table: TableRef) -> list[ColumnInfo]: ...

    def row_count(self, table: TableRef) -> int: ...

    def sample(self, table: TableRef, column: str, n: int) -> list[str]: ...

    def close(self) -> None: ...


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _sample_sql(relation: str, column: str, n: int, placeholder: str = "?") -> tuple[str, list[int]]:
    c = _quote(column)
    query = (
        f"SELECT v FROM (SELECT DISTINCT CAST({c} AS TEXT) AS v FROM (SELECT {c} FROM {relation} "
        f"WHERE {c} IS NOT NULL LIMIT {placeholder}) w) d ORDER BY md5(v) LIMIT {placeholder}"
    )
    return query, [n * ROW_WINDOW, n]


class DuckDBSource:
    """A DuckDB database file, opened read-only (a scan never writes to the warehouse)."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        try:
            self._con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise ScanError(
                f"cannot open DuckDB database {path}: {exc}", code="scan_source_unreachable"
            ) from exc

    def _relation(self, table: TableRef) -> str:
        return f"{_quote(table.schema)}.{_quote(table.name)}" if table.schema else _quote(table.name)

    def _run(self, table: TableRef, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self._con.execute(query, params or []).fetchall()
        except duckdb.Error as exc:
            raise ScanError(
                f"table {table.qualified}: cannot read: {exc}", code="scan_table_unreadable"
            ) from exc

    def tables(self) -> list[TableRef]:
        rows = self._con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() "
            "AND table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY 1, 2"
        ).fetchall()
        return [TableRef(s, t) for s, t in rows]

    def columns(self, table: TableRef) -> list[ColumnInfo]:
        rows = self._run(
            table,
            "SELECT column_name, data_type FROM information_schema.columns WHERE "
            "table_catalog = current_database() AND table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [table.schema, table.name],
        )
        if not rows:
            raise ScanError(f"table {table.qualified} not found", code="scan_table_not_found")
        return [ColumnInfo(n, t, value_kind(t)) for n, t in rows]

    def row_count(self, table: TableRef) -> int:
        rel = self._relation(table)
        return int(self._run(table, f"SELECT count(*) FROM (SELECT 1 FROM {rel} LIMIT {COUNT_CAP}) c")[0][0])

    def sample(self, table: TableRef, column: str, n: int) -> list[str]:
        query, params = _sample_sql(self._relation(table), column, n)
        return [str(r[0]) for r in self._run(table, query, params)]

    def close(self) -> None:
        self._con.close()


class FileSource(DuckDBSource):
    """CSV and Parquet files (one file, or every such file in a folder), read through in-memory DuckDB.

    A file is a table named after its stem; files are only opened when scanned, so one unreadable
    file is an error for that table alone.
    """

    READERS: ClassVar[dict[str, str]] = {".csv": "read_csv", ".tsv": "read_csv", ".parquet": "read_parquet"}

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in self.READERS)
        elif path.is_file():
            files = [path]
        else:
            raise ScanError(f"no such file or folder: {path}", code="scan_source_unreachable")
        self._files = {p.stem: p for p in files}
        self._con = duckdb.connect(":memory:")

    def _relation(self, table: TableRef) -> str:
        path = self._files[table.name]
        reader = self.READERS[path.suffix.lower()]
        return f"{reader}('{str(path).replace(chr(39), chr(39) * 2)}')"

    def tables(self) -> list[TableRef]:
        return [TableRef(None, name) for name in self._files]

    def columns(self, table: TableRef) -> list[ColumnInfo]:
        if table.name not in self._files:
            raise ScanError(f"table {table.qualified} not found", code="scan_table_not_found")
        rows = self._run(table, f"DESCRIBE SELECT * FROM {self._relation(table)}")
        return [ColumnInfo(str(r[0]), str(r[1]), value_kind(str(r[1]))) for r in rows]


class PostgresSource:
    """A PostgreSQL database; every statement runs in a read-only transaction with a timeout."""

    def __init__(self, url: str, *, statement_timeout_ms: int = 30_000) -> None:
        self.url = url
        try:
            self._con = psycopg.connect(
                url,
                connect_timeout=5,
                autocommit=True,
                options=f"-c statement_timeout={statement_timeout_ms} -c default_transaction_read_only=on",
            )
        except psycopg.Error as exc:
            raise ScanError(
                f"cannot connect to PostgreSQL at {_redact(url)}: {exc}", code="scan_source_unreachable"
            ) from exc

    def _run(
        self, table: TableRef | None, query: sql.SQL | sql.Composed, params: list[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        try:
            with self._con.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except psycopg.Error as exc:
            where = f"table {table.qualified}" if table else "PostgreSQL"
            raise ScanError(f"{where}: cannot read: {exc}", code="scan_table_unreadable") from exc

    def _relation(self, table: TableRef) -> sql.Composable:
        return sql.Identifier(table.schema or "public", table.name)

    def tables(self) -> list[TableRef]:
        rows = self._run(
            None,
            sql.SQL(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
                "NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_toast%%' "
                "ORDER BY 1, 2"
            ),
        )
        return [TableRef(s, t) for s, t in rows]

    def columns(self, table: TableRef) -> list[ColumnInfo]:
        rows = self._run(
            table,
            sql.SQL(
                "SELECT column_name, data_type FROM information_schema.columns WHERE "
                "table_schema = %s AND table_name = %s ORDER BY ordinal_position"
            ),
            [table.schema or "public", table.name],
        )
        if not rows:
            raise ScanError(f"table {table.qualified} not found", code="scan_table_not_found")
        return [ColumnInfo(n, t, value_kind(t)) for n, t in rows]

    def row_count(self, table: TableRef) -> int:
        q = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) c").format(self._relation(table))
        return int(self._run(table, q, [COUNT_CAP])[0][0])

    def sample(self, table: TableRef, column: str, n: int) -> list[str]:
        c = sql.Identifier(column)
        q = sql.SQL(
            "SELECT v FROM (SELECT DISTINCT CAST({c} AS TEXT) AS v FROM (SELECT {c} FROM {rel} "
            "WHERE {c} IS NOT NULL LIMIT %s) w) d ORDER BY md5(v) LIMIT %s"
        ).format(c=c, rel=self._relation(table))
        return [str(r[0]) for r in self._run(table, q, [n * ROW_WINDOW, n])]

    def close(self) -> None:
        self._con.close()


def _redact(url: str) -> str:
    """Drop a password from a connection URL before it reaches a message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def open_source(url: str) -> Source:
    """Pick the source: ``postgresql://…``, ``duckdb:///path``, ``*.duckdb``, CSV/Parquet file or folder."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresSource(url)
    path = Path(url.removeprefix("duckdb://")) if url.startswith("duckdb://") else Path(url)
    if url.startswith("duckdb://") or path.suffix.lower() in (".duckdb", ".db", ".ddb"):
        if not path.is_file():
            raise ScanError(f"no such DuckDB file: {path}", code="scan_source_unreachable")
        return DuckDBSource(url, path)
    if path.is_dir() or path.suffix.lower() in FileSource.READERS:
        return FileSource(url, path)
    raise ScanError(
        f"unsupported source {url!r}: expected postgresql://…, a .duckdb file, or CSV/Parquet files",
        code="scan_source_unsupported",
    )
