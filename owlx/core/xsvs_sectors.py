"""Sector-symmetry refinement of the beam centre of an XSVS static image (spec/xsvs.md §8).

The time-averaged static of an isotropic sample is azimuthally symmetric about the beam, so the
radial profiles of four narrow sectors must agree when the centre is right. Following pyxsvs's
idea (the code is owlx's own):

* four sectors centred at φ = 45°, 135°, −45°, −135° (each ±5° wide), φ measured in degrees
  counter-clockwise *on screen* from the +col direction, ``φ = atan2(−(row − r0), col − c0)``
  (the convention of :mod:`owlx.core.azimuthal`);
* radial bins 1 px wide at radii ``r_min … r_max`` px (default 25 … 100). pyxsvs uses bin
  *indices* 25–100 of ``min(shape)/2`` pyFAI bins, whose width depends on the sector's radial
  extent (about 1.4 px on a 256² detector); owlx states radii in pixels instead;
* the residual vector is ``[L0−L1, L2−L3, L0−L2, L1−L3]`` with ``Lk = log10`` of sector k's mean
  intensity per bin; the solver minimises the sum of its squares. pyxsvs squares the element-wise
  differences *before* handing them to Levenberg–Marquardt, so its objective is a sum of fourth
  powers; owlx uses ordinary least squares.

To keep the objective continuous in the centre (a finite-difference solver needs that), every
valid pixel is shared between the two nearest radial bins in proportion to its distance (linear
split), and its sector weight is the fraction of the pixel's angular width inside the sector
(a ramp one pixel wide at the sector edges). Masked pixels (mask False) never contribute.

Coordinates are (row, col), 0-based, pixel centres at integers. Intensities are linear counts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

from owlx.errors import ParameterError

SECTOR_ANGLES_DEG = (45.0, 135.0, -45.0, -135.0)
SECTOR_HALF_WIDTH_DEG = 5.0
PAIRS = ((0, 1), (2, 3), (0, 2), (1, 3))  # adjacent sectors: 0/1 and 2/3 fix the column, 0/2 and 1/3 the row


def sector_profiles(image: np.ndarray, valid: np.ndarray | None, centre, r_min: float = 25.0, r_max: float = 100.0,
                    angles_deg=SECTOR_ANGLES_DEG, half_width_deg: float = SECTOR_HALF_WIDTH_DEG):
    """Mean intensity per 1-px radial bin in each sector about ``centre`` = (row, col).

    Returns ``(radii, mean, weight)``: radii (n_r,) px = r_min, r_min+1, … ≤ r_max; mean and
    weight (n_sectors, n_r): weighted mean intensity and the summed pixel weight of each bin
    (mean is NaN where the weight is below 0.5 pixel)."""
    img = np.asarray(image, dtype=np.float64)
    ok = np.isfinite(img) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(img))
    rows, cols = np.nonzero(ok)
    values = img[rows, cols]
    dr = rows - float(centre[0])
    dc = cols - float(centre[1])
    r = np.hypot(dr, dc)
    radii = np.arange(float(r_min), float(r_max) + 1e-9, 1.0)
    n_r = radii.size
    near = (r >= r_min - 1.0) & (r <= r_max + 1.0)
    r, values, dr, dc = r[near], values[near], dr[near], dc[near]
    phi = np.degrees(np.arctan2(-dr, dc))
    u = r - r_min
    i0 = np.floor(u).astype(np.int64)
    f = u - i0
    pixel_deg = np.degrees(1.0 / np.maximum(r, 1.0))  # angular width of one pixel at radius r
    mean = np.full((len(angles_deg), n_r), np.nan)
    weight = np.zeros((len(angles_deg), n_r))
    for k, a in enumerate(angles_deg):
        off = np.abs((phi - a + 180.0) % 360.0 - 180.0)
        w_ang = np.clip((half_width_deg - off) / pixel_deg + 0.5, 0.0, 1.0)
        sel = w_ang > 0
        sums = np.zeros(n_r + 2)
        wsum = np.zeros(n_r + 2)
        # bins −1 … n_r map to 0 … n_r+1; the two outer ones are dropped
        for idx, w in ((i0[sel] + 1, w_ang[sel] * (1.0 - f[sel])), (i0[sel] + 2, w_ang[sel] * f[sel])):
            inside = (idx >= 0) & (idx < n_r + 2)
            sums += np.bincount(idx[inside], weights=w[inside] * values[sel][inside], minlength=n_r + 2)
            wsum += np.bincount(idx[inside], weights=w[inside], minlength=n_r + 2)
        weight[k] = wsum[1:-1]
        good = weight[k] >= 0.5
        mean[k, good] = sums[1:-1][good] / weight[k, good]
    return radii, mean, weight


def symmetry_residuals(image, valid, centre, r_min: float = 25.0, r_max: float = 100.0) -> np.ndarray:
    """The residual vector ``[L0−L1, L2−L3, L0−L2, L1−L3]`` (length 4·n_r) at ``centre``;
    entries whose bins are empty or not positive in either sector are 0 (fixed length, as the
    solver needs)."""
    _, mean, _ = sector_profiles(image, valid, centre, r_min, r_max)
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.where(mean > 0, np.log10(mean), np.nan)
    parts = [logs[a] - logs[b] for a, b in PAIRS]
    res = np.concatenate(parts)
    return np.nan_to_num(res, nan=0.0, posinf=0.0, neginf=0.0)


def refine_centre_sectors(image, valid, start, r_min: float = 25.0, r_max: float = 100.0,
                          max_shift: float = 5.0, step_px: float = 0.05) -> tuple[np.ndarray, float]:
    """Sector-symmetry refinement of the centre (row, col) [px], starting from ``start`` and
    moving at most ``max_shift`` px on each axis (bounded trust-region least squares, forward
    differences of ``step_px`` px). Returns ``(centre, rms)``: the refined centre and the RMS of
    the non-zero residuals (log10 units) at it.

    Raises ParameterError when fewer than 8 residuals are usable (rings out of the image or
    masked) or when the solution sits on the ``max_shift`` bound (the start was too far off)."""
    start = np.asarray(start, dtype=np.float64)
    if start.shape != (2,) or not np.all(np.isfinite(start)):
        raise ParameterError(f"the start centre must be a finite (row, col) pair, got {start}")
    if not 0 <= r_min < r_max:
        raise ParameterError(f"sector radii must satisfy 0 ≤ r_min < r_max, got {r_min} … {r_max}")
    img = np.asarray(image, dtype=np.float64)
    if np.count_nonzero(symmetry_residuals(img, valid, start, r_min, r_max)) < 8:
        raise ParameterError(f"the sectors at radii {r_min:g}–{r_max:g} px about ({start[0]:.1f}, {start[1]:.1f}) "
                             "hold too few valid pixels with intensity to refine the centre")

    def fun(d):
        return symmetry_residuals(img, valid, start + d, r_min, r_max)

    sol = least_squares(fun, np.zeros(2), method="trf", bounds=(-max_shift, max_shift), diff_step=step_px,
                        x_scale=1.0)
    if np.any(np.abs(sol.x) > max_shift - 1e-3):
        raise ParameterError(f"the sector refinement ran to its {max_shift:g} px limit: the starting centre "
                             f"({start[0]:.1f}, {start[1]:.1f}) is too far from the symmetric one")
    res = sol.fun[sol.fun != 0]
    rms = float(math.sqrt(np.mean(res**2))) if res.size else math.nan
    return start + sol.x, rms
