"""`privgate sync datahub` through the CLI entry point, in file mode (no GMS can run here)."""

from __future__ import annotations

import json
from pathlib import Path

from datahub_standin import example_records

from privgate.cli.main import main


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "privgate.yaml"
    cfg.write_text("catalog: catalog\ndatahub: {database: shop}\n")
    return cfg


def test_pull_then_dry_run_push_from_a_metadata_file(tmp_path: Path, capsys):
    from datahub.ingestion.sink.file import write_metadata_file

    export = tmp_path / "export.json"
    write_metadata_file(export, example_records())
    cfg = _config(tmp_path)
    assert main(["--config", str(cfg), "sync", "datahub", "pull", "--file", str(export), "--format", "json"]) == 0
    pulled = json.loads(capsys.readouterr().out)
    assert pulled and list((tmp_path / "catalog").glob("*.yaml"))
    out = tmp_path / "proposals.json"
    code = main(["--config", str(cfg), "sync", "datahub", "push", "--file", str(out), "--base", str(export),
                 "--dry-run"])
    assert code == 0
    assert not out.exists(), "--dry-run must not write"


def test_usage_errors_exit_two(tmp_path: Path, capsys):
    cfg = _config(tmp_path)
    assert main(["--config", str(cfg), "sync", "datahub", "pull", "--file", "x.json", "--token-env", "T"]) == 2
    assert "cli_usage" in capsys.readouterr().err
    code = main(["--config", str(cfg), "sync", "datahub", "pull", "--file", str(tmp_path / "missing.json")])
    assert code == 2
    assert "datahub_" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("catalog: catalog\ndatahub: {databse: shop}\n")
    assert main(["--config", str(bad), "sync", "datahub", "pull", "--file", "x.json"]) == 2
    assert "datahub.databse: unknown key" in capsys.readouterr().err
