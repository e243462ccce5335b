"""Masked normalised cross-correlation (MNXC) in the Fourier domain (spec/peaks.md §2).

After Padfield, "Masked object registration in the Fourier domain", IEEE Trans. Image Process.
21(5), 2012. For a fixed image I₁ with validity mask M₁ (True = valid), a moving image I₂ with mask
M₂ and a lag τ = (row, col), the NCC is the Pearson correlation of {I₁(u)} and {I₂(u − τ)} over the
overlap Ω(τ) = {u : M₁(u) ∧ M₂(u − τ)}. A peak at τ means ``moving(u − τ)`` matches ``fixed(u)``,
i.e. τ is the shift that, applied to the moving image, aligns it with the fixed one.

Six correlations give the NCC at every lag (:func:`ncc_from_sums`): N = |Ω|, ΣI₁M₂, ΣM₁I₂,
ΣI₁I₂, ΣI₁²M₂ and ΣM₁I₂². Before transforming, each image has its masked mean removed and is
scaled to unit masked variance: the NCC is invariant under ``a·I + b`` (a > 0), and centred data
keep the variance terms Q − S²/N free of cancellation.

Arrays of NCC values are returned with their *origin*: ``ncc[i, j]`` is lag
``(i − origin[0], j − origin[1])``.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit
from scipy import fft as sfft

from owlx.errors import ParameterError

__all__ = [
    "MaskedCorrelator",
    "auto_ncc",
    "centred_masked",
    "masked_ncc",
    "ncc_from_sums",
    "parabolic_offset",
    "peak_lag",
    "reflection_ncc",
]

WORKERS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
_EPS = np.finfo(np.float64).eps


def _as_mask(mask, shape) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ParameterError(f"the mask has shape {m.shape}, the image {tuple(shape)}: they must match")
    return m.astype(bool, copy=False)


@njit(cache=True, nogil=True)
def masked_moments(img, mask):  # pragma: no cover - numba
    """(ok, mean, 1/std) of ``img`` over ``mask`` (ddof 0), two passes. ``ok`` is False when no
    pixel is valid or the moments are not finite; a constant valid region has std = 1. Shared
    by the centring kernels here and in :mod:`owlx.core.bragg_autocorr`."""
    nr, nc = img.shape
    n = 0
    total = 0.0
    for i in range(nr):
        for j in range(nc):
            if mask[i, j]:
                n += 1
                total += img[i, j]
    if n == 0:
        return False, 0.0, 1.0
    mean = total / n
    var = 0.0
    for i in range(nr):
        for j in range(nc):
            if mask[i, j]:
                d = img[i, j] - mean
                var += d * d
    std = np.sqrt(var / n)
    if not np.isfinite(std):
        return False, mean, 1.0
    if std <= 0:
        std = 1.0
    return True, mean, 1.0 / std


@njit(cache=True, nogil=True)
def _centred_kernel(img, mask, m, a, b):  # pragma: no cover - numba
    """2-D arrays of any layout (crops are views); two passes for the moments, one to write."""
    ok, mean, inv = masked_moments(img, mask)
    if not ok:
        return False
    nr, nc = img.shape
    for i in range(nr):
        for j in range(nc):
            if mask[i, j]:
                v = (img[i, j] - mean) * inv
                m[i, j] = 1.0
                a[i, j] = v
                b[i, j] = v * v
    return True


def centred_masked(image, mask, dtype=np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, A, B): the mask as float, A = M·(I − mean)/std and B = A², masked moments (ddof 0).

    A constant (or empty) valid region keeps std = 1, so it correlates as zero variance."""
    img = np.asarray(image)
    if img.dtype.kind not in "fiu" or img.dtype.byteorder not in "=|":
        img = img.astype(np.float64)
    msk = np.asarray(mask)
    if msk.dtype != np.bool_:
        msk = msk.astype(bool)
    m, a, b = (np.zeros(img.shape, dtype=dtype) for _ in range(3))
    ok = _centred_kernel(img, msk, m, a, b)
    if not ok and msk.any():
        raise ParameterError("the image has non-finite values (NaN or inf) at valid pixels: mask them")
    return m, a, b


