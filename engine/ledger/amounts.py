"""Exact privacy-loss arithmetic: fixed-point decimals, conservative rounding, zCDP conversions.

Every amount the ledger stores is a ``Decimal`` with at most 18 fractional digits (``QUANTUM`` =
1e-18). 18 digits keep a δ of 1e-15 exact to three significant digits while ε budgets of any
practical size fit, and both SQLite (TEXT) and PostgreSQL (NUMERIC) store such numbers verbatim.
Rounding is always in the direction that protects people: a cost is rounded *up* to the quantum, a
limit or a remaining allowance *down*. Sums and differences of quantized numbers are computed in a
context that traps ``Inexact``, so the ledger either adds exactly or raises — it never rounds
silently. Floats never touch an amount.

The zCDP conversion rho-zCDP ⇒ (rho + 2·√(rho·ln(1/δ)), δ)-DP (Bun & Steinke 2016, Prop. 1.3) needs ``ln``
and ``sqrt``; those are computed with 50 significant digits (``Decimal`` rounds each operation
correctly), then a margin of 1e-30 — far above the accumulated error of five correctly rounded
operations — is added before rounding up to the quantum. The result is therefore never below the
true ε, and above it by at most about 1e-18.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

QUANTUM = Decimal("1e-18")
ZERO = Decimal(0)
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, Overflow, DivisionByZero])
_ANALYTIC = Context(prec=50, traps=[InvalidOperation, Overflow, DivisionByZero])
_MARGIN = Decimal("1e-30")


def ceil_q(value: Decimal) -> Decimal:
    """``value`` rounded up to the quantum: how a cost is stored."""
    with localcontext(_ANALYTIC):
        return value.quantize(QUANTUM, rounding=ROUND_CEILING)


def floor_q(value: Decimal) -> Decimal:
    """``value`` rounded down to the quantum: how a limit or an allowance is stored."""
    with localcontext(_ANALYTIC):
        return value.quantize(QUANTUM, rounding=ROUND_FLOOR)


def add(*values: Decimal) -> Decimal:
    """Exact sum of quantized amounts; raises ``decimal.Inexact`` rather than round."""
    with localcontext(_EXACT):
        total = ZERO
        for v in values:
            total = total + v
        return total


def sub(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(_EXACT):
        return a - b


def neg(a: Decimal) -> Decimal:
    with localcontext(_EXACT):
        return -a


def zcdp_to_epsilon(rho: Decimal, delta: Decimal) -> Decimal:
    """ε such that rho-zCDP implies (ε, δ)-DP, rounded up: rho + 2·√(rho·ln(1/δ))."""
    if not ZERO < delta < 1:
        raise ValueError(f"delta must be in (0, 1) to convert zCDP to (epsilon, delta); got {delta}")
    if rho < 0:
        raise ValueError(f"rho must be >= 0; got {rho}")
    if rho == 0:
        return ZERO
    with localcontext(_ANALYTIC):
        log_term = (Decimal(1) / delta).ln()
        eps = rho + 2 * (rho * log_term).sqrt()
        return ceil_q(eps + _MARGIN)


def pure_to_zcdp(epsilon: Decimal) -> Decimal:
    """rho = ε²/2: a pure ε-DP mechanism is (ε²/2)-zCDP (Bun & Steinke 2016, Prop. 1.4); rounded up."""
    with localcontext(_ANALYTIC):
        return ceil_q(epsilon * epsilon / 2)


def zcdp_pure_headroom(rho: Decimal) -> Decimal:
    """Largest pure ε whose zCDP cost ε²/2 fits in ``rho``: √(2rho), rounded down."""
    if rho <= 0:
        return ZERO
    with localcontext(_ANALYTIC):
        candidate = floor_q((2 * rho).sqrt())
    with localcontext(_EXACT):  # verify exactly: a quantized square has at most 36 fractional digits
        while candidate > 0 and candidate * candidate / 2 > rho:
            candidate -= QUANTUM
    return candidate


def plain(value: Decimal) -> str:
    """Decimal as plain notation without trailing zeros ('0.5', '1e-7' -> '0.0000001')."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
