"""Fit pixels of a sphere fit and the fast sums the fits are built on (spec/sphere.md §4.1).

Preparation (per stage, per centre): the fit pixels are M = mask ∧ (xx² + yy² ≤ rmax²), a disc
about the *current* centre; data are converted from ADU to photons, optionally photon-counted
(round half to even where y > 0, else 0); with downsampling k every k-th row and column (from
index 0) is kept and q is computed from the kept pixels' *original* coordinates.

Centre convention (spec §1): centres are offsets ``(cx, cy)`` [px] from the array middle
((Nx−1)/2, (Ny−1)/2). Units are SI; q is in "pixel units" (spec §2.1).

Speed. The model depends on a pixel only through q. :class:`QBins` therefore sorts the fit
pixels once into narrow q-bins (width 0.1 q-px) and keeps, per bin, the moments Σδⁱ and Σy·δⁱ
(i = 0, 1, 2) of the offset δ = q − q_bin. Any sum Σ g(q_j)·(1 or y_j) over the pixels then
follows from a second-order Taylor expansion of g about each bin centre, with a remainder of at
most |g‴|·δ³/6 per pixel (|δ| ≤ 0.05) that grows as (2πs)³. For the model f(2πqs)² the sums
are exact to ~1e-11 (relative) at 30 nm in the §2.5 geometry, ~1e-9 at 80 nm and ~2e-7 at the
top of the brute-force range (s = 1/20 px⁻¹): far below Poisson noise, and smooth in s, so the
Brent search sees the exact cost. A diameter scan then costs a few thousand bins per candidate
instead of every pixel (~40 µs instead of ~3 ms at 1024² with a 300 px disc).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from owlx.core import sphere as _sphere
from owlx.core.sphere import _ff2_table, _q_of_radius
from owlx.errors import ParameterError

__all__ = [
    "Experiment",
    "FF2Table",
    "FitPixels",
    "QBins",
    "masked_abs_sum",
    "model_sums",
    "pearson_cost_from_sums",
    "prepare_fit_pixels",
]

Q_BIN_WIDTH = 0.1  # q-px


@dataclass(frozen=True)
class Experiment:
    """Experiment geometry and sample: wavelength, detector distance and pixel size [m], the
    material's δ = Re(1 − n) and the detector quantum efficiency."""

    wavelength_m: float
    distance_m: float
    pixel_size_m: float
    delta: float
    qe: float = 1.0

    def size_parameter(self, d_m: float) -> float:
        """s = (d/2)·p/(D·λ) [1/px] of diameter ``d_m`` [m]."""
        return _sphere.size_parameter(d_m, self.wavelength_m, self.pixel_size_m, self.distance_m)

    def diameter(self, s: float) -> float:
        """Diameter [m] of size parameter ``s`` [1/px]."""
        return _sphere.diameter_from_size_parameter(s, self.wavelength_m, self.pixel_size_m,
                                                    self.distance_m)

    def unit_scaling(self, d_m: float) -> float:
        """Photons per pixel at q = 0 per J/m² of fluence for diameter ``d_m`` [m] (A/F)."""
        return _sphere.scaling(1.0, d_m, self.wavelength_m, self.pixel_size_m, self.distance_m,
                               self.delta, self.qe)

    @property
    def p_over_d(self) -> float:
        return self.pixel_size_m / self.distance_m


@dataclass
class FitPixels:
    """The fit pixels of one frame about one centre, in photons.

    ``ix``/``iy`` are the pixels' column/row indices in the *original* frame, ``y`` their values
    in photons, ``q`` their q [px units] about the centre offset (``cx``, ``cy``) [px].
    ``n_img`` counts all pixels of the (downsampled) frame, as the reference's χ² uses.
    ``runs`` lists the runs of consecutive kept pixels along rows, one per line as
    (row, first column, index of its first pixel), plus a last line whose third entry is ``n``;
    kernels walk them so that their inner loops are contiguous and vectorise.
    """

    shape: tuple
    cx: float
    cy: float
    mask_radius_px: float
    downsampling: int
    qmap: str
    p_over_d: float
    ix: np.ndarray
    iy: np.ndarray
    y: np.ndarray
    q: np.ndarray
    n_img: int
    runs: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def x_center(self) -> float:
        """Beam column as an array index, (Nx−1)/2 + cx."""
        return 0.5 * (self.shape[1] - 1) + self.cx

    @property
    def y_center(self) -> float:
        """Beam row as an array index, (Ny−1)/2 + cy."""
        return 0.5 * (self.shape[0] - 1) + self.cy


