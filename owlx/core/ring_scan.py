"""Beam centre by a grid scan of radial profiles (spec/polar.md §2.2, LOKI ``fit_circle_slow``).

Centre convention: **absolute pixel coordinates** ``(x, y)`` = (column, row). Radii in px.

Every candidate centre on a grid around the start gets the radial profile
``P(k)`` = mean of the (valid) pixels whose truncated distance ``int(r)`` equals ``k`` (empty bins
give 0); its score is the maximum of ``P`` over the radial window. The candidate with the
largest score wins (the first one, x the outer and y the inner loop, on ties), and the ring
radius is that maximum's ``k``. Grid and window follow the reference exactly:

* ``x0, y0, r0`` are rounded to integers (half to even);
* ``k ∈ [r0 − int(w_r/2), r0 + int(w_r/2))``;
* ``x ∈ linspace(x0 − W/2, x0 + W/2, int(W/δ))``, and y likewise.

Only pixels closer than the window's outer edge contribute, so a candidate costs
O((r0 + w_r/2)²), not a whole image. ``at_scan_edge`` is set when the winner lies on the grid
border (the true centre may lie outside): ``rescan`` repeats the scan centred on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from owlx.core.cancel import cancel_checker
from owlx.errors import ParameterError

__all__ = ["RingScan", "scan_ring_center"]


@dataclass(frozen=True)
class RingScan:
    """Winner of a grid scan: centre ``(x, y)`` [px, absolute], radius ``r`` [px, integer],
    ``score`` (the maximum of the mean radial profile in the window) and ``at_scan_edge``."""

    x: float
    y: float
    r: int
    score: float
    at_scan_edge: bool

    @property
    def center_xy(self) -> tuple[float, float]:
        return (self.x, self.y)


@numba.njit(cache=True, nogil=True)
def _scan_column(image, mask, use_mask, cx, ys, k_lo, k_hi, scores, radii):
    """Scores and best radii of the candidates (cx, ys[i])."""
    ny, nx = image.shape
    n_k = k_hi - k_lo
    sums = np.zeros(n_k)
    counts = np.zeros(n_k)
    for c in range(ys.size):
        cy = ys[c]
        sums[:] = 0.0
        counts[:] = 0.0
        r_out = float(k_hi)
        x_a = max(0, math.floor(cx - r_out))
        x_b = min(nx - 1, math.ceil(cx + r_out))
        y_a = max(0, math.floor(cy - r_out))
        y_b = min(ny - 1, math.ceil(cy + r_out))
        for row in range(y_a, y_b + 1):
            dy2 = (row - cy) * (row - cy)
            for col in range(x_a, x_b + 1):
                if use_mask and not mask[row, col]:
                    continue
                k = int(math.sqrt(dy2 + (col - cx) * (col - cx)))
                if k_lo <= k < k_hi:
                    sums[k - k_lo] += image[row, col]
                    counts[k - k_lo] += 1.0
        best = -np.inf
        best_k = k_lo
        for i in range(n_k):
            p = sums[i] / counts[i] if counts[i] > 0 else 0.0
            if p > best:
                best = p
                best_k = k_lo + i
        scores[c] = best
        radii[c] = best_k


def scan_ring_center(image: np.ndarray, start: tuple[float, float, float], ring_scan_width: float,
                     center_scan_width: float, resolution: float = 1.0, mask: np.ndarray | None = None,
                     use_mask: bool = True, rescan: int = 0, cancel=None) -> RingScan:
    """Grid-scan the centre around ``start`` = ``(x0, y0, r0)`` [px] (module doc).

    ``ring_scan_width`` w_r, ``center_scan_width`` W and ``resolution`` δ in px; ``mask`` (True =
    valid) is used when ``use_mask`` (LOKI ignores it). ``rescan`` re-runs the scan up to that
    many times centred on a winner that lies on the grid border. ``cancel``: see
    :mod:`owlx.core.cancel` (checked between grid columns)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"a grid scan needs a 2-D image, got shape {image.shape}")
    if not (ring_scan_width >= 2 and center_scan_width > 0 and resolution > 0):
        raise ParameterError("the grid scan needs ring_scan_width ≥ 2, center_scan_width > 0 and resolution > 0")
    n = int(center_scan_width / resolution)
    if n < 1:
        raise ParameterError(f"center_scan_width / resolution gives {n} grid points; make the scan wider")
    check = cancel_checker(cancel)
    img = np.ascontiguousarray(image, dtype=np.float64)
    use = mask is not None and use_mask
    m = np.ascontiguousarray(mask, dtype=np.bool_) if use else np.ones((1, 1), np.bool_)
    if use and m.shape != img.shape:
        raise ParameterError(f"the mask has shape {m.shape}, the image {img.shape}")
    x0, y0, r0 = (float(v) for v in start)
    result = None
    for _ in range(int(rescan) + 1):
        xr, yr, rr = round(x0), round(y0), round(r0)
        half = int(ring_scan_width / 2)
        k_lo, k_hi = max(rr - half, 0), rr + half
        xs = np.linspace(xr - center_scan_width / 2.0, xr + center_scan_width / 2.0, n)
        ys = np.linspace(yr - center_scan_width / 2.0, yr + center_scan_width / 2.0, n)
        scores = np.empty((n, n))
        radii = np.empty((n, n), np.int64)
        for i, cx in enumerate(xs):
            check()
            _scan_column(img, m, use, float(cx), ys, k_lo, k_hi, scores[i], radii[i])
        flat = int(np.argmax(scores))  # first maximum in x-outer, y-inner order
        i, j = divmod(flat, n)
        edge = i in (0, n - 1) or j in (0, n - 1)
        result = RingScan(float(xs[i]), float(ys[j]), int(radii[i, j]), float(scores[i, j]), bool(edge and n > 1))
        if not result.at_scan_edge:
            break
        x0, y0 = result.x, result.y
    return result
