"""Polar resampling of detector images (spec/polar.md §3, LOKI's ``InterpSimple``).

Conventions
-----------
* Images are ``(ny, nx)``; the centre is given as **absolute pixel coordinates** ``(a, b)`` =
  ``(x, y)`` = (column, row), pixel centres at integer indices (spec §1).
* Row ``i`` of a polar image has radius ``r_i = r_min + i`` px, ``i = 0 … r_max − r_min − 1``
  (``r_max`` excluded); column ``j`` has ``φ_j = 2πj/n_phi``.
* Sample positions follow LOKI exactly: ``x = r·cos(φ − π) + a``, ``y = r·sin(φ − π) + b``, so
  φ = 0 points to −x (left), π/2 towards row 0, π to +x and 3π/2 to +y.
* ``method="nearest"`` reads pixel ``(ceil(y − 0.5), ceil(x − 0.5))`` (nearest, exact .5 ties
  rounding down), bit-identical to LOKI for every in-bounds sample. Samples whose nearest pixel
  is outside the image get value 0 and ``polar_mask = False`` (LOKI wraps instead).
* ``method="bilinear"`` weighs the four neighbours ``(1−fx)(1−fy), fx(1−fy), (1−fx)fy, fx·fy``
  and averages over the valid ones only: ``Σ w m I / Σ w m``; the sample is valid when
  ``Σ w m ≥ min_weight`` (default 0.5; 1 demands four valid neighbours).
* ``polar_mask`` is True for a valid sample (mask True = good pixel, as everywhere in owlx).

A :class:`PolarMap` precomputes the pixel indices (and bilinear weights) of one geometry once;
resampling a frame is then a single gather in a numba kernel that releases the GIL, so many
frames resample in parallel worker threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from owlx.errors import ParameterError

__all__ = ["POLAR_METHODS", "PolarMap", "polar_map", "polar_resample", "radial_profile"]

POLAR_METHODS = ("nearest", "bilinear")


@numba.njit(cache=True, nogil=True)
def _nearest_indices(a, b, r_min, n_r, n_phi, ny, nx, out):
    """Flat pixel index of every sample's nearest pixel, −1 when that pixel is off the image."""
    for j in range(n_phi):
        ang = 2.0 * math.pi * j / n_phi - math.pi
        c = math.cos(ang)
        s = math.sin(ang)
        for i in range(n_r):
            r = r_min + i
            ix = math.ceil(r * c + a - 0.5)
            iy = math.ceil(r * s + b - 0.5)
            if 0 <= ix < nx and 0 <= iy < ny:
                out[i, j] = iy * nx + ix
            else:
                out[i, j] = -1


@numba.njit(cache=True, nogil=True)
def _bilinear_indices(a, b, r_min, n_r, n_phi, ny, nx, idx, wts):
    """Flat indices (−1 off the image) and weights of the four neighbours of every sample."""
    for j in range(n_phi):
        ang = 2.0 * math.pi * j / n_phi - math.pi
        c = math.cos(ang)
        s = math.sin(ang)
        for i in range(n_r):
            r = r_min + i
            x = r * c + a
            y = r * s + b
            x0 = math.floor(x)
            y0 = math.floor(y)
            fx = x - x0
            fy = y - y0
            for k in range(4):
                dx = k & 1
                dy = k >> 1
                px = int(x0) + dx
                py = int(y0) + dy
                w = (fx if dx else 1.0 - fx) * (fy if dy else 1.0 - fy)
                if 0 <= px < nx and 0 <= py < ny:
                    idx[i, j, k] = py * nx + px
                else:
                    idx[i, j, k] = -1
                wts[i, j, k] = w


@numba.njit(cache=True, nogil=True)
def _gather_nearest(flat, flat_mask, use_mask, idx, out, out_mask):
    n_r, n_phi = idx.shape
    for i in range(n_r):
        for j in range(n_phi):
            k = idx[i, j]
            if k >= 0 and (not use_mask or flat_mask[k]):
                out[i, j] = flat[k]
                out_mask[i, j] = True
            else:
                out[i, j] = 0
                out_mask[i, j] = False


@numba.njit(cache=True, nogil=True)
def _gather_bilinear(flat, flat_mask, use_mask, idx, wts, min_weight, out, out_mask):
    n_r, n_phi = idx.shape[0], idx.shape[1]
    for i in range(n_r):
        for j in range(n_phi):
            num = 0.0
            den = 0.0
            for k in range(4):
                p = idx[i, j, k]
                if p >= 0 and (not use_mask or flat_mask[p]):
                    w = wts[i, j, k]
                    num += w * flat[p]
                    den += w
            # a tiny tolerance so that a sample exactly on a pixel (weight 1 − 1e-16) counts as whole
            if den > 0.0 and den >= min_weight - 1e-12:
                out[i, j] = num / den
                out_mask[i, j] = True
            else:
                out[i, j] = 0
                out_mask[i, j] = False


