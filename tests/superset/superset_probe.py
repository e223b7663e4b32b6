"""Run inside the Superset virtualenv (not privgate's): Superset's own app, ``Database`` model and engine
spec against a live ``privgate serve``. Prints one JSON object on stdout for the test to assert on.

Usage: superset_probe.py <sqlalchemy-uri> <state-dir>. Everything Superset persists (its metadata DB,
config) lives in the state dir, so nothing touches the network or the user's ~/.superset.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

warnings.simplefilter("ignore")  # Superset's own deprecation noise is not what this probe checks


def write_config(state: Path) -> Path:
    cfg = state / "superset_config.py"
    cfg.write_text(
        f"SQLALCHEMY_DATABASE_URI = {('sqlite:///' + str(state / 'superset.db'))!r}\n"
        "SECRET_KEY = 'privgate-superset-probe-not-a-secret'\n"
        "WTF_CSRF_ENABLED = False\n"
        "FEATURE_FLAGS = {}\n"
        "CACHE_CONFIG = {'CACHE_TYPE': 'NullCache'}\n"
        "DATA_CACHE_CONFIG = {'CACHE_TYPE': 'NullCache'}\n"
        "THUMBNAIL_CACHE_CONFIG = {'CACHE_TYPE': 'NullCache'}\n"
        "RATELIMIT_ENABLED = False\n"
    )
    return cfg


def run_raw(database: Any, sql: str) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Execute the way SQL Lab does (engine spec ``execute`` on a raw DB-API cursor); keep the notices."""
    with database.get_raw_connection() as conn:
        cursor = conn.cursor()
        database.db_engine_spec.execute(cursor, sql, database)
        rows = [tuple(r) for r in cursor.fetchall()]
        return rows, [str(n).strip() for n in conn.notices]


def describe(exc: BaseException) -> dict[str, Any]:
    """The DB-API error under whatever Superset wrapped it in: its SQLSTATE and message."""
    cause: BaseException | None = exc
    while cause is not None and getattr(cause, "pgcode", None) is None:
        cause = cause.__cause__ or cause.__context__
    return {"type": type(exc).__name__, "pgcode": getattr(cause, "pgcode", None), "message": str(cause or exc)[:800]}


def main(uri: str, state: Path) -> dict[str, Any]:
    os.environ["SUPERSET_CONFIG_PATH"] = str(write_config(state))
    os.environ.setdefault("SUPERSET_HOME", str(state))
    from superset.app import create_app

    app = create_app()
    out: dict[str, Any] = {}
    with app.app_context():
        from superset.extensions import db
        from superset.models.core import Database

        db.create_all()  # Superset's metadata schema in the temp SQLite DB
        database = Database(database_name="privgate", sqlalchemy_uri=uri)
        db.session.add(database)
        db.session.commit()
        spec = database.db_engine_spec
        out["engine_spec"] = f"{spec.__module__}.{spec.__name__}"
        out["backend"] = database.backend

        # Dataset picker: schemas, then tables of a schema through the engine spec's inspector path.
        out["schemas"] = sorted(database.get_all_schema_names())
        out["tables"] = sorted(t for t, _s, _c in database.get_all_table_names_in_schema(catalog=None,
                                                                                          schema="sales"))
        with database.get_inspector(schema="sales") as inspector:
            out["columns"] = [c["name"] for c in inspector.get_columns("orders", schema="sales")]

        # A chart as Superset's query builder emits it: the time grain expression from the engine spec,
        # metrics COUNT(*) and SUM(amount), sorted by the first metric, Superset's row limit applied by its
        # own limiter. Month (P1M) and year (P1Y) grains: the demo warehouse is small, so DP partition
        # selection decides which buckets are released.
        for grain_id in ("P1M", "P1Y"):
            grain = spec._time_grain_expressions[grain_id].format(col="order_date")
            chart = (f"SELECT {grain} AS order_date, COUNT(*) AS count, SUM(amount) AS \"SUM(amount)\" "
                     f"FROM sales.orders GROUP BY {grain} ORDER BY count DESC")
            chart = database.apply_limit_to_sql(chart, 10000)
            rows, notices = run_raw(database, chart)
            out[grain_id] = {"sql": chart, "notices": notices,
                             "rows": [[str(r[0]), r[1], float(r[2]) if r[2] is not None else None] for r in rows]}
            df = database.get_df(chart)  # the path a chart's data request takes (no schema: see below)
            out[grain_id]["df_columns"] = list(df.columns)
            out[grain_id]["df_len"] = len(df)

        masked = database.get_df("SELECT customer_id, email, country FROM sales.customers "
                                 "ORDER BY customer_id LIMIT 5")
        out["masked"] = [[int(r.customer_id), r.email, r.country] for r in masked.itertuples()]

        try:
            database.get_df("SELECT customer_id, ssn FROM sales.customers")
            out["denied"] = None
        except Exception as exc:  # report what Superset surfaced, whatever its wrapper type
            out["denied"] = describe(exc)
        # With a schema selected (SQL Lab's dropdown, a physical dataset's schema) Superset's engine spec
        # first runs `set search_path = "<schema>"`; the proxy's analyzer then resolves unqualified names in
        # that schema (and the query runs schema-qualified). SQL Lab with the schema selected:
        try:
            df = database.get_df("SELECT status, COUNT(*) AS count FROM orders GROUP BY status", schema="sales")
            out["schema_sqllab"] = {"columns": list(df.columns), "rows": [[r[0], r[1]] for r in df.itertuples(
                index=False)]}
        except Exception as exc:  # report what Superset surfaced
            out["schema_sqllab"] = describe(exc)
        # A physical dataset (always has a schema) and a chart over it through Superset's own query builder.
        from superset.connectors.sqla.models import SqlaTable

        dataset = SqlaTable(table_name="orders", schema="sales", database=database)
        db.session.add(dataset)
        db.session.commit()
        dataset.fetch_metadata()
        result = dataset.query({"groupby": ["status"], "columns": ["status"], "metrics": ["count"],
                                "row_limit": 1000, "is_timeseries": False, "filter": [], "extras": {},
                                "granularity": None, "from_dttm": None, "to_dttm": None})
        out["physical"] = {"sql": result.query, "status": str(result.status), "error": result.error_message,
                           "columns": list(result.df.columns),
                           "rows": [[r[0], r[1]] for r in result.df.itertuples(index=False)]}
        try:  # a physical dataset over a column the policy refuses: still denied
            database.get_df("SELECT customer_id, ssn FROM customers", schema="sales")
            out["schema_denied"] = None
        except Exception as exc:
            out["schema_denied"] = describe(exc)
        out["after_denial"] = [list(r) for r in database.get_df("SELECT 40 + 2 AS answer").itertuples(index=False)]
        with database.get_sqla_engine() as engine, engine.connect() as con:
            out["engine_after_denial"] = con.exec_driver_sql("SELECT 7").scalar()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2])), default=str))
