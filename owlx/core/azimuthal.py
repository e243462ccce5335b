"""Azimuthal (radial-profile) average with a mask and an optional angular sector (spec/peaks.md §9).

Pixels fall into bins of integer radius, ``rint(hypot(row − r0, col − c0))`` (half to even), with
no pixel splitting. The average of bin r is Σ valid·image / max(count, 1), where count is the
number of valid pixels in the bin.

Angles φ (``angular_bounds``) are degrees counter-clockwise *on screen* from the +col direction:
φ = atan2(−(row − r0), col − c0) mod 360; bounds are inclusive, taken mod 360, and a sector whose
lower bound exceeds its upper bound wraps through 0°. (scikit-ued measures a = atan2(row − r0,
col − c0) + 180°, so its bounds (a1, a2) are owlx's (180 − a2, 180 − a1).)

Speed: the geometry (bin index per pixel, −1 where excluded, and counts) depends only on the shape,
centre, mask and sector, so :class:`RadialBins` computes it once (a numba pass, split over threads
by rows) and each frame costs one gather-add pass. :func:`azimuthal_average` keeps the last few
geometries in a small cache (masks compared by value, not identity).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np
from numba import njit

from owlx.errors import ParameterError

from .row_split import split_rows

__all__ = ["RadialBins", "azimuthal_average", "radial_bins"]


@njit(cache=True, nogil=True)
def _max_bin(nr, nc, r0, c0):  # pragma: no cover - numba
    """The largest bin of the frame: the farthest pixel from any centre is at a corner."""
    nmax = 0
    for i in (0, nr - 1):
        for j in (0, nc - 1):
            nmax = max(nmax, np.int32(np.rint(math.hypot(i - r0, j - c0))))
    return nmax


@njit(cache=True, nogil=True)
def _bin_index(r0, c0, mask, use_mask, lo, hi, wrap, use_angles, nbins, out, row0, row1):  # pragma: no cover
    """Bin of each pixel of rows row0 … row1 − 1 (−1: masked or outside the sector) into
    ``out``; returns their counts per bin."""
    nc = out.shape[1]
    counts = np.zeros(nbins, dtype=np.int64)
    for i in range(row0, row1):
        dr = i - r0
        for j in range(nc):
            dc = j - c0
            rr = math.sqrt(dr * dr + dc * dc)
            if abs(rr - math.floor(rr) - 0.5) < 1e-9:
                rr = math.hypot(dr, dc)  # correctly rounded at exact ties, as numpy's hypot
            b = np.int32(np.rint(rr))  # np.rint: half to even
            ok = True
            if use_mask and not mask[i, j]:
                ok = False
            if ok and use_angles:
                phi = math.degrees(math.atan2(-dr, dc))
                if phi < 0:
                    phi += 360.0
                ok = (phi >= lo or phi <= hi) if wrap else (lo <= phi <= hi)
            if ok:
                out[i, j] = b
                counts[b] += 1
            else:
                out[i, j] = -1
    return counts


@njit(cache=True, nogil=True)
def _bin_sums(image, bins, nbins, r0, r1):  # pragma: no cover - numba
    acc = np.zeros(nbins)
    for i in range(r0, r1):
        for j in range(image.shape[1]):
            b = bins[i, j]
            if b >= 0:
                acc[b] += image[i, j]
    return acc


def _bounds(angular_bounds):
    if angular_bounds is None:
        return 0.0, 360.0, False, False
    try:
        a, b = (float(v) for v in angular_bounds)
    except (TypeError, ValueError):
        raise ParameterError(f"angular_bounds must be (φ1, φ2) in degrees, got {angular_bounds!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ParameterError(f"angular bounds must be finite, got {angular_bounds!r}")
    if b - a >= 360.0:
        return 0.0, 360.0, False, False
    lo, hi = a % 360.0, b % 360.0
    return lo, hi, lo > hi, True


class RadialBins:
    """Precomputed radial binning of one geometry: shape, centre (row, col), mask, sector.

    ``average(image)`` → (radius, average, count) for any image of that shape."""

    def __init__(self, shape, center, mask=None, angular_bounds=None):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 2 or min(self.shape) < 1:
            raise ParameterError(f"azimuthal averaging needs a 2-D image, got shape {self.shape}")
        self.center = tuple(float(v) for v in np.asarray(center, dtype=float).reshape(2))
        if not all(math.isfinite(v) for v in self.center):
            raise ParameterError(f"the centre must be finite (row, col), got {center!r}")
        self.mask = None if mask is None else np.array(mask, dtype=bool)
        if self.mask is not None and self.mask.shape != self.shape:
            raise ParameterError(f"the mask has shape {self.mask.shape}, the image {self.shape}: they must match")
        self.angular_bounds = None if angular_bounds is None else tuple(float(v) for v in angular_bounds)
        lo, hi, wrap, use_angles = _bounds(angular_bounds)
        self.bins = np.empty(self.shape, dtype=np.int32)
        m = self.mask if self.mask is not None else np.ones((1, 1), dtype=bool)
        self.nbins = int(_max_bin(self.shape[0], self.shape[1], self.center[0], self.center[1])) + 1
        self.count = split_rows(_bin_index, self.shape[0], self.center[0], self.center[1], m, self.mask is not None,
                                lo, hi, wrap, use_angles, self.nbins, self.bins, work=self.bins.size)

    def matches(self, shape, center, mask, angular_bounds) -> bool:
        if tuple(shape) != self.shape or tuple(float(v) for v in np.asarray(center, float).reshape(2)) != self.center:
            return False
        if (None if angular_bounds is None else tuple(float(v) for v in angular_bounds)) != self.angular_bounds:
            return False
        if mask is None or self.mask is None:
            return mask is None and self.mask is None
        return np.array_equal(np.asarray(mask, dtype=bool), self.mask)

    def sums(self, image) -> np.ndarray:
        img = np.asarray(image)
        if img.shape != self.shape:
            raise ParameterError(f"the image has shape {img.shape}, the binning {self.shape}")
        if img.dtype.kind not in "fiu":
            img = img.astype(np.float64)
        # one thread: a gather-add pass is memory-bound and costs a few ms per 2048² frame
        return _bin_sums(np.ascontiguousarray(img), self.bins, self.nbins, 0, self.shape[0])

    def average(self, image, trim: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(radius px, average, count) per integer radius; ``trim`` drops leading and trailing
        bins without any valid pixel."""
        total = self.sums(image)
        avg = total / np.maximum(self.count, 1)
        radius = np.arange(self.nbins)
        first, last = 0, self.nbins
        if trim:
            nz = np.flatnonzero(self.count)
            first, last = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
        return radius[first:last], avg[first:last], self.count[first:last].copy()


