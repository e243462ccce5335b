"""Ring profiles from polar images and their normalisation (spec/polar.md §4, as LOKI's scripts).

A polar image (:mod:`owlx.core.polar`) has rows of radius ``r_min + i`` px and ``n_phi``
columns; ``polar_mask`` is True for a valid sample.

* :func:`ring_profile`: ``I(φ)`` = mean over rows ``i−Δ … i+Δ`` (rows outside the image are
  dropped; ``drop_row0`` also drops row 0, as LOKI's ``get_ring``). A bin is valid only where it
  is valid in **all** those rows; invalid bins are 0.
* :func:`normalize_rings` along the last axis, per ring:
  ``"mean_sub"``: x ← (x·m − Σ(x·m)/Σm)·m (masked mean subtraction);
  ``"positive_mean"``: x ← x·m / mean(x[x > 0]); ``"none"``: x ← x·m.
"""

from __future__ import annotations

import numpy as np

from owlx.errors import ParameterError

__all__ = ["NORMALIZATIONS", "band_profiles", "normalize_rings", "ring_profile"]

NORMALIZATIONS = ("mean_sub", "positive_mean", "none")


def ring_profile(polar: np.ndarray, polar_mask: np.ndarray, row: int, half_width: int = 2,
                 drop_row0: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(ring, ring_mask)`` of polar row ``row`` averaged over ``±half_width`` rows (module doc)."""
    polar = np.asarray(polar)
    polar_mask = np.asarray(polar_mask, bool)
    if polar.ndim != 2 or polar_mask.shape != polar.shape:
        raise ParameterError("a ring needs a 2-D polar image and a mask of the same shape, "
                             f"got {polar.shape} and {polar_mask.shape}")
    n_r = polar.shape[0]
    row, half_width = int(row), int(half_width)
    if half_width < 0:
        raise ParameterError(f"the radial half width must be ≥ 0, got {half_width}")
    lo, hi = max(row - half_width, 1 if drop_row0 else 0), min(row + half_width, n_r - 1)
    if lo > hi:
        raise ParameterError(f"polar row {row} ± {half_width} lies outside the polar image (rows 0–{n_r - 1})")
    m = polar_mask[lo:hi + 1].all(axis=0)
    ring = np.where(m, polar[lo:hi + 1].mean(axis=0, dtype=np.float64), 0.0)
    return ring, m


def band_profiles(polar: np.ndarray, polar_mask: np.ndarray, rows, half_width: int = 2,
                  drop_row0: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stacked :func:`ring_profile` of every polar row in ``rows``: shape (len(rows), n_phi)."""
    rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
    out = [ring_profile(polar, polar_mask, r, half_width, drop_row0) for r in rows]
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def normalize_rings(x: np.ndarray, mask: np.ndarray | None, norm: str = "mean_sub") -> np.ndarray:
    """Normalise every ring (last axis) of ``x`` under ``mask`` (True = valid); returns float64."""
    if norm not in NORMALIZATIONS:
        raise ParameterError(f"unknown normalisation '{norm}'; use one of {', '.join(NORMALIZATIONS)}")
    x = np.asarray(x, dtype=np.float64)
    m = np.ones(x.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), x.shape)
    if norm == "none":
        return x * m
    if norm == "mean_sub":
        xm = x * m
        count = m.sum(axis=-1, keepdims=True)
        mean = np.divide(xm.sum(axis=-1, keepdims=True), count, out=np.zeros(count.shape), where=count > 0)
        return (xm - mean) * m
    positive = x > 0
    count = positive.sum(axis=-1, keepdims=True)
    mean = np.divide(np.where(positive, x, 0).sum(axis=-1, keepdims=True), count,
                     out=np.ones(count.shape), where=count > 0)
    return x / mean * m
