"""OpenDP measurements: calibrate scales from (ε, δ) shares, read charges from privacy maps, add noise.

Every number the ledger sees comes from an OpenDP privacy map (``measurement.map(d_in)``); scales are
chosen so the map stays within the share of the budget, then the map's own output is recorded. Noise
comes only from OpenDP's samplers, one vectorized call per released column. OpenDP draws from the
operating system's CSPRNG and cannot be seeded, so released values are not reproducible; everything
before the noise (plan, SQL, salt, split) is deterministic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import opendp.prelude as dp

from .errors import DpError

dp.enable_features("contrib")

# Scales are nudged up until the map fits; the budget share is shrunk by this much so float rounding
# in the map can never push the recorded decimal charge past the obligation.
_SLACK = 1 - 1e-9


def to_decimal(x: float) -> Decimal:
    """Exact decimal of the float's shortest repr (what the ledger stores)."""
    return Decimal(repr(float(x)))


def _int_vector() -> Any:
    return dp.vector_domain(dp.atom_domain(T=dp.i64))


def _float_vector() -> Any:
    return dp.vector_domain(dp.atom_domain(T=float, nan=False))


def vector_measurement(noise: str, integer: bool, scale: float) -> Any:
    """Laplace (discrete for integers) under pure DP, or Gaussian under zCDP; over a vector of cells."""
    if noise == "gaussian":
        return dp.m.make_gaussian(_float_vector(), dp.l2_distance(T=float), scale=scale)
    if integer:
        return dp.m.make_laplace(_int_vector(), dp.l1_distance(T=dp.i64), scale=scale)
    return dp.m.make_laplace(_float_vector(), dp.l1_distance(T=float), scale=scale)


def _fit(build: Any, d_in: Any, budget: float, start: float, pick: Any = float) -> tuple[float, float]:
    """Smallest scale >= start (nudged) whose privacy map at d_in is within budget: (scale, map value)."""
    target = budget * _SLACK
    scale = start / _SLACK
    for _ in range(200):
        spent = float(pick(build(scale).map(d_in)))
        if spent <= target:
            return scale, spent
        scale *= 1 + 1e-6
    raise DpError("could not calibrate a noise scale within the budget share", code="dp_invalid_budget")


def calibrate_vector(noise: str, integer: bool, d_in: float | int, budget: float) -> tuple[float, float]:
    """Scale for a vector mechanism; ``budget`` is ε (laplace) or rho (gaussian). Returns (scale, spent)."""
    if d_in == 0:
        raise DpError("zero sensitivity: nothing to release", code="dp_invalid_budget")
    if noise == "gaussian":
        start = float(d_in) / math.sqrt(2 * budget)
        return _fit(lambda s: vector_measurement(noise, integer, s), float(d_in), budget, start)
    return _fit(lambda s: vector_measurement(noise, integer, s), d_in if integer else float(d_in), budget,
                float(d_in) / budget)


def threshold_measurement(scale: float, threshold: int) -> Any:
    """Laplace partition selection over {key: distinct units}; keys below the noisy threshold vanish."""
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=dp.i64))
    return dp.m.make_laplace_threshold(domain, dp.l01inf_distance(dp.absolute_distance(T=dp.i64)),
                                       scale=scale, threshold=threshold)


def gaussian_threshold_measurement(scale: float, threshold: int) -> Any:
    """Gaussian partition selection (approximate zCDP): the L2 norm of one person's change is sqrt(l0).

    OpenDP's map at d_in = (l0, l1, linf) uses min(l1, sqrt(l0) * linf) as the L2 sensitivity, so with
    l0 > 1 the noise grows with sqrt(l0) instead of l0: the threshold of choice for wide l0.
    """
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=dp.i64))
    return dp.m.make_gaussian_threshold(domain, dp.l02inf_distance(dp.absolute_distance(T=dp.i64)),
                                        scale=scale, threshold=threshold)


def selection_measurement(name: str, scale: float, threshold: int) -> Any:
    """The partition-selection measurement a plan records by name."""
    if name == "gaussian_threshold":
        return gaussian_threshold_measurement(scale, threshold)
    return threshold_measurement(scale, threshold)


def _smallest_threshold(build: Any, d_in: Any, delta: float) -> int:
    """Smallest threshold whose map's delta at d_in is within ``delta`` (doubling, then bisection)."""
    def dlt(th: int) -> float:
        return float(build(th).map(d_in)[1])

    lo, hi = 1, 2
    while dlt(hi) > delta * _SLACK:
        lo, hi = hi, hi * 2
        if hi > 1 << 40:
            raise DpError("delta too small for partition selection", code="dp_invalid_budget")
    while lo < hi:
        mid = (lo + hi) // 2
        if dlt(mid) <= delta * _SLACK:
            hi = mid
        else:
            lo = mid + 1
    return hi


def _no_delta() -> DpError:
    return DpError("GROUP BY on keys without a declared public domain needs partition selection, which costs "
                   "delta > 0; the DP obligation has delta = 0. Group by columns with catalog public_keys, or "
                   "use a query class with a delta", code="dp_invalid_budget")


@functools.lru_cache(maxsize=256)
def calibrate_gaussian_threshold(l0: int, rho: float, delta: float) -> tuple[float, int, float, float]:
    """Scale and smallest threshold with map((l0, l0, 1)) within (rho, delta): (scale, threshold, rho, delta).

    ``rho`` is the zCDP share of selection, ``delta`` the share that pays for keys one person alone could
    push over the threshold; the caller converts the query's total rho to (ε, δ) with OpenDP.
    """
    if delta <= 0:
        raise _no_delta()
    d_in = (l0, l0, 1)
    scale, _ = _fit(lambda s: gaussian_threshold_measurement(s, 1 << 40), d_in, rho,
                    math.sqrt(l0) / math.sqrt(2 * rho), pick=lambda v: v[0])
    threshold = _smallest_threshold(lambda th: gaussian_threshold_measurement(scale, th), d_in, delta)
    spent_rho, spent_delta = gaussian_threshold_measurement(scale, threshold).map(d_in)
    return scale, threshold, float(spent_rho), float(spent_delta)


