"""Diameter and intensity fits of the sphere model (spec/sphere.md §4.3, §4.4, §4.6).

All functions work on prepared fit pixels (:func:`owlx.core.sphere_pixels.prepare_fit_pixels`):
data in photons, q in pixel units about the current centre. Diameters are in m, fluences in
J/m² (1 mJ/µm² = 1e9 J/m²), scalings A in photons per pixel at q = 0.

Diameter, ``pearson`` (the FXI recipe of Daurer et al., IUCrJ 4(3), 2017, as libspimage's
``fit_sphere_diameter``; independent implementation): the cost E(d) = 1 − r_Pearson(f(2πqs)², y)
does not depend on the scale of either, so the diameter is found before the fluence. A linear
grid of ``n_brute`` diameters from d_min = 2Dλ/(p·N_rows) (s = 1/N) to d_max = Dλ/(10p) (or
``brute_dmax_m``) picks the best grid point, then a bounded Brent search refines within one grid
step (xtol 1e-5 relative). Every E comes from the q-binned sums of
:class:`~owlx.core.sphere_pixels.QBins` — a few thousand bins per candidate, not every pixel.

Diameter, ``pixelwise``: least squares Σ(A₀·f² − y)² over d alone, with A₀ fixed at the scaling of
the *starting* diameter and the current fluence (as the reference), searched over ±20 %.

Intensity, ``pixelwise`` and ``nrphotons`` (alias ``photons``): closed forms, the model being
linear in F: F = Σm·y/Σm² (least squares) or F = Σy/Σm (equal photon totals), with m the model
per unit fluence.

Reference-compatible quality values (spec §4.6) use N_img, the number of all pixels of the
(downsampled) frame: chi2_ref = Σr²/(N_img − 1), error_ref = Σ|r|/(N_img − 1)/Σ|y| and
pcov_ref = C₀₀·chi2_ref with C = (JᵀJ)⁻¹.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from owlx.core.cancel import cancel_checker
from owlx.core.sphere_pixels import (
    Experiment,
    FitPixels,
    QBins,
    model_sums,
    prepare_fit_pixels,
)
from owlx.core.sphere_refine import RefineFit, refine_bounds, refine_sphere
from owlx.errors import ParameterError

# The full refinement (§4.5) lives in sphere_refine and the preparation (§4.1) in sphere_pixels
# to keep files small; they are re-exported here with the other fits.
__all__ = [
    "DiameterFit",
    "Experiment",
    "FitPixels",
    "IntensityFit",
    "RefineFit",
    "brute_range",
    "diameter_method",
    "fit_diameter_pearson",
    "fit_diameter_pixelwise",
    "fit_intensity",
    "intensity_method",
    "prepare_fit_pixels",
    "refine_bounds",
    "refine_sphere",
]

DIAMETER_METHODS = ("pearson", "pixelwise", "none")
INTENSITY_METHODS = ("pixelwise", "nrphotons", "none")
# Method names accepted as synonyms. "photons" is the Daurer README's name for nrphotons (the
# reference ignores it silently); "simple" is what old Owl files store for the same method.
_INTENSITY_ALIASES = {"photons": "nrphotons", "simple": "nrphotons"}
_XTOL_REL = 1e-5
_BOUND_FRACTION = 0.2
_MINPACK_STEP = math.sqrt(np.finfo(float).eps)  # forward-difference step of the reference


def diameter_method(name: str) -> str:
    """Canonical diameter method name (case-insensitive); ParameterError (a ValueError) else."""
    key = str(name).strip().lower()
    if key not in DIAMETER_METHODS:
        raise ParameterError(
            f"unknown diameter method {name!r}: use one of {', '.join(DIAMETER_METHODS)}")
    return key


def intensity_method(name: str) -> str:
    """Canonical intensity method name: ``photons``/``simple`` → ``nrphotons``, any case."""
    key = str(name).strip().lower()
    key = _INTENSITY_ALIASES.get(key, key)
    if key not in INTENSITY_METHODS:
        raise ParameterError(
            f"unknown intensity method {name!r}: use pixelwise, nrphotons (alias photons) "
            "or none")
    return key


@dataclass
class DiameterFit:
    """Result of a diameter fit. ``d_m`` [m]; ``brute_*`` NaN without a brute stage; ``cost``
    the final 1 − r (pearson) or Σr² [photons²] (pixelwise); ``pcov_ref`` a variance [m²]."""

    d_m: float
    method: str
    cost: float
    brute_d_m: float = math.nan
    brute_cost: float = math.nan
    nfev: int = 0
    chi2_ref: float = math.nan
    error_ref: float = math.nan
    pcov_ref: float = math.nan
    flags: list = field(default_factory=list)


@dataclass
class IntensityFit:
    """Result of an intensity fit: fluence [J/m²], scaling A [photons/px at q = 0], and the
    reference-compatible values (``pcov_ref`` a variance [(J/m²)²])."""

    fluence_J_m2: float
    scaling_A: float
    method: str
    chi2_ref: float = math.nan
    error_ref: float = math.nan
    pcov_ref: float = math.nan
    flags: list = field(default_factory=list)


def brute_range(experiment: Experiment, n_rows: int, brute_dmax_m: float | None = None):
    """(d_min, d_max) [m] of the brute-force grid: s from 1/N_rows to 1/20 (or ``brute_dmax_m``)."""
    d_min = experiment.diameter(1.0 / int(n_rows))
    d_max = experiment.diameter(1.0 / 20.0) if brute_dmax_m is None else float(brute_dmax_m)
    if not (math.isfinite(d_max) and d_max > d_min):
        raise ParameterError(
            f"the brute-force upper diameter {d_max * 1e9:g} nm must exceed the lower end "
            f"{d_min * 1e9:g} nm")
    return d_min, d_max


def _near(value: float, bound: float, scale: float) -> bool:
    return abs(value - bound) <= 1e-3 * scale


def fit_diameter_pearson(
    pixels: FitPixels,
    experiment: Experiment,
    *,
    n_brute: int = 20,
    d0_m: float | None = None,
    brute_dmax_m: float | None = None,
    bins: QBins | None = None,
    cancel=None,
) -> DiameterFit:
    """Diameter [m] maximising the Pearson correlation of model and data (spec §4.3).

    ``n_brute`` grid points (0: no grid; then ``d0_m`` is required and the search covers
    [0.8·d0, 1.2·d0]). ``brute_dmax_m`` overrides the grid's upper end. ``bins`` may pass
    precomputed :class:`QBins` of these pixels. The result does not depend on the data's scale.
    """
    check = cancel_checker(cancel)
    n_brute = int(n_brute)
    if n_brute < 0:
        raise ParameterError(f"the number of brute-force evaluations must be ≥ 0, got {n_brute}")
    qb = QBins(pixels) if bins is None else bins
    nfev = 0

    def cost_nm(d_nm: float) -> float:
        nonlocal nfev
        check()
        nfev += 1
        return qb.pearson_cost(experiment.size_parameter(abs(d_nm) * 1e-9))

    flags = []
    if n_brute > 0:
        d_min, d_max = brute_range(experiment, pixels.shape[0], brute_dmax_m)
        grid = np.linspace(d_min * 1e9, d_max * 1e9, n_brute)
        costs = np.array([cost_nm(d) for d in grid])
        best = int(np.argmin(costs))  # first of equal minima
        step = (grid[-1] - grid[0]) / (n_brute - 1) if n_brute > 1 else grid[-1] - grid[0]
        lo = max(grid[best] - step, grid[0])
        hi = min(grid[best] + step, grid[-1])
        brute_d, brute_cost = grid[best] * 1e-9, float(costs[best])
        limits = (grid[0], grid[-1])
    else:
        if d0_m is None or not (math.isfinite(d0_m) and d0_m > 0):
            raise ParameterError("pearson without brute force needs a starting diameter > 0")
        lo, hi = (1 - _BOUND_FRACTION) * d0_m * 1e9, (1 + _BOUND_FRACTION) * d0_m * 1e9
        brute_d, brute_cost = math.nan, math.nan
        limits = (lo, hi)
    centre = 0.5 * (lo + hi)
    if hi > lo:
        res = minimize_scalar(cost_nm, bounds=(lo, hi), method="bounded",
                              options={"xatol": _XTOL_REL * centre, "maxiter": 500})
        d_nm, cost = abs(float(res.x)), float(res.fun)
    else:
        d_nm, cost = lo, cost_nm(lo)
    if _near(d_nm, limits[0], d_nm) or _near(d_nm, limits[1], d_nm):
        flags.append("diameter_at_bound")
    out = DiameterFit(d_nm * 1e-9, "pearson", cost, brute_d, brute_cost, nfev, flags=flags)
    _pearson_reference_values(out, qb, pixels, experiment)
    return out


def _pearson_reference_values(fit: DiameterFit, qb: QBins, pixels, experiment) -> None:
    """chi2_ref, error_ref, pcov_ref of the scalar residual E, as the reference's leastsq on
    1 − r: J = dE/dd by MINPACK's forward difference. Near the minimum J → 0, so pcov_ref is
    large and noisy there; the refinement's standard errors are the meaningful ones."""
    n_img = pixels.n_img
    e = fit.cost
    fit.chi2_ref = e * e / (n_img - 1)
    sabs_y = float(np.abs(pixels.y).sum())
    fit.error_ref = abs(e) / (n_img - 1) / sabs_y if sabs_y > 0 else math.nan
    h = _MINPACK_STEP * fit.d_m
    e2 = qb.pearson_cost(experiment.size_parameter(fit.d_m + h))
    jac = (e2 - e) / h
    fit.pcov_ref = fit.chi2_ref / (jac * jac) if jac != 0 else math.inf


