"""Data values → uint8 colour indices through a display norm (spec/viewer.md D2, D4).

Index layout (the colour tables of ``owlx.gui.colormaps`` follow it):

* ``0 … 253``: data levels. A finite value x in [lo, hi] gets t = norm(x) ∈ [0, 1] and the
  index ``floor(t·253 + 0.5)``; with clamp on, values below lo get 0 and above hi get 253.
* ``254``: a finite value outside [lo, hi] while clamp is off (painted in the background colour).
* ``255``: NaN or ±inf.

The norms (lo, hi are the display levels, v = clip(x, lo, hi) − lo, S = hi − lo):

=========  ==============================================================================
linear     v / S
log        ln(1 + v) / ln(1 + S)
sqrt       √(v / S)
power      ((1 + v)^γ − 1) / ((1 + S)^γ − 1),  γ ≠ 0, |γ| ≤ 10
arcsinh    (asinh(x) − asinh(lo)) / (asinh(hi) − asinh(lo)),  x = clip(value, lo, hi)
=========  ==============================================================================

:func:`normalize` and :func:`reference_index` are the definition (plain numpy, float64).
:func:`map_to_index` gives the same indices, exactly, without a log or pow per pixel: the 253
index boundaries are turned into data-space thresholds once per frame (:func:`norm_thresholds`:
for each k the smallest value of the frame's dtype whose index is ≥ k), and a pixel's index is
the number of thresholds ≤ its value. The count is read from a table of bins over the
thresholds' span plus one comparison (branch-free, so LLVM vectorises it with gathers); equal
thresholds share a bin as one jump, and tables with two distinct thresholds in a bin fall back
to a binary search.
Bins are uniform in the *bit pattern* of (value − origin), i.e. roughly logarithmic in the
distance from the origin, so the thresholds of the log and power norms, which crowd near lo,
still land in separate bins. Small integer frames (8/16 bit) use a direct value → index table.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numba
import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import types
from numba.extending import intrinsic

from ..errors import ParameterError

NORMS = ("linear", "log", "sqrt", "power", "arcsinh")
TOP_INDEX = 253  # t = 1
OUT_OF_RANGE = 254  # finite value outside [lo, hi] with clamp off
NOT_FINITE = 255  # NaN, ±inf
N_THRESHOLDS = TOP_INDEX  # boundaries between the 254 data indices

# Bins of the fast lookup: 2**16 keeps the table (8 bytes a bin for float32) inside L2 cache.
# Bins holding two distinct thresholds make map_to_index retry with 4× and 16× as many.
N_BINS = 2**16
# Integer frames this wide or narrower get a direct value → index table.
_LUT_DTYPES = (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.uint16), np.dtype(np.int16))


# -- the definition (numpy, float64) ------------------------------------------------------------
def check_norm(lo: float, hi: float, norm: str, gamma: float) -> None:
    """Raise :class:`ParameterError` unless (lo, hi, norm, gamma) describe a usable mapping."""
    if norm not in NORMS:
        raise ParameterError(f"unknown normalisation {norm!r}; choose one of {', '.join(NORMS)}")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and np.isfinite(hi - lo)):
        raise ParameterError(f"display levels must be finite with lo < hi (got {lo}, {hi})")
    if norm == "power" and not (np.isfinite(gamma) and gamma != 0 and abs(gamma) <= 10):
        raise ParameterError(f"power exponent γ must be non-zero and within −10…10 (got {gamma})")


def normalize(values, lo: float, hi: float, norm: str, gamma: float = 0.25) -> np.ndarray:
    """t ∈ [0, 1] (float64) of ``values`` under ``norm`` with levels lo < hi; NaN stays NaN.

    Mathematically the formulas of the module docstring; log and power are evaluated with
    log1p/expm1 so that tiny v and huge S (γ·ln(1+S) > 700) keep full precision. When a norm's
    span rounds to zero (arcsinh on a range far narrower than one ulp of asinh) the linear
    norm is used, as the picture is then linear anyway.
    """
    check_norm(lo, hi, norm, gamma)
    lo, hi = float(lo), float(hi)
    x = np.clip(np.asarray(values, dtype=np.float64), lo, hi)
    v = x - lo
    s = hi - lo
    with np.errstate(all="ignore"):
        if norm == "log":
            t = np.log1p(v) / np.log1p(s)
        elif norm == "sqrt":
            t = np.sqrt(v / s)
        elif norm == "power":
            a, big_a = gamma * np.log1p(v), gamma * np.log1p(s)
            if big_a <= 700.0:
                t = np.expm1(a) / np.expm1(big_a)
            else:  # (e^a − 1)/(e^A − 1) = e^(a−A)·(1 − e^−a)/(1 − e^−A), no overflow
                t = np.exp(a - big_a) * (np.expm1(-a) / np.expm1(-big_a))
        elif norm == "arcsinh":
            a0, span = np.arcsinh(lo), np.arcsinh(hi) - np.arcsinh(lo)
            t = (np.arcsinh(x) - a0) / span if span > 0 else v / s
        else:
            t = v / s
    return np.clip(t, 0.0, 1.0)


def reference_index(values, lo: float, hi: float, norm: str, gamma: float = 0.25,
                    clamp: bool = True) -> np.ndarray:
    """The colour index of every value, computed directly from :func:`normalize` (slow; the
    definition that :func:`map_to_index` reproduces exactly)."""
    x = np.asarray(values, dtype=np.float64)
    t = normalize(x, lo, hi, norm, gamma)
    with np.errstate(invalid="ignore"):
        idx = np.floor(t * TOP_INDEX + 0.5)
    out = np.where(np.isfinite(idx), idx, 0).astype(np.uint8)
    if not clamp:
        out[(x < lo) | (x > hi)] = OUT_OF_RANGE
    out[~np.isfinite(x)] = NOT_FINITE
    return out


def _inverse(t: np.ndarray, lo: float, hi: float, norm: str, gamma: float) -> np.ndarray:
    """Data value whose t is ``t`` (float64, analytic; only a starting guess for the search)."""
    s = hi - lo
    with np.errstate(all="ignore"):
        if norm == "log":
            v = np.expm1(t * np.log1p(s))
        elif norm == "sqrt":
            v = t * t * s
        elif norm == "power":
            big_a = gamma * np.log1p(s)
            if gamma > 0:  # ln(1 + t(e^A − 1)) = A + ln(t + (1 − t)e^−A), no overflow
                v = np.expm1((big_a + np.log(t + (1 - t) * np.exp(-big_a))) / gamma)
            else:
                v = np.expm1(np.log1p(t * np.expm1(big_a)) / gamma)
        elif norm == "arcsinh":
            a0 = np.arcsinh(lo)
            v = np.sinh(a0 + t * (np.arcsinh(hi) - a0)) - lo
        else:
            v = t * s
    x = lo + v
    return np.where(np.isfinite(x), x, lo)


# -- exact thresholds ---------------------------------------------------------------------------
def _ordered(a: np.ndarray) -> np.ndarray:
    """Float → int64 key with the same order as the values (−0 and +0 share key 0)."""
    a = np.asarray(a)
    if a.dtype == np.float32:
        i = a.view(np.int32).astype(np.int64)
        return np.where(i >= 0, i, -(i & 0x7FFFFFFF))
    i = a.astype(np.float64).view(np.int64)
    return np.where(i >= 0, i, -(i & 0x7FFFFFFFFFFFFFFF))


def from_ordered(o: np.ndarray, dtype) -> np.ndarray:
    """Inverse of :func:`_ordered` (key 0 → +0.0)."""
    if np.dtype(dtype) == np.float32:
        mag = np.abs(o).astype(np.uint32)
        return np.where(o < 0, mag | np.uint32(0x80000000), mag).view(np.float32)
    mag = np.abs(o).astype(np.uint64)
    return np.where(o < 0, mag | np.uint64(1 << 63), mag).view(np.float64)


def norm_thresholds(lo: float, hi: float, norm: str, gamma: float = 0.25,
                    dtype=np.float64) -> np.ndarray:
    """The 253 index thresholds of a norm for values of ``dtype``.

    Element k−1 is the smallest finite value x of ``dtype`` with ``reference_index(x) ≥ k``
    (clamp on), so a value's index is the number of thresholds ≤ it. Float dtypes return that
    dtype with +inf where no finite value reaches k; integer dtypes return int64 with
    ``iinfo.max + 1`` in that case. The analytic inverse of the norm is only the starting point:
    a galloping search then a bisection over the dtype's representable values make each
    threshold agree bit for bit with :func:`normalize`.
    """
    check_norm(lo, hi, norm, gamma)
    dtype = np.dtype(dtype)
    k = np.arange(1, N_THRESHOLDS + 1)
    guess = _inverse((k - 0.5) / TOP_INDEX, lo, hi, norm, gamma)
    if dtype.kind == "f":
        dtype = np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(np.float64)
        fmax = np.finfo(dtype).max
        omin, omax = int(_ordered(np.array(-fmax, dtype))), int(_ordered(np.array(fmax, dtype)))
        start = _ordered(np.clip(guess, -fmax, fmax).astype(dtype))

        def to_value(o):
            return from_ordered(o, dtype)
    else:
        info = np.iinfo(dtype)
        omin, omax = int(info.min), int(info.max)
        start = np.clip(np.ceil(guess), omin, omax).astype(np.int64)

        def to_value(o):
            return o.astype(np.float64)

    def index_at(o):  # −1 below the domain, 254 above: sentinels that bracket every k
        inside = (o >= omin) & (o <= omax)
        res = np.where(o < omin, -1, OUT_OF_RANGE).astype(np.int64)
        if inside.any():
            x = to_value(o[inside]).astype(np.float64)
            res[inside] = np.floor(normalize(x, lo, hi, norm, gamma) * TOP_INDEX + 0.5)
        return res

    # Bracket a < θ ≤ b with index(a) < k ≤ index(b), doubling the step until it holds.
    a, b = start - 1, start.copy()
    step = 1
    for _ in range(80):
        up = index_at(b) < k  # b is still below θ
        down = index_at(a) >= k  # a is already at or above θ
        if not (up.any() or down.any()):
            break
        a = np.where(up, b, a)
        b = np.where(up, np.minimum(b + step, omax + 1), b)
        b = np.where(down, a, b)
        a = np.where(down, np.maximum(a - step, omin - 1), a)
        step *= 2
    while True:
        open_ = b - a > 1
        if not open_.any():
            break
        m = (a >> 1) + (b >> 1) + (a & b & 1)  # floor((a+b)/2) without int64 overflow
        high = index_at(m) >= k
        b = np.where(open_ & high, m, b)
        a = np.where(open_ & ~high, m, a)
    if dtype.kind == "f":
        out = to_value(np.minimum(b, omax))
        out[b > omax] = np.inf
        return out.astype(dtype)
    return b.astype(np.int64)


# -- numba kernels ------------------------------------------------------------------------------
def _key_intrinsic(halve_64: bool):
    @intrinsic
    def key(typingctx, x):
        if not isinstance(x, types.Float):
            return None
        width = x.bitwidth

        def codegen(context, builder, signature, args):
            ity = ir.IntType(width)
            bits = builder.bitcast(args[0], ity)
            mag = builder.and_(bits, ir.Constant(ity, (1 << (width - 1)) - 1))
            neg = builder.icmp_signed("<", bits, ir.Constant(ity, 0))
            k = builder.select(neg, builder.neg(mag), mag)
            if width < 64:
                return builder.sext(k, ir.IntType(64))
            return builder.ashr(k, ir.Constant(ity, 1)) if halve_64 else k

        return types.int64(x), codegen

    return key


# int64 key of a float, in the order of the values, −0 and +0 both 0: the same as _ordered().
# An LLVM bitcast, because numba has no scalar float → int reinterpretation.
float_key = _key_intrinsic(False)
# The same, halved for float64 so that the difference of any two keys fits in an int64.
_bin_key = _key_intrinsic(True)


@numba.njit(cache=True, nogil=True)
def _build_table(th, origin, n_bins):
    """Bin table over the keys of (threshold − origin).

    A pixel's bin is ``(clip(key(x − origin), kmin, kmax) − kmin) >> shift``. ``packed[b]`` holds
    the number of thresholds in earlier bins (low 16 bits) and how many thresholds equal the
    bin's first one (high bits); ``first[b]`` is that first threshold (+inf in an empty bin).
    ``packed`` has a sentinel entry after the last bin. ``max_distinct`` is the largest number
    of distinct thresholds in one bin: with 1 a pixel needs a single comparison.
    """
    n = th.size
    keys = np.empty(n, np.int64)
    kmin = np.int64(0)
    kmax = np.int64(0)
    seen = False
    for j in range(n):
        keys[j] = _bin_key(th[j] - origin)
        if np.isfinite(th[j]):  # +inf thresholds must not stretch the binned span
            if not seen:
                kmin = keys[j]
                seen = True
            kmax = keys[j]
    span = kmax - kmin
    shift = 0
    while (span >> shift) >= n_bins:
        shift += 1
    nb = (span >> shift) + 1
    bins = np.empty(n, np.int64)
    for j in range(n):
        bins[j] = (min(max(keys[j], kmin), kmax) - kmin) >> shift
    packed = np.zeros(nb + 1, np.int32)
    first = np.full(nb + 1, np.inf, th.dtype)
    max_distinct = 0
    j = 0
    for b in range(nb + 1):
        base = j
        jump = 0
        distinct = 0
        while j < n and bins[j] == b:
            if j == base or th[j] != th[j - 1]:
                distinct += 1
            if th[j] == th[base]:
                jump += 1
            j += 1
        if jump > 0:
            first[b] = th[base]
        packed[b] = base | (jump << 16)
        max_distinct = max(max_distinct, distinct)
    packed[nb] = n
    return packed, first, kmin, kmax, shift, max_distinct


# Parallel kernels: numba marks the arrays of a prange body noalias, which lets LLVM turn the
# table reads into vector gathers, as long as the loop body has no branches (selects only).
@numba.njit(parallel=True, cache=True, nogil=True)
def _map_fast(frame, out, packed, first, origin, kmin, kmax, shift, lo_f, hi_f, clamp, fmax):
    ny, nx = frame.shape
    for r in prange(ny):
        for c in range(nx):
            x = frame[r, c]
            k = _bin_key(x - origin)
            k = k if k > kmin else kmin
            k = k if k < kmax else kmax
            b = (k - kmin) >> shift
            e = packed[b]
            idx = (e & 0xFFFF) + (e >> 16) * np.int32(x >= first[b])
            idx = idx if (clamp | ((x >= lo_f) & (x <= hi_f))) else OUT_OF_RANGE
            out[r, c] = np.uint8(idx if abs(x) <= fmax else NOT_FINITE)


@numba.njit(parallel=True, cache=True, nogil=True)
def _map_search(frame, out, th, packed, origin, kmin, kmax, shift, lo_f, hi_f, clamp, fmax):
    """Like _map_fast for tables with several distinct thresholds in a bin (binary search)."""
    ny, nx = frame.shape
    for r in prange(ny):
        for c in range(nx):
            x = frame[r, c]
            if not (abs(x) <= fmax):
                out[r, c] = NOT_FINITE
            elif not clamp and (x < lo_f or x > hi_f):
                out[r, c] = OUT_OF_RANGE
            else:
                k = min(max(_bin_key(x - origin), kmin), kmax)
                b = (k - kmin) >> shift
                lo_j = packed[b] & 0xFFFF
                hi_j = packed[b + 1] & 0xFFFF
                while lo_j < hi_j:
                    mid = (lo_j + hi_j) >> 1
                    if th[mid] <= x:
                        lo_j = mid + 1
                    else:
                        hi_j = mid
                out[r, c] = lo_j


@numba.njit(parallel=True, cache=True, nogil=True)
def _map_lut(frame, out, lut, offset):
    ny, nx = frame.shape
    for r in prange(ny):
        for c in range(nx):
            out[r, c] = np.uint8(lut[np.int32(frame[r, c]) - offset])


# The 'workqueue' threading layer (used when neither TBB nor OpenMP is installed) aborts the
# process when two threads enter parallel kernels at once; the frame loader renders on two
# workers, so kernels are serialised in that case only.
_kernel_lock = threading.Lock()
_needs_lock: bool | None = None


@contextmanager
def parallel_section():
    """Context for calling this package's parallel numba kernels from any thread."""
    global _needs_lock
    if _needs_lock is False:
        yield
        return
    with _kernel_lock:
        yield
        if _needs_lock is None:
            try:
                _needs_lock = numba.threading_layer() == "workqueue"
            except ValueError:  # no parallel kernel has run yet
                pass


