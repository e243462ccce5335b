"""Beam centre from a diffraction ring by circle fit (spec/polar.md §2.1, LOKI ``RingFit.fit_circle``).

Centre convention: **absolute pixel coordinates** ``(x, y)`` = (column, row), pixel centres at
integer indices (spec §1). Radii in px.

Recipe:

1. *Annulus*: keep pixels at distance ``r0 − w/2 ≤ r ≤ r0 + w/2`` from the start centre; every
   other pixel, and every masked pixel, counts as 0.
2. *Point count*: if ``n_points`` ≥ the number of annulus pixels with a value > 0, use half of
   that number (integer floor).
3. *Selection*: the ``n_points`` brightest pixels (descending value; ties by ascending flat index),
   after discarding the ``drop_brightest`` brightest (hot pixels; default 0, LOKI's effective
   behaviour).
4. *Circle fit*: an algebraic (Kåsa) estimate from ``x² + y² = 2ax + 2by + c``, refined by a
   Levenberg–Marquardt geometric fit minimising ``Σ (√((x−a)² + (y−b)²) − r)²`` (what LOKI's
   implicit ``scipy.odr`` model minimises).

Flags: ``n_points_exceeds_ring`` when ``n_points > π·r0·w`` (half the annulus area): the selection
then fills with background pixels that pull the centre towards the start.
``iterations > 1`` re-centres the annulus on the latest fit and repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from owlx.errors import ParameterError

__all__ = ["RingFit", "fit_circle", "fit_ring_center"]


@dataclass(frozen=True)
class RingFit:
    """A fitted ring: centre ``(x, y)`` [px, absolute], radius ``r`` [px], ``residual`` =
    Σ(distance − r)² [px²] over the ``n_used`` points, ``mean_intensity`` of those pixels, and
    ``flags`` (e.g. ``("n_points_exceeds_ring",)``)."""

    x: float
    y: float
    r: float
    residual: float
    mean_intensity: float
    n_used: int
    flags: tuple[str, ...] = ()

    @property
    def center_xy(self) -> tuple[float, float]:
        return (self.x, self.y)


def fit_circle(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Geometric least-squares circle through points ``(x, y)``: returns ``(a, b, r, residual)``
    with residual = Σ(√((x−a)² + (y−b)²) − r)². Kåsa start, then Levenberg–Marquardt."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.size < 3:
        raise ParameterError(f"a circle fit needs at least 3 points, got {x.size}")
    # Shift to the centroid so that the linear system is well conditioned at any image size.
    x0, y0 = x.mean(), y.mean()
    u, v = x - x0, y - y0
    design = np.column_stack([2 * u, 2 * v, np.ones_like(u)])
    (ua, vb, c), *_ = np.linalg.lstsq(design, u * u + v * v, rcond=None)
    r_start = math.sqrt(max(c + ua * ua + vb * vb, 1e-12))

    def residuals(p):
        return np.hypot(u - p[0], v - p[1]) - p[2]

    def jacobian(p):
        d = np.hypot(u - p[0], v - p[1])
        d = np.where(d > 0, d, 1e-300)
        return np.column_stack([-(u - p[0]) / d, -(v - p[1]) / d, -np.ones_like(d)])

    sol = least_squares(residuals, [ua, vb, r_start], jac=jacobian, method="lm", xtol=1e-15, ftol=1e-15,
                        gtol=1e-15, max_nfev=2000)
    a, b, r = sol.x
    res = residuals(sol.x)
    return float(a + x0), float(b + y0), float(abs(r)), float(res @ res)


def _select(image, mask, x0, y0, r0, ring_width, n_points, drop_brightest):
    """Coordinates and values of the selected annulus pixels (steps 1–3 of the module doc)."""
    ny, nx = image.shape
    half = 0.5 * ring_width
    # Only the bounding box of the annulus can hold candidates: no full-image distance map.
    r_out = r0 + half
    c0, c1 = max(0, math.floor(x0 - r_out)), min(nx, math.ceil(x0 + r_out) + 1)
    l0, l1 = max(0, math.floor(y0 - r_out)), min(ny, math.ceil(y0 + r_out) + 1)
    if c0 >= c1 or l0 >= l1:
        raise ParameterError(f"the ring around ({x0:.1f}, {y0:.1f}) with radius {r0:.1f} px lies outside the image")
    rows, cols = np.mgrid[l0:l1, c0:c1]
    dist = np.hypot(cols - x0, rows - y0)
    sub = np.asarray(image[l0:l1, c0:c1], dtype=np.float64)
    keep = (dist >= r0 - half) & (dist <= r0 + half) & np.isfinite(sub)
    if mask is not None:
        keep &= np.asarray(mask[l0:l1, c0:c1], bool)
    keep &= sub > 0  # zeroed pixels are never among the brightest (step 2 guarantees n < count)
    flat = (rows * nx + cols)[keep]
    vals = sub[keep]
    n_pos = vals.size
    n = int(n_points)
    if n >= n_pos:
        n = n_pos // 2
    order = np.lexsort((flat, -vals))  # descending value, ties by ascending flat index
    order = order[int(drop_brightest):int(drop_brightest) + n]
    if order.size < 3:
        raise ParameterError(
            f"only {n_pos} bright pixels in the annulus {r0 - half:.1f}–{r0 + half:.1f} px around "
            f"({x0:.1f}, {y0:.1f}): check the start centre, radius and ring width")
    sel = flat[order]
    return (sel % nx).astype(np.float64), (sel // nx).astype(np.float64), vals[order]


def fit_ring_center(image: np.ndarray, start: tuple[float, float, float], ring_width: float = 20.0,
                    n_points: int = 5000, mask: np.ndarray | None = None, drop_brightest: int = 0,
                    iterations: int = 1) -> RingFit:
    """Fit the ring near ``start`` = ``(x0, y0, r0)`` [px; centre absolute (column, row)].

    ``ring_width`` [px] is the annulus width w, ``n_points`` the number of brightest pixels used,
    ``mask`` (True = valid) excludes pixels, ``drop_brightest`` discards that many of the
    brightest annulus pixels first, ``iterations`` re-centres the annulus on each fit.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"a ring fit needs a 2-D image, got shape {image.shape}")
    if mask is not None and np.shape(mask) != image.shape:
        raise ParameterError(f"the mask has shape {np.shape(mask)}, the image {image.shape}")
    x0, y0, r0 = (float(v) for v in start)
    if not (ring_width > 0 and r0 > 0 and n_points >= 3):
        raise ParameterError("the ring fit needs a radius > 0, a ring width > 0 and at least 3 points "
                             f"(got r0={r0}, ring_width={ring_width}, n_points={n_points})")
    if drop_brightest < 0 or iterations < 1:
        raise ParameterError("drop_brightest must be ≥ 0 and iterations ≥ 1")
    flags = ("n_points_exceeds_ring",) if n_points > math.pi * r0 * ring_width else ()
    cx, cy, cr = x0, y0, r0
    for _ in range(int(iterations)):
        xs, ys, vals = _select(image, mask, cx, cy, r0, float(ring_width), n_points, drop_brightest)
        cx, cy, cr, residual = fit_circle(xs, ys)
    return RingFit(cx, cy, cr, residual, float(vals.mean()), int(vals.size), flags)
