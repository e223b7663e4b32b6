"""The policy conformance corpus: YAML cases run against any ``PolicyEvaluator``.

A corpus file holds ``cases:``, each read the way OPA's own test cases read::

    - note: pii/ssn projected raw is denied          # unique within the file
      path: privgate/query/decision                   # optional; the rule to evaluate
      input: {facts: {columns: [...]}}                # merged over BASE_INPUT (objects merge, lists replace)
      raw_input: false                                # true: `input` is the whole document, unvalidated
      data: {privgate: {rules: {max_rows: null}}}      # merged over the base data document
      raw_data: false                                 # true: `data` is the whole data document
      expected: {allow: false, deny_codes: [pii_raw_projection], obligation_kinds: []}
      # optional, stricter: expected.deny: [{code, message_contains}], expected.obligations: [{kind, params}]
      # or instead of expected: expected_error: policy_undefined | policy_eval_error | policy_bad_result

Merged inputs are validated against ``PolicyInput``, so every ordinary case is an input the engine
could really send. ``deny_codes`` and ``obligation_kinds`` compare as sorted sets of codes/kinds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from privgate.engine.errors import PolicyError
from privgate.engine.facts import Facts
from privgate.engine.policy_io import BudgetDoc, PolicyInput, PrincipalDoc, RequestDoc, parse_result
from privgate.engine.ports import PolicyEvaluator

from .bundle import merge_data

DECISION_PATH = "privgate/query/decision"

BASE_INPUT: dict[str, Any] = PolicyInput(
    request=RequestDoc(id="corpus", principal=PrincipalDoc(id="alice", roles=("analyst",)),
                       purpose="analytics", surface="query", dialect="postgres"),
    facts=Facts(dialect="postgres", statement_kind="select"),
    budget=BudgetDoc(query_class="standard", epsilon="0.5", delta="1E-7", remaining="10", affordable=True),
).model_dump(mode="json")

_CASE_KEYS = {"note", "path", "input", "raw_input", "data", "raw_data", "expected", "expected_error"}
_EXPECTED_KEYS = {"allow", "deny_codes", "obligation_kinds", "deny", "obligations"}


class CorpusError(PolicyError):
    """A corpus file is invalid; the message names the file and the case."""

    code = "policy_corpus_invalid"


@dataclass(frozen=True)
class Case:
    file: str
    note: str
    input: dict[str, Any]
    data: dict[str, Any] | None
    raw_data: bool
    expected: dict[str, Any] | None
    expected_error: str | None
    path: str | None = None


@dataclass(frozen=True)
class CaseResult:
    """One case's outcome on one backend; ``actual`` is the summary that was compared."""

    file: str
    note: str
    backend: str
    passed: bool
    actual: dict[str, Any]
    problems: tuple[str, ...] = ()
    decision: Any = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.file}::{self.note}"


