"""A small in-memory privacy ledger: the proxy's ``ChargeSink`` and ``BudgetView`` until the shared
PostgreSQL ledger lands (then ``serve`` passes that one in through the same two seams).

It is per process: replicas behind a load balancer need the shared ledger (docs/proxy.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from privgate.engine.dp.model import Charge
from privgate.engine.errors import BudgetError


@dataclass(frozen=True)
class Reservation:
    principal: str
    key: str
    epsilon: Decimal


class MemoryLedger:
    """Allowances per principal (``default`` for the rest); reserve → commit / cancel, idempotent by key."""

    def __init__(self, allowance: Mapping[str, Decimal]) -> None:
        self._allowance = dict(allowance)
        self._spent: dict[str, Decimal] = {}
        self._held: dict[tuple[str, str], Decimal] = {}
        self._done: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def remaining(self, principal: str, query_class: str = "") -> Decimal | None:
        total = self._allowance.get(principal, self._allowance.get("default"))
        if total is None:
            return None
        with self._lock:
            held = sum((v for (p, _), v in self._held.items() if p == principal), Decimal(0))
            return total - self._spent.get(principal, Decimal(0)) - held

    def spent(self, principal: str) -> Decimal:
        with self._lock:
            return self._spent.get(principal, Decimal(0))

    def sink(self, principal: str) -> PrincipalSink:
        return PrincipalSink(self, principal)

    def reserve(self, principal: str, charge: Charge, key: str) -> Reservation:
        left = self.remaining(principal)
        with self._lock:
            if (principal, key) in self._done or (principal, key) in self._held:
                return Reservation(principal, key, Decimal(0))
            if left is not None and charge.epsilon > left:
                raise BudgetError(f"privacy budget exhausted: this answer costs ε={charge.epsilon}, "
                                  f"{principal} has ε={left} left", code="budget_exhausted")
            self._held[(principal, key)] = charge.epsilon
        return Reservation(principal, key, charge.epsilon)

    def commit(self, r: Reservation) -> None:
        with self._lock:
            eps = self._held.pop((r.principal, r.key), None)
            if eps is not None:
                self._spent[r.principal] = self._spent.get(r.principal, Decimal(0)) + eps
                self._done.add((r.principal, r.key))

    def cancel(self, r: Reservation) -> None:
        with self._lock:
            self._held.pop((r.principal, r.key), None)


class PrincipalSink:
    """The ledger bound to one principal: the shape ``engine.dp.answer`` expects (``ChargeSink``)."""

    def __init__(self, ledger: MemoryLedger, principal: str) -> None:
        self._ledger = ledger
        self._principal = principal

    def reserve(self, charge: Charge, idempotency_key: str) -> Reservation:
        return self._ledger.reserve(self._principal, charge, idempotency_key)

    def commit(self, reservation: Reservation) -> None:
        self._ledger.commit(reservation)

    def cancel(self, reservation: Reservation) -> None:
        self._ledger.cancel(reservation)
