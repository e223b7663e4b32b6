"""Spend one query's (ε, δ) on its mechanisms, in one noise family, and pick the family that serves it best.

Two families, each with every number read from OpenDP's privacy maps:

- ``laplace``: pure ε-DP counts and sums (discrete Laplace for integers), Laplace thresholding for
  partition selection. Sensitivities are L1, so they grow with l0 (groups per person).
- ``gaussian``: zCDP counts and sums and Gaussian thresholding (approximate zCDP), composed by adding
  rho and converted to (ε, δ) once with OpenDP's ``make_zCDP_to_approxDP``. Sensitivities are L2, so
  they grow with sqrt(l0) — but the conversion costs a constant factor, so for l0 = 1 Laplace wins.

``noise: auto`` plans both and keeps the one with the lower selection threshold (more keys released)
when the query selects partitions, otherwise the one with the narrower intervals; the plan's notes say
which and why. The choice reads only the plan (bounds, budget), never the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal

from opendp.mod import OpenDPException

from .config import BoundsPolicy
from .errors import DpError
from .mechanisms import (
    calibrate_gaussian_threshold,
    calibrate_quantile,
    calibrate_threshold,
    calibrate_vector,
    half_width,
    rho_for,
    to_decimal,
)
from .model import Charge, MeasureSpec, Mechanism, MechanismSpec

PURPOSES = {"rows": "COUNT(*)", "nonnull": "COUNT({v})", "units": "COUNT(DISTINCT privacy unit)",
            "sum": "SUM({v})", "wsum": "SUM({v}) of per-unit means x min(rows, linf)",
            "quantile": "QUANTILE({v}, {a})"}


@dataclass(frozen=True)
class Calibration:
    """One family's mechanisms for a query: specs, measures pointing at them, the charge."""

    family: str
    specs: tuple[MechanismSpec, ...]
    measures: tuple[MeasureSpec, ...]
    selection: int | None
    charge: Charge
    alpha: float

    @property
    def threshold(self) -> int | None:
        return None if self.selection is None else self.specs[self.selection].record.threshold

    def widths(self) -> list[float]:
        """(1-alpha) half-width of every released measure, in measure order (what an analyst gets)."""
        out: list[float] = []
        for m in self.measures:
            spec = self.specs[m.mechanism]
            rec = spec.record
            if m.kind == "quantile":
                a, b = m.score_weights
                out.append(rec.scale * math.log(len(m.candidates) / self.alpha) / (a + b))
            elif rec.threshold is not None:
                noise = "gaussian" if rec.name == "gaussian_threshold" else "laplace"
                out.append(half_width(noise, True, rec.scale, self.alpha))
            else:
                out.append(half_width(self.family, spec.integer, rec.scale, self.alpha))
        return out


def purpose(m: MeasureSpec) -> str:
    return PURPOSES[m.kind].format(v=m.value_sql, a=m.alpha)


def sensitivity(m: MeasureSpec, l0: int, linf: int) -> float:
    """L1 sensitivity of the per-key vector when one person is added or removed."""
    if m.kind in ("rows", "nonnull"):
        return float(l0 * linf)
    if m.kind == "units":
        return float(l0)
    assert m.bounds is not None
    return float(l0 * linf) * max(abs(m.bounds[0]), abs(m.bounds[1]))


