"""Cleaning of angular ring profiles: outliers, Bragg peaks and periodic polynomial fits
(spec/polar.md §5–6; the behaviour of LOKI's ``postproc_helper`` ``is_outlier``,
``remove_peaks`` and ``fit_periodic``, implemented independently).

A ring profile is a 1-D array ``I(φ_j)``, ``j = 0 … n−1``, ``φ_j = 2πj/n``, with a validity mask
(True = good bin). Indices are periodic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.polynomial import chebyshev as cheb

from owlx.core.least_squares import solve_least_squares
from owlx.errors import ParameterError

__all__ = ["PeriodicFit", "fit_periodic", "is_outlier", "modified_z_score", "remove_peaks"]

_Z_SCALE = 0.6745  # Iglewicz–Hoaglin: 0.6745 = Φ⁻¹(0.75) makes the MAD consistent with σ


def modified_z_score(points: np.ndarray) -> np.ndarray:
    """Modified z-scores ``0.6745·d_i/MAD`` with ``d_i = ‖p_i − median‖₂`` (``points`` of shape
    (n,) or (n, k); the median per column). Where MAD = 0: z = +inf for d > 0 and 0 for d = 0."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ParameterError(f"outlier points must have shape (n,) or (n, k), got {np.shape(points)}")
    if p.shape[0] == 0:
        return np.zeros(0)
    d = np.sqrt(((p - np.median(p, axis=0)) ** 2).sum(axis=1))
    mad = np.median(d)
    if mad > 0:
        return _Z_SCALE * d / mad
    return np.where(d > 0, np.inf, 0.0)


def is_outlier(points: np.ndarray, thresh: float = 3.5) -> np.ndarray:
    """True where the modified z-score exceeds ``thresh`` (two-sided: dips count too)."""
    return modified_z_score(points) > thresh


def remove_peaks(ring: np.ndarray, mask: np.ndarray, thick: int | None = None, peak_thresh: float = 3.0,
                 coef: np.ndarray | None = None, wrap: bool = True):
    """Mask the outlier bins of ``ring`` and ``thick`` bins on either side of each.

    Outliers are found among the valid bins by :func:`is_outlier` at ``peak_thresh``, after
    subtracting ``chebval(j, coef)`` when ``coef`` (raw-index Chebyshev coefficients of
    :func:`fit_periodic`) is given, so peaks riding on a strong modulation are found. ``wrap``
    takes the windows modulo n (periodic profile); ``wrap=False`` clips them to [0, n) as LOKI.

    Returns ``(ring·new_mask, new_mask, removed)``: ``removed`` holds the ring values at every bin
    this call masked (0 elsewhere)."""
    ring = np.asarray(ring)
    mask = np.asarray(mask, dtype=bool)
    if ring.ndim != 1 or mask.shape != ring.shape:
        raise ParameterError("remove_peaks needs a 1-D ring and a mask of the same shape, "
                             f"got {ring.shape} and {mask.shape}")
    n = ring.size
    valid = np.flatnonzero(mask)
    points = ring[valid].astype(np.float64)
    if coef is not None:
        points = points - cheb.chebval(valid.astype(np.float64), np.asarray(coef, np.float64))
    outliers = valid[is_outlier(points, peak_thresh)]
    hit = np.zeros(n, bool)
    if outliers.size:
        t = 0 if thick is None else int(thick)
        if t < 0:
            raise ParameterError(f"thick must be ≥ 0 (or None), got {thick}")
        window = (outliers[:, None] + np.arange(-t, t + 1)[None, :]).ravel()
        if wrap:
            window %= n
        else:
            window = window[(window >= 0) & (window < n)]
        hit[window] = True
    new_mask = mask & ~hit
    removed = np.where(hit, ring, 0)
    return ring * new_mask, new_mask, removed


def _chebfit(x: np.ndarray, y: np.ndarray, deg: int) -> np.ndarray:
    """Least-squares Chebyshev coefficients (as ``numpy.polynomial.chebyshev.chebfit``)."""
    return solve_least_squares(cheb.chebvander(x, deg), y)


class PeriodicFit(NamedTuple):
    """Result of :func:`fit_periodic`.

    ``cheb_raw``: Chebyshev coefficients c₀…c_deg in the **raw bin index** x (LOKI's stored
    "cheby fits"; evaluate with ``chebval(arange(n), cheb_raw)``). ``poly``: the same polynomial in
    the power basis of x, highest power first (as ``numpy.polyfit``; compatibility only).
    ``yfit``: the polynomial at j = 0…n−1 times the mask (exactly 0 at masked bins).
    ``cheb_unit``: Chebyshev coefficients in the scaled variable t = (x − c)/h, c = (n−1)/2,
    h = (n + 2·nn − 1)/2 (well conditioned; a better feature vector for pairing)."""

    cheb_raw: np.ndarray
    poly: np.ndarray
    yfit: np.ndarray
    cheb_unit: np.ndarray


def fit_periodic(data: np.ndarray, mask: np.ndarray | None, deg: int, overlap: float = 0.2,
                 exclude_zeros: bool = True) -> PeriodicFit:
    """Least-squares polynomial of degree ``deg`` through a periodic profile (spec §6).

    The masked profile is padded periodically by ``nn = int(overlap·n)`` bins on each side
    (abscissae −nn … n+nn−1); points equal to 0 are excluded (masked bins and genuine zeros, as
    LOKI) unless ``exclude_zeros=False`` (then only masked bins are excluded)."""
    y = np.asarray(data, dtype=np.float64)
    if y.ndim != 1:
        raise ParameterError(f"fit_periodic needs a 1-D profile, got shape {y.shape}")
    n = y.size
    m = np.ones(n, bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != y.shape:
        raise ParameterError(f"the mask has shape {m.shape}, the profile {y.shape}")
    deg = int(deg)
    if deg < 0:
        raise ParameterError(f"the polynomial degree must be ≥ 0, got {deg}")
    if not 0.0 <= overlap <= 1.0:
        raise ParameterError(f"overlap must be within 0–1, got {overlap}")
    nn = int(overlap * n)
    dm = y * m
    x_pad = np.arange(-nn, n + nn, dtype=np.float64)
    y_pad = np.concatenate([dm[n - nn:], dm, dm[:nn]]) if nn else dm
    m_pad = np.concatenate([m[n - nn:], m, m[:nn]]) if nn else m
    use = (y_pad != 0) if exclude_zeros else m_pad
    use &= np.isfinite(y_pad)
    if np.count_nonzero(use) < deg + 1:
        raise ParameterError(f"only {np.count_nonzero(use)} usable points for a degree-{deg} fit; "
                             "lower the degree or unmask more of the ring")
    c = 0.5 * (n - 1)
    h = max(0.5 * (n + 2 * nn - 1), 0.5)
    t_pad = (x_pad - c) / h
    cheb_unit = _chebfit(t_pad[use], y_pad[use], deg)
    # Re-express the same polynomial in the raw-index Chebyshev basis by least squares on the
    # padded abscissae, as LOKI does (the solver scales the columns, which keeps this accurate).
    cheb_raw = _chebfit(x_pad, cheb.chebval(t_pad, cheb_unit), deg)
    poly = cheb.cheb2poly(cheb_raw)[::-1]
    yfit = cheb.chebval((np.arange(n) - c) / h, cheb_unit) * m
    return PeriodicFit(cheb_raw, poly, yfit, cheb_unit)
