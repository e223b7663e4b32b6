"""The ledger's errors: ``BudgetError`` subclasses with stable ``budget_*`` codes.

::

    BudgetError (engine.errors)     budget_error                 the store failed; the message says what to do
    ├── BudgetExhaustedError        budget_exhausted             a scope would overflow; names it and the rest
    ├── NoBudgetAccountError        budget_no_account            no configured account covers the charge/scope
    ├── MeasureMismatchError        budget_measure_mismatch      the cost does not fit the account's measure
    ├── AccountConfigChangedError   budget_config_mismatch       config now disagrees with the stored account
    ├── IdempotencyConflictError    budget_idempotency_conflict  a key was reused for a different charge
    ├── UnknownReservationError     budget_reservation_unknown
    ├── ReservationReleasedError    budget_reservation_released  commit after release: the work is unpaid
    └── SchemaTooNewError           budget_schema_too_new        the database was migrated by newer privgate

Stores raise ``BudgetError`` (code ``budget_error``) for every database failure, never the driver's
own exceptions, so the pipeline's fail-closed handler sees one tree.
"""

from __future__ import annotations

from decimal import Decimal

from ..errors import BudgetError
from .amounts import plain

__all__ = [
    "AccountConfigChangedError",
    "BudgetError",
    "BudgetExhaustedError",
    "IdempotencyConflictError",
    "MeasureMismatchError",
    "NoBudgetAccountError",
    "ReservationReleasedError",
    "SchemaTooNewError",
    "UnknownReservationError",
]


class BudgetExhaustedError(BudgetError):
    """The charge does not fit one of its scopes; nothing was reserved on any scope."""

    code = "budget_exhausted"

    def __init__(self, scope: str, quantity: str, requested: Decimal, remaining: Decimal,
                 window: str) -> None:
        self.scope = scope
        self.quantity = quantity
        self.requested = requested
        self.remaining = remaining
        self.window = window
        super().__init__(
            f"privacy budget exhausted for {scope}: this charge needs {quantity}={plain(requested)} but "
            f"only {plain(remaining)} is left in the current window ({window}); nothing was charged. "
            "Wait for the window to roll over, ask for a smaller epsilon, or have an admin run "
            f"`privgate ledger grant {scope} ...`")


class NoBudgetAccountError(BudgetError):
    code = "budget_no_account"


class MeasureMismatchError(BudgetError):
    code = "budget_measure_mismatch"


class AccountConfigChangedError(BudgetError):
    code = "budget_config_mismatch"


class IdempotencyConflictError(BudgetError):
    code = "budget_idempotency_conflict"


class UnknownReservationError(BudgetError):
    code = "budget_reservation_unknown"


class ReservationReleasedError(BudgetError):
    code = "budget_reservation_released"


class SchemaTooNewError(BudgetError):
    code = "budget_schema_too_new"
