"""The engine's seams: small Protocols that ``connectors/`` implement and tests can fake in a line.

The engine never does I/O itself. It asks a ``PolicyEvaluator`` for one decision per request and a
``BudgetView`` how much privacy budget is left; that is all it needs from the outside world for a
decision. Each Protocol has an in-memory reference implementation here for tests and notebooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PolicyEvaluator(Protocol):
    """Evaluates one rule of the bundle against one input document.

    ``load`` replaces the long-lived ``data`` document. ``evaluate`` returns the rule's value, or
    ``None`` when the rule is undefined; it raises ``PolicyError`` (or ``PolicyTimeout``) on failure.
    """

    backend: str
    revision: str

    def load(self, data: Mapping[str, Any]) -> None: ...

    def evaluate(self, path: str, input_doc: Mapping[str, Any]) -> Any | None: ...


class BudgetView(Protocol):
    """Read-only view of remaining privacy budget (epsilon) for a principal and a query class.

    Returns ``None`` when no budget applies. The ledger (reserve/commit) is a separate, larger seam.
    """

    def remaining(self, principal: str, query_class: str) -> Decimal | None: ...


class FunctionEvaluator:
    """Reference ``PolicyEvaluator`` backed by a Python function: for tests, like httpx.MockTransport."""

    backend = "python"

    def __init__(self, fn: Callable[[str, Mapping[str, Any], Mapping[str, Any]], Any | None],
                 revision: str = "python") -> None:
        self._fn = fn
        self.revision = revision
        self._data: Mapping[str, Any] = {}

    def load(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def evaluate(self, path: str, input_doc: Mapping[str, Any]) -> Any | None:
        return self._fn(path, input_doc, self._data)


class StaticBudget:
    """Reference ``BudgetView``: a fixed remaining epsilon per principal, ``default`` for the rest."""

    def __init__(self, remaining: Mapping[str, Decimal] | None = None) -> None:
        self._remaining = dict(remaining or {})

    def remaining(self, principal: str, query_class: str) -> Decimal | None:
        return self._remaining.get(principal, self._remaining.get("default"))
