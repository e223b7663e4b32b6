"""Answer a question end to end: decide, then run the (rewritten) SQL upstream, with DP where required.

This is the path ``privgate query`` takes (and the proxy's): one decision per request; a deny stops
here; a DP obligation goes through ``engine/dp`` (plan → reserve on the ledger → run the bounded SQL
upstream → OpenDP noise → commit), over the SQL the other obligations produced (consent filters,
masks), so DP never bypasses them; anything else runs the rewritten SQL with its bind values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from privgate.engine.answering import answer_dp
from privgate.engine.decision import Decision, Request
from privgate.engine.dp.cache import ReleaseCache
from privgate.engine.dp.config import BoundsPolicy
from privgate.engine.dp.model import DpResult
from privgate.engine.dp.ports import Executor
from privgate.engine.ledger.protocol import Ledger
from privgate.engine.pipeline import Engine


@dataclass
class QueryOutcome:
    decision: Decision
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    dp: DpResult | None = None


def run_query(engine: Engine, request: Request, executor: Executor, *, ledger: Ledger,
              release_cache: ReleaseCache | None = None, bounds: BoundsPolicy | None = None) -> QueryOutcome:
    decision = engine.decide(request)
    if not decision.allowed:
        return QueryOutcome(decision)
    if not any(o.kind == "dp" for o in decision.obligations):
        names, rows = executor.execute(decision.rewritten_sql or request.sql, decision.bind_params())
        return QueryOutcome(decision, list(names), [dict(zip(names, r, strict=True)) for r in rows])
    result = answer_dp(engine, decision, request, executor, ledger=ledger, release_cache=release_cache,
                       bounds=bounds)
    records = result.records()
    return QueryOutcome(decision, list(records[0]) if records else [c.name for c in result.columns], records, result)
