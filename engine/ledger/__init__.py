"""The privacy-budget ledger: models, the ``Ledger`` seam, and the accounting rules (no I/O).

Backends live in ``privgate.connectors.ledger`` (SQLite, PostgreSQL); ``memory_ledger`` is the
in-memory reference. See docs/ledger.md.
"""

from .amounts import QUANTUM, zcdp_to_epsilon
from .config import AccountRule, BudgetConfig, Measure
from .errors import (
    AccountConfigChangedError,
    BudgetError,
    BudgetExhaustedError,
    IdempotencyConflictError,
    MeasureMismatchError,
    NoBudgetAccountError,
    ReservationReleasedError,
    SchemaTooNewError,
    UnknownReservationError,
)
from .memory import MemoryStore, memory_ledger
from .models import (
    AccountCharge,
    AccountStatus,
    Amount,
    AuditReport,
    Charge,
    Cost,
    GrantRecord,
    History,
    LedgerSnapshot,
    Mechanism,
    Reservation,
    ReservationStatus,
)
from .protocol import Ledger, LedgerStore, LedgerTx
from .scopes import scopes_for
from .service import LedgerService
from .view import LedgerBudgetView
from .windows import Window

__all__ = [
    "QUANTUM",
    "AccountCharge",
    "AccountConfigChangedError",
    "AccountRule",
    "AccountStatus",
    "Amount",
    "AuditReport",
    "BudgetConfig",
    "BudgetError",
    "BudgetExhaustedError",
    "Charge",
    "Cost",
    "GrantRecord",
    "History",
    "IdempotencyConflictError",
    "Ledger",
    "LedgerBudgetView",
    "LedgerService",
    "LedgerSnapshot",
    "LedgerStore",
    "LedgerTx",
    "Measure",
    "MeasureMismatchError",
    "Mechanism",
    "MemoryStore",
    "NoBudgetAccountError",
    "Reservation",
    "ReservationReleasedError",
    "ReservationStatus",
    "SchemaTooNewError",
    "UnknownReservationError",
    "Window",
    "memory_ledger",
    "scopes_for",
    "zcdp_to_epsilon",
]
