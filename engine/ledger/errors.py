"""The ledger's errors: ``BudgetError`` subclasses with stable ``budget_*`` codes.

::

    BudgetError (engine.errors)        budget_error             the store failed; message says what to check
    ├── BudgetExhausted                budget_exhausted         a scope would overflow; names it and what is left
    ├── NoBudgetAccount                budget_no_account        no configured account covers the charge/scope
    ├── MeasureMismatch                budget_measure_mismatch  the cost cannot be expressed in the account's measure
    ├── AccountConfigChanged           budget_config_mismatch   config now disagrees with the stored account
    ├── IdempotencyConflict            budget_idempotency_conflict  a key was reused for a different charge
    ├── UnknownReservation             budget_reservation_unknown
    ├── ReservationReleased            budget_reservation_released  commit after release: the work is unpaid
    └── SchemaTooNew                   budget_schema_too_new    the database was migrated by newer privgate

Stores raise ``BudgetError`` (code ``budget_error``) for every database failure, never the driver's
own exceptions, so the pipeline's fail-closed handler sees one tree.
"""

from __future__ import annotations

from decimal import Decimal

from ..errors import BudgetError
from .amounts import plain

__all__ = [
    "AccountConfigChanged",
    "BudgetError",
    "BudgetExhausted",
    "IdempotencyConflict",
    "MeasureMismatch",
    "NoBudgetAccount",
    "ReservationReleased",
    "SchemaTooNew",
    "UnknownReservation",
]


class BudgetExhausted(BudgetError):
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


class NoBudgetAccount(BudgetError):
    code = "budget_no_account"


class MeasureMismatch(BudgetError):
    code = "budget_measure_mismatch"


class AccountConfigChanged(BudgetError):
    code = "budget_config_mismatch"


class IdempotencyConflict(BudgetError):
    code = "budget_idempotency_conflict"


class UnknownReservation(BudgetError):
    code = "budget_reservation_unknown"


class ReservationReleased(BudgetError):
    code = "budget_reservation_released"


class SchemaTooNew(BudgetError):
    code = "budget_schema_too_new"
