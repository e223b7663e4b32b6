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

Contribution modes are chosen the same way (``contribution: auto``): the groups mode pays for l0
keys x linf rows per person; the total mode caps a person's rows over all keys at m, so its
sensitivities lose the l0 factor (see ``sensitivity`` / ``l2_sensitivity``).
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


def groups_per_unit(l0: int, total: int | None) -> int:
    """Keys one person can reach: l0, and with a total cap of m rows also at most m (one row per key)."""
    return l0 if total is None else min(l0, total)


def sensitivity(m: MeasureSpec, l0: int, linf: int, total: int | None = None) -> float:
    """L1 sensitivity of the per-key vector when one person is added or removed.

    ``total`` is the total mode's cap m on one person's rows across all keys: the person's rows add
    up to at most min(m, g * linf) over g = min(l0, m) keys, so no l0 factor when m <= linf.
    """
    g = groups_per_unit(l0, total)
    rows = g * linf if total is None else min(total, g * linf)
    if m.kind in ("rows", "nonnull"):
        return float(rows)
    if m.kind == "units":
        return float(g)
    assert m.bounds is not None
    return float(rows) * max(abs(m.bounds[0]), abs(m.bounds[1]))


def l2_sensitivity(m: MeasureSpec, l0: int, linf: int, total: int | None = None) -> float:
    """L2 sensitivity of the per-key vector (Gaussian family).

    Groups mode: sqrt(l0) keys each moved by at most linf rows. Total mode: each key moves by at most
    c = min(linf, m) rows and all keys together by at most S = min(m, g * linf), so the squared norm is
    at most c * S (and g * c^2): sqrt(min(c * S, g * c^2)) — m itself when m <= linf.
    """
    g = groups_per_unit(l0, total)
    if m.kind == "units":
        return math.sqrt(g)
    scale = 1.0
    if m.kind not in ("rows", "nonnull"):
        assert m.bounds is not None
        scale = max(abs(m.bounds[0]), abs(m.bounds[1]))
    if total is None:
        return math.sqrt(l0) * linf * scale
    c, rows = min(linf, total), min(total, g * linf)
    return math.sqrt(min(c * rows, g * c * c)) * scale


def calibrate(family: str, measures: list[MeasureSpec], *, has_selection: bool, l0: int, linf: int,
              eps: Decimal, dlt: Decimal, policy: BoundsPolicy, total: int | None = None) -> Calibration:
    """Split (ε, δ) by weight (1 per released measure, ``selection_weight`` for selection) in one family.

    A COUNT(DISTINCT unit) measure under selection is released as the selection's own noisy count, so
    it costs nothing extra and selection gets its whole share. ``total`` (the total mode's row cap
    m per person) changes sensitivities only; selection pays for g = min(l0, m) keys per person.
    """
    if total is not None and any(m.kind == "quantile" for m in measures):
        raise DpError("internal: quantiles are bounded per group; the total mode does not apply",
                      code="dp_invalid_budget")
    g = groups_per_unit(l0, total)
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
            scale, threshold, rho, d = calibrate_gaussian_threshold(g, rho_total * float(share), float(dlt_sel))
            record = Mechanism(name="gaussian_threshold", purpose="partition selection on distinct privacy units "
                               "per key", sensitivity=f"l0={g}, l2=sqrt({g}), linf=1", scale=scale,
                               epsilon=eps * share, delta=to_decimal(d) + dlt_conv * share, rho=to_decimal(rho),
                               threshold=threshold)
        else:
            scale, threshold, e, d = calibrate_threshold(g, float(eps * share), float(dlt_sel))
            record = Mechanism(name="laplace_threshold", purpose="partition selection on distinct privacy units "
                               "per key", sensitivity=f"l0={g}, l1={g}, linf=1", scale=scale,
                               epsilon=to_decimal(e), delta=to_decimal(d), threshold=threshold)
        specs.append(MechanismSpec(record, d_in=(g, g, 1), integer=True))
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
            base = l2_sensitivity(m, l0, linf, total) if gaussian else sensitivity(m, l0, linf, total)
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


