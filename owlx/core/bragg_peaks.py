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

Speed (spec §13: 512² in ≤ 61 ms with the centre search): the blur is a DCT (owlx.core.blur_fft),
the autocorrelation pruned real FFTs (owlx.core.bragg_autocorr); the default centre and the
mask's transforms (cached for the next frame) are computed on other threads meanwhile; the pixel
passes after it (shift, Laplacian, threshold, erosion, centroids) are numba kernels that follow
scipy's arithmetic; the labelling is OpenCV's, numbered as scipy numbers it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from owlx.errors import ParameterError

from .autocenter import autocenter, checked_image
from .blur_fft import gaussian_blur
from .bragg_autocorr import autocorrelation_same, mask_transforms

__all__ = ["bragg_peaks", "friedel_centre", "triangle_threshold"]

@njit(cache=True, nogil=True)
def _finite_range(v):  # pragma: no cover - numba
    """(min, max, count) of the finite values of a 1-D array."""
    lo = np.inf
    hi = -np.inf
    n = 0
    for x in v:
        if np.isfinite(x):
            n += 1
            lo = min(lo, x)
            hi = max(hi, x)
    return lo, hi, n


@njit(cache=True, nogil=True)
def _histogram(v, lo, hi, nbins):  # pragma: no cover - numba
    """np.histogram(v, nbins, range=(lo, hi)) counts, with numpy's edge corrections (values
    outside [lo, hi], NaN included, are not counted)."""
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
def _divide_finite(num, den, out):  # pragma: no cover - numba
    """out = num / den, 0 where that is not finite (as np.nan_to_num(…, nan=0, posinf=0, neginf=0))."""
    nr, nc = num.shape
    for i in range(nr):
        for j in range(nc):
            d = den[i, j]
            v = num[i, j] / d if d != 0.0 else 0.0
            out[i, j] = v if np.isfinite(v) else 0.0


@njit(cache=True, nogil=True)
def _shift_linear_nearest(a, s0, s1, out):  # pragma: no cover - numba
    """out(u) = a(u − s), bilinear, coordinates clamped to the frame (ndimage mode "nearest").
    The column coordinates are the same on every row: computed once."""
    nr, nc = a.shape
    c0 = np.empty(nc, dtype=np.int64)
    c1 = np.empty(nc, dtype=np.int64)
    fx = np.empty(nc)
    for j in range(nc):
        x = min(max(j - s1, 0.0), nc - 1.0)
        c = min(int(x), nc - 2) if nc > 1 else 0
        c0[j] = c
        fx[j] = x - c
        c1[j] = min(c + 1, nc - 1)
    for i in range(nr):
        y = min(max(i - s0, 0.0), nr - 1.0)
        r = min(int(y), nr - 2) if nr > 1 else 0
        fy = y - r
        r1 = min(r + 1, nr - 1)
        top = a[r]
        bottom = a[r1]
        for j in range(nc):
            out[i, j] = ((1 - fy) * ((1 - fx[j]) * top[c0[j]] + fx[j] * top[c1[j]])
                         + fy * ((1 - fx[j]) * bottom[c0[j]] + fx[j] * bottom[c1[j]]))


@njit(cache=True, nogil=True)
def _negative_laplace(a, out):  # pragma: no cover - numba
    """out = −ndimage.laplace(a) (mode "reflect"), with scipy's operation order: per axis
    a[k]·(−2) + (a[k−1] + a[k+1]), the column term added to the row term. Returns the (min, max)
    of the finite values of out (for the threshold's histogram)."""
    nr, nc = a.shape
    lo = np.inf
    hi = -np.inf
    for i in range(nr):
        up = a[i - 1] if i > 0 else a[0]
        down = a[i + 1] if i < nr - 1 else a[nr - 1]
        row = a[i]
        for j in range(nc):
            left = row[j - 1] if j > 0 else row[0]
            right = row[j + 1] if j < nc - 1 else row[nc - 1]
            t0 = row[j] * -2.0 + (up[j] + down[j])
            t1 = row[j] * -2.0 + (left + right)
            v = -(t0 + t1)
            out[i, j] = v
            if np.isfinite(v):
                lo = min(lo, v)
                hi = max(hi, v)
    return lo, hi


