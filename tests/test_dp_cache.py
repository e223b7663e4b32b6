"""The release cache: the same question (SQL, scope, data version) gets the same released answer."""

from __future__ import annotations

from dp_helpers import qualified, run

from privgate.engine.dp import InMemoryReleaseCache, normalized_sql, release_key


def test_repeat_returns_the_release_and_says_so(demo_catalog, duck):
    cache = InMemoryReleaseCache()
    plan, _, first = run("SELECT segment, COUNT(*) AS n FROM sales.customers GROUP BY segment", demo_catalog, duck)
    key = release_key(plan.normalized_sql, "ana", duck.data_version(["sales.customers"]))
    assert cache.get(key) is None
    cache.put(key, first)
    again = cache.get(key)
    assert again is not None and again.cached and not first.cached
    assert again.rows == first.rows and again.charge == first.charge


def test_normalization_and_key_parts(demo_catalog):
    a = normalized_sql(qualified("select segment, count(*) from sales.customers group by segment", demo_catalog))
    b = normalized_sql(qualified("SELECT  segment , COUNT(*)\nFROM sales.customers GROUP BY segment",
                                 demo_catalog))
    assert a == b
    assert release_key(a, "ana", "v1") == release_key(b, "ana", "v1")
    assert len({release_key(a, "ana", "v1"), release_key(a, "bob", "v1"), release_key(a, "ana", "v2")}) == 3


def test_lru_bound():
    from privgate.engine.dp.model import Charge, DpResult

    cache = InMemoryReleaseCache(size=2)
    result = DpResult(columns=(), rows=(), half_widths=(), swamped=(), suppressed_keys=0,
                      charge=Charge(epsilon=0, delta=0, mechanisms=()), sql="", alpha=0.05)
    for k in "abc":
        cache.put(k, result)
    assert cache.get("a") is None and cache.get("c") is not None


def test_duckdb_data_version_changes_on_write(tmp_path, demo_catalog):
    from privgate.connectors.demo_data import write_duckdb
    from privgate.connectors.executors import open_executor

    path = tmp_path / "w.duckdb"
    write_duckdb(path, demo_catalog, customers=50, seed=1)
    ex = open_executor(f"duckdb://{path}")
    before = ex.data_version(["sales.customers"])
    ex.close()
    writer = open_executor(f"duckdb://{path}", read_only=False)
    writer.execute("UPDATE sales.customers SET segment = 'smb' WHERE customer_id = 1")
    writer.execute("CHECKPOINT")
    writer.close()
    ex = open_executor(f"duckdb://{path}")
    assert ex.data_version(["sales.customers"]) != before
    ex.close()
