"""pyqrlew 0.9.27 (Qrlew) as a benchmark peer, over the same DuckDB file.

Qrlew rewrites the SQL into a DP SQL query (noise via the database's RANDOM()) that the database
runs. Its ``Dataset`` is built the documented way, ``Dataset.from_database`` over a SQLAlchemy
engine — here an empty SQLite schema with the same tables (pyqrlew has no DuckDB support), then
patched with the true table sizes (Qrlew bounds ``max_multiplicity`` by a share of them) and the
catalog's value ranges and public key domains (``with_range`` / ``with_possible_values``). The
rewritten PostgreSQL-dialect SQL runs in DuckDB with ``search_path`` = shop, goods; the only change
to the analyst's SQL is dropping the schema prefixes (Qrlew's table paths are ``[name, table]``).
Privacy unit: users.user_id; orders reach it through user_id; products are public.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyqrlew as qrl
import sqlalchemy as sa
from worker_common import serve

DDL = {
    "users": "user_id BIGINT, country TEXT, plan TEXT, city TEXT, age INTEGER, signup_year INTEGER",
    "orders": "order_id BIGINT, user_id BIGINT, product_id BIGINT, order_date DATE, status TEXT, amount DOUBLE, "
              "quantity INTEGER, coupon TEXT",
    "products": "product_id BIGINT, category TEXT, brand TEXT, price DOUBLE",
}
SCHEMA_OF = {"users": "shop", "orders": "shop", "products": "goods"}


def dataset(job: dict[str, Any], con: duckdb.DuckDBPyConnection) -> Any:
    eng = sa.create_engine("sqlite://")
    with eng.begin() as c:
        for name, cols in DDL.items():
            c.exec_driver_sql(f"CREATE TABLE {name} ({cols})")
    ds = qrl.Dataset.from_database("bench", eng)
    size = json.loads(ds.size)
    for field in size["statistics"]["union"]["fields"]:
        n = con.execute(f"SELECT COUNT(*) FROM {SCHEMA_OF[field['name']]}.{field['name']}").fetchone()[0]
        field["statistics"]["struct"]["size"] = str(n)
    base = json.loads(str(ds).split("\n")[0].removeprefix("Dataset: "))
    ds = qrl.Dataset.from_str(json.dumps(base), ds.schema, json.dumps(size))
    for table, column, lo, hi in job["ranges"]:
        ds = ds.with_range(None, table, column, lo, hi)
    for table, column, values in job["public_keys"]:
        ds = ds.with_possible_values(None, table, column, values)
    return ds


def setup(job: dict[str, Any]):  # type: ignore[no-untyped-def]
    con = duckdb.connect(job["db"], read_only=True)
    con.execute("SET search_path = 'shop,goods'")
    ds = dataset(job, con)
    # products are public: left out of the privacy-unit definition (pyqrlew 0.9.27 panics on the
    # documented ("products", [], "_PUBLIC_") marker: InvalidPath("_PUBLIC_ is invalid"))
    pu = [("users", [], "user_id"), ("orders", [("user_id", "users", "user_id")], "user_id")]
    budget = {"epsilon": job["epsilon"], "delta": job["delta"]}

    def run(sql: str) -> tuple[list[str], list[list[Any]]]:
        local = sql.replace("shop.", "").replace("goods.", "")
        rel = ds.relation(local)
        dp = rel.rewrite_with_differential_privacy(ds, pu, budget, max_multiplicity=float(job["linf"]),
                                                   max_privacy_unit_groups=int(job["l0"]))
        event = str(dp.dp_event())
        if "NoOp" in event:
            raise RuntimeError(f"qrlew returned a non-DP rewrite (dp_event={event}); counted as a failure")
        cur = con.execute(dp.relation().to_query())
        return [d[0] for d in cur.description], [list(r) for r in cur.fetchall()]

    return run


if __name__ == "__main__":
    serve(setup)
