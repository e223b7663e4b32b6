"""Answer a question end to end: decide, then run the (rewritten) SQL upstream, with DP where required.

This is the path ``privgate query`` takes (and the proxy's): one decision per request; a deny stops
here; a DP obligation goes through ``engine/dp`` (plan → reserve on the ledger → run the bounded SQL
upstream → OpenDP noise → commit), over the SQL the other obligations produced (consent filters,
masks), so DP never bypasses them; anything else runs the rewritten SQL with its bind values.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from privgate.engine.charging import LedgerChargeSink, request_scopes
from privgate.engine.decision import Decision, Request
from privgate.engine.dp.cache import ReleaseCache
from privgate.engine.dp.config import BoundsPolicy
from privgate.engine.dp.flow import answer, budget_from_obligation
from privgate.engine.dp.model import DpResult
from privgate.engine.dp.ports import Executor
from privgate.engine.errors import RewriteError
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
    dp = next((o for o in decision.obligations if o.kind == "dp"), None)
    sql = decision.rewritten_sql or request.sql
    if dp is None:
        names, rows = executor.execute(sql, decision.bind_params())
        return QueryOutcome(decision, list(names), [dict(zip(names, r, strict=True)) for r in rows])
    if decision.bind_params():
        raise RewriteError("a DP answer over hashed or tokenized columns is not supported: aggregate the column "
                           "(count, count distinct) instead of grouping by it", code="dp_keyed_mask")
    # the DP planner reads qualified trees: analyse the rewritten SQL (consent filters, redactions) again
    rewritten, _ = engine.analyze(sql, request.dialect)
    trees = rewritten.analysis.trees
    if len(trees) != 1 or not isinstance(trees[0], exp.Expression):
        raise RewriteError("the rewritten SQL is not one query", code="rewrite_reparse_failed")
    tree = trees[0]
    entry, _ = engine.analyze(request.sql, request.dialect)
    budget = budget_from_obligation(dp.params)
    scopes = request_scopes(request, entry.analysis.facts, engine.catalog, budget.query_class)
    sink = LedgerChargeSink(ledger, scopes, decision_id=decision.id, principal=request.principal.id)
    tables = tuple(t.name for t in entry.analysis.facts.tables if t.known)
    result, _plan = answer(tree, engine.catalog, budget, executor, scope=request.principal.id,
                           salt=secrets.token_hex(8), policy=bounds, cache=release_cache, ledger=sink,
                           idempotency_key=decision.id, tables=tables)
    records = result.records()
    return QueryOutcome(decision, list(records[0]) if records else [c.name for c in result.columns], records, result)

