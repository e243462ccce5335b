"""Data range by CDF thresholds and 8-bit conversion of FIB-SEM frames (spec/fibsem.md §2).

Follows the behaviour of ``get_min_max_thresholds`` and ``sliding_minmax`` of the reference
(gleb-shtengel/FIB-SEM, ``FIBSEM_help_functions_gs.py`` / ``FIBSEM_gs.py``), re-implemented:

* per image: histogram over [min, max] with ``nbins`` bins, ``cdf = cumsum(hist)/N``; the low
  threshold is the **left edge** of the bin whose cdf is closest to ``thr_min``, the high one
  the left edge of the bin whose cdf is closest to ``1 − thr_max`` (no interpolation);
* per stack: the same rule on the vectors of per-frame minima and maxima (global range), or a
  Savitzky–Golay smoothing (order 3) of them (sliding range, the default);
* 8-bit: ``floor((clip(I, lo, hi) − lo)/(hi − lo)·255)`` — truncation, as the reference, so
  that keypoints match.

Also the milling step from the working distance (nm per frame) and the field-of-view trend
of v9 ``.dat`` headers.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "bin2x2",
    "fov_trend",
    "get_min_max_thresholds",
    "sliding_window",
    "stack_range",
    "to_uint8",
    "z_step_from_wd",
]


@numba.njit(cache=True, nogil=True)
def _minmax(flat):
    lo = np.inf
    hi = -np.inf
    for v in flat:
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _histogram(flat, lo, hi, nbins):
    """numpy.histogram(flat, nbins, (lo, hi)) for finite data: the last bin is closed."""
    hist = np.zeros(nbins, dtype=np.int64)
    scale = nbins / (hi - lo)
    for v in flat:
        k = int((v - lo) * scale)
        if k >= nbins:
            k = nbins - 1
        hist[k] += 1
    return hist


def get_min_max_thresholds(image, thr_min: float = 1e-3, thr_max: float = 1e-3,
                           nbins: int = 256) -> tuple[float, float]:
    """(data_min, data_max) of ``image`` by the CDF rule above; NaN are ignored.

    ``get_min_max_thresholds(np.arange(1e6))`` is (0.0, 996092.75) (bin width 3906.25).
    """
    flat = np.ravel(np.asarray(image))
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 0.0
    lo, hi = (float(v) for v in _minmax(flat))
    if hi <= lo:
        return lo, hi
    hist = _histogram(flat, lo, hi, int(nbins))
    cdf = np.cumsum(hist) / flat.size
    edges = np.linspace(lo, hi, int(nbins) + 1)
    i_min = int(np.argmin(np.abs(cdf - thr_min)))
    i_max = int(np.argmin(np.abs(cdf - (1.0 - thr_max))))
    return float(edges[i_min]), float(edges[i_max])


def sliding_window(n_frames: int, fit_window: int | None = None, order: int = 3) -> int:
    """The Savitzky–Golay window of the sliding range: ``min(fit_window, n//8·2 + 1)``, odd,
    ≥ order + 2 and ≤ n (n ≥ order + 2). ``fit_window`` defaults to ``n//100 + 1`` (made odd)."""
    n = int(n_frames)
    if fit_window is None:
        fit_window = n // 100 + 1
    w = min(int(fit_window), n // 8 * 2 + 1)
    w = max(w, order + 2)
    if w % 2 == 0:
        w += 1
    if w > n:
        w = n if n % 2 == 1 else n - 1
    return w


def stack_range(mins, maxs, sliding: bool = True, fit_window: int | None = None,
                thr_min: float = 1e-3, thr_max: float = 1e-3, nbins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (lo, hi) arrays from per-frame thresholds ``mins``/``maxs``.

    ``sliding``: Savitzky–Golay (order 3, window :func:`sliding_window`) of each vector;
    stacks shorter than 5 frames keep their per-frame values. Otherwise the global range: the
    threshold rule applied to the vector of minima (low end) and of maxima (high end).
    """
    from scipy.signal import savgol_filter

    mins = np.asarray(mins, dtype=np.float64)
    maxs = np.asarray(maxs, dtype=np.float64)
    n = len(mins)
    if sliding:
        if n < 5:
            return mins.copy(), maxs.copy()
        w = sliding_window(n, fit_window, 3)
        return savgol_filter(mins, w, 3), savgol_filter(maxs, w, 3)
    lo = get_min_max_thresholds(mins, thr_min, thr_max, nbins)[0]
    hi = get_min_max_thresholds(maxs, thr_min, thr_max, nbins)[1]
    return np.full(n, lo), np.full(n, hi)


@numba.njit(cache=True, nogil=True)
def _to_uint8(image, lo, hi, out):
    ny, nx = image.shape
    width = hi - lo
    for r in range(ny):
        for c in range(nx):
            v = float(image[r, c])
            if not v >= lo:  # also NaN → 0
                v = lo
            elif v > hi:
                v = hi
            # the reference's order of operations, so that v = hi gives exactly 255
            out[r, c] = np.uint8(math.floor((v - lo) / width * 255.0)) if width > 0 else 0
    return out


def to_uint8(image, lo: float, hi: float) -> np.ndarray:
    """``floor((clip(I, lo, hi) − lo)/(hi − lo)·255)`` as uint8 (all 0 when hi ≤ lo; NaN → 0)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"to_uint8 needs a 2-D image, got shape {image.shape}")
    out = np.empty(image.shape, dtype=np.uint8)
    return _to_uint8(image, float(lo), float(hi), out)


def bin2x2(u8: np.ndarray) -> np.ndarray:
    """2 × 2 area average of an 8-bit image (rounded; an odd last row/column is dropped).
    Binned pixel (i, j) is centred on full-resolution (2i + 0.5, 2j + 0.5)."""
    import cv2

    ny, nx = u8.shape[0] // 2 * 2, u8.shape[1] // 2 * 2
    return cv2.resize(np.ascontiguousarray(u8[:ny, :nx]), (nx // 2, ny // 2), interpolation=cv2.INTER_AREA)


def z_step_from_wd(wd_mm) -> float:
    """Milling step in nm per frame: |slope of WD (mm) versus frame index|·1e6 (linear fit)."""
    wd = np.asarray(wd_mm, dtype=np.float64)
    ok = np.isfinite(wd)
    if ok.sum() < 2:
        return 0.0
    f = np.arange(len(wd))[ok]
    slope = np.polyfit(f, wd[ok], 1)[0]
    return float(abs(slope) * 1e6)


def fov_trend(first_pixel, resolution) -> np.ndarray:
    """FOV trend along one axis (v9 ``.dat``): ``center = FirstPixel + Resolution/2`` per frame,
    ``SG(center, window min(51, n//8·2+1), order 1) − center[0]``; zeros when unknown."""
    from scipy.signal import savgol_filter

    first = np.asarray(first_pixel, dtype=np.float64)
    n = len(first)
    if n == 0 or not np.isfinite(first).all():
        return np.zeros(n)
    center = first + np.asarray(resolution, dtype=np.float64) / 2.0
    w = min(51, n // 8 * 2 + 1)
    if w < 3:
        return np.zeros(n)
    return savgol_filter(center, w, 1) - center[0]