# -- public mapping -----------------------------------------------------------------------------
def mappable(frame: np.ndarray) -> np.ndarray:
    """``frame`` as a C-contiguous array of a dtype the kernels take (float32, float64 or an
    8/16-bit integer); bool becomes uint8 and other real types float32."""
    a = np.asarray(frame)
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif a.dtype.kind == "c":
        raise ParameterError("complex frames must be converted with to_real() first")
    elif not (a.dtype in _LUT_DTYPES or a.dtype in (np.float32, np.float64)):
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def _float_bound(value: float, dtype, upward: bool):
    """Smallest dtype value ≥ value (upward) or largest ≤ value, so that comparisons of dtype
    pixels against lo/hi need no conversion."""
    with np.errstate(over="ignore"):
        f = np.array(value, dtype=dtype)
    if upward and float(f) < value:
        f = np.nextafter(f, np.array(np.inf, dtype))
    elif not upward and float(f) > value:
        f = np.nextafter(f, np.array(-np.inf, dtype))
    return f[()]


def index_lut(dtype, lo: float, hi: float, norm: str, gamma: float = 0.25,
              clamp: bool = True) -> np.ndarray:
    """Direct value → index table for an 8/16-bit integer dtype, entry ``v − iinfo.min``
    (int32 rather than uint8 so that the kernel's reads vectorise as gathers)."""
    info = np.iinfo(dtype)
    th = norm_thresholds(lo, hi, norm, gamma, dtype)
    n = int(info.max) - int(info.min) + 1
    counts = np.bincount(np.clip(th - info.min, 0, n), minlength=n + 1)
    lut = np.cumsum(counts[:n]).astype(np.int32)
    if not clamp:
        values = np.arange(info.min, int(info.max) + 1, dtype=np.float64)
        lut[(values < lo) | (values > hi)] = OUT_OF_RANGE
    return lut


