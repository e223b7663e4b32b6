"""Where a DP answer's cost lands: request scopes and the ledger-backed charge sink."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from privgate.engine.charging import LedgerChargeSink, request_scopes
from privgate.engine.decision import Principal, Request
from privgate.engine.dp.model import Charge, Mechanism
from privgate.engine.ledger.config import BudgetConfig
from privgate.engine.ledger.errors import BudgetExhaustedError
from privgate.engine.ledger.memory import memory_ledger
from privgate.engine.pipeline import Engine
from privgate.engine.ports import FunctionEvaluator

SQL = ("SELECT c.country, count(*) FROM sales.orders o JOIN sales.customers c ON c.customer_id = o.customer_id "
       "JOIN products.products p ON p.product_id = o.product_id GROUP BY c.country")
REQ = Request(principal=Principal(id="ana", roles=("analyst",)), purpose="analytics", sql=SQL)


def test_scopes_cover_principal_roles_class_governed_tables_domains_and_people(demo_catalog, default_rules):
    engine = Engine(demo_catalog, default_rules, FunctionEvaluator(lambda p, i, d: {"allow": True}))
    entry, _ = engine.analyze(SQL, "postgres")
    scopes = request_scopes(REQ, entry.analysis.facts, demo_catalog, "standard")
    assert scopes == ("class:standard", "dataset:sales.customers", "dataset:sales.orders", "domain:sales",
                      "group:analyst", "principal:ana", "subject:customer")  # public products: no scope


def _charge(eps: str) -> Charge:
    return Charge(epsilon=Decimal(eps), delta=Decimal(0), mechanisms=(
        Mechanism(name="laplace", purpose="COUNT(*)", sensitivity="1", scale=2.0, epsilon=Decimal(eps)),))


def test_sink_reserves_on_every_scope_commits_and_cancels():
    cfg = BudgetConfig.model_validate({"accounts": [
        {"scope": "principal:*", "measure": "pure", "epsilon": "1", "window": "none"},
        {"scope": "subject:customer", "measure": "pure", "epsilon": "0.7", "window": "none"}]})
    ledger = memory_ledger(cfg, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    scopes = ("principal:ana", "subject:customer")
    sink = LedgerChargeSink(ledger, scopes, decision_id="d1", principal="ana")
    res = sink.reserve(_charge("0.5"), "d1")
    assert sink.reserve(_charge("0.5"), "d1").id == res.id  # a retry never charges twice
    sink.commit(res)
    rec = ledger.history().entries[0]
    assert rec.status == "committed" and rec.mechanisms[0].detail["purpose"] == "COUNT(*)"
    assert {a.scope for a in rec.accounts} == set(scopes)
    other = LedgerChargeSink(ledger, scopes, decision_id="d2", principal="ana")
    with pytest.raises(BudgetExhaustedError) as err:  # 0.5 + 0.3 > 0.7 on the people's account
        other.reserve(_charge("0.3"), "d2")
    assert "subject:customer" in err.value.message
    small = other.reserve(_charge("0.1"), "d3")
    other.cancel(small)
    snapshot = {a.scope: a for a in ledger.show().accounts}
    assert snapshot["subject:customer"].committed.loss == Decimal("0.5")
    assert snapshot["subject:customer"].reserved.loss == 0
