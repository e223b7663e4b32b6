"""The training policy's ``input`` document (version 1) and its ``data`` extension.

The same rules as the query surface: ``input`` is per request, ``data`` is long-lived; numbers that
matter are decimal strings; Python computes ``affordable`` exactly and Rego only reads the boolean.
``domains[].features`` are the columns each domain's feature query would feed to the model, with the
PII entity types the catalog records for them, so the policy never needs a catalog lookup to see PII.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..catalog import Catalog
from ..policy_io import PrincipalDoc, build_data
from ..rules import Rules
from .settings import TrainingSettings

TRAINING_INPUT_VERSION = 1
TRAINING_POLICY_PATH = "privgate/training/decision"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingRequestDoc(_Doc):
    id: str
    principal: PrincipalDoc
    purpose: str
    surface: Literal["training"] = "training"


class DpDoc(_Doc):
    noise_multiplier: str
    clipping_norm: str
    clipping: Literal["server", "client"]
    target_delta: str


class JobDoc(_Doc):
    name: str
    coordinator: str
    round: int = Field(ge=0, description="1-based round being authorized; 0 = the whole job (pre-deploy check)")
    rounds: int
    clients_per_round: int
    secure_aggregation: bool
    dp: DpDoc | None


class FeatureDoc(_Doc):
    table: str
    column: str
    pii: tuple[str, ...]


class ProblemDoc(_Doc):
    code: str
    message: str


class DomainDoc(_Doc):
    name: str
    features: tuple[FeatureDoc, ...]
    tables: tuple[str, ...]
    foreign_tables: tuple[str, ...] = Field(description="tables the query reads that belong to another domain")
    problems: tuple[ProblemDoc, ...] = Field(description="why the feature query cannot be vouched for")


class TrainingBudgetDoc(_Doc):
    epsilon: str = Field(description="ε this request costs (the round, or the whole job when round = 0)")
    delta: str
    rho: str
    needed: str = Field(description="pure-epsilon equivalent sqrt(2 rho) of the charge, compared with remaining")
    remaining: str | None = Field(description="the ledger's pure-epsilon headroom over the charge's scopes")
    affordable: bool


class TrainingPolicyInput(_Doc):
    version: Literal[1] = 1
    request: TrainingRequestDoc
    job: JobDoc
    domains: tuple[DomainDoc, ...]
    budget: TrainingBudgetDoc


def budget_doc(epsilon: Decimal, delta: Decimal, rho: Decimal, remaining: Decimal | None,
               pure_equivalent: Decimal) -> dict[str, Any]:
    """``affordable`` compares the ledger's pure-ε headroom with the charge's pure-ε equivalent √(2rho)."""
    return {"epsilon": str(epsilon), "delta": str(delta), "rho": str(rho), "needed": str(pure_equivalent),
            "remaining": None if remaining is None else str(remaining),
            "affordable": remaining is None or remaining >= pure_equivalent}


def training_data(catalog: Catalog, rules: Rules, settings: TrainingSettings) -> dict[str, Any]:
    """``data``: the query surface's document plus ``privgate.training_rules`` (one bundle serves both)."""
    data = build_data(catalog, rules)
    data["privgate"]["training_rules"] = settings.data_doc()
    return data