@njit(cache=True, nogil=True)
def _select(img, mask, has_mask, x_c, y_c, rmax, k, inv_adu, counting, p_over_d, exact):
    ny, nx = img.shape
    r2 = rmax * rmax
    y_lo = max(0, math.ceil(y_c - rmax))
    y_hi = min(ny - 1, math.floor(y_c + rmax))
    y_lo = ((y_lo + k - 1) // k) * k
    n_max = 0
    if y_hi >= y_lo:
        n_max = ((y_hi - y_lo) // k + 1) * (min(nx - 1, int(2 * rmax) + 1) // k + 2)
    ix = np.empty(n_max, dtype=np.int32)
    iy = np.empty(n_max, dtype=np.int32)
    yv = np.empty(n_max)
    qv = np.empty(n_max)
    # Per-axis q needs g(dx) per column and g(dy) per row only: compute them once.
    gx_col = np.empty(nx)
    for col in range(nx):
        gx_col[col] = _q_of_radius(col - x_c, p_over_d)
    # Runs of kept pixels along a row: (row, first column, offset of the first pixel).
    segs = np.empty((n_max + 1, 3), dtype=np.int64)
    n_seg = 0
    n = 0
    for row in range(y_lo, y_hi + 1, k):
        dy = row - y_c
        rem = r2 - dy * dy
        if rem < 0:
            continue
        half = math.sqrt(rem)
        x_lo = max(0, math.ceil(x_c - half))
        x_hi = min(nx - 1, math.floor(x_c + half))
        x_lo = ((x_lo + k - 1) // k) * k
        gy = _q_of_radius(dy, p_over_d)
        for col in range(x_lo, x_hi + 1, k):
            dx = col - x_c
            if dx * dx + dy * dy > r2:  # guards the rounding of half at the disc's rim
                continue
            if has_mask and not mask[row, col]:
                continue
            v = float(img[row, col])
            if not math.isfinite(v):
                continue
            v *= inv_adu
            if counting:
                v = np.rint(v) if v > 0 else 0.0
            if n == 0 or row != iy[n - 1] or col != ix[n - 1] + k:
                segs[n_seg, 0] = row
                segs[n_seg, 1] = col
                segs[n_seg, 2] = n
                n_seg += 1
            ix[n] = col
            iy[n] = row
            yv[n] = v
            if exact:
                qv[n] = _q_of_radius(math.sqrt(dx * dx + dy * dy), p_over_d)
            else:
                gx = gx_col[col]
                qv[n] = math.sqrt(gx * gx + gy * gy)
            n += 1
    segs = segs[:n_seg + 1].copy()
    segs[n_seg, 2] = n  # sentinel: the end of the last run
    return ix[:n].copy(), iy[:n].copy(), yv[:n].copy(), qv[:n].copy(), segs


def _mask_array(img, mask):
    if mask is None:
        return np.ones((1, 1), dtype=np.bool_), False
    m = np.asarray(mask, dtype=np.bool_)
    if m.shape != img.shape:
        raise ParameterError(f"mask shape {m.shape} differs from image shape {img.shape}")
    return np.ascontiguousarray(m), True


def prepare_fit_pixels(
    img: np.ndarray,
    mask: np.ndarray | None,
    cx: float,
    cy: float,
    mask_radius_px: float | None,
    experiment: Experiment,
    *,
    adu_per_photon: float = 1.0,
    photon_counting: bool = False,
    downsampling: int = 1,
    qmap: str = "per_axis",
) -> FitPixels:
    """Select the fit pixels of ``img`` [ADU] about the centre offset ``(cx, cy)`` [px from the
    array middle] (spec §4.1).

    ``mask`` is boolean (True = valid, None = all valid); non-finite pixels are skipped.
    ``mask_radius_px`` is the disc radius rmax in full-resolution px (None: max(Ny, Nx)/2).
    ``downsampling`` k keeps rows and columns 0, k, 2k, … with their original coordinates.
    """
    img = np.asarray(img)
    if img.ndim != 2 or img.size == 0:
        raise ParameterError(f"the image must be a non-empty 2-D array, got shape {img.shape}")
    ny, nx = img.shape
    rmax = 0.5 * max(ny, nx) if mask_radius_px is None else float(mask_radius_px)
    if not math.isfinite(rmax) or rmax <= 0:
        raise ParameterError(f"the mask radius must be > 0 px, got {mask_radius_px!r}")
    k = int(downsampling)
    if k < 1 or k != downsampling:
        raise ParameterError(f"downsampling must be an integer ≥ 1, got {downsampling!r}")
    adu = float(adu_per_photon)
    if not math.isfinite(adu) or adu <= 0:
        raise ParameterError(f"ADU per photon must be > 0, got {adu_per_photon!r}")
    if qmap not in ("per_axis", "exact"):
        raise ParameterError(f"unknown q-map {qmap!r}: use 'per_axis' or 'exact'")
    cx, cy = float(cx), float(cy)
    if not (math.isfinite(cx) and math.isfinite(cy)):
        raise ParameterError(f"the centre must be finite, got ({cx}, {cy})")
    m, has_mask = _mask_array(img, mask)
    x_c, y_c = 0.5 * (nx - 1) + cx, 0.5 * (ny - 1) + cy
    ix, iy, y, q, segs = _select(np.ascontiguousarray(img), m, has_mask, x_c, y_c, rmax, k,
                                 1.0 / adu, bool(photon_counting), experiment.p_over_d,
                                 qmap == "exact")
    n_img = len(range(0, ny, k)) * len(range(0, nx, k))
    return FitPixels((ny, nx), cx, cy, rmax, k, qmap, experiment.p_over_d, ix, iy, y, q, n_img,
                     segs)


@njit(cache=True, nogil=True)
def _abs_sum(img, mask, has_mask, k):
    ny, nx = img.shape
    total = 0.0
    for row in range(0, ny, k):
        for col in range(0, nx, k):
            if has_mask and not mask[row, col]:
                continue
            v = float(img[row, col])
            if math.isfinite(v):
                total += abs(v)
    return total


def masked_abs_sum(img: np.ndarray, mask: np.ndarray | None, downsampling: int = 1) -> float:
    """Σ|img| [image units] over the whole (downsampled) mask: the reference's normaliser of the
    full-model fit error (spec §4.6)."""
    img = np.asarray(img)
    m, has_mask = _mask_array(img, mask)
    return float(_abs_sum(np.ascontiguousarray(img), m, has_mask, int(downsampling)))


# ----------------------------------------------------------------------------- q-binned sums


@njit(cache=True, nogil=True)
def _bin_moments(q, y, h):
    """Moments per non-empty q-bin: rows n, Σδ, Σδ², Σy, Σyδ, Σyδ² (δ = q − bin centre);
    returns (bin indices, moments, Σy²)."""
    q_max = 0.0
    syy = 0.0
    for j in range(q.size):
        q_max = max(q_max, q[j])
        syy += y[j] * y[j]
    nb = int(q_max / h) + 1
    mom = np.zeros((nb, 6))
    for j in range(q.size):
        b = int(q[j] / h)
        d = q[j] - (b + 0.5) * h
        v = y[j]
        row = mom[b]
        row[0] += 1.0
        row[1] += d
        row[2] += d * d
        row[3] += v
        row[4] += v * d
        row[5] += v * d * d
    used = 0
    for b in range(nb):
        if mom[b, 0] > 0:
            used += 1
    idx = np.empty(used, dtype=np.int64)
    out = np.empty((used, 6))
    i = 0
    for b in range(nb):
        if mom[b, 0] > 0:
            idx[i] = b
            out[i] = mom[b]
            i += 1
    return idx, out, syy


@njit(cache=True, nogil=True)
def _binned_sums(idx, h, mom, k):
    """(Σm, Σm², Σm·y) for m = f(k·q)² from the bin moments (second-order Taylor per bin).

    f, f', f'' at the bin centres u_b = k·(b + ½)·h. Consecutive bins advance sin/cos by a
    rotation instead of calling both (4× faster); a fresh sin/cos every 256 bins and after
    every gap keeps the rounding drift below 1e-14.
    """
    sm = 0.0
    smm = 0.0
    smy = 0.0
    step = k * h
    sd, cd = math.sin(step), math.cos(step)
    sn, cs = 0.0, 1.0
    prev = -2
    for i in range(idx.size):
        b = idx[i]
        u = k * (b + 0.5) * h
        if b == prev + 1 and (i & 255) != 0:
            sn, cs = sn * cd + cs * sd, cs * cd - sn * sd
        else:
            sn, cs = math.sin(u), math.cos(u)
        prev = b
        if u < 0.1:
            u2 = u * u
            f = 1.0 - u2 * (1.0 / 10.0 - u2 * (1.0 / 280.0 - u2 / 15120.0))
            f1 = -u * (1.0 / 5.0 - u2 * (1.0 / 70.0 - u2 / 2520.0))
            f2 = -0.2 + u2 * (3.0 / 70.0 - u2 / 504.0)
        else:
            inv = 1.0 / u
            inv3 = inv * inv * inv
            f = 3.0 * (sn - u * cs) * inv3
            f1 = 3.0 * ((u * u - 3.0) * sn + 3.0 * u * cs) * inv3 * inv
            # Spherical-Bessel ODE of f = 3 j1(u)/u: f'' = −f − 4 f'/u.
            f2 = -f - 4.0 * f1 * inv
        m = f * f
        m1 = 2.0 * f * f1 * k  # dm/dq
        m2 = 2.0 * (f1 * f1 + f * f2) * k * k  # d²m/dq²
        g1 = 2.0 * m * m1  # derivatives of m²
        g2 = 2.0 * (m1 * m1 + m * m2)
        row = mom[i]
        n, d1, d2 = row[0], row[1], row[2]
        sm += m * n + m1 * d1 + 0.5 * m2 * d2
        smm += m * m * n + g1 * d1 + 0.5 * g2 * d2
        smy += m * row[3] + m1 * row[4] + 0.5 * m2 * row[5]
    return sm, smm, smy


class QBins:
    """The fit pixels' q-bin moments, for fast model sums at many size parameters."""

    def __init__(self, pixels: FitPixels, width: float = Q_BIN_WIDTH):
        if pixels.n == 0:
            raise ParameterError("no fit pixels: the mask radius or the mask leave nothing to fit")
        self.n = pixels.n
        # (No np.dot here: a BLAS call may start threads, which costs more than it saves.)
        self.width = float(width)
        self.idx, self.mom, self.sum_yy = _bin_moments(pixels.q, pixels.y, self.width)
        self.sum_y = float(self.mom[:, 3].sum())

    def sums(self, s: float):
        """(Σm, Σm², Σm·y) over the fit pixels for m = f(2π·q·s)² (unit amplitude)."""
        return _binned_sums(self.idx, self.width, self.mom, 2.0 * math.pi * float(s))

    def pearson_cost(self, s: float) -> float:
        """E = 1 − r_Pearson(m, y) at size parameter ``s`` (1 when either has no variance)."""
        sm, smm, smy = self.sums(s)
        return pearson_cost_from_sums(self.n, sm, smm, smy, self.sum_y, self.sum_yy)


def pearson_cost_from_sums(n, sm, smm, smy, sy, syy) -> float:
    """1 − r of Pearson's correlation from the raw sums; 1 when a variance is ≤ 0."""
    var_m = smm - sm * sm / n
    var_y = syy - sy * sy / n
    if not (var_m > 0 and var_y > 0):
        return 1.0
    return 1.0 - (smy - sm * sy / n) / math.sqrt(var_m * var_y)


# ----------------------------------------------------------------------------- exact sums


class FF2Table:
    """Cubic-Hermite table of f(u)² on [0, u_max] (the forward model's: error < 2e-14, slope
    continuous). ``coef`` and ``inv_h`` go to the numba kernels, which must stay below
    ``u_max``."""

    def __init__(self, u_max: float):
        h = _sphere._TABLE_STEP_U
        n = int(max(float(u_max), 0.0) / h) + 3
        self.coef = _ff2_table(h, n)
        self.inv_h = 1.0 / h
        self.u_max = (n - 1) * h  # u below this lies inside the table


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _model_sums(q, y, k, a, b, coef, inv_h):
    """Sums over pixels of m = f(kq)² (unit amplitude) and r = a·m + b − y; the table must cover
    k·max(q). reassoc lets the loop vectorise (fixed order per machine: deterministic)."""
    n_tab = coef.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = 0.0
    for j in range(q.size):
        u = k * q[j]
        t = u * inv_h
        i = min(int(t), n_tab - 1)
        t -= i
        c0, c1, c2, c3 = coef[i, 0], coef[i, 1], coef[i, 2], coef[i, 3]
        m = c0 + t * (c1 + t * (c2 + t * c3))
        udm = u * (c1 + t * (2.0 * c2 + 3.0 * t * c3)) * inv_h  # u·dm/du = dm/d ln s
        v = y[j]
        r = a * m + b - v
        s0 += m
        s1 += m * m
        s2 += m * v
        s3 += r * r
        s4 += abs(r)
        s5 += udm * udm
        s6 += abs(v)
    return np.array([s0, s1, s2, s3, s4, s5, s6])


def model_sums(pixels: FitPixels, s: float, a: float = 0.0, b: float = 0.0) -> dict:
    """Exact per-pixel sums at size parameter ``s`` [1/px]: m = f(2πqs)² (unit amplitude) and
    residual r = a·m + b − y [photons]. Keys: ``sm, smm, smy, srr, sabs_r, sdm2, sabs_y``."""
    k = 2.0 * math.pi * float(s)
    q_max = float(pixels.q.max()) if pixels.n else 0.0
    table = FF2Table(k * q_max)
    v = _model_sums(pixels.q, pixels.y, k, float(a), float(b), table.coef, table.inv_h)
    return dict(zip(("sm", "smm", "smy", "srr", "sabs_r", "sdm2", "sabs_y"), map(float, v)))
