"""``engine.ports.BudgetView`` on top of a ledger, so the decision engine can precompute ``affordable``.

The view answers for the scopes it can name from a principal and a query class alone
(``principal:<id>``, ``class:<name>``, plus any fixed ``extra_scopes`` such as a subject namespace
every query touches). It is advisory — the policy's forecast; ``Ledger.reserve`` remains the
authority and refuses atomically what does not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from .protocol import Ledger
from .scopes import scopes_for


class LedgerBudgetView:
    def __init__(self, ledger: Ledger, *, extra_scopes: Sequence[str] = ()) -> None:
        self._ledger = ledger
        self._extra = tuple(extra_scopes)

    def remaining(self, principal: str, query_class: str) -> Decimal | None:
        return self._ledger.remaining_epsilon(scopes_for(principal, query_class=query_class) + self._extra)
