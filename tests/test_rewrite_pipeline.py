"""The rewriter inside the decision pipeline: the record keeps display-safe SQL, never key material,
and a rewrite failure is a deny with the rewriter's stable code (fail closed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rewrite_support import MASK_KEY, analysis, catalog, parse_obligations

from privgate.engine.decision import Principal, Request
from privgate.engine.errors import RewriteError
from privgate.engine.pipeline import CachedAnalysis, Engine
from privgate.engine.ports import FunctionEvaluator
from privgate.engine.rewrite.keyed_hash import derive_pads
from privgate.engine.rules import Rules

SQL = "SELECT email, country FROM sales.customers WHERE country = 'US'"


def _engine(obligations: str, *, mask_key: bytes = MASK_KEY) -> Engine:
    result: dict[str, Any] = {"allow": True, "obligations": [
        o.model_dump(mode="json") for o in parse_obligations(obligations)]}
    rules = Rules(allowed_functions=frozenset({"count"}))
    evaluator = FunctionEvaluator(lambda _path, _input, _data: result)
    engine = Engine(catalog(), rules, evaluator, mask_key=mask_key,
                    clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), new_id=lambda: "d1")
    # Hand the engine this module's analysis (of its own test catalog) through its real cache.
    engine.cache.put(engine.cache.key(SQL, "postgres"), CachedAnalysis(analysis(SQL, "postgres", qualified=True)))
    return engine


def _request() -> Request:
    return Request(principal=Principal(id="ana", roles=("analyst",)), purpose="analytics", sql=SQL)


def test_decision_records_display_sql_without_key_material() -> None:
    decision = _engine("mask sales.customers.email hash; filter sales.customers consent_analytics; "
                       "limit 100").decide(_request())
    assert decision.allowed and decision.outcome == "rewrite", decision.reasons
    assert decision.rewritten_sql is not None
    assert "%(privgate_hash_ipad)s" in decision.rewritten_sql
    assert "consent_analytics = TRUE" in decision.rewritten_sql
    record = json.dumps(decision.model_dump(mode="json"))
    pads = derive_pads(MASK_KEY, "hash")
    for secret in (MASK_KEY.decode(), MASK_KEY.hex(), pads.ipad_hex, pads.opad_hex):
        assert secret not in record


def test_missing_mask_key_still_decides_but_cannot_execute() -> None:
    decision = _engine("mask sales.customers.email hash", mask_key=b"").decide(_request())
    assert decision.allowed and decision.outcome == "rewrite"
    assert decision.rewritten_sql is not None and "%(privgate_hash_ipad)s" in decision.rewritten_sql
    with pytest.raises(RewriteError) as err:
        decision.bind_params()
    assert err.value.code == "rewrite_mask_key_missing"
    keyed = _engine("mask sales.customers.email hash").decide(_request())
    assert set(keyed.bind_params()) == {"privgate_hash_ipad", "privgate_hash_opad"}
