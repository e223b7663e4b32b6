"""`privgate demo-data`, `privgate scan` and `privgate catalog review` through the CLI entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CONFIG, DEMO_CATALOG

from privgate.cli.main import main
from privgate.connectors.catalog_yaml import load_catalog


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "demo.duckdb"
    assert main(["--config", str(CONFIG), "demo-data", str(path), "--customers", "300"]) == 0
    return path


def test_scan_finds_pii_then_rescan_reanalyses_nothing_and_review_confirms(warehouse, tmp_path, capsys):
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    capsys.readouterr()
    assert main(["scan", str(warehouse), "--catalog", str(catalog), "--sample", "50", "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["stats"]["analyzed"] > 0
    assert main(["scan", str(warehouse), "--catalog", str(catalog), "--sample", "50", "--format", "json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["stats"]["analyzed"] == 0
    assert main(["catalog", "review", "--catalog", str(catalog), "--format", "json"]) == 0
    pending = json.loads(capsys.readouterr().out)["pending"]
    assert pending, "the demo catalog carries suggested tags to review"
    target = pending[0]["id"]
    assert main(["catalog", "review", "--catalog", str(catalog), "--confirm", target]) == 0
    table, column = target.split(":")[0].rsplit(".", 1)
    schema, name = table.split(".")
    col = next(t for q, _, t in load_catalog(catalog).iter_tables() if q == table).column(column)
    assert col is not None and any(tag.status == "confirmed" for tag in col.pii), (schema, name)


def test_scan_of_an_unreadable_source_exits_non_zero(tmp_path, capsys):
    code = main(["scan", str(tmp_path / "missing.duckdb"), "--catalog", str(tmp_path / "cat")])
    assert code in (1, 2)
    captured = capsys.readouterr()
    assert "scan_" in captured.out + captured.err