@njit(cache=True, nogil=True)
def _eroded_regions(lap, threshold, valid, out):  # pragma: no cover - numba
    """out = binary_erosion((lap > threshold) ∧ valid, disk of radius 2), outside the frame False:
    a pixel stays when its 13-pixel disk (|offset| ≤ 2) lies inside the frame and in the regions."""
    nr, nc = lap.shape
    inside = np.zeros((nr, nc), dtype=np.bool_)
    for i in range(nr):
        for j in range(nc):
            inside[i, j] = lap[i, j] > threshold and valid[i, j]
    out[:] = False
    for i in range(2, nr - 2):
        for j in range(2, nc - 2):
            if not (inside[i, j] and inside[i - 2, j] and inside[i + 2, j] and inside[i, j - 2] and inside[i, j + 2]):
                continue
            keep = True
            for di in range(-1, 2):
                for dj in range(-1, 2):
                    if not inside[i + di, j + dj]:
                        keep = False
            out[i, j] = keep


@njit(cache=True, nogil=True)
def _weighted_sums(labels, weights, n):  # pragma: no cover - numba
    """Per label 1 … n: Σw, Σw·row, Σw·col (raster order, as np.bincount)."""
    sums = np.zeros((n + 1, 3))
    nr, nc = labels.shape
    for i in range(nr):
        for j in range(nc):
            k = labels[i, j]
            if k > 0:
                w = weights[i, j]
                sums[k, 0] += w
                sums[k, 1] += w * i
                sums[k, 2] += w * j
    return sums[1:]


def triangle_threshold(values, nbins: int = 256) -> float:
    """Threshold by the triangle method (Zack, Rogers & Latt, J. Histochem. Cytochem. 25, 1977).

    The line from the histogram peak to the far end of the longer tail; the threshold is the bin
    farthest from that line (returned as the bin centre, in units of ``values``). Non-finite
    values are ignored."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi, count = _finite_range(v)
    if count == 0:
        raise ParameterError("no finite values to threshold")
    return _triangle(v, float(lo), float(hi), nbins)


def _triangle(v: np.ndarray, lo: float, hi: float, nbins: int) -> float:
    """:func:`triangle_threshold` of the 1-D float64 ``v`` whose finite values span [lo, hi]."""
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
    """(image − min) / blur(image − min), σ = min(shape)/20 truncated at 2σ; 0 where not finite.

    The blur is float64 (equal to gaussian_filter to ~1e-16 of the maximum): float32 was not
    enough where the image is ~1e-7 of its maximum, the ratio became noise."""
    im = image - image.min()
    out = np.empty_like(im)
    _divide_finite(im, gaussian_blur(im, sigma=min(im.shape) / 20, truncate=2), out)
    return out


def _label8(regions: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a bool image: (labels, count), numbered as ndimage.label numbers
    them (in raster order of each component's first pixel). OpenCV's SAUF (Wu's scan, raster
    order too) is ~3× faster than ndimage.label here."""
    import cv2  # a hard dependency, imported where it is used (as the other core modules do)

    count, labels = cv2.connectedComponentsWithAlgorithm(regions.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_SAUF)
    return labels, count - 1


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
    img, valid = checked_image(image, mask, "bragg_peaks", fill_min=True)
    if min_dist is None:
        min_dist = min(img.shape) / 100
    # the centre is needed only from the shift on, the mask's transforms only from the
    # autocorrelation on: both are computed on other threads meanwhile (autocenter copies its
    # inputs; the transforms and kernels release the GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        if center is None:
            centre_job = pool.submit(autocenter, img, valid)
        mask_job = pool.submit(mask_transforms, valid, np.float32)
        im = _normalised(img)
        # the "same"-size autocorrelation, lags −n/2 … n − 1 − n/2, lag 0 at index n//2. float32
        # transforms: the autocorrelation only selects the regions (positions come from the
        # image), and on the test patterns the regions are identical to float64's
        auto = autocorrelation_same(im, valid, dtype=np.float32, mask=mask_job.result())
        if center is None:
            center = centre_job.result()
    center = np.asarray(center, dtype=float).reshape(2)
    if auto is None:
        return np.zeros((0, 2))
    half = np.array(img.shape) // 2
    shifted = np.empty_like(auto)
    _shift_linear_nearest(auto, float(center[0] - half[0]), float(center[1] - half[1]), shifted)
    lap = auto  # reuse the buffer
    lo, hi = _negative_laplace(shifted, lap)
    regions = np.empty(img.shape, dtype=bool)
    _eroded_regions(lap, _triangle(lap.ravel(), float(lo), float(hi), 256), valid, regions)
    labels, n = _label8(regions)
    if n == 0:
        return np.zeros((0, 2))
    sums = _weighted_sums(labels, im, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        peaks = sums[:, 1:] / sums[:, :1]
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
