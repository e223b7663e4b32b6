"""The privacy-budget ledger: models, the ``Ledger`` seam, and the accounting rules (no I/O).

Backends live in ``privgate.connectors.ledger`` (SQLite, PostgreSQL); ``memory_ledger`` is the
in-memory reference. See docs/ledger.md.
"""

from .amounts import QUANTUM, zcdp_to_epsilon
from .config import AccountRule, BudgetConfig, Measure
from .errors import (
    AccountConfigChanged,
    BudgetError,
    BudgetExhausted,
    IdempotencyConflict,
    MeasureMismatch,
    NoBudgetAccount,
    ReservationReleased,
    SchemaTooNew,
    UnknownReservation,
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
    "AccountConfigChanged",
    "AccountRule",
    "AccountStatus",
    "Amount",
    "AuditReport",
    "BudgetConfig",
    "BudgetError",
    "BudgetExhausted",
    "Charge",
    "Cost",
    "GrantRecord",
    "History",
    "IdempotencyConflict",
    "Ledger",
    "LedgerBudgetView",
    "LedgerService",
    "LedgerSnapshot",
    "LedgerStore",
    "LedgerTx",
    "Measure",
    "MeasureMismatch",
    "Mechanism",
    "MemoryStore",
    "NoBudgetAccount",
    "Reservation",
    "ReservationReleased",
    "ReservationStatus",
    "SchemaTooNew",
    "UnknownReservation",
    "Window",
    "memory_ledger",
    "scopes_for",
    "zcdp_to_epsilon",
]
