"""Shared helpers for the rewrite tests: a compact catalog, analyses built the way the analyzer does,
obligation shorthands, the fixture-file reader and PostgreSQL/DuckDB access for execution tests."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from privgate.engine.analysis import Analysis
from privgate.engine.catalog import Catalog
from privgate.engine.decision import Obligation
from privgate.engine.facts import Facts

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rewrite"
MASK_KEY = b"test-mask-key-0123456789abcdef!!"
DIALECTS = ("postgres", "duckdb", "snowflake", "bigquery", "trino")


def catalog(schema: str = "sales") -> Catalog:
    """Small on purpose, so fixture SQL stays readable; ``schema`` lets execution tests use a temp schema."""
    return Catalog.model_validate({"domains": [
        {"name": "sales", "owner": "sales@example.com", "schema": schema, "tables": [
            {"name": "customers",
             "privacy_unit": {"column": "customer_id", "namespace": "customer"},
             "consent": {"analytics": "consent_analytics", "marketing": "consent_marketing"},
             "columns": [
                 {"name": "customer_id", "type": "bigint"},
                 {"name": "email", "type": "text", "pii": [{"entity": "EMAIL_ADDRESS"}]},
                 {"name": "ssn", "type": "text", "pii": [{"entity": "US_SSN"}]},
                 {"name": "birth_date", "type": "date", "pii": [{"entity": "DATE_OF_BIRTH"}]},
                 {"name": "country", "type": "text"},
                 {"name": "consent_analytics", "type": "boolean"},
                 {"name": "consent_marketing", "type": "boolean"}]},
            {"name": "orders",
             "privacy_unit": {"column": "customer_id", "namespace": "customer"},
             "columns": [
                 {"name": "order_id", "type": "bigint"},
                 {"name": "customer_id", "type": "bigint"},
                 {"name": "amount", "type": "numeric(10,2)"},
                 {"name": "card_number", "type": "varchar(19)", "pii": [{"entity": "CREDIT_CARD"}]}]},
        ]},
        {"name": "products", "owner": "merch@example.com", "tables": [
            {"name": "products", "public": True, "columns": [
                {"name": "product_id", "type": "bigint"}, {"name": "name", "type": "text"}]}]},
    ]})


def schema_of(cat: Catalog) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for key, _domain, table in cat.iter_tables():
        db, name = key.split(".")
        out.setdefault(db, {})[name] = {c.name: c.type for c in table.columns}
    return out


def analysis(sql: str, dialect: str = "postgres", *, qualified: bool = False,
             cat: Catalog | None = None) -> Analysis:
    """An Analysis as the analyzer hands it over: raw parsed tree, or qualified against the catalog."""
    tree = sqlglot.parse_one(sql, read=dialect)
    if qualified:
        tree = qualify(tree, schema=schema_of(cat or catalog()), dialect=dialect)
    return Analysis(facts=Facts(dialect=dialect, statement_kind="select"), trees=(tree,))


def parse_obligations(text: str) -> tuple[Obligation, ...]:
    """``mask sales.customers.email hash; filter sales.customers consent_analytics; limit 10; dp``.

    ``filter <table> -`` is a row filter without a consent column (nobody consented)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        kind, *args = part.split()
        if kind == "mask":
            table, column = args[0].rsplit(".", 1)
            out.append(Obligation(kind="mask", params={"table": table, "column": column, "method": args[1],
                                                       "entity": "TEST"}))
        elif kind == "filter":
            out.append(Obligation(kind="row_filter", params={
                "table": args[0], "column": None if args[1] == "-" else args[1], "purpose": "analytics"}))
        elif kind == "limit":
            out.append(Obligation(kind="row_limit", params={"limit": int(args[0])}))
        elif kind == "dp":
            out.append(Obligation(kind="dp", params={"query_class": "standard", "epsilon": 0.5, "delta": 0}))
        else:
            raise ValueError(f"unknown obligation shorthand {part!r}")
    return tuple(out)


@dataclass(frozen=True)
class FixtureCase:
    file: str
    line: int
    title: str
    dialect: str
    qualified: bool
    obligations: tuple[Obligation, ...]
    sql: str
    expected: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.title}"


def read_fixtures(name: str) -> list[FixtureCase]:
    """sqlglot-style fixture pairs: ``# key: value`` lines apply to the next pair (input, expected)."""
    path = FIXTURES / name
    cases: list[FixtureCase] = []
    meta: dict[str, str] = {}
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = re.match(r"#\s*(\w+)\s*:\s*(.*)$", line)
        if m:
            meta[m.group(1)] = m.group(2).strip()
            continue
        if line.startswith("#"):
            continue
        line = line.removesuffix(";")
        if pending is None:
            pending = (number, line)
            continue
        cases.append(FixtureCase(
            file=name, line=pending[0], title=meta.get("title", ""), dialect=meta.get("dialect", "postgres"),
            qualified=meta.get("qualify", "false") == "true",
            obligations=parse_obligations(meta["obligations"]), sql=pending[1], expected=line))
        pending, meta = None, {}
    assert pending is None, f"{name}: unpaired line {pending}"
    return cases


def require_service(name: str, reason: str) -> None:
    """Fail in CI (env CI set), skip with a visible reason elsewhere."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (mandatory in CI)")
    pytest.skip(message)


def pg_connect() -> Any:
    """A psycopg connection to the local test PostgreSQL (trust auth), trying the usual users."""
    import psycopg

    errors = []
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3,
                                   autocommit=True)
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {exc}".strip())
    require_service("PostgreSQL at 127.0.0.1:5432", "; ".join(errors))
    raise AssertionError("unreachable")


def pyformat(sql: str, params: dict[str, str]) -> str:
    """psycopg reads ``%`` as placeholder syntax: escape every ``%`` except our own named placeholders.

    The PostgreSQL executor must do the same (or bind with native ``$n``): ``LIKE 'a%'`` would break.
    """
    escaped = sql.replace("%", "%%")
    for name in params:
        escaped = escaped.replace(f"%%({name})s", f"%({name})s")
    return escaped


def output_names(tree: exp.Expr) -> list[str]:
    """Column names the statement returns, looking through the row-limit wrapper."""
    while isinstance(tree, exp.Select) and tree.is_star:
        source = tree.args["from_"].this
        if not (isinstance(source, exp.Subquery) and source.alias == "_privgate_limited"):
            break
        tree = source.this
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    assert isinstance(tree, exp.Query)
    return list(tree.named_selects)
