"""Translate an image by a (row, col) shift: exact slicing for integers, separable splines otherwise.

``shift_image(image, shift)`` returns ``out(u) = image(u − shift)``: a positive shift moves the
content towards larger indices. Output pixels whose source lies outside the frame get
``fill_value``.

A pure translation has the same fractional offset at every pixel, so spline interpolation of
order 1 or 3 is separable into a row pass and a column pass with fixed 2- or 4-tap weights
(cubic: after the causal/anticausal B-spline prefilter of Unser, "Splines: a perfect fit for
signal and image processing", IEEE Signal Process. Mag. 16(6), 1999, with mirror boundaries).
That is several times faster than a general ``scipy.ndimage.shift``; the values agree with it
to ~1e-12 away from the border.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from owlx.errors import ParameterError

from .row_split import split_rows

__all__ = ["shift_image"]

_POLE = math.sqrt(3.0) - 2.0  # cubic B-spline prefilter pole


@njit(cache=True, nogil=True)
def _prefilter_rows(a, r0, r1):  # pragma: no cover - numba
    """Cubic B-spline coefficients along axis 1 (mirror boundary) of rows r0 … r1 − 1, in place."""
    z = _POLE
    n = a.shape[1]
    horizon = min(n, 30)  # z^30 ≈ 1e-17: the truncated causal initial value is exact
    for i in range(r0, r1):
        row = a[i]
        s = 0.0
        zk = 1.0
        for k in range(horizon):
            s += zk * row[k]
            zk *= z
        row[0] = s
        for k in range(1, n):
            row[k] += z * row[k - 1]
        row[n - 1] = (z / (z * z - 1.0)) * (row[n - 1] + z * row[n - 2])
        for k in range(n - 2, -1, -1):
            row[k] = z * (row[k + 1] - row[k])
        for k in range(n):
            row[k] *= 6.0


@njit(cache=True, nogil=True)
def _prefilter_cols(a, j0, j1):  # pragma: no cover - numba
    """Cubic B-spline coefficients along axis 0 of columns j0 … j1 − 1, in place; vectorised
    along the rows."""
    z = _POLE
    n = a.shape[0]
    horizon = min(n, 30)
    first = np.zeros(j1 - j0)
    zk = 1.0
    for k in range(horizon):
        for j in range(j0, j1):
            first[j - j0] += zk * a[k, j]
        zk *= z
    for j in range(j0, j1):
        a[0, j] = first[j - j0]
    for k in range(1, n):
        for j in range(j0, j1):
            a[k, j] += z * a[k - 1, j]
    g = z / (z * z - 1.0)
    for j in range(j0, j1):
        a[n - 1, j] = g * (a[n - 1, j] + z * a[n - 2, j])
    for k in range(n - 2, -1, -1):
        for j in range(j0, j1):
            a[k, j] = z * (a[k + 1, j] - a[k, j])
    for k in range(n):
        for j in range(j0, j1):
            a[k, j] *= 6.0


@njit(cache=True, inline="always")
def _mirror(k, n):  # pragma: no cover - numba
    if k < 0:
        k = -k
    if k > n - 1:
        k = 2 * (n - 1) - k
    return min(max(k, 0), n - 1)


@njit(cache=True, nogil=True)
def _taps_rows(c, weights, x0, frac, fill, out, r0, r1):  # pragma: no cover - numba
    """Along axis 1: out[i, j] = Σ_t weights[t]·c[i, mirror(j + x0 − lead + t)], the sample at
    j + x0 + frac; ``fill`` where that lies outside [0, n − 1]."""
    n = c.shape[1]
    nt = weights.size
    lead = (nt - 1) // 2  # cubic: taps k0 − 1 … k0 + 2; linear: k0 … k0 + 1
    # interior: every tap inside the frame, no mirror and no test (vectorised)
    j_lo = max(0, lead - x0)
    j_hi = min(n, n - (nt - lead) - x0 + 1)
    for i in range(r0, r1):
        src = c[i]
        dst = out[i]
        for j in range(n):
            if j_lo <= j < j_hi:
                continue
            x = j + x0 + frac
            if x < -1e-9 or x > n - 1 + 1e-9:
                dst[j] = fill
                continue
            s = 0.0
            for t in range(nt):
                s += weights[t] * src[_mirror(j + x0 - lead + t, n)]
            dst[j] = s
        base = x0 - lead
        if nt == 4:
            w0, w1, w2, w3 = weights[0], weights[1], weights[2], weights[3]
            for j in range(j_lo, j_hi):
                k = j + base
                dst[j] = w0 * src[k] + w1 * src[k + 1] + w2 * src[k + 2] + w3 * src[k + 3]
        else:
            w0, w1 = weights[0], weights[1]
            for j in range(j_lo, j_hi):
                k = j + base
                dst[j] = w0 * src[k] + w1 * src[k + 1]


@njit(cache=True, nogil=True)
def _taps_cols(c, weights, x0, frac, fill, out, r0, r1):  # pragma: no cover - numba
    """As :func:`_taps_rows` along axis 0, vectorised along each row."""
    n, nc = c.shape
    nt = weights.size
    lead = (nt - 1) // 2
    for i in range(r0, r1):
        x = i + x0 + frac
        if x < -1e-9 or x > n - 1 + 1e-9:
            out[i, :] = fill
            continue
        row = out[i]
        row[:] = 0.0
        for t in range(nt):
            src = c[_mirror(i + x0 - lead + t, n)]
            w = weights[t]
            for j in range(nc):
                row[j] += w * src[j]


def _weights(frac: float, order: int) -> np.ndarray:
    """Tap weights for sampling at k0 + frac (0 ≤ frac < 1) from samples k0 − 1 … k0 + 2
    (cubic B-spline) or k0 … k0 + 1 (linear)."""
    if order == 1:
        return np.array([1.0 - frac, frac])
    t = frac
    return np.array([(1 - t) ** 3 / 6.0, 2.0 / 3.0 - t * t + t ** 3 / 2.0,
                     2.0 / 3.0 - (1 - t) ** 2 + (1 - t) ** 3 / 2.0, t ** 3 / 6.0])


def _shift_axis(a: np.ndarray, shift: float, axis: int, order: int, fill: float) -> np.ndarray:
    """Shift along one axis by a non-integer amount (float64, C order)."""
    x0 = math.floor(-shift)  # source = index − shift = index + x0 + frac
    frac = -shift - x0
    c = np.array(a, dtype=np.float64, order="C")
    if order == 3:
        if axis == 1:
            split_rows(_prefilter_rows, c.shape[0], c, work=c.size)
        else:  # column blocks: the same splitter, over columns
            split_rows(_prefilter_cols, c.shape[1], c, work=c.size)
    out = np.empty_like(c)
    split_rows(_taps_rows if axis == 1 else _taps_cols, c.shape[0], c, _weights(frac, order), int(x0), float(frac),
               float(fill), out, work=c.size)
    return out


def _integer_shift(image, shift, fill) -> np.ndarray:
    out = np.full(image.shape, fill, dtype=np.result_type(image.dtype, np.float64))
    src, dst = [], []
    for s, n in zip(shift, image.shape):
        s = int(s)
        if abs(s) >= n:
            return out
        src.append(slice(max(0, -s), n - max(0, s)))
        dst.append(slice(max(0, s), n - max(0, -s)))
    out[tuple(dst)] = image[tuple(src)]
    return out


def shift_image(image, shift, order: int = 3, fill_value: float = 0.0) -> np.ndarray:
    """``out(u) = image(u − shift)`` for a (row, col) shift in px, float64 output.

    Integer shifts are exact (slicing); otherwise spline interpolation of ``order`` 0 (nearest),
    1 (linear) or 3 (cubic). Pixels whose source is outside the frame get ``fill_value``."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"shift_image needs a 2-D image, got shape {image.shape}")
    if order not in (0, 1, 3):
        raise ParameterError(f"interpolation order must be 0, 1 or 3, got {order!r}")
    sh = np.asarray(shift, dtype=float).reshape(2)
    if not np.all(np.isfinite(sh)):
        raise ParameterError(f"the shift must be finite, got {shift!r}")
    if order == 0:
        sh = np.rint(sh)
    whole = np.rint(sh)
    if np.allclose(sh, whole, rtol=0, atol=1e-9):
        return _integer_shift(image, whole.astype(int), fill_value)
    out = np.asarray(image, dtype=np.float64)
    for axis in (1, 0):
        if abs(sh[axis] - whole[axis]) > 1e-9:
            out = _shift_axis(out, sh[axis], axis, order, fill_value)
        elif whole[axis] != 0:
            out = _integer_shift(out, (int(whole[0]), 0) if axis == 0 else (0, int(whole[1])), fill_value)
    return out
