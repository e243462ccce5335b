"""Bragg peaks of a single-crystal pattern by the autocorrelation/Laplacian method (spec/peaks.md §4).

After Liu, *Making Molecular Movies with Ultrafast Electron Diffraction and Data Science*,
Springer 2020, ch. 2 (scikit-ued's ``bragg_peaks``). The masked autocorrelation of a lattice of
spots has peaks at the lattice vectors; shifted so that zero lag sits on the pattern centre, those
peaks coincide with the Bragg positions, where the negative Laplacian picks them out:

1. subtract the minimum, divide by a heavy blur (σ = min(shape)/20, truncated at 2σ);
2. |MNXC(image, image)| over lags −n/2 … n/2 − 1 (the "same" size), shifted bilinearly so lag 0
   lands on the centre;
3. L = −Laplacian; regions = (L > triangle threshold(L)) ∧ mask, eroded by a disk of radius 2 and
   labelled (8-connected);
4. each peak is the intensity-weighted centroid (normalised image of step 1) of its region;
   peaks closer than ``min_dist`` to one already kept are dropped; sorted by distance to the centre.

owlx changes: (row, col) everywhere, float positions, the unbiased default centre; zero lag is
placed exactly on the centre for odd sizes too (the reference is off by ½ px there).
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit
from scipy import ndimage
from scipy.spatial import cKDTree

from owlx.errors import ParameterError

from .blur_fft import gaussian_blur
from .mnxc import auto_ncc

__all__ = ["bragg_peaks", "friedel_centre", "triangle_threshold"]

_DISK2 = np.hypot(*np.indices((5, 5)) - 2) <= 2  # footprint of radius 2 px (13 px, as skimage's disk(2))
_EIGHT = np.ones((3, 3), dtype=bool)


@njit(cache=True, nogil=True)
def _histogram(v, lo, hi, nbins):  # pragma: no cover - numba
    """np.histogram(v, nbins, range=(lo, hi)) counts, with numpy's edge corrections."""
    edges = np.linspace(lo, hi, nbins + 1)
    norm = nbins / (hi - lo)
    hist = np.zeros(nbins, dtype=np.int64)
    for x in v:
        if not (lo <= x <= hi):
            continue
        k = int((x - lo) * norm)
        if k == nbins:
            k -= 1
        if x < edges[k]:
            k -= 1
        elif k != nbins - 1 and x >= edges[k + 1]:
            k += 1
        hist[k] += 1
    return hist, edges


@njit(cache=True, nogil=True)
def _shift_linear_nearest(a, s0, s1, out):  # pragma: no cover - numba
    """out(u) = a(u − s), bilinear, coordinates clamped to the frame (ndimage mode "nearest")."""
    nr, nc = a.shape
    for i in range(nr):
        y = min(max(i - s0, 0.0), nr - 1.0)
        r = min(int(y), nr - 2) if nr > 1 else 0
        fy = y - r
        r1 = min(r + 1, nr - 1)
        for j in range(nc):
            x = min(max(j - s1, 0.0), nc - 1.0)
            c = min(int(x), nc - 2) if nc > 1 else 0
            fx = x - c
            c1 = min(c + 1, nc - 1)
            out[i, j] = ((1 - fy) * ((1 - fx) * a[r, c] + fx * a[r, c1])
                         + fy * ((1 - fx) * a[r1, c] + fx * a[r1, c1]))