@dataclass(frozen=True)
class PolarMap:
    """The precomputed sampling of one geometry: centre ``(x, y)`` [px, absolute], radii
    ``r_min … r_max − 1`` [px], ``n_phi`` angles, image ``shape`` (ny, nx) and ``method``.

    ``index`` holds flat pixel indices, −1 off the image: shape ``(n_r, n_phi)`` for "nearest",
    ``(n_r, n_phi, 4)`` for "bilinear" (then ``weights`` has the same shape)."""

    center_xy: tuple[float, float]
    r_min: int
    r_max: int
    n_phi: int
    shape: tuple[int, int]
    method: str
    min_weight: float
    index: np.ndarray
    weights: np.ndarray | None

    @property
    def radii(self) -> np.ndarray:
        """Radius of each polar row [px]."""
        return np.arange(self.r_min, self.r_max, dtype=np.float64)

    @property
    def phi(self) -> np.ndarray:
        """Angle of each polar column [rad], φ_j = 2πj/n_phi."""
        return 2.0 * np.pi * np.arange(self.n_phi) / self.n_phi

    @property
    def polar_shape(self) -> tuple[int, int]:
        return (self.r_max - self.r_min, self.n_phi)

    def resample(self, image: np.ndarray, mask: np.ndarray | None = None,
                 dtype=None) -> tuple[np.ndarray, np.ndarray]:
        """``(polar, polar_mask)`` of ``image`` (and its validity ``mask``, True = good).

        The output dtype is ``dtype``, else float32 for images of ≤ 16-bit integers or float32,
        float64 otherwise. Masked and off-image samples are 0 with ``polar_mask`` False."""
        image = np.asarray(image)
        if image.shape != self.shape:
            raise ParameterError(f"the polar map was made for images of {self.shape}, not {image.shape}")
        if dtype is None:
            dtype = np.result_type(image.dtype, np.float32)
        flat = np.ascontiguousarray(image).reshape(-1)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != self.shape:
                raise ParameterError(f"the mask has shape {mask.shape}, the image {self.shape}")
            flat_mask = np.ascontiguousarray(mask, dtype=np.bool_).reshape(-1)
        else:
            flat_mask = np.ones(1, np.bool_)
        out = np.empty(self.polar_shape, dtype=dtype)
        out_mask = np.empty(self.polar_shape, dtype=np.bool_)
        if self.method == "nearest":
            _gather_nearest(flat, flat_mask, mask is not None, self.index, out, out_mask)
        else:
            _gather_bilinear(flat, flat_mask, mask is not None, self.index, self.weights,
                             float(self.min_weight), out, out_mask)
        return out, out_mask


def polar_map(center_xy: tuple[float, float], r_min: int, r_max: int, n_phi: int,
              shape: tuple[int, int], method: str = "nearest", min_weight: float = 0.5) -> PolarMap:
    """Precompute the sampling of images of ``shape`` (ny, nx) around ``center_xy`` = (x, y)
    [px, absolute] for radii ``r_min … r_max − 1`` [px] and ``n_phi`` angles (module doc)."""
    if method not in POLAR_METHODS:
        raise ParameterError(f"unknown polar method '{method}'; use one of {', '.join(POLAR_METHODS)}")
    r_min, r_max, n_phi = int(r_min), int(r_max), int(n_phi)
    if r_min < 0 or r_max <= r_min:
        raise ParameterError(f"polar radii need 0 ≤ r_min < r_max, got r_min={r_min}, r_max={r_max}")
    if n_phi < 1:
        raise ParameterError(f"the polar image needs at least 1 angle, got n_phi={n_phi}")
    if not 0.0 < min_weight <= 1.0:
        raise ParameterError(f"min_weight must be in (0, 1], got {min_weight}")
    ny, nx = (int(v) for v in shape)
    a, b = (float(v) for v in center_xy)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ParameterError(f"the polar centre must be finite, got ({a}, {b})")
    n_r = r_max - r_min
    if method == "nearest":
        index = np.empty((n_r, n_phi), np.int32 if ny * nx < 2**31 else np.int64)
        _nearest_indices(a, b, r_min, n_r, n_phi, ny, nx, index)
        weights = None
    else:
        index = np.empty((n_r, n_phi, 4), np.int32 if ny * nx < 2**31 else np.int64)
        weights = np.empty((n_r, n_phi, 4), np.float64)
        _bilinear_indices(a, b, r_min, n_r, n_phi, ny, nx, index, weights)
    return PolarMap((a, b), r_min, r_max, n_phi, (ny, nx), method, float(min_weight), index, weights)


def polar_resample(image: np.ndarray, center_xy: tuple[float, float], r_min: int, r_max: int, n_phi: int,
                   mask: np.ndarray | None = None, method: str = "nearest",
                   min_weight: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One-shot :func:`polar_map` + :meth:`PolarMap.resample`: ``(polar, polar_mask)`` of shape
    ``(r_max − r_min, n_phi)``. Build the map once when resampling many frames."""
    pmap = polar_map(center_xy, r_min, r_max, n_phi, np.shape(image), method, min_weight)
    return pmap.resample(image, mask)


def radial_profile(polar: np.ndarray, polar_mask: np.ndarray) -> np.ndarray:
    """Mean over the valid angles of each polar row (NaN for a row without valid samples)."""
    m = np.asarray(polar_mask, bool)
    counts = m.sum(axis=-1)
    sums = np.where(m, polar, 0).sum(axis=-1, dtype=np.float64)
    out = np.full(counts.shape, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out