@functools.lru_cache(maxsize=256)
def calibrate_threshold(l0: int, epsilon: float, delta: float) -> tuple[float, int, float, float]:
    """Scale and smallest threshold with map((l0, l0, 1)) within (ε, δ): (scale, threshold, ε, δ).

    Each person adds at most 1 to the distinct-unit count of at most l0 keys, so d_in = (l0, l0, 1)
    whatever linf is: this is why groups-per-unit and rows-per-group are bounded separately.
    """
    if delta <= 0:
        raise _no_delta()
    d_in = (l0, l0, 1)
    scale, _ = _fit(lambda s: threshold_measurement(s, 1 << 40), d_in, epsilon, l0 / epsilon,
                    pick=lambda v: v[0])
    threshold = _smallest_threshold(lambda th: threshold_measurement(scale, th), d_in, delta)
    eps, dlt = threshold_measurement(scale, threshold).map(d_in)
    return scale, threshold, float(eps), float(dlt)


def quantile_measurement(noise: str, candidates: Sequence[float], alpha: float, scale: float) -> Any:
    """OpenDP's private quantile: candidate scores (Smith 2011) then report-noisy-min over one group's rows."""
    measure = dp.zero_concentrated_divergence() if noise == "gaussian" else dp.max_divergence()
    score = dp.t.make_quantile_score_candidates(_float_vector(), dp.symmetric_distance(), list(candidates), alpha)
    return score >> dp.m.then_noisy_max(measure, scale, negate=True)


def noisy_min_measurement(noise: str, scale: float) -> Any:
    """The selection half of ``quantile_measurement``, applied to scores computed upstream."""
    measure = dp.zero_concentrated_divergence() if noise == "gaussian" else dp.max_divergence()
    return dp.m.make_noisy_max(dp.vector_domain(dp.atom_domain(T=dp.u64)), dp.linf_distance(T=dp.u64), measure,
                               scale, negate=True)


def score_weights(candidates: Sequence[float], alpha: float) -> tuple[int, int]:
    """(a, b) with OpenDP's score = |a·#(x < c) - b·#(x > c)|, read off OpenDP's own transformation.

    One value below every candidate (#(x < c) = 1) scores a; one above every candidate scores b.
    The upstream then only returns #(x < c) and #(x > c) per candidate, never the rows themselves;
    tests check the scores against OpenDP's transformation on raw values.
    """
    score = dp.t.make_quantile_score_candidates(_float_vector(), dp.symmetric_distance(), list(candidates), alpha)
    a = int(score([min(candidates) - 1.0])[0])
    b = int(score([max(candidates) + 1.0])[0])
    return a, b


def calibrate_quantile(noise: str, candidates: Sequence[float], alpha: float, linf: int,
                       budget: float) -> tuple[float, float]:
    """Scale so one group's quantile costs at most ``budget`` when a person adds/removes linf rows."""
    a, b = score_weights(candidates, alpha)
    start = max(a, b) * linf / math.sqrt(2 * budget) if noise == "gaussian" else 2 * max(a, b) * linf / budget
    return _fit(lambda s: quantile_measurement(noise, candidates, alpha, s), linf, budget, start)


@functools.lru_cache(maxsize=256)
def rho_for(epsilon: float, delta: float) -> float:
    """Largest zCDP rho whose OpenDP conversion to (ε, δ) stays within ε at δ (bisection on the map).

    Starts from the classic bound rho0 = (sqrt(ln(1/δ) + ε) - sqrt(ln(1/δ)))**2 (ε = rho + 2 sqrt(rho ln(1/δ)),
    which OpenDP's tighter conversion never exceeds) and stops at a relative width of 1e-7: each map
    call costs milliseconds, and ``noise: auto`` plans the Gaussian family for every query with δ > 0.
    Cached: budgets repeat across queries of one class.
    """
    def eps_of(rho: float) -> float:
        meas = dp.c.make_zCDP_to_approxDP(vector_measurement("gaussian", False, 1.0 / math.sqrt(2 * rho)))
        profile: Any = meas.map(1.0)  # type: ignore[no-untyped-call]
        return float(profile.epsilon(delta))

    log_d = math.log(1 / delta)
    lo = (math.sqrt(log_d + epsilon) - math.sqrt(log_d)) ** 2 * 0.999
    while lo > 1e-12 and eps_of(lo) > epsilon * _SLACK:
        lo /= 2
    if eps_of(lo) > epsilon * _SLACK:
        raise DpError(f"no zCDP budget fits epsilon={epsilon} at delta={delta}", code="dp_invalid_budget")
    hi = lo * 2
    while eps_of(hi) < epsilon:
        lo, hi = hi, hi * 2
    while (hi - lo) > lo * 1e-7:
        mid = (lo + hi) / 2
        if eps_of(mid) <= epsilon * _SLACK:
            lo = mid
        else:
            hi = mid
    return lo


def half_width(noise: str, integer: bool, scale: float, alpha: float) -> float:
    """95% (1-alpha) half-width of the noise OpenDP adds at this scale."""
    if noise == "gaussian":
        return float(dp.gaussian_scale_to_accuracy(scale, alpha))
    if integer:
        return float(dp.discrete_laplacian_scale_to_accuracy(scale, alpha))
    return float(dp.laplacian_scale_to_accuracy(scale, alpha))