@njit(cache=True, nogil=True)
def _ncc_kernel(n, s1, s2, s12, q1, q2, overlap_ratio, max_n, eps):  # pragma: no cover - numba
    size = n.size
    out = np.zeros(size)
    prod = np.empty(size)
    top = 0.0
    nmax = 0.0
    for k in range(size):
        nk = max(np.rint(n[k]), _EPS)
        d1 = max(q1[k] - s1[k] * s1[k] / nk, 0.0)
        d2 = max(q2[k] - s2[k] * s2[k] / nk, 0.0)
        prod[k] = d1 * d2
        top = max(top, prod[k])
        nmax = max(nmax, nk)
    if max_n >= 0:
        nmax = max_n
    limit = 1e3 * eps * top
    for k in range(size):
        nk = max(np.rint(n[k]), _EPS)
        if prod[k] > limit and nk >= overlap_ratio * nmax:
            v = (s12[k] - s1[k] * s2[k] / nk) / np.sqrt(prod[k])
            out[k] = min(max(v, -1.0), 1.0)
    return out


def ncc_from_sums(n, s1, s2, s12, q1, q2, overlap_ratio: float = 0.3, max_n: float | None = None,
                  eps: float = _EPS) -> np.ndarray:
    """The NCC per lag from the six correlation sums (spec §2, rules).

    N is rounded and clamped ≥ ε; NCC = numerator/√(den₁·den₂) where that product exceeds
    1e3·ε·max(den₁·den₂), else 0; clipped to [−1, 1]; 0 where N < overlap_ratio·max N (``max_n``
    overrides the maximum when only a window of lags was evaluated). ``eps`` is the machine epsilon
    of the arithmetic that produced the sums (float32 transforms: 1.2e-7)."""
    shape = np.shape(n)
    flat = [np.ascontiguousarray(x, dtype=np.float64).reshape(-1) for x in (n, s1, s2, s12, q1, q2)]
    out = _ncc_kernel(*flat, float(overlap_ratio), -1.0 if max_n is None else float(max_n), float(eps))
    return out.reshape(shape)


def _padded_shape(n1, n2, max_shift) -> tuple[int, ...]:
    """FFT sizes for lags −(n2−1)…n1−1, or only ±max_shift (aliases then fall outside)."""
    if max_shift is None:
        return tuple(sfft.next_fast_len(a + b - 1, real=True) for a, b in zip(n1, n2))
    return tuple(sfft.next_fast_len(max(a, b) + int(m), real=True) for a, b, m in zip(n1, n2, max_shift))


def _wrapped(full: np.ndarray, lo: tuple[int, int], count: tuple[int, int]) -> np.ndarray:
    """full[(lo + k) mod size] for k < count per axis, as float64: circular lags −a…b of a
    correlation, gathered by at most four slices (fancy indexing is several times slower)."""
    out = np.empty(count, dtype=np.float64)
    r0, c0 = lo[0] % full.shape[0], lo[1] % full.shape[1]
    nr, nc = count
    # split each axis where the window wraps past the end of the array
    r_parts = [(r0, 0, min(nr, full.shape[0] - r0))]
    if r_parts[0][2] < nr:
        r_parts.append((0, r_parts[0][2], nr - r_parts[0][2]))
    c_parts = [(c0, 0, min(nc, full.shape[1] - c0))]
    if c_parts[0][2] < nc:
        c_parts.append((0, c_parts[0][2], nc - c_parts[0][2]))
    for src_r, dst_r, len_r in r_parts:
        for src_c, dst_c, len_c in c_parts:
            out[dst_r:dst_r + len_r, dst_c:dst_c + len_c] = full[src_r:src_r + len_r, src_c:src_c + len_c]
    return out


def _lag_index(n1, n2, size, max_shift):
    """Indices into a circular correlation of ``size`` for the output lags, and the origin."""
    lo, hi = -(n2 - 1), n1 - 1
    if max_shift is not None:
        lo, hi = max(lo, -int(max_shift)), min(hi, int(max_shift))
    return np.arange(lo, hi + 1) % size, -lo


def _shifts(max_shift, ndim=2):
    if max_shift is None:
        return None
    ms = np.broadcast_to(np.asarray(max_shift, dtype=float), (ndim,))
    if np.any(ms < 0) or not np.all(np.isfinite(ms)):
        raise ParameterError(f"max_shift must be a finite number of pixels ≥ 0, got {max_shift!r}")
    return tuple(int(np.ceil(v)) for v in ms)