def fit_diameter_pixelwise(
    pixels: FitPixels,
    experiment: Experiment,
    d0_m: float,
    fluence_J_m2: float,
    *,
    bins: QBins | None = None,
    cancel=None,
) -> DiameterFit:
    """Diameter [m] minimising Σ(A₀·f(2πqs(d))² − y)² with A₀ = A(d0, F) fixed (spec §4.3).

    Searched by bounded Brent over [0.8·d0, 1.2·d0] (xtol 1e-5 relative); ``diameter_at_bound``
    when the result sits at either end.
    """
    check = cancel_checker(cancel)
    d0 = float(d0_m)
    if not (math.isfinite(d0) and d0 > 0):
        raise ParameterError(f"the starting diameter must be > 0, got {d0_m!r}")
    a0 = experiment.unit_scaling(d0) * float(fluence_J_m2)
    if not (math.isfinite(a0) and a0 > 0):
        raise ParameterError("the pixelwise diameter fit needs a fluence > 0")
    qb = QBins(pixels) if bins is None else bins
    nfev = 0

    def cost_nm(d_nm: float) -> float:
        nonlocal nfev
        check()
        nfev += 1
        _, smm, smy = qb.sums(experiment.size_parameter(d_nm * 1e-9))
        return a0 * a0 * smm - 2.0 * a0 * smy + qb.sum_yy

    lo, hi = (1 - _BOUND_FRACTION) * d0 * 1e9, (1 + _BOUND_FRACTION) * d0 * 1e9
    res = minimize_scalar(cost_nm, bounds=(lo, hi), method="bounded",
                          options={"xatol": _XTOL_REL * d0 * 1e9, "maxiter": 500})
    d = float(res.x) * 1e-9
    flags = ["diameter_at_bound"] if _near(d, lo * 1e-9, d0) or _near(d, hi * 1e-9, d0) else []
    sums = model_sums(pixels, experiment.size_parameter(d), a=a0)
    n_img = pixels.n_img
    chi2 = sums["srr"] / (n_img - 1)
    # ∂r/∂d = A₀·(u·dm/du)/d; its sum of squares is A₀²·Σ(u·dm/du)²/d².
    jtj = a0 * a0 * sums["sdm2"] / (d * d)
    return DiameterFit(
        d, "pixelwise", sums["srr"], nfev=nfev, chi2_ref=chi2,
        error_ref=sums["sabs_r"] / (n_img - 1) / sums["sabs_y"] if sums["sabs_y"] > 0 else math.nan,
        pcov_ref=chi2 / jtj if jtj > 0 else math.inf, flags=flags)


