"""smartnoise-sql 1.0.10 as a benchmark peer, over the same DuckDB file.

snsql has no DuckDB reader; DuckDB speaks the PostgreSQL dialect snsql emits, so the DuckDB
connection is handed to snsql's PostgreSQL reader (``engine="postgres"``). Metadata mirrors the
privgate catalog: ``user_id`` is the private id, the same value bounds, ``max_ids`` = the per-person
row bound privgate uses per group (linf), ``censor_dims`` on (snsql's partition selection).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import duckdb
import snsql
from worker_common import serve

RANDOM_ORDER = re.compile(r"ORDER BY RANDOM ?\( ?\)", re.IGNORECASE)


class DuckCursor:
    """Runs snsql's SQL in DuckDB with one substitution (see ``DuckConn``)."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.description: Any = None

    def execute(self, sql: str) -> None:
        salt = secrets.randbits(62)
        sql = RANDOM_ORDER.sub(f"ORDER BY hash({salt}, *COLUMNS(*))", sql)
        self.cur.execute(sql)
        self.description = self.cur.description

    def __iter__(self) -> Any:
        return iter(self.cur.fetchall())


class DuckConn:
    """The DB-API surface snsql's PostgresReader uses.

    snsql samples ``max_ids`` rows per person with ``ROW_NUMBER() OVER (PARTITION BY id ORDER BY
    RANDOM())``; DuckDB rejects volatile window orderings ("ORDER BY window expressions cannot be
    volatile"). The cursor swaps it for ``hash(<fresh random salt>, *COLUMNS(*))``: a uniformly
    random order of each person's rows, freshly drawn per query, as snsql intends. DuckDB also has
    no transaction to commit for a read, so commit/rollback are no-ops.
    """

    def __init__(self, path: str) -> None:
        self.con = duckdb.connect(path, read_only=True)

    def cursor(self) -> Any:
        return DuckCursor(self.con.cursor())

    def commit(self) -> None:
        return None

    def rollback(self) -> None:
        return None


def metadata(job: dict[str, Any]) -> dict[str, Any]:
    b = job["bounds"]
    linf = int(job["linf"])
    num = lambda t, lo, hi: {"type": t, "lower": lo, "upper": hi}  # noqa: E731
    return {"bench": {
        "shop": {
            "users": {"max_ids": 1, "row_privacy": False, "user_id": {"type": "int", "private_id": True},
                      "country": {"type": "string"}, "plan": {"type": "string"}, "city": {"type": "string"},
                      "age": num("int", *b["age"]), "signup_year": {"type": "int"}},
            "orders": {"max_ids": linf, "row_privacy": False, "user_id": {"type": "int", "private_id": True},
                       "order_id": {"type": "int"}, "product_id": {"type": "int"},
                       "order_date": {"type": "datetime"}, "status": {"type": "string"},
                       "amount": num("float", *b["amount"]), "quantity": num("int", *b["quantity"]),
                       "coupon": {"type": "string"}},
        },
        "goods": {
            "products": {"row_privacy": True, "product_id": {"type": "int"}, "category": {"type": "string"},
                         "brand": {"type": "string"}, "price": num("float", *b["price"])},
        },
    }}


def setup(job: dict[str, Any]):  # type: ignore[no-untyped-def]
    privacy = snsql.Privacy(epsilon=job["epsilon"], delta=job["delta"])
    reader = snsql.from_connection(DuckConn(job["db"]), privacy=privacy, metadata=metadata(job), engine="postgres")

    def run(sql: str) -> tuple[list[str], list[list[Any]]]:
        out = reader.execute(sql)
        return list(out[0]), [list(r) for r in out[1:]]

    return run


if __name__ == "__main__":
    serve(setup)
