"""One DP answer end to end, with the ledger and the release cache as injected seams.

    cache hit? ──yes──▶ the earlier release, ``cached=True``, no charge
        │no
    plan ─▶ reserve(charge) ─▶ execute upstream ─▶ release (noise) ─▶ commit ─▶ cache.put
                                   └── any failure ──▶ cancel(reservation), re-raise

The CLI (``privgate query``) and the proxy call ``answer``; the ledger adapter implements
``ChargeSink`` (reserve → commit / cancel, keyed so a retry never charges twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlglot import exp

from ..catalog import Catalog
from .cache import ReleaseCache, release_key
from .config import BoundsPolicy
from .errors import DpError
from .model import Charge, DpPlan, DpResult
from .planner import plan_query
from .ports import Executor
from .release import release


class ChargeSink(Protocol):
    """What the DP flow needs from the ledger: reserve a charge, then commit or cancel it."""

    def reserve(self, charge: Charge, idempotency_key: str) -> Any: ...

    def commit(self, reservation: Any) -> None: ...

    def cancel(self, reservation: Any) -> None: ...


@dataclass(frozen=True)
class DpBudget:
    """The DP obligation's totals, exact."""

    epsilon: Decimal
    delta: Decimal
    query_class: str = ""


def budget_from_obligation(params: Mapping[str, Any]) -> DpBudget:
    """``{"query_class", "epsilon", "delta"}`` with decimal strings, as the policy bundle emits them."""
    try:
        return DpBudget(epsilon=Decimal(str(params["epsilon"])), delta=Decimal(str(params.get("delta", "0"))),
                        query_class=str(params.get("query_class", "")))
    except (KeyError, ArithmeticError) as exc:
        raise DpError(f"malformed dp obligation {dict(params)!r}: need decimal-string epsilon and delta",
                      code="dp_invalid_budget") from exc


def answer(tree: exp.Expression, catalog: Catalog, budget: DpBudget, executor: Executor, *,
           scope: str, salt: str, policy: BoundsPolicy | None = None, cache: ReleaseCache | None = None,
           ledger: ChargeSink | None = None, idempotency_key: str = "",
           tables: tuple[str, ...] = ()) -> tuple[DpResult, DpPlan | None]:
    """Answer one DP query; returns (result, plan) — plan is None for a cache hit.

    ``scope`` is the principal scope of the release cache (e.g. the principal or its group),
    ``tables`` the qualified tables read (for the data version), ``salt`` a fresh random string.
    """
    key = ""
    if cache is not None:
        from .planner import normalized_sql

        key = release_key(normalized_sql(tree), scope, executor.data_version(tables))
        hit = cache.get(key)
        if hit is not None:
            return hit, None
    plan = plan_query(tree, catalog, budget.epsilon, budget.delta, dialect=executor.dialect, policy=policy, salt=salt)
    reservation = ledger.reserve(plan.charge, idempotency_key or key or salt) if ledger else None
    try:
        _, rows = executor.execute(plan.sql)
        result = release(plan, rows)
    except BaseException:
        if ledger is not None:
            ledger.cancel(reservation)
        raise
    if ledger is not None:
        ledger.commit(reservation)
    if cache is not None:
        cache.put(key, result)
    return result, plan
