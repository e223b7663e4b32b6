"""The DP plan (what to run upstream and which mechanisms to apply) and the released result.

A ``DpPlan`` is pure data: the bounded SQL in the upstream's dialect plus the mechanism specs that
``release`` turns into OpenDP measurements. It is computed before anything runs, so the charge is
known (and can be reserved in the ledger) before the warehouse is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp

AggKind = Literal["count", "count_col", "count_units", "sum", "avg", "quantile"]
MeasureKind = Literal["rows", "nonnull", "units", "sum", "wsum", "quantile"]
MechanismName = Literal["discrete_laplace", "laplace", "discrete_gaussian", "gaussian", "laplace_threshold",
                        "gaussian_threshold", "report_noisy_max"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mechanism(_Record):
    """One OpenDP measurement of the plan, as recorded with the charge (and in the ledger).

    ``epsilon``/``delta`` come from the measurement's own privacy map at ``sensitivity``; for
    Gaussian mechanisms ``rho`` is the zCDP cost and epsilon/delta are the converted share.
    """

    name: MechanismName
    purpose: str = Field(description="what it releases, e.g. 'COUNT(*)' or 'partition selection'")
    sensitivity: str = Field(description="d_in given to the privacy map, e.g. '40' or 'l0=4, l1=4, linf=1'")
    scale: float
    epsilon: Decimal
    delta: Decimal = Decimal(0)
    rho: Decimal | None = None
    threshold: int | None = None
    candidates: int | None = None


class Charge(_Record):
    """The query's total privacy cost: basic composition of its mechanisms, exact decimals."""

    epsilon: Decimal
    delta: Decimal
    mechanisms: tuple[Mechanism, ...]


@dataclass(frozen=True)
class KeySpec:
    """One GROUP BY key: its output name, its SQL (for matching) and, if declared, its public domain."""

    name: str
    sql: str
    domain: tuple[str | int, ...] | None


@dataclass(frozen=True)
class MeasureSpec:
    """A released quantity computed per group upstream (one SQL column, or 2k for a quantile)."""

    kind: MeasureKind
    column: str
    value_sql: str | None = None
    bounds: tuple[float, float] | None = None
    alpha: float | None = None
    candidates: tuple[float, ...] = ()
    mechanism: int = -1
    score_weights: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class AggSpec:
    """One aggregate of the query and the measures it is computed from (AVG = sum / nonnull count)."""

    kind: AggKind
    sql: str
    measures: tuple[int, ...]


@dataclass(frozen=True)
class OutputColumn:
    name: str
    kind: Literal["key", "aggregate"]
    index: int


@dataclass(frozen=True)
class MechanismSpec:
    """Everything needed to rebuild the OpenDP measurement at release time (plans stay pure data)."""

    record: Mechanism
    d_in: Any
    integer: bool


@dataclass(frozen=True)
class DpPlan:
    """What to run upstream and how to release it. Built by ``plan_query``; consumed by ``release``."""

    sql: str
    dialect: str
    keys: tuple[KeySpec, ...]
    measures: tuple[MeasureSpec, ...]
    aggregates: tuple[AggSpec, ...]
    outputs: tuple[OutputColumn, ...]
    mechanisms: tuple[MechanismSpec, ...]
    selection: int | None
    charge: Charge
    l0: int
    linf: int
    total: int | None
    salt: str
    alpha: float
    swamp_share: float
    noise: str
    having: exp.Expression | None = None
    order: tuple[exp.Ordered, ...] = ()
    limit: int | None = None
    offset: int | None = None
    normalized_sql: str = ""
    notes: tuple[str, ...] = field(default=())


class ResultColumn(_Record):
    name: str
    kind: Literal["key", "aggregate"]
    aggregate: AggKind | None = None
    accuracy: Literal["value", "rank"] | None = Field(
        default=None, description="value: half-width in the column's unit; rank: in rows around the quantile")


class DpResult(_Record):
    """A released answer: noisy cells, their 95% half-widths, flags, and what it cost."""

    columns: tuple[ResultColumn, ...]
    rows: tuple[tuple[Any, ...], ...]
    half_widths: tuple[tuple[float | None, ...], ...]
    swamped: tuple[tuple[bool, ...], ...]
    suppressed_keys: int = Field(description="observed keys withheld by partition selection (a count, never values)")
    charge: Charge
    sql: str = Field(description="the bounded SQL that ran upstream")
    alpha: float
    cached: bool = Field(default=False, description="true when this is an earlier release returned again at no cost")

    def records(self) -> list[dict[str, Any]]:
        """One dict per row; each aggregate ``c`` also gets ``c_halfwidth`` and ``c_swamped``."""
        out: list[dict[str, Any]] = []
        for row, hws, flags in zip(self.rows, self.half_widths, self.swamped, strict=True):
            rec: dict[str, Any] = {}
            for col, value, hw, flag in zip(self.columns, row, hws, flags, strict=True):
                rec[col.name] = value
                if col.kind == "aggregate":
                    rec[f"{col.name}_halfwidth"] = hw
                    rec[f"{col.name}_swamped"] = flag
            out.append(rec)
        return out
