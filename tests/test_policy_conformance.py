"""The policy conformance corpus on both backends: each case must pass, and regorus and OPA must
return the very same decision document (reasons, messages, order, obligations)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import default_data

from privgate.connectors.policy.corpus import Case, case_data, load_cases, run_case, run_corpus
from privgate.connectors.policy.embedded import EmbeddedEvaluator
from privgate.connectors.policy.server import OpaServerEvaluator

CORPUS = Path(__file__).resolve().parent / "corpus" / "policy"
CASES = load_cases([CORPUS])


def _id(case: Case) -> str:
    return f"{Path(case.file).stem}::{case.note}"


@pytest.fixture(scope="module")
def embedded() -> EmbeddedEvaluator:
    return EmbeddedEvaluator()


@pytest.fixture(scope="module")
def opa(opa_url: str) -> Iterator[OpaServerEvaluator]:
    ev = OpaServerEvaluator(opa_url)
    yield ev
    ev.close()


def test_corpus_is_large_and_covers_every_reason_code() -> None:
    assert len(CASES) >= 40
    codes = {c for case in CASES if case.expected for c in case.expected.get("deny_codes", [])}
    assert codes >= {
        "statement_not_allowed", "multi_statement", "function_not_allowed", "unknown_table", "unknown_column",
        "unsupported_construct", "pii_raw_projection", "pii_predicate_without_dp", "budget_exhausted",
        "group_by_privacy_unit", "purpose_not_allowed", "cross_domain_no_agreement", "input_invalid",
        "data_missing",
    }
    kinds = {k for case in CASES if case.expected for k in case.expected.get("obligation_kinds", [])}
    assert kinds == {"mask", "dp", "row_filter", "row_limit"}


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_case_on_embedded(case: Case, embedded: EmbeddedEvaluator) -> None:
    embedded.load(case_data(case, default_data()))
    result = run_case(embedded, case, path=case.path or "privgate/query/decision")
    assert result.passed, result.problems


@pytest.mark.service
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_case_on_opa_matches_embedded(case: Case, embedded: EmbeddedEvaluator,
                                      opa: OpaServerEvaluator) -> None:
    data = case_data(case, default_data())
    path = case.path or "privgate/query/decision"
    embedded.load(data)
    opa.load(data)
    ours, theirs = run_case(embedded, case, path=path), run_case(opa, case, path=path)
    assert theirs.passed, theirs.problems
    assert theirs.actual == ours.actual
    assert theirs.decision == ours.decision


def test_run_corpus_reports_every_case_and_restores_data(embedded: EmbeddedEvaluator) -> None:
    base = default_data()
    results = run_corpus(embedded, [CORPUS], base_data=base)
    assert len(results) == len(CASES)
    failed = [(r.id, r.problems) for r in results if not r.passed]
    assert not failed
    # afterwards the evaluator holds the base data again: a plain read is decided normally
    doc = load_cases([CORPUS / "statements.yaml"])[0].input
    assert embedded.evaluate("privgate/query/decision", doc)["deny"] == []


def test_run_corpus_reports_a_wrong_expectation(tmp_path: Path, embedded: EmbeddedEvaluator) -> None:
    (tmp_path / "wrong.yaml").write_text(
        "cases:\n"
        "  - note: ddl claimed allowed\n"
        "    input: {facts: {statement_kind: ddl}}\n"
        "    expected: {allow: true, deny_codes: []}\n", encoding="utf-8")
    [result] = run_corpus(embedded, [tmp_path], base_data=default_data())
    assert not result.passed
    assert result.actual["deny_codes"] == ["statement_not_allowed"]
    assert any("allow: expected True" in p for p in result.problems)