def calibrate(family: str, measures: list[MeasureSpec], *, has_selection: bool, l0: int, linf: int,
              eps: Decimal, dlt: Decimal, policy: BoundsPolicy) -> Calibration:
    """Split (ε, δ) by weight (1 per released measure, ``selection_weight`` for selection) in one family.

    A COUNT(DISTINCT unit) measure under selection is released as the selection's own noisy count, so
    it costs nothing extra and selection gets its whole share.
    """
    gaussian = family == "gaussian"
    own = [i for i, m in enumerate(measures) if not (m.kind == "units" and has_selection)]
    sel_w = Decimal(str(policy.selection_weight)) if has_selection else Decimal(0)
    weight = Decimal(len(own)) + sel_w
    if gaussian:
        if dlt <= 0:
            raise DpError("Gaussian noise needs delta > 0; the obligation has delta = 0 (use noise: laplace)",
                          code="dp_invalid_budget")
        dlt_sel = dlt * (Decimal(1) - Decimal(str(policy.gaussian_delta_share))) if has_selection else Decimal(0)
        dlt_conv = dlt - dlt_sel
        rho_total = rho_for(float(eps), float(dlt_conv))
    else:
        dlt_sel, dlt_conv, rho_total = (dlt if has_selection else Decimal(0)), Decimal(0), 0.0

    specs: list[MechanismSpec] = []
    selection: int | None = None
    if has_selection:
        share = sel_w / weight
        if gaussian:
            scale, threshold, rho, d = calibrate_gaussian_threshold(l0, rho_total * float(share), float(dlt_sel))
            record = Mechanism(name="gaussian_threshold", purpose="partition selection on distinct privacy units "
                               "per key", sensitivity=f"l0={l0}, l2=sqrt({l0}), linf=1", scale=scale,
                               epsilon=eps * share, delta=to_decimal(d) + dlt_conv * share, rho=to_decimal(rho),
                               threshold=threshold)
        else:
            scale, threshold, e, d = calibrate_threshold(l0, float(eps * share), float(dlt_sel))
            record = Mechanism(name="laplace_threshold", purpose="partition selection on distinct privacy units "
                               "per key", sensitivity=f"l0={l0}, l1={l0}, linf=1", scale=scale,
                               epsilon=to_decimal(e), delta=to_decimal(d), threshold=threshold)
        specs.append(MechanismSpec(record, d_in=(l0, l0, 1), integer=True))
        selection = 0

    final: list[MeasureSpec] = []
    for i, m in enumerate(measures):
        if i not in own:
            final.append(replace(m, mechanism=selection if selection is not None else -1))
            continue
        share = 1 / weight
        budget = rho_total * float(share) if gaussian else float(eps * share)
        d_in: object
        if m.kind == "quantile":
            per_group = budget / l0
            scale, spent = calibrate_quantile(family, m.candidates, m.alpha or 0.5, linf, per_group)
            spent *= l0
            sens, d_in, integer, name = f"{linf} rows per group, {l0} groups", linf, True, "report_noisy_max"
        else:
            integer = m.kind in ("rows", "nonnull", "units") and not gaussian
            base = sensitivity(m, l0, linf)
            if gaussian:
                base = base / l0 * math.sqrt(l0)
            d_in = int(base) if integer else base
            scale, spent = calibrate_vector(family, integer, d_in, budget)
            sens = f"{'L2' if gaussian else 'L1'}={d_in}"
            name = ("discrete_laplace" if integer else "laplace") if not gaussian else "gaussian"
        if gaussian:
            record = Mechanism(name=name, purpose=purpose(m), sensitivity=sens, scale=scale, epsilon=eps * share,
                               delta=dlt_conv * share, rho=to_decimal(spent), candidates=len(m.candidates) or None)
        else:
            record = Mechanism(name=name, purpose=purpose(m), sensitivity=sens, scale=scale,
                               epsilon=to_decimal(spent), candidates=len(m.candidates) or None)
        final.append(replace(m, mechanism=len(specs)))
        specs.append(MechanismSpec(record, d_in=d_in, integer=integer))

    charge = Charge(epsilon=sum((s.record.epsilon for s in specs), Decimal(0)),
                    delta=sum((s.record.delta for s in specs), Decimal(0)),
                    mechanisms=tuple(s.record for s in specs))
    if charge.epsilon > eps or charge.delta > dlt:
        raise DpError(f"internal: charge ({charge.epsilon}, {charge.delta}) exceeds the obligation ({eps}, {dlt})",
                      code="dp_invalid_budget")
    return Calibration(family=family, specs=tuple(specs), measures=tuple(final), selection=selection, charge=charge,
                       alpha=policy.alpha)


def choose(measures: list[MeasureSpec], *, has_selection: bool, l0: int, linf: int, eps: Decimal, dlt: Decimal,
           policy: BoundsPolicy) -> tuple[Calibration, str]:
    """The policy's family, or under ``auto`` the better of both for this query; with a note saying why."""
    def plan(family: str) -> Calibration:
        return calibrate(family, measures, has_selection=has_selection, l0=l0, linf=linf, eps=eps, dlt=dlt,
                         policy=policy)

    if policy.noise != "auto":
        return plan(policy.noise), f"noise family {policy.noise} (set by the DP settings)"
    lap = plan("laplace")
    if dlt <= 0:
        return lap, "noise family laplace (auto: delta = 0 allows pure DP only)"
    try:
        gau = plan("gaussian")
    except (DpError, OpenDPException) as exc:  # e.g. an ε so large OpenDP's zCDP conversion overflows
        return lap, f"noise family laplace (auto: the gaussian family cannot be calibrated here: {exc})"
    if has_selection:
        tl, tg = lap.threshold or 0, gau.threshold or 0
        if tl != tg:
            best = gau if tg < tl else lap
            return best, (f"noise family {best.family} (auto: selection threshold {min(tl, tg)} distinct persons "
                          f"vs {max(tl, tg)} with {'laplace' if best is gau else 'gaussian'})")
    # geometric mean of the half-width ratios: below 1 means Gaussian intervals are narrower overall
    # (a discrete-Laplace half-width can round to 0 at a huge ε: floor both so the ratio stays defined)
    ratio = math.exp(sum(math.log(max(g, 1e-9) / max(x, 1e-9)) for g, x in zip(gau.widths(), lap.widths(),
                                                                                 strict=True))
                     / max(1, len(lap.measures)))
    best = gau if ratio < 1 else lap
    return best, (f"noise family {best.family} (auto: gaussian/laplace half-width ratio {ratio:.2f}"
                  f"{', equal thresholds' if has_selection else ''})")
