"""The decision pipeline: one request in, exactly one Decision out, failing closed at every stage.

Stages (see ../shared/DESIGN.md): analyze → budget view → policy → plan (rewrite). The ledger
reserve/commit and execution stages are driven by the query surfaces around ``decide``; this module
never performs I/O itself — the evaluator and budget view are injected.

Any exception in any stage becomes a deny with a stable code; nothing leaves without a decision.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from . import __version__
from .analysis import Analysis, Analyzer
from .catalog import Catalog
from .decision import Decision, Obligation, Provenance, Reason, Request
from .errors import PolicyUndefined, PrivgateError
from .policy_io import INPUT_VERSION, PolicyResult, build_data, input_document, parse_result
from .ports import BudgetView, PolicyEvaluator
from .rewrite import Rewriter, Rewritten
from .rules import Rules

PLANS_PER_STATEMENT = 8
CacheKey = tuple[str, str, tuple[str, ...] | None]
POLICY_PATHS = {"query": "privgate/query/decision", "check": "privgate/query/decision",
                "training": "privgate/training/decision"}


class CachedAnalysis:
    """One statement's analysis plus what is derived from it alone: its facts as JSON-ready data and
    the rewrites already planned for it (keyed by obligations), so repeats skip both."""

    __slots__ = ("_lock", "analysis", "facts_doc", "plans")

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.facts_doc = analysis.facts.model_dump(mode="json")
        self.plans: OrderedDict[str, Rewritten] = OrderedDict()
        self._lock = threading.Lock()  # entries are shared by every thread deciding the same statement

    def plan(self, obligations: tuple[Obligation, ...], make: Callable[[], Rewritten]) -> Rewritten:
        key = json.dumps([o.model_dump(mode="json") for o in obligations], sort_keys=True)
        with self._lock:
            hit = self.plans.get(key)
        if hit is not None:
            return hit
        made = make()  # outside the lock: rewriting is pure, a rare duplicate is harmless
        with self._lock:
            self.plans[key] = made
            while len(self.plans) > PLANS_PER_STATEMENT:
                self.plans.popitem(last=False)
        return made


class AnalysisCache:
    """Thread-safe LRU of analyses keyed by (dialect, normalized SQL, search path); trees inside are never
    mutated. The search path is part of the key: it decides which table an unqualified name is."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[CacheKey, CachedAnalysis] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(sql: str, dialect: str, search_path: tuple[str, ...] | None = None) -> CacheKey:
        return dialect, sql.strip().rstrip(";").strip(), search_path

    def get(self, key: CacheKey) -> CachedAnalysis | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: CacheKey, value: CachedAnalysis) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class Engine:
    """Decides requests against one catalog, one rules pack and one policy bundle.

    Build it once (it loads ``data`` into the evaluator) and call ``decide`` per request. It is safe
    to share between threads when the evaluator is (the connectors' evaluators are).
    """

    def __init__(
        self,
        catalog: Catalog,
        rules: Rules,
        evaluator: PolicyEvaluator,
        *,
        budget: BudgetView | None = None,
        mask_key: bytes = b"",
        cache_size: int = 4096,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.catalog = catalog
        self.rules = rules
        self.evaluator = evaluator
        self.budget = budget
        self._clock = clock
        self._new_id = new_id
        self._analyzer = Analyzer(catalog, rules)
        self._rewriter = Rewriter(catalog, mask_key=mask_key)
        self.cache = AnalysisCache(cache_size)
        self._catalog_revision = catalog.revision
        evaluator.load(build_data(catalog, rules))

    def analyze(self, sql: str, dialect: str, search_path: tuple[str, ...] | None = None
                ) -> tuple[CachedAnalysis, bool]:
        """Analysis of the SQL, from the cache when possible; returns ``(entry, was_cached)``."""
        key = self.cache.key(sql, dialect, search_path)
        hit = self.cache.get(key)
        if hit is not None:
            return hit, True
        entry = CachedAnalysis(self._analyzer.analyze(sql, dialect, search_path))
        self.cache.put(key, entry)
        return entry, False

    def decide(self, request: Request) -> Decision:
        decision_id = self._new_id()
        now = request.now or self._clock()
        timings: dict[str, float] = {}
        stage = "analyze"
        cached = False
        try:
            t0 = time.perf_counter()
            entry, cached = self.analyze(request.sql, request.dialect, request.search_path)
            t1 = time.perf_counter()
            timings["analyze"] = (t1 - t0) * 1e3
            stage = "budget"
            remaining = self.budget.remaining(request.principal.id, request.query_class
                                              or self.rules.dp.default_class) if self.budget else None
            payload = input_document(request, decision_id, entry.facts_doc, self.rules, remaining)
            t2 = time.perf_counter()
            timings["budget"] = (t2 - t1) * 1e3
            stage = "policy"
            raw = self.evaluator.evaluate(POLICY_PATHS[request.surface], payload)
            if raw is None:
                raise PolicyUndefined(
                    f"the policy bundle ({self.evaluator.revision}) defines no decision for "
                    f"{POLICY_PATHS[request.surface]}; check the bundle is loaded")
            result = parse_result(raw)
            t3 = time.perf_counter()
            timings["policy"] = (t3 - t2) * 1e3
            stage = "plan"
            rewritten = None
            if result.allow and not result.deny and (result.obligations or _reads_catalog(entry.analysis)):
                # Even without obligations, a query that reads catalog tables runs as the analyzer
                # qualified it: an unqualified `customers` must not resolve upstream (search_path) to a
                # different table than the one the policy judged.
                rewritten = entry.plan(result.obligations, lambda: self._rewriter.apply(
                    entry.analysis, result.obligations, request.dialect, require_key=False))
            timings["plan"] = (time.perf_counter() - t3) * 1e3
        except Exception as exc:  # fail closed: every failure is a deny with a stable code
            return self._failure(request, decision_id, now, stage, exc, timings, cached)
        timings["total"] = sum(timings.values())
        return self._decision(request, decision_id, now, result, rewritten, timings, cached)

    def _provenance(self) -> Provenance:
        return Provenance(engine_version=__version__, bundle_revision=self.evaluator.revision,
                          catalog_revision=self._catalog_revision, policy_backend=self.evaluator.backend,
                          input_version=INPUT_VERSION)

    def _decision(self, request: Request, decision_id: str, now: datetime, result: PolicyResult,
                  rewritten: Rewritten | None, timings: dict[str, float], cached: bool) -> Decision:
        allowed = result.allow and not result.deny
        reasons = result.deny
        if not allowed and not reasons:
            reasons = (Reason(code="policy_no_allow", rule="privgate.query.decision",
                              message="no policy rule allowed this request"),)
        dp = next((o for o in result.obligations if o.kind == "dp"), None)
        return Decision(
            id=decision_id, created_at=now, allowed=allowed,
            outcome="deny" if not allowed else ("rewrite" if result.obligations else "allow"),
            principal=request.principal.id, purpose=request.purpose, surface=request.surface,
            sql=request.sql, reasons=reasons, obligations=result.obligations if allowed else (),
            rewritten_sql=rewritten.sql if allowed and rewritten else None,
            epsilon=_decimal(dp, "epsilon") if allowed else None,
            delta=_decimal(dp, "delta") if allowed else None,
            provenance=self._provenance(), timings_ms=timings, cached_analysis=cached,
        ).with_bind_params(rewritten.bind_params if allowed and rewritten else None)

    def _failure(self, request: Request, decision_id: str, now: datetime, stage: str, exc: Exception,
                 timings: dict[str, float], cached: bool) -> Decision:
        if isinstance(exc, PrivgateError):
            reason = Reason(code=exc.code, message=exc.message, rule=f"engine.{stage}")
        else:
            reason = Reason(code="internal_error", rule=f"engine.{stage}",
                            message=f"unexpected {type(exc).__name__} in stage {stage!r}: {exc}; "
                                    "the request was denied (fail closed) — please report this")
        return Decision(
            id=decision_id, created_at=now, allowed=False, outcome="deny",
            principal=request.principal.id, purpose=request.purpose, surface=request.surface,
            sql=request.sql, reasons=(reason,), provenance=self._provenance(), timings_ms=timings,
            cached_analysis=cached,
        )


def _reads_catalog(analysis: Analysis) -> bool:
    facts = analysis.facts
    return facts.statement_kind == "select" and facts.statement_count == 1 and any(t.known for t in facts.tables)


def _decimal(ob: Obligation | None, key: str) -> Decimal | None:
    if ob is None or ob.params.get(key) is None:
        return None
    return Decimal(str(ob.params[key]))
