"""Training policy settings (``data.privgate.training_rules``): data the Rego package reads, not policy.

Which PII entity types may be features for a purpose, which domains demand DP or secure aggregation,
the bounds on DP parameters, and the smallest federation allowed. Shipped in ``rules/training.yaml``;
decimals stay decimal strings in the data document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurposeRules(_Settings):
    allowed_entities: tuple[str, ...] = Field(default=(), description="PII entity types usable as features")


class DomainRequirements(_Settings):
    require_dp: bool = True
    require_secure_aggregation: bool = False


class DpBounds(_Settings):
    min_noise_multiplier: Decimal = Field(gt=0)
    max_clipping_norm: Decimal = Field(gt=0)
    max_target_delta: Decimal = Field(gt=0, lt=1)


class TrainingSettings(_Settings):
    purposes: dict[str, PurposeRules] = Field(description="purposes training may serve; others are denied")
    default_domain: DomainRequirements = DomainRequirements()
    domains: dict[str, DomainRequirements] = Field(default_factory=dict)
    dp: DpBounds
    min_domains: int = Field(default=2, ge=1, description="fewer authorized domains than this: the round is denied")

    def data_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
