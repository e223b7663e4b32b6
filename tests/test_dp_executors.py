"""Executors: URL dispatch, read-only DuckDB sessions, driver errors translated at the seam."""

from __future__ import annotations

import pytest

from privgate.connectors.executors import open_executor
from privgate.engine.dp import Executor, UpstreamError


def test_duckdb_executor_runs_and_is_read_only(duck):
    assert isinstance(duck, Executor) and duck.dialect == "duckdb"
    names, rows = duck.execute("SELECT COUNT(*) AS n FROM sales.customers WHERE segment = ?", ["smb"])
    assert names == ["n"] and rows[0][0] > 0
    with pytest.raises(UpstreamError) as err:
        duck.execute("DELETE FROM sales.customers")
    assert err.value.code == "upstream_error"


def test_bad_urls_and_missing_files_fail_closed(tmp_path):
    with pytest.raises(UpstreamError) as err:
        open_executor("mysql://x")
    assert err.value.code == "upstream_unsupported"
    with pytest.raises(UpstreamError) as err:
        open_executor(f"duckdb://{tmp_path}/missing.duckdb")
    assert err.value.code == "upstream_unreachable" and "demo-data" in err.value.message
    mem = open_executor("duckdb://:memory:")
    assert mem.execute("SELECT 41 + 1")[1] == [(42,)]
    mem.close()