def triangle_threshold(values, nbins: int = 256) -> float:
    """Threshold by the triangle method (Zack, Rogers & Latt, J. Histochem. Cytochem. 25, 1977).

    The line from the histogram peak to the far end of the longer tail; the threshold is the bin
    farthest from that line (returned as the bin centre, in units of ``values``)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ParameterError("no finite values to threshold")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return lo
    hist, edges = _histogram(v, lo, hi, nbins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    peak = int(np.argmax(hist))
    nz = np.flatnonzero(hist)
    first, last = int(nz[0]), int(nz[-1])
    flip = peak - first < last - peak  # the longer tail is on the right: mirror it to the left
    if flip:
        hist = hist[::-1]
        first, peak = nbins - 1 - last, nbins - 1 - peak
    width = peak - first
    if width <= 0:
        return float(centres[nbins - 1 - peak] if flip else centres[peak])
    x = np.arange(width)
    # distance (up to a constant) of each bin top from the line (first, 0) – (peak, hist[peak])
    dist = hist[peak] * x - width * hist[first + x]
    level = first + int(np.argmax(dist))
    if flip:
        level = nbins - 1 - level
    return float(centres[level])


def _normalised(image: np.ndarray) -> np.ndarray:
    im = image - image.min()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # by FFT: equal to gaussian_filter to ~1e-16 of the maximum (float32 was not enough where
        # the image is ~1e-7 of its maximum: the ratio became noise)
        im = im / gaussian_blur(im, sigma=min(im.shape) / 20, truncate=2)
    return np.nan_to_num(im, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def _dedupe(points: np.ndarray, min_dist: float) -> np.ndarray:
    """Greedy: keep a point unless it is closer than ``min_dist`` to one kept before it."""
    if len(points) < 2 or min_dist <= 0:
        return points
    tree = cKDTree(points)
    keep = np.ones(len(points), dtype=bool)
    for i, near in enumerate(tree.query_ball_point(points, r=np.nextafter(min_dist, 0))):
        if keep[i]:
            for j in near:
                if j > i:
                    keep[j] = False
    return points[keep]


def bragg_peaks(image, mask=None, center=None, min_dist: float | None = None) -> np.ndarray:
    """Bragg peak positions (N, 2) as float (row, col) px, nearest the centre first.

    Args:
        image: 2-D single-crystal pattern. mask: validity (True = valid).
        center: pattern centre (row, col); default :func:`owlx.core.autocenter.autocenter`.
        min_dist: peaks closer than this (px) to a peak already kept are dropped; default
            min(shape)/100.
    """
    img = np.array(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 8:
        raise ParameterError(f"bragg_peaks needs a 2-D image of at least 8 × 8 px, got shape {img.shape}")
    valid = np.ones(img.shape, dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if valid.shape != img.shape:
        raise ParameterError(f"the mask has shape {valid.shape}, the image {img.shape}: they must match")
    finite = np.isfinite(img)
    if not finite.all():
        valid &= finite
        img[~finite] = np.nanmin(img[finite]) if finite.any() else 0.0
    if center is None:
        from .autocenter import autocenter

        center = autocenter(img, valid)
    center = np.asarray(center, dtype=float).reshape(2)
    if min_dist is None:
        min_dist = min(img.shape) / 100
    im = _normalised(img)
    half = np.array(img.shape) // 2
    # lags −n/2 … n − 1 − n/2: the "same"-size autocorrelation, lag 0 at index n//2
    # float32 transforms: the autocorrelation only selects the regions (positions come from the
    # image), and on the test patterns the regions are identical to float64's
    ncc, origin = auto_ncc(im, valid, max_shift=tuple(int(v) for v in half), dtype=np.float32)
    lo = np.array(origin) - half
    auto = np.abs(ncc[lo[0]:lo[0] + img.shape[0], lo[1]:lo[1] + img.shape[1]])
    shifted = np.empty_like(auto)
    _shift_linear_nearest(auto, float(center[0] - half[0]), float(center[1] - half[1]), shifted)
    auto = shifted
    lap = -ndimage.laplace(auto)
    regions = (lap > triangle_threshold(lap)) & valid
    regions = ndimage.binary_erosion(regions, structure=_DISK2)
    labels, n = ndimage.label(regions, structure=_EIGHT)
    if n == 0:
        return np.zeros((0, 2))
    lab = labels.ravel()
    flat = im.ravel()
    rr, cc = np.divmod(np.arange(flat.size), img.shape[1])
    weight = np.bincount(lab, weights=flat, minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        peaks = np.stack([np.bincount(lab, weights=flat * rr, minlength=n + 1)[1:] / weight,
                          np.bincount(lab, weights=flat * cc, minlength=n + 1)[1:] / weight], axis=1)
    peaks = peaks[np.all(np.isfinite(peaks), axis=1)]
    peaks = _dedupe(peaks, float(min_dist))
    order = np.argsort(np.hypot(*(peaks - center).T), kind="stable")
    return peaks[order]


def friedel_centre(image, mask, center, iterations: int = 2, tolerance: float = 2.0) -> np.ndarray:
    """Centre (row, col) as the mean midpoint of Friedel pairs of Bragg peaks (spec §3.2 step 3).

    Each peak p is paired with the peak nearest 2c − p when that is within ``tolerance`` px; the
    mean of the pair midpoints is the new centre c. Returns ``center`` unchanged if no pair is found."""
    c = np.asarray(center, dtype=float).reshape(2)
    for _ in range(iterations):
        peaks = bragg_peaks(image, mask, center=c)
        if len(peaks) < 2:
            break
        tree = cKDTree(peaks)
        dist, j = tree.query(2 * c - peaks, distance_upper_bound=tolerance)
        i = np.flatnonzero(np.isfinite(dist) & (j != np.arange(len(peaks))))
        if i.size == 0:
            break
        c = np.mean(0.5 * (peaks[i] + peaks[j[i]]), axis=0)
    return c
