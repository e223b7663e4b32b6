"""Governed federated learning: job specs, per-round privacy accounting, the training policy input.

Pure logic, no I/O, no Flower import: ``connectors/flower`` drives these from a Flower ServerApp,
``privgate check`` judges a spec before deployment. See docs/federated.md.
"""

from .accounting import GaussianRound, RoundCost, job_forecast, round_cost
from .governor import JobForecast, RoundDecision, TrainingGovernor
from .settings import DomainRequirements, DpBounds, PurposeRules, TrainingSettings
from .spec import DomainSpec, DpSpec, ModelSpec, TrainingJob, parse_job

__all__ = [
    "DomainRequirements",
    "DomainSpec",
    "DpBounds",
    "DpSpec",
    "GaussianRound",
    "JobForecast",
    "ModelSpec",
    "PurposeRules",
    "RoundCost",
    "RoundDecision",
    "TrainingGovernor",
    "TrainingJob",
    "TrainingSettings",
    "job_forecast",
    "parse_job",
    "round_cost",
]
