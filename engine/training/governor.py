"""The training governor: decides each round before it runs and charges it to the ledger.

Per round: build the policy input (job, each domain's analyzed features, the budget forecast) →
one policy evaluation → the authorized domains and DP parameters → ``reserve`` the round's exact
charge on the authorized set (``idempotency_key = job:run:round``): a retried round is never charged
twice, and never run twice either — a key used before denies the round (``training_round_replayed``),
because its first attempt may already have released a model. The caller runs the round and then
calls ``complete`` (commit) or ``abort`` (release: a round that did not finish charges nothing).
Every failure is a denied round with a stable code; nothing runs without an allowed ``RoundDecision``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any

from .. import __version__
from ..analysis import Analyzer
from ..catalog import Catalog
from ..decision import Decision, Obligation, Provenance, Reason
from ..errors import PolicyUndefined, PrivgateError
from ..ledger import BudgetError, Charge, IdempotencyConflictError, Ledger, Mechanism, Reservation, scopes_for
from ..policy_io import PolicyResult, parse_result
from ..ports import PolicyEvaluator
from ..rules import Rules
from .accounting import Forecast, GaussianRound, RoundCost, job_forecast, round_cost
from .policy_io import TRAINING_INPUT_VERSION, TRAINING_POLICY_PATH, budget_doc, training_data
from .settings import TrainingSettings
from .spec import DomainSpec, TrainingJob

TRAINING_CLASS = "training"


@dataclass(frozen=True)
class DomainFeatures:
    """What the analyzer found in one domain's feature query."""

    name: str
    doc: dict[str, Any]
    tables: tuple[str, ...]
    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class RoundDecision:
    """The outcome of authorizing one round; ``allowed`` rounds carry their reservation."""

    round: int
    decision: Decision
    domains: tuple[str, ...] = ()
    excluded: tuple[dict[str, str], ...] = ()
    dp: dict[str, Any] | None = None
    cost: RoundCost | None = None
    reservation: Reservation | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.decision.reasons


@dataclass(frozen=True)
class JobForecast:
    """``privgate check``'s view of a whole job: the policy decision and the ε it would cost."""

    decision: Decision
    domains: tuple[str, ...]
    excluded: tuple[dict[str, str], ...]
    forecast: Forecast | None


