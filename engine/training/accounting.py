"""The privacy cost of a training round: the Gaussian mechanism on the clipped sum of domain updates.

Flower's fixed-clipping wrappers clip each domain's update to L2 norm ``C`` and add Gaussian noise of
standard deviation ``z·C`` to the sum (``z·C/K`` on the mean of ``K`` updates). Adding or removing one
person changes at most ``g`` updates, where ``g`` is how many authorized domains share that person's
privacy-unit namespace, so the sum's L2 sensitivity is ``g·C`` and the round is a Gaussian mechanism
with effective noise multiplier ``z/g``:

* zCDP: ``rho = g² / (2 z²)`` exactly (Bun & Steinke 2016, Prop. 1.6) — what the ledger composes;
* RDP: ``alpha·rho`` at every order alpha — what ``dp-accounting`` (Flower's own accountant) composes and
  converts to (ε, δ) more tightly for the forecast.

Both functions are pure and memoized: every round of a job costs the same, and dp-accounting's RDP
conversion (milliseconds) would otherwise dominate the per-round governance time.

No amplification by sampling is claimed (Flower's accounted mode requires the same): rounds that
sample fewer domains are charged as if every authorized domain took part. Conservative, never loose.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from functools import lru_cache

from ..errors import ConfigError
from ..ledger import Cost, zcdp_to_epsilon


@dataclass(frozen=True)
class GaussianRound:
    """One round's mechanism: noise multiplier, clipping norm and the person-level group size."""

    noise_multiplier: Decimal
    clipping_norm: Decimal
    group_size: int = 1

    @property
    def effective_noise_multiplier(self) -> Decimal:
        return self.noise_multiplier / self.group_size

    @property
    def rho(self) -> Decimal:
        """``g²/(2z²)`` rounded up to 1e-18 (rounding favours the people in the data)."""
        with localcontext() as ctx:
            ctx.prec = 60
            exact = Decimal(self.group_size) ** 2 / (2 * self.noise_multiplier ** 2)
        return exact.quantize(Decimal("1e-18"), rounding=ROUND_CEILING)


@dataclass(frozen=True)
class RoundCost:
    """What one round is charged: rho, its (ε, δ) view at the round's δ share, and dp-accounting's ε."""

    mechanism: GaussianRound
    cost: Cost
    epsilon_rdp: Decimal


def _rdp_epsilon(z_eff: Decimal, rounds: int, delta: Decimal) -> Decimal:
    """ε after ``rounds`` Gaussian releases at δ, from dp-accounting's RDP accountant (rounded up)."""
    try:
        from dp_accounting import GaussianDpEvent
        from dp_accounting.rdp import RdpAccountant
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError("training accounting needs dp-accounting: pip install 'privgate[fl]'",
                          code="config_missing_extra") from exc
    accountant = RdpAccountant()
    accountant.compose(GaussianDpEvent(float(z_eff)), rounds)
    eps = float(accountant.get_epsilon(float(delta)))
    # float → Decimal is exact; round up at 1e-12 (dp-accounting's own precision is far coarser)
    return Decimal(eps).quantize(Decimal("1e-12"), rounding=ROUND_CEILING)


@lru_cache(maxsize=256)
def round_cost(mechanism: GaussianRound, *, rounds: int, target_delta: Decimal) -> RoundCost:
    """The ledger charge of one round; δ is split evenly over the job's rounds (basic composition)."""
    delta = target_delta / rounds
    return RoundCost(mechanism=mechanism, cost=Cost.from_zcdp(mechanism.rho, delta),
                     epsilon_rdp=_rdp_epsilon(mechanism.effective_noise_multiplier, 1, delta))


@dataclass(frozen=True)
class Forecast:
    rounds: int
    target_delta: Decimal
    rho: Decimal
    epsilon_zcdp: Decimal
    epsilon_rdp: Decimal


@lru_cache(maxsize=256)
def job_forecast(mechanism: GaussianRound, *, rounds: int, target_delta: Decimal) -> Forecast:
    """ε of the whole job at its target δ: as the ledger's zCDP sum reports it, and by RDP (tighter)."""
    rho = mechanism.rho * rounds
    return Forecast(rounds=rounds, target_delta=target_delta, rho=rho,
                    epsilon_zcdp=zcdp_to_epsilon(rho, target_delta),
                    epsilon_rdp=_rdp_epsilon(mechanism.effective_noise_multiplier, rounds, target_delta))
