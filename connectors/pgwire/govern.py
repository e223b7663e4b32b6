"""From statement text to what the proxy does with it: pass, rewrite, answer with DP, or deny.

``Governor.plan`` is the single decision point for every Query and Parse. Session and catalog traffic
is recognised by ``classify``; everything else runs ``Engine.decide`` with the connection's principal
and purpose. Allowed non-DP plans are cached per (principal, roles, purpose, SQL) for a short TTL (the
engine already caches analysis and rewrites; this skips the policy evaluation too). DP plans are never
cached: each one is charged against the budget.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from privgate.engine.answering import answer_dp, dp_tree
from privgate.engine.decision import Decision, Principal, Request
from privgate.engine.dp import BoundsPolicy, DpResult, InMemoryReleaseCache
from privgate.engine.dp.cache import ReleaseCache
from privgate.engine.dp.ports import Executor
from privgate.engine.errors import PrivgateError
from privgate.engine.ledger.protocol import Ledger
from privgate.engine.pipeline import CachedAnalysis, Engine

from .classify import Classified, Classifier, declare_cursor
from .metrics import Metrics

_NAMED = re.compile(r"%\((\w+)\)s")
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_DOLLAR = re.compile(r"\$(\d+)")

BUDGET_SQLSTATE = "53400"  # configuration_limit_exceeded: the principal's privacy budget is spent
DENY_SQLSTATE = "42501"
PARSE_SQLSTATE = "42601"


@dataclass(frozen=True)
class Plan:
    """What to do with one statement. ``kind``: pass | rewrite | dp | deny | local."""

    kind: str
    sql: str = ""
    pads: tuple[str, ...] = ()
    n_params: int = 0
    decision: Decision | None = None
    entry: CachedAnalysis | None = None
    sqlstate: str = ""
    message: str = ""
    detail: str = ""
    hint: str = ""
    classified: Classified | None = None
    pin: bool = False
    search_path: tuple[str, ...] | None = None  # the session's, for a DP answer to analyze the SQL the same way
    pad_values: tuple[str, ...] = field(default=(), repr=False)


def count_params(sql: str) -> int:
    """Highest ``$n`` outside string literals (the client's parameter count)."""
    return max((int(n) for n in _DOLLAR.findall(_QUOTED.sub("", sql))), default=0)


def to_positional(sql: str, first: int) -> tuple[str, tuple[str, ...]]:
    """``%(name)s`` placeholders (sqlglot's postgres style) → ``$first, $first+1 ...``, names in order."""
    names: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${first + names.index(m.group(1))}"

    return _NAMED.sub(sub, sql), tuple(names)


def deny_plan(decision: Decision) -> Plan:
    codes = [r.code for r in decision.reasons]
    sqlstate = DENY_SQLSTATE
    if "analysis_parse_error" in codes:
        sqlstate = PARSE_SQLSTATE
    elif any(c.startswith("budget_") for c in codes):
        sqlstate = BUDGET_SQLSTATE
    first = decision.reasons[0] if decision.reasons else None
    return Plan("deny", decision=decision, sqlstate=sqlstate,
                message=f"privgate denied the statement: {first.message if first else 'no policy allowed it'}",
                detail=f"reason codes: {', '.join(codes)}; decision {decision.id}",
                hint="the session is still usable (inside a transaction block: after ROLLBACK); "
                     "see docs/proxy.md for what each code means")


class Governor:
    """Shared by all sessions: the engine, classifier, decision cache, DP runner and metrics."""

    def __init__(self, engine: Engine, classifier: Classifier, dp: DpRunner, metrics: Metrics, *,
                 cache_ttl: float = 30.0, cache_size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.classify = classifier
        self.dp = dp
        self.metrics = metrics
        self._ttl = cache_ttl
        self._size = cache_size
        self._clock = clock
        self._cache: OrderedDict[tuple[str, tuple[str, ...], str, str, tuple[str, ...] | None],
                                 tuple[float, Plan]] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, sql: str, principal: Principal, purpose: str, search_path: tuple[str, ...] | None = None) -> Plan:
        """``search_path``: the session's (exact schema names), for the analyzer's name resolution."""
        c = self.classify(sql)
        if c.kind in ("session", "catalog", "empty"):
            self.metrics.decision("pass_" + c.kind, "")
            return Plan("pass", sql=sql, classified=c)
        if c.kind in ("purpose", "show_purpose"):
            return Plan("local", classified=c)
        if c.kind == "refused":
            self.metrics.decision("deny", c.code)
            return Plan("deny", sqlstate=DENY_SQLSTATE, message=f"privgate refused the statement: {c.message}",
                        detail=f"reason codes: {c.code}", hint=c.hint)
        cursor = declare_cursor(sql)
        if cursor is not None:
            return self._cursor(sql, cursor, principal, purpose, search_path)
        key = (principal.id, principal.roles, purpose, sql, search_path)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                self.metrics.decision("cached", "")
                return hit[1]
        t0 = time.perf_counter()
        decision = self.engine.decide(Request(principal=principal, purpose=purpose, sql=sql, dialect="postgres",
                                              search_path=search_path))
        self.metrics.observe("decide", time.perf_counter() - t0)
        plan = self._from_decision(sql, decision, search_path)
        self.metrics.decision(decision.outcome if plan.kind != "dp" else "dp",
                              ",".join(r.code for r in decision.reasons))
        if plan.kind in ("pass", "rewrite") and self._ttl > 0:
            with self._lock:
                self._cache[key] = (now + self._ttl, plan)
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return plan

    def _cursor(self, sql: str, cursor: tuple[str, str], principal: Principal, purpose: str,
                search_path: tuple[str, ...] | None) -> Plan:
        """A cursor over a query: the query is planned as if sent alone; the cursor pins the session."""
        prefix, query = cursor
        inner = self.plan(query, principal, purpose, search_path)
        if inner.kind == "pass" and (inner.classified is None or inner.classified.kind != "session"):
            return Plan("pass", sql=sql, pin=True)
        if inner.kind == "rewrite":
            return Plan("rewrite", sql=prefix + inner.sql, pads=inner.pads, n_params=inner.n_params,
                        decision=inner.decision, pad_values=inner.pad_values, pin=True)
        if inner.kind == "deny":
            return inner
        self.metrics.decision("deny", "cursor_not_supported")
        return Plan("deny", sqlstate=DENY_SQLSTATE, message="privgate cannot serve this query through a cursor",
                    detail="reason codes: cursor_not_supported",
                    hint="differentially private answers are computed by privgate: run the query without a cursor")

    def _from_decision(self, sql: str, decision: Decision, search_path: tuple[str, ...] | None) -> Plan:
        if not decision.allowed:
            return deny_plan(decision)
        if any(o.kind == "dp" for o in decision.obligations):
            entry, _ = self.engine.analyze(sql, "postgres", search_path)
            return Plan("dp", sql=sql, decision=decision, entry=entry, n_params=count_params(sql),
                        search_path=search_path)
        if decision.rewritten_sql is None:
            return Plan("pass", sql=sql)
        try:
            values = decision.bind_params()
        except PrivgateError as exc:
            return Plan("deny", sqlstate=DENY_SQLSTATE, message=f"privgate cannot run the statement: {exc.message}",
                        detail=f"reason codes: {exc.code}; decision {decision.id}")
        n = count_params(sql)
        rewritten, names = to_positional(decision.rewritten_sql, n + 1)
        return Plan("rewrite", sql=rewritten, pads=names, n_params=n, decision=decision,
                    pad_values=tuple(values[k] for k in names))


def substitute(tree: exp.Expression, values: tuple[str | None, ...]) -> exp.Expression:
    """The DP statement with its ``$n`` parameters replaced by the bound values as literals."""

    def sub(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter | exp.Placeholder):
            try:
                idx = int(str(node.this.this if isinstance(node.this, exp.Literal) else node.this)) - 1
            except (TypeError, ValueError):
                return node
            if 0 <= idx < len(values):
                v = values[idx]
                return exp.Null() if v is None else exp.Literal.string(v)
        return node

    return tree.transform(sub)


class DpRunner:
    """Runs DP answers on worker threads with their own upstream connections (the flow is synchronous).

    The answer goes through ``engine/answering.py`` — the same path as ``privgate query``: DP over the
    rewritten SQL (consent filters apply), charged to every scope of the request in the shared ledger.
    """

    def __init__(self, engine: Engine, open_executor: Callable[[], Executor], ledger: Ledger,
                 policy: BoundsPolicy | None = None, cache: ReleaseCache | None = None) -> None:
        self.engine = engine
        self._open = open_executor
        self.ledger = ledger
        self.policy = policy
        self.cache: ReleaseCache = cache if cache is not None else InMemoryReleaseCache()
        self._local = threading.local()
        self._opened: list[Executor] = []
        self._opened_lock = threading.Lock()

    def _executor(self) -> Executor:
        ex: Executor | None = getattr(self._local, "executor", None)
        if ex is None:
            ex = self._local.executor = self._open()
            with self._opened_lock:
                self._opened.append(ex)
        return ex

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for ex in opened:
            try:
                ex.close()
            except Exception:  # closing is best effort at shutdown
                continue

    def run(self, plan: Plan, principal: Principal, params: tuple[str | None, ...] = ()) -> DpResult:
        assert plan.decision is not None
        decision = plan.decision
        request = Request(principal=principal, purpose=decision.purpose, sql=plan.sql, dialect="postgres",
                          search_path=plan.search_path)
        tree = dp_tree(self.engine, decision, request)
        if params:
            tree = substitute(tree, params)
        try:
            return answer_dp(self.engine, decision, request, self._executor(), ledger=self.ledger, tree=tree,
                             release_cache=self.cache, bounds=self.policy)
        except PrivgateError:
            raise
        except Exception:
            self._local.executor = None  # a broken connection is reopened next time
            raise

    def notice(self, result: DpResult, principal: str) -> tuple[str, str]:
        """The NoticeResponse text after a DP answer: ε charged, budget left, per-column accuracy."""
        view = self.engine.budget
        left = view.remaining(principal, self.engine.rules.dp.default_class) if view is not None else None
        accuracy: dict[str, Any] = {}
        for i, c in enumerate(result.columns):
            if c.kind == "aggregate":
                widths = [w for row in result.half_widths if (w := row[i]) is not None]
                accuracy[c.name] = round(max(widths), 6) if widths else None
        eps = Decimal(0) if result.cached else result.charge.epsilon
        acc = ", ".join(f"{k} ±{v}" for k, v in accuracy.items())
        msg = (f"privgate: differentially private answer; ε charged {eps}"
               f"{' (repeat of an earlier release)' if result.cached else ''}, "
               f"budget left {left if left is not None else 'unlimited'}; "
               f"accuracy ({round((1 - result.alpha) * 100)}% half-width): {acc or 'n/a'}")
        detail = json.dumps({"epsilon_charged": str(eps),
                             "delta_charged": str(0 if result.cached else result.charge.delta),
                             "budget_left": None if left is None else str(left),
                             "suppressed_keys": result.suppressed_keys, "half_widths": accuracy})
        return msg, detail
