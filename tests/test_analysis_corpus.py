"""The analysis corpus: every case's ``facts`` block must match what the Analyzer reports.

Cases live in ``tests/corpus/analysis/*.yaml`` (one YAML list per file). A ``facts`` block is a
*partial* expectation: only the keys it lists are compared. Convenience keys:

- ``projected`` / ``aggregated`` / ``filtered`` / ``grouped`` / ``joined`` / ``ordered`` /
  ``windowed``: the exact set of ``schema.table.column`` having that usage;
- ``tables``: the set of table names; ``join_kinds``: the set of join kinds;
- ``aggregate_functions``: the set of aggregate function names;
- ``aggregates``: the exact list of aggregate facts (order-insensitive), defaults filled in;
- ``column_aggregates`` / ``column_transforms``: ``{schema.table.column: [names]}``, exact sets;
- ``unsupported``: the set of unsupported construct names;
- ``error``: the AnalysisError code the analyzer must raise instead of returning facts;
- any other key is a ``Facts`` field; lists are compared as sets, scalars exactly.

The ``decision`` block is the expected decision under the default policy bundle; it is checked by
the policy conformance tests, not here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from analysis_support import demo_analyzer

from privgate.engine.errors import AnalysisError
from privgate.engine.facts import Facts

CORPUS = Path(__file__).parent / "corpus" / "analysis"
USAGES = ("projected", "aggregated", "filtered", "grouped", "joined", "ordered", "windowed")
CASE_KEYS = {"note", "sql", "dialect", "facts", "decision", "principal", "roles", "purpose"}
DECISION_OUTCOMES = {"allow", "rewrite", "deny"}


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()) or []:
            cases.append((f"{path.stem}:{case['note']}", case))
    return cases


CASES = load_cases()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 150, f"the analysis corpus has {len(CASES)} cases; issue 2 asks for at least 150"


def test_case_ids_are_unique() -> None:
    ids = [i for i, _ in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[i for i, _ in CASES])
def test_case_is_well_formed(case_id: str, case: dict[str, Any]) -> None:
    assert set(case) <= CASE_KEYS, f"unknown keys {set(case) - CASE_KEYS}"
    assert isinstance(case.get("facts"), dict) and case["facts"], "every case states some facts"
    decision = case.get("decision")
    assert isinstance(decision, dict), "every case states its expected decision"
    assert decision.get("outcome") in DECISION_OUTCOMES
    assert isinstance(decision.get("codes", []), list)
    if decision["outcome"] == "allow":
        assert not decision.get("codes")
    else:
        assert decision.get("codes"), "deny and rewrite decisions name their codes"


def _usage_set(facts: Facts, usage: str) -> set[str]:
    return {f"{c.table}.{c.column}" for c in facts.columns if usage in c.usages}


def _actual(facts: Facts, key: str) -> Any:
    if key in USAGES:
        return _usage_set(facts, key)
    if key == "tables":
        return {t.name for t in facts.tables}
    if key == "join_kinds":
        return {j.kind for j in facts.joins}
    if key == "aggregate_functions":
        return {a.function for a in facts.aggregates}
    if key == "column_aggregates":
        return {f"{c.table}.{c.column}": set(c.aggregates) for c in facts.columns if c.aggregates}
    if key == "column_transforms":
        return {f"{c.table}.{c.column}": set(c.transforms) for c in facts.columns if c.transforms}
    if key == "aggregates":
        return sorted(json.dumps(a.model_dump(mode="json"), sort_keys=True) for a in facts.aggregates)
    if key == "unsupported":
        return {u.construct for u in facts.unsupported}
    value = getattr(facts, key)
    return set(value) if isinstance(value, tuple) else value


def _expected(key: str, value: Any) -> Any:
    if key == "aggregates":
        return sorted(json.dumps({"distinct": False, "columns": [], "star": False, **a}, sort_keys=True)
                      for a in value)
    if key in ("column_aggregates", "column_transforms"):
        return {k: set(v) for k, v in value.items()}
    return set(value) if isinstance(value, list) else value


@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[i for i, _ in CASES])
def test_facts(case_id: str, case: dict[str, Any]) -> None:
    expected = dict(case["facts"])
    error = expected.pop("error", None)
    dialect = case.get("dialect", "postgres")
    if error is not None:
        with pytest.raises(AnalysisError) as info:
            demo_analyzer().analyze(case["sql"], dialect)
        assert info.value.code == error
        return
    facts = demo_analyzer().analyze(case["sql"], dialect).facts
    mismatches = {}
    for key, value in expected.items():
        want, got = _expected(key, value), _actual(facts, key)
        if want != got:
            mismatches[key] = {"expected": want, "actual": got}
    assert not mismatches, f"{case_id}: {mismatches}"