def fit_intensity(
    pixels: FitPixels,
    experiment: Experiment,
    d_m: float,
    method: str = "nrphotons",
) -> IntensityFit:
    """Fluence [J/m²] of the sphere of diameter ``d_m`` [m] from the fit pixels (spec §4.4).

    ``method``: ``pixelwise`` (least squares, F = Σm·y/Σm²), ``nrphotons`` or its alias
    ``photons`` (F = Σy/Σm), case-insensitive; m is the model per J/m². A numerator ≤ 0 gives
    F = 0 and the flag ``no_signal``.
    """
    key = intensity_method(method)
    if key == "none":
        raise ParameterError("fit_intensity needs a method other than 'none'")
    d = float(d_m)
    if not (math.isfinite(d) and d > 0):
        raise ParameterError(f"the diameter must be > 0, got {d_m!r}")
    unit = experiment.unit_scaling(d)
    s = experiment.size_parameter(d)
    base = model_sums(pixels, s)  # unit-amplitude sums
    sm, smm, smy = unit * base["sm"], unit * unit * base["smm"], unit * base["smy"]
    sy = float(pixels.y.sum())
    flags = []
    numer, denom = (smy, smm) if key == "pixelwise" else (sy, sm)
    if not numer > 0 or not denom > 0:
        fluence = 0.0
        flags.append("no_signal")
    else:
        fluence = numer / denom
    a = unit * fluence
    res = model_sums(pixels, s, a=a)
    n_img = pixels.n_img
    sabs_y = res["sabs_y"]
    if key == "pixelwise":
        chi2 = res["srr"] / (n_img - 1)
        abs_r = res["sabs_r"]
        jtj = smm  # ∂r/∂F = m per J/m²
    else:
        r = a * base["sm"] - sy  # the scalar residual Σm − Σy
        chi2 = r * r / (n_img - 1)
        abs_r = abs(r)
        jtj = sm * sm
    return IntensityFit(
        fluence, a, key, chi2_ref=chi2,
        error_ref=abs_r / (n_img - 1) / sabs_y if sabs_y > 0 else math.nan,
        pcov_ref=chi2 / jtj if jtj > 0 else math.inf, flags=flags)