def _choose_family(measures: list[MeasureSpec], *, has_selection: bool, l0: int, linf: int, eps: Decimal,
                   dlt: Decimal, policy: BoundsPolicy, total: int | None) -> tuple[Calibration, str]:
    """The policy's family, or under ``auto`` the better of both for this query; with a note saying why."""
    def plan(family: str) -> Calibration:
        return calibrate(family, measures, has_selection=has_selection, l0=l0, linf=linf, eps=eps, dlt=dlt,
                         policy=policy, total=total)

    if policy.noise != "auto":
        return plan(policy.noise), f"noise family {policy.noise} (set by the DP settings)"
    lap = plan("laplace")
    if dlt <= 0:
        return lap, "noise family laplace (auto: delta = 0 allows pure DP only)"
    try:
        gau = plan("gaussian")
    except (DpError, OpenDPException) as exc:  # e.g. an ε so large OpenDP's zCDP conversion overflows
        return lap, f"noise family laplace (auto: the gaussian family cannot be calibrated here: {exc})"
    gaussian_better, why = _compare(gau, lap, has_selection, names=("gaussian", "laplace"))
    best = gau if gaussian_better else lap
    return best, f"noise family {best.family} (auto: {why})"


def _width_ratio(a: Calibration, b: Calibration) -> float:
    """Geometric mean of a's half-widths over b's: below 1 means a's intervals are narrower overall.

    (A discrete-Laplace half-width can round to 0 at a huge ε: floor both so the ratio stays defined.)
    """
    return math.exp(sum(math.log(max(x, 1e-9) / max(y, 1e-9)) for x, y in zip(a.widths(), b.widths(), strict=True))
                    / max(1, len(b.measures)))


def _compare(a: Calibration, b: Calibration, has_selection: bool, *, names: tuple[str, str]) -> tuple[bool, str]:
    """Whether plan ``a`` serves the query better than ``b``, and the numbers that decided it.

    A lower selection threshold first (more keys released), else the geometric mean of the half-width
    ratios (below 1: ``a``'s intervals are narrower overall). Plans only — never the data.
    """
    if has_selection:
        ta, tb = a.threshold or 0, b.threshold or 0
        if ta != tb:
            return ta < tb, f"selection threshold {ta} ({names[0]}) vs {tb} ({names[1]}) distinct persons"
    ratio = _width_ratio(a, b)
    return ratio < 1, (f"{names[0]}/{names[1]} half-width ratio {ratio:.2f}"
                       f"{', equal thresholds' if has_selection else ''}")


def choose(measures: list[MeasureSpec], *, has_selection: bool, l0: int, linf: int, eps: Decimal, dlt: Decimal,
           policy: BoundsPolicy, total: int | None = None) -> tuple[Calibration, str, int | None]:
    """Noise family and contribution mode for one query, with notes saying why; the chosen total cap or None.

    ``total`` is the total mode's cap m (None: the mode does not apply to this query). Under
    ``contribution: auto`` both modes are planned and compared like the families are: the lower
    selection threshold, else the narrower intervals.
    """
    def family(cap: int | None) -> tuple[Calibration, str]:
        return _choose_family(measures, has_selection=has_selection, l0=l0, linf=linf, eps=eps, dlt=dlt,
                              policy=policy, total=cap)

    if total is None or policy.contribution == "groups":
        cal, note = family(None)
        return cal, note, None
    if policy.contribution == "total":
        cal, note = family(total)
        return cal, f"{note}; contribution bound: {total} rows per person in total (set by the DP settings)", total
    grp, grp_note = family(None)
    tot, tot_note = family(total)
    better, why = _compare(tot, grp, has_selection, names=("total", "groups"))
    if better:
        return tot, f"{tot_note}; contribution bound: {total} rows per person in total (auto: {why})", total
    return grp, f"{grp_note}; contribution bound: {l0} groups x {linf} rows per person (auto: {why})", None
