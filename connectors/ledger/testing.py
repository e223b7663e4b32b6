"""Helpers for tests that need a real PostgreSQL ledger: an isolated, throw-away schema per run.

``PRIVGATE_TEST_PG_URL`` overrides the default ``postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_test_url() -> str:
    return os.environ.get("PRIVGATE_TEST_PG_URL", DEFAULT_TEST_URL)


def pg_unavailable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or ``None`` when it can."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is unreachable: {str(exc).strip()}"
    return None


@contextmanager
def temporary_schema(url: str) -> Iterator[str]:
    """A fresh schema name (created by the ledger's migration), dropped with everything in it afterwards."""
    schema = f"privgate_test_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