def map_to_index(frame: np.ndarray, lo: float, hi: float, norm: str, gamma: float = 0.25,
                 clamp: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """Colour-index image (uint8, same (ny, nx) as ``frame``) of a 2-D real frame.

    Equal, pixel for pixel, to :func:`reference_index`. ``out`` may be a C-contiguous uint8
    array of the frame's shape to fill. Runs in parallel over rows and releases the GIL.
    """
    check_norm(lo, hi, norm, gamma)
    a = mappable(frame)
    if a.ndim != 2:
        raise ParameterError(f"map_to_index needs a 2-D frame, got shape {a.shape}")
    if out is None:
        out = np.empty(a.shape, np.uint8)
    elif out.shape != a.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ParameterError("out must be a C-contiguous uint8 array of the frame's shape")
    if a.size == 0:
        return out
    if a.dtype in _LUT_DTYPES:
        lut = index_lut(a.dtype, lo, hi, norm, gamma, clamp)
        with parallel_section():
            _map_lut(a, out, lut, int(np.iinfo(a.dtype).min))
        return out
    dt = a.dtype.type
    th = norm_thresholds(lo, hi, norm, gamma, a.dtype)
    lo_f, hi_f = _float_bound(lo, dt, True), _float_bound(hi, dt, False)
    # Bins are finest next to the origin, so put it where the thresholds crowd: at lo for
    # linear/sqrt/log/power γ<1, at hi for power γ>1, at 0 for arcsinh.
    if norm == "arcsinh":
        origin = dt(min(max(0.0, lo_f), hi_f))
    elif norm == "power" and gamma > 1:
        origin = hi_f
    else:
        origin = lo_f
    fmax = dt(np.finfo(dt).max)
    for n_bins in (N_BINS, N_BINS * 4, N_BINS * 16):
        packed, first, kmin, kmax, shift, max_distinct = _build_table(th, origin, n_bins)
        if max_distinct <= 1:
            with parallel_section():
                _map_fast(a, out, packed, first, origin, kmin, kmax, shift, lo_f, hi_f,
                          bool(clamp), fmax)
            return out
    # Thresholds closer than 2⁻²⁰ of their key span (extreme γ over a huge range): search.
    with parallel_section():
        _map_search(a, out, th, packed, origin, kmin, kmax, shift, lo_f, hi_f, bool(clamp), fmax)
    return out
