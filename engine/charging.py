"""Where a DP answer's cost lands: the ledger scopes of a request, and the DP flow's charge sink.

The DP flow (``engine/dp/flow.py``) reserves its charge through a small ``ChargeSink``; this adapts
the ledger (``engine/ledger``) to it. A request is charged against every scope that applies — the
principal, its roles, the query class, every governed table and domain read, and every privacy-unit
namespace (``subject:customer``: the guarantee each person actually gets) — all or nothing.
"""

from __future__ import annotations

from typing import Any

from .catalog import Catalog
from .decision import Request
from .dp.model import Charge as DpCharge
from .facts import Facts
from .ledger.models import Charge, Cost, Mechanism
from .ledger.protocol import Ledger
from .ledger.scopes import scopes_for


def request_scopes(request: Request, facts: Facts, catalog: Catalog, query_class: str) -> tuple[str, ...]:
    """Every ledger scope a DP answer to ``request`` draws on."""
    tables = {f"{q}": (d, t) for q, d, t in catalog.iter_tables()}
    read = [tables[t.name] for t in facts.tables if t.name in tables]
    governed = [(d, t) for d, t in read if t.privacy_unit is not None]
    return scopes_for(
        request.principal.id, query_class=query_class, groups=request.principal.roles,
        datasets=[f"{d.sql_schema}.{t.name.lower()}" for d, t in governed],
        domains=[d.name for d, _ in governed],
        subjects=[t.privacy_unit.namespace for _, t in governed if t.privacy_unit is not None],
    )


class LedgerChargeSink:
    """``ChargeSink`` over a ``Ledger``: reserve → commit, or release on failure, keyed by decision."""

    def __init__(self, ledger: Ledger, scopes: tuple[str, ...], *, decision_id: str, principal: str) -> None:
        self._ledger = ledger
        self._scopes = scopes
        self._decision_id = decision_id
        self._principal = principal

    def to_ledger(self, charge: DpCharge) -> Charge:
        rhos = [m.rho for m in charge.mechanisms]
        rho = sum(r for r in rhos if r is not None) if rhos and all(r is not None for r in rhos) else None
        cost = Cost(epsilon=charge.epsilon, delta=charge.delta, rho=rho)
        return Charge(
            decision_id=self._decision_id, scopes=self._scopes, cost=cost, principal=self._principal,
            mechanisms=tuple(Mechanism(mechanism=m.name, sensitivity=None, epsilon=m.epsilon, delta=m.delta,
                                       rho=m.rho, detail={"purpose": m.purpose, "sensitivity": m.sensitivity,
                                                          "scale": m.scale, "threshold": m.threshold})
                             for m in charge.mechanisms),
            note="privgate query")

    def reserve(self, charge: DpCharge, idempotency_key: str) -> Any:
        return self._ledger.reserve(self.to_ledger(charge), idempotency_key)

    def commit(self, reservation: Any) -> None:
        self._ledger.commit(reservation.id)

    def cancel(self, reservation: Any) -> None:
        self._ledger.release(reservation.id)
