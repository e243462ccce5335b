"""Geometry of ring correlations: q of a polar row, Δφ → ψ, and the polarisation factor
(spec/polar.md §1, §9). Units: any consistent length unit (SI inside owlx: λ in m, q in m⁻¹,
pixel size and distance in m); angles in radians.

* ``q(r) = (4π/λ)·sin(½·atan(r·p/D))`` for a row at radius r px, pixel size p, distance D;
  the Bragg angle is ``θ = asin(qλ/4π)`` (half the scattering angle 2θ).
* Two points of one ring Δφ apart have momentum transfers at the 3-D angle ψ with
  ``cos ψ = cos Δφ·cos²θ + sin²θ`` (Ewald-sphere geometry); at Δφ = π it is −cos 2θ.
* Polarisation (LOKI ``DiffCorr.correct_polarization``):
  ``P(q, φ) = (1 − f_y)(1 − sin²2θ·cos²φ) + f_y(1 − sin²2θ·sin²φ)``, f_y the fraction of the
  incident polarisation along the image y (row) axis, φ on the polar grid φ_j = 2πj/N.
"""

from __future__ import annotations

import numpy as np

from owlx.errors import ParameterError

__all__ = [
    "bragg_angle",
    "correct_polarization",
    "correlation_vs_cos_psi",
    "cos_psi",
    "polarization_factor",
    "q_of_radius",
]


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be > 0, got {value}")
    return value


def q_of_radius(r_px, pixel_size: float, distance: float, wavelength: float) -> np.ndarray:
    """Momentum transfer q [1/length] of radius ``r_px`` [px] (pixel size, distance and
    wavelength in one length unit)."""
    p = _positive("the pixel size", pixel_size)
    d = _positive("the detector distance", distance)
    lam = _positive("the wavelength", wavelength)
    return 4.0 * np.pi / lam * np.sin(0.5 * np.arctan(np.asarray(r_px, np.float64) * p / d))


def bragg_angle(q, wavelength: float) -> np.ndarray:
    """θ = asin(qλ/4π) [rad]; q beyond 4π/λ raises."""
    lam = _positive("the wavelength", wavelength)
    s = np.asarray(q, np.float64) * lam / (4.0 * np.pi)
    if np.any(np.abs(s) > 1):
        raise ParameterError("q exceeds 4π/λ: check the wavelength and the q units")
    return np.arcsin(s)


def cos_psi(dphi, q, wavelength: float) -> np.ndarray:
    """cos ψ of points Δφ [rad] apart on the ring(s) ``q`` (broadcast: q[:, None] with dphi)."""
    theta = bragg_angle(q, wavelength)
    return np.cos(np.asarray(dphi, np.float64)) * np.cos(theta) ** 2 + np.sin(theta) ** 2


def correlation_vs_cos_psi(corr: np.ndarray, dphi: np.ndarray, q: np.ndarray, wavelength: float,
                           n_bins: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample correlations ``corr`` (n_q, N) at the lags ``dphi`` = 2πk/N of rings ``q`` (n_q,)
    onto a common cos ψ axis: ``(axis, mean, counts)``.

    Lags Δφ and 2π − Δφ share one cos ψ, so each ring is first symmetrised (mean of C(k) and
    C(N−k)), then linearly interpolated in cos ψ over Δφ ∈ [0, π] (finite lags only) onto
    ``n_bins`` equidistant points spanning the cos ψ range every ring covers, and the rings are
    averaged; ``counts`` is the number of rings at each point (NaN where none)."""
    corr = np.atleast_2d(np.asarray(corr, np.float64))
    q = np.atleast_1d(np.asarray(q, np.float64))
    n = corr.shape[1]
    if corr.shape[0] != q.size or np.size(dphi) != n:
        raise ParameterError(f"correlations {corr.shape} need {corr.shape[0]} q values and {n} lags")
    if int(n_bins) < 2:
        raise ParameterError(f"n_bins must be ≥ 2, got {n_bins}")
    half = n // 2 + 1
    k = np.arange(half)
    pair = np.stack([corr[:, k], corr[:, (-k) % n]])
    ok = np.isfinite(pair)
    n_ok = ok.sum(axis=0)
    sym = np.where(n_ok > 0, np.where(ok, pair, 0.0).sum(axis=0) / np.maximum(n_ok, 1), np.nan)
    c = cos_psi(np.asarray(dphi, np.float64)[None, :half], q[:, None], wavelength)  # falls with Δφ
    axis = np.linspace(float(c[:, -1].max()), float(c[:, 0].min()), int(n_bins))  # c[:, 0] = 1 up to rounding
    sums = np.zeros(axis.size)
    counts = np.zeros(axis.size, np.int64)
    for ring_c, ring_v in zip(c, sym):
        good = np.isfinite(ring_v)
        if np.count_nonzero(good) < 2:
            continue
        x, y = ring_c[good][::-1], ring_v[good][::-1]
        inside = (axis >= x[0]) & (axis <= x[-1])
        sums[inside] += np.interp(axis[inside], x, y)
        counts[inside] += 1
    mean = np.full(axis.size, np.nan)
    np.divide(sums, counts, out=mean, where=counts > 0)
    return axis, mean, counts


def polarization_factor(q, wavelength: float, n_phi: int, fraction_y: float = 0.0) -> np.ndarray:
    """P(q, φ_j) of spec §9.2 with shape (n_q, n_phi), φ_j = 2πj/n_phi."""
    if not 0.0 <= float(fraction_y) <= 1.0:
        raise ParameterError(f"the y polarisation fraction must be within 0–1, got {fraction_y}")
    theta = np.atleast_1d(bragg_angle(q, wavelength))
    s2 = np.sin(2.0 * theta)[:, None] ** 2
    phi = 2.0 * np.pi * np.arange(int(n_phi)) / int(n_phi)
    fy = float(fraction_y)
    return (1.0 - fy) * (1.0 - s2 * np.cos(phi) ** 2) + fy * (1.0 - s2 * np.sin(phi) ** 2)


def correct_polarization(rings: np.ndarray, q, wavelength: float, fraction_y: float = 0.0) -> np.ndarray:
    """``rings`` (…, n_q, n_phi) divided by :func:`polarization_factor` (a new float64 array)."""
    rings = np.asarray(rings, np.float64)
    return rings / polarization_factor(q, wavelength, rings.shape[-1], fraction_y)