def load_cases(paths: Iterable[str | Path]) -> list[Case]:
    """Every case of the YAML files named (folders are walked for ``*.yaml``/``*.yml``)."""
    cases: list[Case] = []
    for file in _files(paths):
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CorpusError(f"corpus file {file} is not valid YAML: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
            raise CorpusError(f"corpus file {file} must hold a top-level `cases:` list")
        notes: set[str] = set()
        for i, raw in enumerate(doc["cases"]):
            case = _parse_case(file, i, raw)
            if case.note in notes:
                raise CorpusError(f"corpus file {file}: note {case.note!r} is used twice")
            notes.add(case.note)
            cases.append(case)
    return cases


def run_corpus(evaluator: PolicyEvaluator, paths: Iterable[str | Path], *,
               base_data: Mapping[str, Any], path: str = DECISION_PATH) -> list[CaseResult]:
    """Run every case on ``evaluator``; the evaluator holds ``base_data`` again afterwards."""
    results: list[CaseResult] = []
    base_json = json.dumps(base_data, sort_keys=True)
    loaded: str | None = None
    try:
        for case in load_cases(paths):
            data = case_data(case, base_data)
            data_json = json.dumps(data, sort_keys=True)
            if data_json != loaded:
                evaluator.load(data)
                loaded = data_json
            results.append(run_case(evaluator, case, path=case.path or path))
    finally:
        if loaded != base_json:
            evaluator.load(base_data)
    return results


def case_data(case: Case, base_data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The data document a case runs on: the base, the case's data merged over it, or raw data."""
    if case.data is None:
        return base_data
    return case.data if case.raw_data else merge_data(base_data, case.data)


def run_case(evaluator: PolicyEvaluator, case: Case, *, path: str = DECISION_PATH) -> CaseResult:
    """Evaluate one case on the data the evaluator currently holds and compare."""
    try:
        raw = evaluator.evaluate(path, case.input)
        if raw is None:
            actual: dict[str, Any] = {"error": "policy_undefined"}
        else:
            result = parse_result(raw)
            actual = {
                "allow": result.allow,
                "deny_codes": sorted({r.code for r in result.deny}),
                "obligation_kinds": sorted({o.kind for o in result.obligations}),
            }
    except PolicyError as exc:
        raw = None
        actual = {"error": exc.code, "message": exc.message}
    problems = _compare(case, actual, raw)
    return CaseResult(file=case.file, note=case.note, backend=evaluator.backend, passed=not problems,
                      actual=actual, problems=tuple(problems), decision=raw)


def _compare(case: Case, actual: dict[str, Any], raw: Any) -> list[str]:
    if case.expected_error is not None:
        if actual.get("error") != case.expected_error:
            return [f"expected error {case.expected_error}, got {_summary(actual)}"]
        return []
    assert case.expected is not None
    if "error" in actual:
        return [f"expected a decision, got error {actual['error']}: {actual.get('message', '')}".rstrip(": ")]
    exp = case.expected
    problems = []
    for key in ("allow", "deny_codes", "obligation_kinds"):
        want = sorted(set(exp[key])) if key != "allow" and key in exp else exp.get(key)
        if key in exp and actual[key] != want:
            problems.append(f"{key}: expected {want}, got {actual[key]}")
    reasons = raw.get("deny", []) if isinstance(raw, dict) else []
    for want_reason in exp.get("deny", []):
        code, needle = want_reason.get("code"), want_reason.get("message_contains", "")
        if not any(r.get("code") == code and needle in r.get("message", "") for r in reasons):
            problems.append(f"no deny reason {code} with message containing {needle!r}")
    if "obligations" in exp:
        got = raw.get("obligations", []) if isinstance(raw, dict) else []
        if got != exp["obligations"]:
            problems.append(f"obligations: expected {exp['obligations']}, got {got}")
    return problems


def _summary(actual: Mapping[str, Any]) -> str:
    if "error" in actual:
        return f"error {actual['error']}"
    return f"allow={actual['allow']} deny={actual['deny_codes']} obligations={actual['obligation_kinds']}"


def _parse_case(file: Path, index: int, raw: Any) -> Case:
    where = f"corpus file {file}, case {index}"
    if not isinstance(raw, dict):
        raise CorpusError(f"{where} must be an object")
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise CorpusError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_CASE_KEYS)}")
    note = raw.get("note")
    if not isinstance(note, str) or not note:
        raise CorpusError(f"{where} needs a `note`")
    where = f"corpus file {file}, case {note!r}"
    if ("expected" in raw) == ("expected_error" in raw):
        raise CorpusError(f"{where} needs exactly one of `expected` or `expected_error`")
    expected = raw.get("expected")
    if expected is not None and (not isinstance(expected, dict) or set(expected) - _EXPECTED_KEYS):
        raise CorpusError(f"{where}: `expected` may only hold {sorted(_EXPECTED_KEYS)}")
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        raise CorpusError(f"{where}: `data` must be an object")
    return Case(file=str(file), note=note, input=_case_input(where, raw), data=data,
                raw_data=bool(raw.get("raw_data")), expected=expected,
                expected_error=raw.get("expected_error"), path=raw.get("path"))


def _case_input(where: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    doc = raw.get("input", {})
    if not isinstance(doc, dict):
        raise CorpusError(f"{where}: `input` must be an object")
    if raw.get("raw_input"):
        return doc
    merged = merge_data(BASE_INPUT, doc)
    try:
        return PolicyInput.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CorpusError(f"{where}: input is not a valid policy input at {loc}: {first['msg']} "
                          "(set raw_input: true for a deliberately malformed input)") from exc


def _files(paths: Iterable[str | Path]) -> Sequence[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml")))
        elif p.is_file():
            files.append(p)
        else:
            raise CorpusError(f"corpus path {p} does not exist")
    return files
