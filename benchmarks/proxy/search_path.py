"""What a session search path costs per statement through ``privgate serve``, in one interleaved run.

    PRIVGATE_OPA_BIN=... .venv/bin/python benchmarks/proxy/search_path.py [--n 400]

Three psycopg connections (autocommit) take turns on the same allowed point read: schema-qualified names;
unqualified names after one ``SET search_path = products``; and Superset's pattern, ``set search_path =
"products"`` before every statement (the proxy re-reads the upstream's value after each such SET, one extra
upstream round trip). Needs PostgreSQL at 127.0.0.1:5432 (a scratch database is created and dropped).
Prints medians and their ratio to the qualified baseline; timings on a shared machine are noisy, ratios less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

QUERY = "SELECT name, price FROM {}products WHERE product_id = 7"


def main() -> None:
    import psycopg
    from conftest import DEMO_CATALOG
    from pgwire_support import drop_database, start_proxy

    from privgate.connectors.catalog_yaml import load_catalog

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    n = parser.parse_args().n
    proxy, db, _ = start_proxy(load_catalog(DEMO_CATALOG))
    try:
        with psycopg.connect(proxy.url(), autocommit=True) as plain, \
                psycopg.connect(proxy.url(), autocommit=True) as pathed, \
                psycopg.connect(proxy.url(), autocommit=True) as superset:
            pathed.execute("SET search_path = products")

            def superset_style() -> None:
                superset.execute('set search_path = "products"')
                superset.execute(QUERY.format("")).fetchall()

            cases: dict[str, Callable[[], object]] = {
                "qualified names": lambda: plain.execute(QUERY.format("products.")).fetchall(),
                "SET search_path once": lambda: pathed.execute(QUERY.format("")).fetchall(),
                "SET before each (Superset)": superset_style,
            }
            samples: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(n):
                for name, run in cases.items():
                    t0 = time.perf_counter()
                    run()
                    samples[name].append(time.perf_counter() - t0)
        base = statistics.median(samples["qualified names"])
        for name, values in samples.items():
            med = statistics.median(values)
            print(f"{name:28s} median {med * 1e3:.3f} ms  ratio {med / base:.2f}")
    finally:
        proxy.stop()
        drop_database(db)


if __name__ == "__main__":
    main()
