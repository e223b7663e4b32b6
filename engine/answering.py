"""Answer an allowed request that carries a DP obligation: the shared path of `privgate query` and the proxy.

DP must run over the SQL the *other* obligations produced (consent row filters, redactions), never
the original statement, or a DP aggregate would count people who did not consent. The DP planner
reads qualified trees, so the rewritten SQL is analysed again (cached like any statement). The charge
goes to every ledger scope the request touches (``engine/charging.py``), reserved before the upstream
runs and committed after the release, keyed by the decision id so a retry never charges twice.
"""

from __future__ import annotations

import secrets

from sqlglot import exp

from .charging import LedgerChargeSink, request_scopes
from .decision import Decision, Request
from .dp.cache import ReleaseCache
from .dp.config import BoundsPolicy
from .dp.flow import answer, budget_from_obligation
from .dp.model import DpResult
from .dp.ports import Executor
from .errors import RewriteError
from .ledger.protocol import Ledger
from .pipeline import Engine


def dp_tree(engine: Engine, decision: Decision, request: Request) -> exp.Expression:
    """The qualified tree DP plans over: the rewritten SQL when there is one, else the request's."""
    if decision.bind_params():
        raise RewriteError("a DP answer over hashed or tokenized columns is not supported: aggregate the column "
                           "(count, count distinct) instead of grouping by it", code="dp_keyed_mask")
    entry, _ = engine.analyze(decision.rewritten_sql or request.sql, request.dialect, request.search_path)
    trees = entry.analysis.trees
    if len(trees) != 1 or not isinstance(trees[0], exp.Expression):
        raise RewriteError("the rewritten SQL is not one query", code="rewrite_reparse_failed")
    return trees[0]


def answer_dp(engine: Engine, decision: Decision, request: Request, executor: Executor, *, ledger: Ledger,
              tree: exp.Expression | None = None, release_cache: ReleaseCache | None = None,
              bounds: BoundsPolicy | None = None) -> DpResult:
    """Run the DP obligation of an allowed ``decision``; raises ``DpError``/``BudgetError`` on refusal."""
    ob = next((o for o in decision.obligations if o.kind == "dp"), None)
    if ob is None or not decision.allowed:
        raise RewriteError("answer_dp needs an allowed decision with a dp obligation", code="dp_no_obligation")
    plan_tree = tree if tree is not None else dp_tree(engine, decision, request)
    entry, _ = engine.analyze(request.sql, request.dialect, request.search_path)
    budget = budget_from_obligation(ob.params)
    scopes = request_scopes(request, entry.analysis.facts, engine.catalog, budget.query_class)
    sink = LedgerChargeSink(ledger, scopes, decision_id=decision.id, principal=request.principal.id)
    tables = tuple(t.name for t in entry.analysis.facts.tables if t.known)
    result, _plan = answer(plan_tree, engine.catalog, budget, executor, scope=request.principal.id,
                           salt=secrets.token_hex(8), policy=bounds, cache=release_cache, ledger=sink,
                           idempotency_key=decision.id, tables=tables)
    return result
