"""The end-to-end DP flow: cache → plan → reserve → execute → release → commit, failing closed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from dp_helpers import qualified

from privgate.connectors.dp_config import load_bounds_policy
from privgate.connectors.executors import open_executor
from privgate.engine.dp import (
    BoundsPolicy,
    DpError,
    InMemoryReleaseCache,
    UpstreamError,
    answer,
    budget_from_obligation,
)
from privgate.engine.errors import ConfigError


class RecordingLedger:
    """A tiny in-memory ChargeSink: enough to see the order of reserve/commit/cancel."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def reserve(self, charge, idempotency_key):
        self.events.append(("reserve", charge.epsilon))
        return idempotency_key

    def commit(self, reservation):
        self.events.append(("commit", reservation))

    def cancel(self, reservation):
        self.events.append(("cancel", reservation))


SQL = "SELECT segment, COUNT(*) AS n FROM sales.customers GROUP BY segment"


def test_answer_charges_once_and_repeats_from_cache(demo_catalog, duck):
    ledger, cache = RecordingLedger(), InMemoryReleaseCache()
    budget = budget_from_obligation({"query_class": "standard", "epsilon": "0.5", "delta": "1e-7"})
    tree = qualified(SQL, demo_catalog)
    first, plan = answer(tree, demo_catalog, budget, duck, scope="ana", salt="x", cache=cache, ledger=ledger,
                         tables=("sales.customers",))
    again, none = answer(qualified(SQL.lower(), demo_catalog), demo_catalog, budget, duck, scope="ana", salt="y",
                         cache=cache, ledger=ledger, tables=("sales.customers",))
    assert plan is not None and none is None
    assert [e[0] for e in ledger.events] == ["reserve", "commit"]
    assert again.cached and again.rows == first.rows
    other, _ = answer(tree, demo_catalog, budget, duck, scope="bob", salt="z", cache=cache, ledger=ledger,
                      tables=("sales.customers",))
    assert not other.cached and [e[0] for e in ledger.events].count("reserve") == 2


def test_failure_after_reserve_cancels(demo_catalog):
    ledger = RecordingLedger()
    empty = open_executor("duckdb://:memory:")
    with pytest.raises(UpstreamError):
        answer(qualified(SQL, demo_catalog), demo_catalog, budget_from_obligation({"epsilon": "1", "delta": "0"}),
               empty, scope="ana", salt="x", ledger=ledger)
    assert [e[0] for e in ledger.events] == ["reserve", "cancel"]
    empty.close()


def test_denied_queries_never_reserve(demo_catalog, duck):
    ledger = RecordingLedger()
    with pytest.raises(DpError):
        answer(qualified("SELECT MAX(amount) FROM sales.orders", demo_catalog), demo_catalog,
               budget_from_obligation({"epsilon": "1", "delta": "0"}), duck, scope="ana", salt="x", ledger=ledger)
    assert ledger.events == []


def test_obligation_parsing():
    b = budget_from_obligation({"query_class": "dashboard", "epsilon": "0.1", "delta": "1e-8"})
    assert (b.epsilon, b.delta, b.query_class) == (Decimal("0.1"), Decimal("1e-8"), "dashboard")
    with pytest.raises(DpError) as err:
        budget_from_obligation({"delta": "0"})
    assert err.value.code == "dp_invalid_budget"


def test_dp_yaml_defaults_and_overrides(tmp_path):
    assert load_bounds_policy() == BoundsPolicy()
    assert load_bounds_policy({"l0": 2}).l0 == 2
    with pytest.raises(ConfigError) as err:
        load_bounds_policy({"l_zero": 2})
    assert "l_zero" in err.value.message
    bad = tmp_path / "dp.yaml"
    bad.write_text("linf: -1\n")
    with pytest.raises(ConfigError):
        load_bounds_policy(path=bad)
