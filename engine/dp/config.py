"""DP defaults (``rules/dp.yaml``): contribution bounds, noise family, ε split and reporting knobs.

These are data, not policy: the policy decides *whether* DP applies and with what (ε, δ); these
settings decide *how* the budget is spent. Loading the YAML is a connector's job; the engine only
validates the mapping it is given.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SumMode = Literal["per_unit", "per_row"]
Noise = Literal["auto", "laplace", "gaussian"]
Contribution = Literal["auto", "groups", "total"]


class BoundsPolicy(BaseModel):
    """How contributions are bounded and how the budget is divided.

    ``l0`` bounds the number of groups one privacy unit may contribute to; ``linf`` bounds the rows
    it may contribute to each group. They are separate on purpose: partition selection only pays for
    ``l0`` (each person counts once per group), so a person with 500 orders in one city does not
    inflate the selection threshold.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    l0: int = Field(default=4, ge=1, le=1000, description="max groups per privacy unit")
    linf: int = Field(default=10, ge=1, le=100000, description="max rows per privacy unit per group")
    sum_mode: SumMode = Field(
        default="per_unit",
        description="per_unit: SUM each unit's rows in a group then clip to linf*bounds; per_row: keep at most "
                    "linf rows per unit and group, each clamped to bounds")
    noise: Noise = Field(default="auto", description="laplace: pure ε-DP (L1 sensitivities); gaussian: zCDP converted "
                         "to (ε, δ) (L2: grows with sqrt(l0)); auto: per query, the family with the lower selection "
                         "threshold, else the narrower intervals (laplace when δ = 0)")
    contribution: Contribution = Field(
        default="auto", description="groups: at most l0 groups x linf rows per group per unit; total: also at most "
        "total_rows rows per unit across all groups (L1 = total_rows x bound, no l0 factor; groups per unit "
        "min(l0, total_rows)); auto: per query, the one with the lower selection threshold, else the narrower "
        "intervals (read from the plan, never the data)")
    total_rows: int | None = Field(default=None, ge=1, le=100000, description="rows per unit across all groups in "
                                   "the total mode; unset: linf")
    selection_weight: float = Field(default=1.0, gt=0, description="share of ε for partition selection, "
                                    "relative to weight 1 per released aggregate")
    quantile_candidates: int = Field(default=48, ge=3, le=512, description="candidates per quantile")
    quantile_grid: Literal["log", "linear"] = Field(
        default="log", description="log: geometric spacing (relative accuracy) when the lower bound is >= 0; "
                                   "linear: evenly spaced between the bounds")
    swamp_share: float = Field(default=1.0, gt=0, description="flag a cell when its 95% half-width exceeds this "
                               "share of its absolute value")
    gaussian_delta_share: float = Field(default=0.5, gt=0, lt=1, description="with gaussian noise and partition "
                                        "selection: the share of δ for converting zCDP to (ε, δ); the rest pays "
                                        "for Gaussian thresholding")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="accuracy level: half-widths are for 1-alpha")

    def with_overrides(self, **values: object) -> BoundsPolicy:
        """A copy with some fields replaced and re-validated (e.g. per-principal l0)."""
        return BoundsPolicy.model_validate({**self.model_dump(), **values})
