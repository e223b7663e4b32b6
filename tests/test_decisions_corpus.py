"""End-to-end decisions over the analysis corpus: SQL in, the default bundle's decision out.

Each case's ``decision`` block (outcome and the exact set of deny codes or obligation kinds) is what
a person reviewing the statement would expect; this runs analyzer, policy and rewriter together.
"""

from __future__ import annotations

import pytest
import yaml
from conftest import CONFIG, ROOT

from privgate.engine.decision import Principal, Request
from privgate.wiring import build_engine

CORPUS = ROOT / "tests" / "corpus" / "analysis"


def _cases() -> list[tuple[str, dict]]:
    out = []
    for f in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(f.read_text()) or []:
            if "decision" in case:
                out.append((f"{f.stem}:{case['note']}", case))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def engine():
    return build_engine(CONFIG, env={})


def test_corpus_has_decisions():
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_decision(engine, case: dict):
    request = Request(
        principal=Principal(id=case.get("principal", "ana"), roles=tuple(case.get("roles", ["analyst"]))),
        purpose=case.get("purpose", "analytics"), sql=case["sql"], dialect=case.get("dialect", "postgres"))
    d = engine.decide(request)
    want = case["decision"]
    got_codes = {r.code for r in d.reasons} if d.outcome == "deny" else {o.kind for o in d.obligations}
    assert (d.outcome, got_codes) == (want["outcome"], set(want.get("codes", []))), [
        (r.code, r.message) for r in d.reasons]
    for r in d.reasons:
        assert r.message and r.code, "every reason must carry a code and an actionable message"
    if d.outcome == "rewrite" and ({"mask", "row_filter", "row_limit"} & got_codes):
        assert d.rewritten_sql, "an allowed request with SQL obligations must carry the rewritten SQL"