class MaskedCorrelator:
    """MNXC of many moving images against one fixed image, with the fixed transforms cached.

    The fixed image's three transforms (M₁, A₁, B₁), the moving mask's transform and the three
    correlations that involve only them (N, ΣI₁M₂, ΣI₁²M₂) are computed once; each moving image
    then costs two forward and three inverse real FFTs (spec §2).

    Args:
        fixed, fixed_mask: the reference image (row, col) and its validity mask (True = valid).
        moving_shape: shape of the moving images (default: the fixed shape).
        moving_mask: the moving images' mask, the same for all (default: the fixed mask when the
            shapes agree, else all valid).
        max_shift: restrict the lags to ±max_shift px per axis (scalar or (row, col)); smaller
            transforms and a bounded search.
        overlap_ratio: lags whose overlap has fewer than this fraction of the largest overlap
            get NCC 0.
        dtype: float64 (default) or float32 transforms (accumulation of sums is float64 either way
            for float64; float32 is for coarse pyramid levels only).
    """

    def __init__(self, fixed, fixed_mask=None, moving_shape=None, moving_mask=None, max_shift=None,
                 overlap_ratio: float = 0.3, dtype=np.float64):
        fixed = np.asarray(fixed)
        if fixed.ndim != 2:
            raise ParameterError(f"MNXC needs 2-D images, got shape {fixed.shape}")
        self.fixed_shape = fixed.shape
        self.moving_shape = tuple(moving_shape) if moving_shape is not None else fixed.shape
        fm = _as_mask(fixed_mask, fixed.shape)
        if moving_mask is None:
            mm = fm if self.moving_shape == fixed.shape else np.ones(self.moving_shape, dtype=bool)
        else:
            mm = _as_mask(moving_mask, self.moving_shape)
        self.moving_mask = mm
        self.overlap_ratio = float(overlap_ratio)
        self.dtype = np.dtype(dtype)
        shifts = _shifts(max_shift)
        self.size = _padded_shape(self.fixed_shape, self.moving_shape, shifts)
        idx = [_lag_index(a, b, s, m) for a, b, s, m in
               zip(self.fixed_shape, self.moving_shape, self.size, shifts or (None, None))]
        self._lo = (int(idx[0][0][0]), int(idx[1][0][0]))
        self._count = (len(idx[0][0]), len(idx[1][0]))
        self.origin = (idx[0][1], idx[1][1])
        m1, a1, b1 = centred_masked(fixed, fm, self.dtype)
        f_m1, self._f_a1, f_b1 = (self._rfft(x) for x in (m1, a1, b1))
        self._f_m1 = f_m1
        f_m2c = np.conj(self._rfft(mm.astype(self.dtype)))
        self._n = self._corr(f_m1 * f_m2c)
        self._s1 = self._corr(self._f_a1 * f_m2c)
        self._q1 = self._corr(f_b1 * f_m2c)

    def _rfft(self, x):
        return sfft.rfftn(x, s=self.size, workers=WORKERS)

    def _corr(self, spectrum) -> np.ndarray:
        full = sfft.irfftn(spectrum, s=self.size, workers=WORKERS)
        return _wrapped(full, self._lo, self._count)

    def ncc(self, moving) -> tuple[np.ndarray, tuple[int, int]]:
        """(NCC array, origin) of ``moving`` (shape ``moving_shape``) against the fixed image."""
        moving = np.asarray(moving)
        if moving.shape != self.moving_shape:
            raise ParameterError(f"the moving image has shape {moving.shape}, expected {self.moving_shape}")
        _, a2, b2 = centred_masked(moving, self.moving_mask, self.dtype)
        f_a2c, f_b2c = np.conj(self._rfft(a2)), np.conj(self._rfft(b2))
        s2 = self._corr(self._f_m1 * f_a2c)
        s12 = self._corr(self._f_a1 * f_a2c)
        q2 = self._corr(self._f_m1 * f_b2c)
        eps = float(np.finfo(self.dtype).eps)
        return ncc_from_sums(self._n, self._s1, s2, s12, self._q1, q2, self.overlap_ratio, eps=eps), self.origin


def masked_ncc(fixed, moving, fixed_mask=None, moving_mask=None, overlap_ratio: float = 0.3, max_shift=None,
               dtype=np.float64) -> tuple[np.ndarray, tuple[int, int]]:
    """MNXC of ``moving`` against ``fixed`` at every lag (or ±``max_shift``): (NCC, origin).

    Masks are True = valid; the moving mask defaults to the fixed one when the shapes agree.
    ``ncc[i, j]`` is lag ``(i − origin[0], j − origin[1])`` in (row, col)."""
    corr = MaskedCorrelator(fixed, fixed_mask, np.shape(moving), moving_mask, max_shift, overlap_ratio, dtype)
    return corr.ncc(moving)