_cache: OrderedDict[int, RadialBins] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 4


def radial_bins(shape, center, mask=None, angular_bounds=None) -> RadialBins:
    """The cached :class:`RadialBins` of this geometry (computed on first use)."""
    with _cache_lock:
        for key, geo in _cache.items():
            if geo.matches(shape, center, mask, angular_bounds):
                _cache.move_to_end(key)
                return geo
    geo = RadialBins(shape, center, mask, angular_bounds)
    with _cache_lock:
        _cache[id(geo)] = geo
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return geo


def azimuthal_average(image, center, mask=None, angular_bounds=None, trim: bool = True,
                      skued_compat: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuthal average of ``image`` about ``center`` (row, col): (radius, average, count).

    Args:
        image: 2-D array. mask: validity (True = valid).
        angular_bounds: (φ1, φ2) in degrees, counter-clockwise on screen from +col, inclusive;
            wraps through 0° when φ1 > φ2 (mod 360).
        trim: drop leading and trailing bins with no valid pixel (the reference drops bins whose
            *sum* is 0). trim=False returns every bin 0 … max rint(R).
        skued_compat: scikit-ued 2.2.1's quirks: ``center`` given as (col, row), its angle
            convention for the bounds, trimming by sum, and trim=False dropping the last bin.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ParameterError(f"azimuthal averaging needs a 2-D image, got shape {img.shape}")
    if skued_compat:
        return _skued_compat(img, center, mask, angular_bounds, trim)
    return radial_bins(img.shape, center, mask, angular_bounds).average(img, trim=trim)


def _skued_compat(img, center, mask, angular_bounds, trim):
    col, row = (float(v) for v in center)
    bounds = None
    if angular_bounds is not None:
        def wrap(b):  # the reference's reduction into [0, 360]
            b = float(b)
            while b < 0:
                b += 360.0
            while b > 360:
                b -= 360.0
            return b

        mi, ma = sorted(wrap(v) for v in angular_bounds)
        bounds = (180.0 - ma, 180.0 - mi)  # a = (180 − φ) mod 360
    geo = radial_bins(img.shape, (row, col), mask, bounds)
    total = geo.sums(img)
    avg = total / np.maximum(geo.count, 1)
    radius = np.arange(geo.nbins)
    if trim:
        nz = np.flatnonzero(total)
        first, last = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
    else:
        first, last = 0, geo.nbins - 1
    return radius[first:last], avg[first:last], geo.count[first:last].copy()
