"""The bundle's own Rego unit tests (``policies/**/*_test.rego``), run by the real ``opa test``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

POLICIES = Path(__file__).resolve().parent.parent / "policies"


@pytest.mark.service
def test_opa_test_passes_on_the_bundle(opa_bin: Path) -> None:
    proc = subprocess.run([str(opa_bin), "test", str(POLICIES), "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    assert len(results) >= 20
    assert all(r.get("fail") is not True and "error" not in r for r in results)


@pytest.mark.service
def test_bundle_is_formatted_and_type_checks(opa_bin: Path) -> None:
    check = subprocess.run([str(opa_bin), "check", "--strict", str(POLICIES)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([str(opa_bin), "fmt", "--list", str(POLICIES)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert fmt.stdout.strip() == "", f"run `opa fmt -w policies/`: {fmt.stdout}"


ARITHMETIC = {"plus", "minus", "mul", "div", "rem", "abs", "round", "ceil", "floor", "sum", "product",
              "to_number", "numbers.range"}


def _budget_arithmetic(opa_bin: Path, files: list[Path]) -> list[str]:
    """Arithmetic calls (found in OPA's parsed AST) that take anything read from ``input.budget``."""
    def refs_budget(node: Any) -> bool:
        if isinstance(node, dict):
            if node.get("type") == "ref" and any(
                    isinstance(t, dict) and t.get("value") == "budget" for t in node.get("value", [])):
                return True
            return any(refs_budget(v) for v in node.values())
        return isinstance(node, list) and any(refs_budget(v) for v in node)

    def op_name(term: Any) -> str:
        if isinstance(term, dict) and term.get("type") == "ref":
            return ".".join(str(t.get("value")) for t in term["value"])
        return ""

    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            call = node["value"] if node.get("type") == "call" else node.get("terms")
            if isinstance(call, list) and call and op_name(call[0]) in ARITHMETIC and refs_budget(call[1:]):
                found.append(f"{where}: {op_name(call[0])} on input.budget")
            for v in node.values():
                walk(v, where)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    for f in files:
        proc = subprocess.run([str(opa_bin), "parse", str(f), "--format", "json"],
                              capture_output=True, text=True, timeout=60, check=True)
        walk(json.loads(proc.stdout), f.name)
    return found


@pytest.mark.service
def test_no_arithmetic_on_budget_numbers(opa_bin: Path) -> None:
    """Epsilon/delta are decimal strings compared exactly in Python (regorus and OPA disagree on
    float arithmetic); the bundle may only pass them through."""
    files = [f for f in POLICIES.rglob("*.rego") if not f.name.endswith("_test.rego")]
    assert _budget_arithmetic(opa_bin, files) == []


@pytest.mark.service
def test_budget_arithmetic_check_catches_a_violation(opa_bin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package bad\n\nhalf := to_number(input.budget.epsilon) / 2\n", encoding="utf-8")
    assert _budget_arithmetic(opa_bin, [bad]) != []
