"""Differentially private query execution: plan (bounded SQL + mechanisms), run upstream, release.

::

    plan = plan_query(qualified_tree, catalog, epsilon, delta, dialect="duckdb", policy=BoundsPolicy(),
                      salt=secrets.token_hex(8))
    # ledger.reserve(plan.charge) ...
    columns, rows = executor.execute(plan.sql)
    result = release(plan, rows)          # noisy cells, half-widths, flags, suppressed-key count
    # ledger.commit(...); cache.put(release_key(plan.normalized_sql, scope, version), result)

See docs/dp.md for what is supported and why.
"""

from __future__ import annotations

from .cache import InMemoryReleaseCache, ReleaseCache, release_key
from .config import BoundsPolicy
from .errors import DpError, UpstreamError
from .flow import ChargeSink, DpBudget, answer, budget_from_obligation
from .model import Charge, DpPlan, DpResult, Mechanism, ResultColumn
from .planner import normalized_sql, plan_query
from .ports import Executor
from .release import release

__all__ = [
    "BoundsPolicy", "Charge", "ChargeSink", "DpBudget", "DpError", "DpPlan", "DpResult", "Executor",
    "InMemoryReleaseCache", "Mechanism", "ReleaseCache", "ResultColumn", "UpstreamError", "answer",
    "budget_from_obligation", "normalized_sql", "plan_query", "release", "release_key",
]
