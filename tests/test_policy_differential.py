"""Differential test: the embedded backend's compiled path (regorus RVM) against its interpreter.

The RVM is faster but newer than regorus's tree-walking interpreter, and a divergence could drop an
obligation (the conformance corpus already caught one). Random, well-formed inputs over the demo
catalog's vocabulary must get identical decisions from both.
"""

from __future__ import annotations

from typing import Any

from _support import default_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privgate.connectors.policy.embedded import EmbeddedEvaluator

DATA = default_data()
TABLES = DATA["privgate"]["catalog"]["tables"]
COLUMNS = [(t, c) for t, meta in TABLES.items() for c in meta["columns"]] + [("sales.customers", "nope")]
USAGES = ["projected", "aggregated", "filtered", "grouped", "joined", "ordered", "windowed"]
AGGS = ["count", "sum", "avg", "min", "max", "string_agg", "median", "approx_distinct"]
KINDS = ["select", "select", "select", "insert", "ddl", "set", "copy", "command", "empty"]

PATH = "privgate/query/decision"


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    cols = draw(st.lists(st.sampled_from(COLUMNS), max_size=6, unique=True))
    columns = [{"table": t, "column": c, "usages": sorted(draw(st.sets(st.sampled_from(USAGES), min_size=1))),
                "aggregates": sorted(draw(st.sets(st.sampled_from(AGGS), max_size=2))), "transforms": []}
               for t, c in cols]
    listed = draw(st.lists(st.sampled_from([*TABLES, "nowhere.t"]), max_size=3, unique=True))
    return {
        "version": 1,
        "request": {"id": "x", "principal": {"id": "p", "roles": draw(st.lists(st.sampled_from(
            ["analyst", "admin", "support_agent", "billing_clerk", "marketer"]), max_size=2, unique=True))},
                    "purpose": draw(st.sampled_from(["analytics", "support", "billing", "marketing", "resale"])),
                    "surface": "query", "dialect": "postgres"},
        "facts": {
            "dialect": "postgres", "statement_kind": draw(st.sampled_from(KINDS)),
            "statement_count": draw(st.integers(1, 2)),
            "tables": [{"name": t, "known": t in TABLES, "domain": TABLES.get(t, {}).get("domain")} for t in listed],
            "columns": columns, "aggregates": [], "joins": [], "ctes": [], "subquery_count": 0,
            "set_operations": [], "window_functions": [], "functions": [],
            "disallowed_functions": draw(st.lists(st.sampled_from(["pg_read_file", "dblink"]), max_size=1)),
            "unknown_tables": [t for t in listed if t not in TABLES],
            "unknown_columns": [f"{t}.{c}" for t, c in cols if c == "nope"],
            "group_by": [f"{t}.{c}" for t, c in cols if draw(st.booleans())][:2],
            "has_group_by": False, "has_star": False, "limit": None,
            "is_aggregate_query": draw(st.booleans()),
            "unsupported": draw(st.lists(st.just({"construct": "Command", "detail": "DO"}), max_size=1)),
        },
        "budget": {"query_class": "standard", "epsilon": "0.5", "delta": "1E-7",
                   "remaining": draw(st.sampled_from([None, "0.1", "3"])), "affordable": draw(st.booleans())},
    }


COMPILED = EmbeddedEvaluator(compiled=True)
INTERPRETED = EmbeddedEvaluator(compiled=False)
COMPILED.load(DATA)
INTERPRETED.load(DATA)


def test_both_paths_are_exercised():
    assert COMPILED._thread()[0].entries == frozenset(
        {"data.privgate.query.decision", "data.privgate.training.decision"})
    assert INTERPRETED._thread()[0].entries == frozenset()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_compiled_and_interpreted_agree(doc: dict[str, Any]):
    assert COMPILED.evaluate(PATH, doc) == INTERPRETED.evaluate(PATH, doc)