class TrainingGovernor:
    """Authorizes the rounds of one training job against one catalog, rules pack and policy bundle.

    ``evaluator`` is loaded with the training data document here (a superset of the query surface's,
    so an evaluator shared with query traffic keeps working). ``ledger`` may be ``None`` for pre-deploy
    checks only: ``authorize`` then refuses with ``budget_no_ledger``.
    """

    def __init__(self, job: TrainingJob, catalog: Catalog, rules: Rules, settings: TrainingSettings,
                 evaluator: PolicyEvaluator, ledger: Ledger | None, *, clock: Callable[[], datetime],
                 new_id: Callable[[], str], run_id: str, roles: Sequence[str] = ()) -> None:
        self.job = job
        self.catalog = catalog
        self.settings = settings
        self.evaluator = evaluator
        self.ledger = ledger
        self.run_id = run_id
        self._clock = clock
        self._new_id = new_id
        self._roles = tuple(roles)
        self._catalog_revision = catalog.revision  # a content hash (~0.5 ms): once, not on every round
        self._domain_of_table = {q: d.name for q, d, _ in catalog.iter_tables()}
        self._namespace_of_table = {q: t.privacy_unit.namespace for q, _, t in catalog.iter_tables()
                                    if t.privacy_unit is not None}
        analyzer = Analyzer(catalog, rules)
        self.features = {d.name: self._analyze(analyzer, d) for d in job.domains}
        evaluator.load(training_data(catalog, rules, settings))

    # -- analysis ---------------------------------------------------------------------------------
    def _analyze(self, analyzer: Analyzer, spec: DomainSpec) -> DomainFeatures:
        problems: list[dict[str, str]] = []
        features: list[dict[str, Any]] = []
        tables: tuple[str, ...] = ()
        try:
            facts = analyzer.analyze(spec.feature_sql(), self.job.dialect).facts
        except PrivgateError as exc:
            problems.append({"code": exc.code, "message": f"feature query of {spec.name}: {exc.message}"})
        else:
            tables = tuple(sorted(t.name for t in facts.tables))
            if facts.statement_kind != "select" or facts.statement_count != 1:
                problems.append({"code": "statement_not_allowed",
                                 "message": f"feature query of {spec.name} must be one SELECT"})
            for what, items in (("unknown table", facts.unknown_tables), ("unknown column", facts.unknown_columns),
                                ("unsupported construct", [u.construct for u in facts.unsupported])):
                problems.extend({"code": "analysis_unvouched", "message": f"feature query of {spec.name}: {what} {i}"}
                                for i in items)
            for col in facts.columns:
                if "projected" not in col.usages:
                    continue
                meta = self._column(col.table, col.column)
                features.append({"table": col.table, "column": col.column,
                                 "pii": sorted(meta.entities()) if meta else []})
        foreign = sorted(t for t in tables if self._domain_of_table.get(t) not in (None, spec.name))
        namespaces = tuple(sorted({self._namespace_of_table[t] for t in tables if t in self._namespace_of_table}))
        doc = {"name": spec.name, "features": sorted(features, key=lambda f: (f["table"], f["column"])),
               "tables": list(tables), "foreign_tables": foreign, "problems": problems}
        return DomainFeatures(name=spec.name, doc=doc, tables=tables, namespaces=namespaces)

    def _column(self, table: str, column: str) -> Any:
        for qname, _, t in self.catalog.iter_tables():
            if qname == table:
                return t.column(column)
        return None

    # -- cost -------------------------------------------------------------------------------------
    def scopes(self, domains: Sequence[str]) -> tuple[str, ...]:
        feats = [self.features[d] for d in domains]
        return scopes_for(self.job.principal, query_class=TRAINING_CLASS, domains=domains,
                          datasets=sorted({t for f in feats for t in f.tables}),
                          subjects=sorted({n for f in feats for n in f.namespaces}))

    def group_size(self, domains: Sequence[str]) -> int:
        """Most authorized domains sharing one privacy-unit namespace (a person may be in all of them)."""
        counts: dict[str, int] = {}
        for d in domains:
            for ns in self.features[d].namespaces:
                counts[ns] = counts.get(ns, 0) + 1
        return max(counts.values(), default=1)

    def mechanism(self, domains: Sequence[str]) -> GaussianRound | None:
        dp = self.job.dp
        if dp is None:
            return None
        return GaussianRound(dp.noise_multiplier, dp.clipping_norm, self.group_size(domains))

    def _budget(self, domains: Sequence[str], whole_job: bool) -> tuple[dict[str, Any], RoundCost | None]:
        mech = self.mechanism(domains)
        remaining = self.ledger.remaining_epsilon(self.scopes(domains)) if self.ledger is not None else None
        if mech is None or self.job.dp is None:
            return budget_doc(Decimal(0), Decimal(0), Decimal(0), remaining, Decimal(0)), None
        cost = round_cost(mech, rounds=self.job.rounds, target_delta=self.job.dp.target_delta)
        rho = mech.rho * (self.job.rounds if whole_job else 1)
        eps = (job_forecast(mech, rounds=self.job.rounds, target_delta=self.job.dp.target_delta).epsilon_zcdp
               if whole_job else cost.cost.epsilon)
        delta = self.job.dp.target_delta if whole_job else cost.cost.delta
        return budget_doc(eps, delta, rho, remaining, _pure_equivalent(rho)), cost

    # -- the policy input -------------------------------------------------------------------------
    def input_document(self, request_id: str, round_no: int, budget: dict[str, Any]) -> dict[str, Any]:
        dp = self.job.dp
        return {
            "version": TRAINING_INPUT_VERSION,
            "request": {"id": request_id, "principal": {"id": self.job.principal, "roles": list(self._roles)},
                        "purpose": self.job.purpose, "surface": "training"},
            "job": {"name": self.job.name, "coordinator": self.job.coordinator, "round": round_no,
                    "rounds": self.job.rounds, "clients_per_round": self.job.clients_per_round,
                    "secure_aggregation": self.job.secure_aggregation,
                    "dp": None if dp is None else {
                        "noise_multiplier": str(dp.noise_multiplier), "clipping_norm": str(dp.clipping_norm),
                        "clipping": dp.clipping, "target_delta": str(dp.target_delta)}},
            "domains": [self.features[d.name].doc for d in self.job.domains],
            "budget": budget,
        }

    def _evaluate(self, doc: dict[str, Any]) -> PolicyResult:
        raw = self.evaluator.evaluate(TRAINING_POLICY_PATH, doc)
        if raw is None:
            raise PolicyUndefined(f"the policy bundle ({self.evaluator.revision}) defines no decision for "
                                  f"{TRAINING_POLICY_PATH}; check the bundle has the training package")
        return parse_result(raw)

    # -- rounds -----------------------------------------------------------------------------------
    def authorize(self, round_no: int) -> RoundDecision:
        """Decide round ``round_no`` (1-based) and reserve its charge; never raises."""
        decision_id = self._new_id()
        now = self._clock()
        timings: dict[str, float] = {}
        stage = "budget"
        t0 = time.perf_counter()
        try:
            if self.ledger is None:
                raise BudgetError("no ledger is configured: a training round cannot be charged",
                                  code="budget_no_ledger")
            requested = [d.name for d in self.job.domains]
            budget, _ = self._budget(requested, whole_job=False)
            stage = "policy"
            result = self._evaluate(self.input_document(decision_id, round_no, budget))
            timings["policy"] = (time.perf_counter() - t0) * 1e3
            allowed = result.allow and not result.deny
            federation = _obligation(result, "federation")
            domains = tuple(federation.params.get("domains", ())) if federation else ()
            excluded = tuple(federation.params.get("excluded", ())) if federation else ()
            if not allowed:
                return RoundDecision(round_no, self._record(decision_id, now, round_no, result, timings),
                                     excluded=excluded, timings_ms=timings)
            if not domains:
                raise PolicyUndefined("the training policy allowed a round without a federation obligation")
            stage = "ledger"
            t1 = time.perf_counter()
            mech = self.mechanism(domains)
            cost = None
            reservation = None
            if mech is not None and self.job.dp is not None:
                cost = round_cost(mech, rounds=self.job.rounds, target_delta=self.job.dp.target_delta)
                charge = Charge(decision_id=decision_id, scopes=self.scopes(domains), cost=cost.cost,
                                principal=self.job.principal, note=f"training {self.job.name} round {round_no}",
                                mechanisms=(_mechanism(cost, domains, round_no),))
                key = f"training:{self.job.name}:{self.run_id}:{round_no}"
                try:
                    reservation = self.ledger.reserve(charge, key)
                except IdempotencyConflictError as exc:  # same key, another decision id: a retry
                    raise BudgetError(f"round {round_no} of run {self.run_id} was already charged under {key}; "
                                      "a round never runs twice under one charge — start a new run",
                                      code="training_round_replayed") from exc
                if reservation.replayed:
                    # the key was used before: that attempt may already have released a model. Running
                    # the round again would release a second noisy model under one charge.
                    raise BudgetError(
                        f"round {round_no} of run {self.run_id} was already charged (reservation "
                        f"{reservation.id}, {reservation.status}); a round never runs twice under one "
                        "charge — start a new run", code="training_round_replayed")
            timings["ledger"] = (time.perf_counter() - t1) * 1e3
            dp = _obligation(result, "dp")
            return RoundDecision(round_no, self._record(decision_id, now, round_no, result, timings, cost),
                                 domains=domains, excluded=excluded, dp=dp.params if dp else None, cost=cost,
                                 reservation=reservation, timings_ms=timings)
        except Exception as exc:  # fail closed
            return RoundDecision(round_no, self._failure(decision_id, now, round_no, stage, exc, timings),
                                 timings_ms=timings)

    def complete(self, decision: RoundDecision) -> Reservation | None:
        """The round's model update was released: commit its charge (idempotent)."""
        if decision.reservation is None or self.ledger is None:
            return None
        return self.ledger.commit(decision.reservation.id)

    def abort(self, decision: RoundDecision) -> Reservation | None:
        """The round failed before releasing anything: release its charge (refund before the deadline)."""
        if decision.reservation is None or self.ledger is None:
            return None
        return self.ledger.release(decision.reservation.id)

    def forecast(self) -> JobForecast:
        """Pre-deploy: the policy's decision on the whole job (round 0) and its ε forecast."""
        decision_id = self._new_id()
        now = self._clock()
        try:
            requested = [d.name for d in self.job.domains]
            budget, _ = self._budget(requested, whole_job=True)
            result = self._evaluate(self.input_document(decision_id, 0, budget))
            federation = _obligation(result, "federation")
            domains = tuple(federation.params.get("domains", ())) if federation else ()
            excluded = tuple(federation.params.get("excluded", ())) if federation else ()
            mech = self.mechanism(domains or requested)
            fc = (job_forecast(mech, rounds=self.job.rounds, target_delta=self.job.dp.target_delta)
                  if mech is not None and self.job.dp is not None else None)
            return JobForecast(self._record(decision_id, now, 0, result, {}), domains, excluded, fc)
        except Exception as exc:
            return JobForecast(self._failure(decision_id, now, 0, "policy", exc, {}), (), (), None)

    # -- records ----------------------------------------------------------------------------------
    def _provenance(self) -> Provenance:
        return Provenance(engine_version=__version__, bundle_revision=self.evaluator.revision,
                          catalog_revision=self._catalog_revision, policy_backend=self.evaluator.backend,
                          input_version=TRAINING_INPUT_VERSION)

    def _summary(self, round_no: int) -> str:
        which = f"round {round_no}/{self.job.rounds}" if round_no else "(all rounds)"
        return f"training job {self.job.name} {which}"

    def _record(self, decision_id: str, now: datetime, round_no: int, result: PolicyResult,
                timings: dict[str, float], cost: RoundCost | None = None) -> Decision:
        allowed = result.allow and not result.deny
        reasons = result.deny or (() if allowed else (
            Reason(code="policy_no_allow", rule="privgate.training.decision", message="no rule allowed the round"),))
        return Decision(id=decision_id, created_at=now, allowed=allowed, outcome="allow" if allowed else "deny",
                        principal=self.job.principal, purpose=self.job.purpose, surface="training",
                        sql=self._summary(round_no), reasons=reasons,
                        obligations=result.obligations if allowed else (),
                        epsilon=cost.cost.epsilon if cost and allowed else None,
                        delta=cost.cost.delta if cost and allowed else None,
                        provenance=self._provenance(), timings_ms=timings)

    def _failure(self, decision_id: str, now: datetime, round_no: int, stage: str, exc: Exception,
                 timings: dict[str, float]) -> Decision:
        if isinstance(exc, PrivgateError):
            reason = Reason(code=exc.code, message=exc.message, rule=f"engine.training.{stage}")
        else:
            reason = Reason(code="internal_error", rule=f"engine.training.{stage}",
                            message=f"unexpected {type(exc).__name__} in stage {stage!r}: {exc}; "
                                    "the round was denied (fail closed) — please report this")
        return Decision(id=decision_id, created_at=now, allowed=False, outcome="deny", principal=self.job.principal,
                        purpose=self.job.purpose, surface="training", sql=self._summary(round_no), reasons=(reason,),
                        provenance=self._provenance(), timings_ms=timings)


def _obligation(result: PolicyResult, kind: str) -> Obligation | None:
    return next((o for o in result.obligations if o.kind == kind), None)


def _mechanism(cost: RoundCost, domains: Sequence[str], round_no: int) -> Mechanism:
    m = cost.mechanism
    return Mechanism(mechanism="gaussian", sensitivity=m.clipping_norm * m.group_size,
                     scale=m.noise_multiplier * m.clipping_norm, rho=cost.cost.rho, epsilon=cost.cost.epsilon,
                     delta=cost.cost.delta,
                     detail={"surface": "training", "round": round_no, "domains": list(domains),
                             "group_size": m.group_size, "epsilon_rdp": str(cost.epsilon_rdp)})


def _pure_equivalent(rho: Decimal) -> Decimal:
    """√(2rho): the pure ε whose zCDP cost equals rho (what ``remaining_epsilon`` speaks), rounded up."""
    with localcontext() as ctx:
        ctx.prec = 50
        return (2 * rho).sqrt().quantize(Decimal("1e-18"), rounding=ROUND_CEILING)
