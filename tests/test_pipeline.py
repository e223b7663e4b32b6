"""The pipeline's contract: one decision per request, and every failure is a deny with a stable code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from privgate.engine.decision import Principal, Request
from privgate.engine.errors import PolicyError, PolicyTimeout
from privgate.engine.pipeline import Engine
from privgate.engine.ports import FunctionEvaluator, StaticBudget

ANA = Principal(id="ana", roles=("analyst",))
SQL = "SELECT count(*) FROM sales.orders"


def make(demo_catalog, default_rules, fn, **kw: Any) -> Engine:
    return Engine(demo_catalog, default_rules, FunctionEvaluator(fn), **kw)


def req(sql: str = SQL, **kw: Any) -> Request:
    return Request(principal=ANA, purpose="analytics", sql=sql, **kw)


def allow(path: str, inp: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    return {"allow": True}


def codes(d) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.code for r in d.reasons]


def test_allow_passes_through(demo_catalog, default_rules):
    d = make(demo_catalog, default_rules, allow).decide(req())
    assert (d.allowed, d.outcome, d.reasons, d.obligations) == (True, "allow", (), ())
    # no obligations, but it runs exactly the table the policy judged
    assert "FROM sales.orders AS orders" in (d.rewritten_sql or "")
    session = make(demo_catalog, default_rules, allow).decide(req("SET statement_timeout = 1000"))
    assert session.allowed and session.rewritten_sql is None  # not a query over catalog tables
    assert d.provenance.catalog_revision == demo_catalog.revision
    assert d.provenance.input_version == 1
    assert set(d.timings_ms) >= {"analyze", "policy", "total"}
    json.loads(d.to_json())


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (None, "policy_undefined"),
        ({"allow": "yes"}, "policy_bad_result"),
        ({"allowed": True}, "policy_bad_result"),
        ([], "policy_bad_result"),
        ({"allow": False}, "policy_no_allow"),
        ({"allow": True, "deny": [{"code": "x_rule", "message": "m", "rule": "r"}]}, "x_rule"),
    ],
)
def test_policy_results_that_are_not_a_clean_allow_deny(demo_catalog, default_rules, result, code):
    d = make(demo_catalog, default_rules, lambda p, i, data: result).decide(req())
    assert not d.allowed and d.outcome == "deny"
    assert codes(d) == [code]
    assert d.obligations == () and d.rewritten_sql is None


@pytest.mark.parametrize(
    ("exc", "code"),
    [(PolicyError("boom"), "policy_eval_error"), (PolicyTimeout("slow"), "policy_timeout"),
     (RuntimeError("bug"), "internal_error"), (KeyError("k"), "internal_error")],
)
def test_exceptions_fail_closed(demo_catalog, default_rules, exc, code):
    def fn(p: str, i: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
        raise exc

    d = make(demo_catalog, default_rules, fn).decide(req())
    assert not d.allowed and codes(d) == [code]
    assert d.reasons[0].rule == "engine.policy"


def test_parse_error_denies_without_asking_policy(demo_catalog, default_rules):
    calls: list[str] = []

    def fn(p: str, i: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
        calls.append(p)
        return {"allow": True}

    d = make(demo_catalog, default_rules, fn).decide(req("SELEC count(* FROM"))
    assert codes(d) == ["analysis_parse_error"] and calls == []


def test_input_document_shape_and_exact_budget(demo_catalog, default_rules):
    seen: list[Mapping[str, Any]] = []

    def fn(p: str, i: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
        seen.append(i)
        assert "sales.orders" in data["privgate"]["catalog"]["tables"]
        return {"allow": True}

    budget = StaticBudget({"ana": Decimal("0.3") + Decimal("0.2"), "default": Decimal("0.4999999")})
    e = make(demo_catalog, default_rules, fn, budget=budget)
    e.decide(req())
    e.decide(Request(principal=Principal(id="bob"), purpose="analytics", sql=SQL))
    first, second = seen
    assert first["version"] == 1 and first["request"]["principal"] == {"id": "ana", "roles": ["analyst"]}
    assert first["facts"]["statement_kind"] == "select"
    assert first["budget"] == {"query_class": "standard", "epsilon": "0.5", "delta": "1E-7",
                               "remaining": "0.5", "affordable": True}
    assert second["budget"]["affordable"] is False


def test_unknown_query_class_denies(demo_catalog, default_rules):
    d = make(demo_catalog, default_rules, allow).decide(req(query_class="nope"))
    assert codes(d) == ["policy_unknown_query_class"]


def test_analysis_cache_is_keyed_by_normalized_sql_and_dialect(demo_catalog, default_rules):
    e = make(demo_catalog, default_rules, allow)
    assert not e.decide(req(SQL)).cached_analysis
    assert e.decide(req("  " + SQL + " ;\n")).cached_analysis
    assert not e.decide(req(SQL, dialect="duckdb")).cached_analysis
    uncached = make(demo_catalog, default_rules, allow, cache_size=0)
    uncached.decide(req())
    assert not uncached.decide(req()).cached_analysis


def test_ids_and_clock_are_injected(demo_catalog, default_rules):
    from datetime import UTC, datetime

    t = datetime(2026, 1, 2, tzinfo=UTC)
    e = make(demo_catalog, default_rules, allow, clock=lambda: t, new_id=lambda: "fixed")
    d = e.decide(req())
    assert (d.id, d.created_at) == ("fixed", t)
