"""The training-job spec: what a team asks to train, validated before anything runs.

A spec is YAML (read by the caller) turned into a ``TrainingJob`` here. Each domain's features are a
SQL query, analyzed by the same analyzer as BI queries so the policy sees exactly which columns (and
PII types) would train the model; ``columns:`` (``schema.table.column`` names of one table) is the
short form and becomes that query. Numbers that reach the ledger or the policy are decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError

SPEC_VERSION = 1


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Spec):
    kind: Literal["logistic_regression"] = "logistic_regression"
    task: Literal["binary_classification"] = "binary_classification"
    label: str = Field(min_length=1, description="output column of each feature query that holds the label")
    learning_rate: float = Field(default=0.5, gt=0)
    local_epochs: int = Field(default=5, ge=1, le=1000)
    batch_size: int | None = Field(default=None, ge=1, description="mini-batch SGD batch; null: full-batch GD")


class DpSpec(_Spec):
    """Central DP for the model updates (Flower's fixed-clipping wrappers)."""

    noise_multiplier: Decimal = Field(gt=0, description="sigma / clipping_norm of the Gaussian noise on the sum")
    clipping_norm: Decimal = Field(gt=0, description="L2 bound of each domain's update")
    clipping: Literal["server", "client"] = "server"
    target_delta: Decimal = Field(gt=0, lt=1, description="δ of the whole job")


class DomainSpec(_Spec):
    name: str = Field(min_length=1)
    features: str | None = Field(default=None, description="SQL feature query, run by the domain itself")
    columns: tuple[str, ...] | None = Field(default=None, description="short form: schema.table.column names")

    @model_validator(mode="after")
    def _one_form(self) -> DomainSpec:
        if (self.features is None) == (self.columns is None):
            raise ValueError(f"domain {self.name!r}: give exactly one of `features` (SQL) or `columns`")
        if self.columns is not None:
            tables = {c.rsplit(".", 1)[0].lower() for c in self.columns}
            if not self.columns or any(c.count(".") != 2 for c in self.columns):
                raise ValueError(f"domain {self.name!r}: `columns` must be schema.table.column names")
            if len(tables) != 1:
                raise ValueError(f"domain {self.name!r}: `columns` must come from one table "
                                 f"(got {', '.join(sorted(tables))}); write a `features` query to join")
        return self

    def feature_sql(self) -> str:
        if self.features is not None:
            return self.features
        assert self.columns is not None
        table = self.columns[0].rsplit(".", 1)[0]
        return f"SELECT {', '.join(c.rsplit('.', 1)[1] for c in self.columns)} FROM {table}"


class TrainingJob(_Spec):
    version: Literal[1] = 1
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    principal: str = Field(min_length=1, description="who runs the job (ledger scope principal:<id>)")
    purpose: str = Field(min_length=1)
    coordinator: str = Field(min_length=1, description="domain that receives the model; sharing is checked against it")
    model: ModelSpec
    dialect: str = "postgres"
    domains: tuple[DomainSpec, ...] = Field(min_length=1)
    rounds: int = Field(ge=1, le=10_000)
    clients_per_round: int = Field(ge=1)
    dp: DpSpec | None = None
    secure_aggregation: bool = False
    seed: int = Field(default=0, description="seed of the example's data, sampling and noise (reproducible runs)")

    @model_validator(mode="after")
    def _consistent(self) -> TrainingJob:
        names = [d.name for d in self.domains]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"domains listed twice: {', '.join(dupes)}")
        if self.clients_per_round > len(self.domains):
            raise ValueError(f"clients_per_round ({self.clients_per_round}) exceeds the number of domains "
                             f"({len(self.domains)})")
        return self


def parse_job(doc: Any, *, source: str = "job.yaml") -> TrainingJob:
    """Validate a loaded YAML document; errors name the field and the file (``config_training_job``)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: a training job must be a mapping", code="config_training_job")
    try:
        return TrainingJob.model_validate(doc)
    except ValidationError as exc:
        lines = [f"{source}: {'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid training job:\n" + "\n".join(lines), code="config_training_job") from exc


def is_training_job(doc: Any) -> bool:
    """Cheap sniff for ``privgate check``: a mapping with the keys every training job has."""
    return isinstance(doc, dict) and {"rounds", "domains", "model", "purpose"} <= set(doc)
