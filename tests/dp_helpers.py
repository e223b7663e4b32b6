"""Helpers shared by the DP tests: qualify SQL against a catalog the way the analyzer will."""

from __future__ import annotations

from typing import Any

import pytest
from sqlglot import exp, parse_one
from sqlglot.optimizer.qualify import qualify

from privgate.engine.catalog import Bounds, Catalog


def schema_of(catalog: Catalog) -> dict[str, dict[str, dict[str, str]]]:
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for _qname, domain, table in catalog.iter_tables():
        schema.setdefault(domain.sql_schema, {})[table.name.lower()] = {c.name: c.type for c in table.columns}
    return schema


def qualified(sql: str, catalog: Catalog, dialect: str = "duckdb") -> exp.Expression:
    return qualify(parse_one(sql, read=dialect), schema=schema_of(catalog), dialect=dialect)


def with_amount_bounds(catalog: Catalog, lower: float, upper: float) -> Catalog:
    """The catalog with ``orders.amount`` declared in [lower, upper] (the bound a SUM path clamps to)."""
    domains = []
    for d in catalog.domains:
        tables = []
        for t in d.tables:
            cols = tuple(c.model_copy(update={"bounds": Bounds(lower=lower, upper=upper)})
                         if (t.name, c.name) == ("orders", "amount") else c for c in t.columns)
            tables.append(t.model_copy(update={"columns": cols}))
        domains.append(d.model_copy(update={"tables": tuple(tables)}))
    return catalog.model_copy(update={"domains": tuple(domains)})


def renamed(catalog: Catalog, prefix: str) -> Catalog:
    """The same catalog with every domain's SQL schema prefixed (isolated PostgreSQL test schemas)."""
    domains = tuple(d.model_copy(update={"schema_": f"{prefix}{d.sql_schema}"}) for d in catalog.domains)
    return catalog.model_copy(update={"domains": domains})


def column(result: Any, name: str) -> list[Any]:
    idx = [c.name for c in result.columns].index(name)
    return [row[idx] for row in result.rows]


def halfwidths(result: Any, name: str) -> list[Any]:
    idx = [c.name for c in result.columns].index(name)
    return [row[idx] for row in result.half_widths]


DEMO_CUSTOMERS = 5000


@pytest.fixture(scope="session")
def demo_duckdb(tmp_path_factory, demo_catalog):  # type: ignore[no-untyped-def]
    """A seeded demo warehouse in a DuckDB file (5,000 customers), shared by the DP tests."""
    from privgate.connectors.demo_data import write_duckdb

    path = tmp_path_factory.mktemp("dp") / "demo.duckdb"
    write_duckdb(path, demo_catalog, customers=DEMO_CUSTOMERS, seed=11)
    return path


@pytest.fixture
def duck(demo_duckdb):  # type: ignore[no-untyped-def]
    from privgate.connectors.executors import open_executor

    ex = open_executor(f"duckdb://{demo_duckdb}")
    yield ex
    ex.close()


def run(sql, catalog, executor, eps="1.0", delta="1e-6", policy=None, salt="t"):  # type: ignore[no-untyped-def]
    from privgate.engine.dp import BoundsPolicy, plan_query, release

    p = plan_query(qualified(sql, catalog, executor.dialect), catalog, eps, delta, dialect=executor.dialect,
                   policy=policy or BoundsPolicy(), salt=salt)
    _, rows = executor.execute(p.sql)
    return p, rows, release(p, rows)
