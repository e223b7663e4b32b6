"""`privgate check` end to end through the real CLI entry point and the embedded policy backend."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from conftest import CONFIG, ROOT, require_service

from privgate.cli.main import main

EXAMPLES = ROOT / "examples" / "check"
SARIF_SCHEMA = Path(os.environ.get("PRIVGATE_SARIF_SCHEMA", ROOT / ".cache" / "sarif-schema-2.1.0.json"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(CONFIG), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_all_allowed_exits_zero(capsys):
    code, out, _ = run(capsys, "check", str(EXAMPLES / "dashboards.sql"))
    assert code == 0, out
    assert "3 statements in 1 file: 3 passed, 0 denied" in out
    assert "ε forecast 1" in out  # two DP statements of the standard class at 0.5; the public one is free


def test_any_denied_exits_one_with_locations(capsys):
    code, out, _ = run(capsys, "check", str(EXAMPLES))
    assert code == 1
    assert f"FAIL - {EXAMPLES / 'exports.sql'}:6:1 - pii_raw_projection" in out
    assert f"FAIL - {EXAMPLES / 'exports.sql'}:8:1 - pii_predicate_without_dp" in out
    assert f"PASS - {EXAMPLES / 'exports.sql'}:4:1 (rewrite: mask, row_filter, row_limit)" in out


def test_usage_and_config_errors_exit_two(capsys, tmp_path: Path):
    assert run(capsys, "check", str(tmp_path / "missing.sql"))[0] == 2
    assert run(capsys, "check", "--format", "yaml", str(EXAMPLES))[0] == 2
    bad = tmp_path / "bad.sql"
    bad.write_text("-- privgate: porpose=x\nSELECT 1;\n")
    code, _, err = run(capsys, "check", str(bad))
    assert code == 2 and "check_bad_directive" in err


def test_sarif_is_valid_sarif_2_1_0(capsys, tmp_path: Path):
    if not SARIF_SCHEMA.is_file():
        require_service("SARIF 2.1.0 JSON schema", f"{SARIF_SCHEMA} missing; run `make test` to fetch it")
    out_file = tmp_path / "report.sarif"
    code, _, _ = run(capsys, "check", str(EXAMPLES), "--format", "sarif", "--output", str(out_file))
    assert code == 1
    doc = json.loads(out_file.read_text())
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    results = doc["runs"][0]["results"]
    rules = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    assert {r["ruleId"] for r in results} == set(rules)
    for r in results:
        assert rules[r["ruleIndex"]] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1


def test_junit_counts_statements_and_failures(capsys):
    code, out, _ = run(capsys, "check", str(EXAMPLES), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root.iter("testsuite"))
    assert int(root.get("failures")) >= 2
    failures = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert any("pii_raw_projection" in (c.find("failure").get("type") or "") for c in failures)


def test_json_report_carries_decisions(capsys):
    code, out, _ = run(capsys, "check", str(EXAMPLES / "marketing.sql"), "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["summary"] == {"statements": 1, "files": 1, "denied": 0, "epsilon_forecast": "0.5"}
    [res] = doc["results"]
    assert res["decision"]["principal"] == "mia" and res["decision"]["purpose"] == "marketing"
    assert {o["kind"] for o in res["decision"]["obligations"]} >= {"dp"}


def test_decide_exit_codes_and_json(capsys):
    code, out, _ = run(capsys, "decide", "--principal", "ana", "--json",
                       "--sql", "SELECT customer_id, ssn FROM sales.customers")
    assert code == 1
    d = json.loads(out)
    assert d["allowed"] is False and d["reasons"][0]["code"] == "pii_raw_projection"
    code, out, _ = run(capsys, "decide", "--principal", "sam", "--sql",
                       "SELECT full_name, email FROM sales.customers WHERE customer_id = 7")
    assert code == 0 and out.startswith("ALLOW")
    code, _, err = run(capsys, "decide", "--principal", "nobody", "--sql", "SELECT 1")
    assert code == 2 and "cli_no_purpose" in err


def test_policy_test_runs_the_corpus_on_both_backends(capsys, opa_url, tmp_path: Path, monkeypatch):
    corpus = str(ROOT / "tests" / "corpus" / "policy")
    code, out, _ = run(capsys, "policy", "test", corpus)
    assert code == 0, out
    assert re.search(r"(\d+) cases on embedded \(sha256:[0-9a-f]{16}\): \1 passed, 0 failed", out)
    monkeypatch.setenv("PRIVGATE_OPA_URL", opa_url)
    code, out, _ = run(capsys, "policy", "test", corpus, "--backend", "opa", "--json")
    assert code == 0
    results = json.loads(out)
    assert results and all(r["passed"] and r["backend"] == "opa" for r in results)
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases:\n  - note: wrong on purpose\n"
                   "    input: {facts: {statement_kind: ddl}}\n    expected: {allow: true}\n")
    code, out, _ = run(capsys, "policy", "test", str(bad))
    assert code == 1 and "FAIL" in out


def test_explicit_non_sql_files_are_refused_and_training_specs_are_judged(capsys):
    code, _, err = run(capsys, "check", str(ROOT / "README.md"))
    assert code == 2 and "check_unsupported_file" in err
    fed = ROOT / "examples" / "federated"
    code = main(["--config", str(fed / "privgate.yaml"), "check", str(fed / "job.yaml")])
    out = capsys.readouterr().out
    assert code == 0 and "1 statement in 1 file: 1 passed, 0 denied" in out


def test_named_yaml_that_is_not_a_readable_training_job_is_an_error(capsys, tmp_path: Path):
    broken = tmp_path / "job.yaml"
    broken.write_text("rounds: [\n")
    code, _, err = run(capsys, "check", str(broken))
    assert code == 2 and "line 2" in err
    other = tmp_path / "other.yaml"
    other.write_text("round: 3\nmodel: x\n")  # a typo'd spec must not be skipped as "not a job"
    code, _, err = run(capsys, "check", str(other))
    assert code == 2 and "check_not_a_training_job" in err