def reflection_ncc(image, mask=None, overlap_ratio: float = 0.3, dtype=np.float64,
                   max_fraction: float = 1.0) -> tuple[np.ndarray, tuple]:
    """MNXC of an image against its own point reflection (image[::-1, ::-1]): (NCC, origin).

    The reflection's transforms follow from the image's (a correlation with a reflected array is
    a convolution), so this costs three forward and four inverse FFTs: ΣI₁M₂ = ΣM₁I₂ and
    ΣI₁²M₂ = ΣM₁I₂² here. A peak at lag d means the pattern is point-symmetric about
    ((n−1)/2 + d/2) along each axis. ``max_fraction`` < 1 keeps only lags up to that fraction of
    the size (smaller transforms); lags beyond 0.7 n overlap less than 0.3 of the image anyway."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"MNXC needs 2-D images, got shape {image.shape}")
    mask = _as_mask(mask, image.shape)
    m, a, b = centred_masked(image, mask, dtype)
    reach = tuple(min(n - 1, int(np.ceil(max_fraction * n))) for n in image.shape)
    # a circular convolution of length ≥ n + reach keeps lags within ±reach free of wrap-around
    size = tuple(sfft.next_fast_len(n + r, real=True) for n, r in zip(image.shape, reach))
    fm, fa, fb = (sfft.rfftn(x, s=size, workers=WORKERS) for x in (m, a, b))
    # corr(X, reflect(Y))[τ] = conv(X, Y)[n − 1 + τ]: lags −reach…reach
    sl = tuple(slice(n - 1 - r, n + r) for n, r in zip(image.shape, reach))

    def conv(spec):
        return np.asarray(sfft.irfftn(spec, s=size, workers=WORKERS)[sl], dtype=np.float64)

    n = conv(fm * fm)
    s = conv(fa * fm)
    s12 = conv(fa * fa)
    q = conv(fb * fm)
    eps = float(np.finfo(dtype).eps)
    return ncc_from_sums(n, s, s, s12, q, q, overlap_ratio, eps=eps), reach


def auto_ncc(image, mask=None, max_shift=None, overlap_ratio: float = 0.3, dtype=np.float64) -> tuple[np.ndarray, tuple]:
    """MNXC of an image with itself (autocorrelation) over lags ±``max_shift``: (NCC, origin).

    Fixed and moving are the same, so ΣM₁I₂ and ΣM₁I₂² are ΣI₁M₂ and ΣI₁²M₂ at the opposite lag:
    three forward and four inverse FFTs."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"MNXC needs 2-D images, got shape {image.shape}")
    mask = _as_mask(mask, image.shape)
    shifts = _shifts(max_shift) or tuple(n - 1 for n in image.shape)
    shifts = tuple(min(int(m), n - 1) for m, n in zip(shifts, image.shape))
    size = _padded_shape(image.shape, image.shape, shifts)
    m, a, b = centred_masked(image, mask, dtype)
    fm, fa, fb = (sfft.rfftn(x, s=size, workers=WORKERS) for x in (m, a, b))
    lo, count = tuple(-s for s in shifts), tuple(2 * s + 1 for s in shifts)

    def corr(spec):
        return _wrapped(sfft.irfftn(spec, s=size, workers=WORKERS), lo, count)

    fmc = np.conj(fm)
    n = corr(fm * fmc)
    s1 = corr(fa * fmc)
    s12 = corr(fa * np.conj(fa))
    q1 = corr(fb * fmc)
    # the lag window is symmetric, so the opposite lag is the point reflection of the array
    s2, q2 = s1[::-1, ::-1], q1[::-1, ::-1]
    return ncc_from_sums(n, s1, s2, s12, q1, q2, overlap_ratio, eps=float(np.finfo(dtype).eps)), shifts


def peak_lag(ncc: np.ndarray, origin) -> np.ndarray:
    """The integer peak as a lag (row, col): the mean of all argmax positions (as the reference)."""
    top = ncc.max()
    where = np.argwhere(ncc == top)
    return where.mean(axis=0) - np.asarray(origin, dtype=float)


def parabolic_offset(values: np.ndarray, index) -> np.ndarray:
    """Sub-pixel offset (row, col) of the maximum of ``values`` near the integer ``index``: a
    3-point parabola per axis; 0 on an axis where the curvature is not negative or the
    neighbours are missing (array edge)."""
    i, j = (round(float(v)) for v in index)
    out = np.zeros(2)
    for axis, (p, n) in enumerate(((i, values.shape[0]), (j, values.shape[1]))):
        if p <= 0 or p >= n - 1:
            continue
        if axis == 0:
            ym, y0, yp = values[p - 1, j], values[p, j], values[p + 1, j]
        else:
            ym, y0, yp = values[i, p - 1], values[i, p], values[i, p + 1]
        curv = ym - 2.0 * y0 + yp
        if curv < 0:
            out[axis] = float(np.clip(0.5 * (ym - yp) / curv, -1.0, 1.0))
    return out
