"""Display pipeline of one frame: real values, statistics, levels, colour indices
(spec/viewer.md S5, D2–D4, M5, §17 check 12).

:func:`render` is the entry point the frame loader calls on a worker thread. It returns a
uint8 colour-index image (layout in :mod:`owlx.core.colorindex`: 0…253 data levels,
254 out of range with clamp off, 255 NaN/inf) that the GUI shows with a 256-entry colour
table, so the GUI thread never touches float data.

Level units (:data:`LEVEL_UNITS`), each end of the display range has its own:

* ``"value"``: data units;
* ``"range"``: percent of the frame's [min, max] (0 → min, 100 → max);
* ``"percentile"``: percentile (0–100) of the frame's finite, unmasked pixels, taken from a
  strided subsample of at most 2¹⁸ pixels. min and max always use the full frame, so the few
  hot pixels of a weak hit are not missed.

Masks are boolean, True = valid; masked pixels are left out of the levels, the statistics and
the histogram (M5), but are still mapped (the GUI paints the mask overlay on top).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

import numba
import numpy as np
from numba import prange
from numba.core import types
from numba.extending import overload

from ..errors import DatasetError, ParameterError
from .colorindex import (
    NORMS,
    NOT_FINITE,
    OUT_OF_RANGE,
    TOP_INDEX,
    from_ordered,
    check_norm,
    float_key,
    map_to_index,
    mappable,
    norm_thresholds,
    normalize,
    parallel_section,
    reference_index,
)
from .preview import index_preview, preview_shape, value_preview

__all__ = [
    "NORMS", "LEVEL_UNITS", "COMPLEX_MODES", "DEFAULT_MASK_OUT_BITS", "MAX_SAMPLE",
    "TOP_INDEX", "OUT_OF_RANGE", "NOT_FINITE",
    "DisplaySettings", "MaskSettings", "FrameStats", "Rendered",
    "to_real", "frame_stats", "compute_levels", "check_norm", "norm_thresholds", "normalize",
    "reference_index", "map_to_index", "histogram", "render", "full_index", "map_like", "warm_up",
]

LEVEL_UNITS = ("value", "range", "percentile")
COMPLEX_MODES = ("amplitude", "phase", "real", "imag")
DEFAULT_MASK_OUT_BITS = 5855  # spec/viewer.md M2, the bits checked by default
MAX_SAMPLE = 2**18  # pixels behind percentile levels and the histogram (D3)
HIST_BINS = 100


@dataclass(frozen=True)
class DisplaySettings:
    """How frames are turned into colours (D1–D4, S5). Level ends are in their own units.

    Immutable (safe to hand to worker threads); change one with ``dataclasses.replace``.
    """

    colormap: str = "inferno"
    invert_colormap: bool = False
    norm: str = "log"
    gamma: float = 0.25
    lo_unit: str = "percentile"
    lo: float = 0.5
    hi_unit: str = "percentile"
    hi: float = 99.5
    clamp: bool = True
    complex_mode: str = "amplitude"

    def validate(self) -> DisplaySettings:
        """Raise :class:`ParameterError` for a setting that cannot be displayed; return self."""
        if not isinstance(self.colormap, str) or not self.colormap:
            raise ParameterError("the colormap must be a non-empty name")
        if self.norm not in NORMS:
            raise ParameterError(f"unknown normalisation {self.norm!r}; choose one of {', '.join(NORMS)}")
        if not (math.isfinite(self.gamma) and self.gamma != 0 and abs(self.gamma) <= 10):
            raise ParameterError(f"power exponent γ must be non-zero and within −10…10 (got {self.gamma})")
        for end, unit, value in (("lower", self.lo_unit, self.lo), ("upper", self.hi_unit, self.hi)):
            if unit not in LEVEL_UNITS:
                raise ParameterError(f"unknown level unit {unit!r}; choose one of {', '.join(LEVEL_UNITS)}")
            if not math.isfinite(value):
                raise ParameterError(f"the {end} display level must be a finite number (got {value})")
            if unit != "value" and not 0 <= value <= 100:
                raise ParameterError(f"the {end} level in {unit} units must be within 0…100 (got {value})")
        if self.lo_unit == self.hi_unit and self.lo >= self.hi:
            raise ParameterError(f"the lower display level must be below the upper one "
                                 f"(got {self.lo} ≥ {self.hi} {self.lo_unit})")
        if self.complex_mode not in COMPLEX_MODES:
            raise ParameterError(f"unknown complex mode {self.complex_mode!r}; "
                                 f"choose one of {', '.join(COMPLEX_MODES)}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DisplaySettings:
        """Settings from a saved dict (unknown keys ignored, types coerced), validated."""
        return _from_dict(cls, d).validate()


@dataclass(frozen=True)
class MaskSettings:
    """Which mask bits hide a pixel and how masked pixels are painted (M2–M4).

    A pixel is masked when ``(mask & out_bits) != 0``, the other way round with ``invert``;
    ``enabled=False`` is "No mask". ``colour`` is (r, g, b) 0–255, ``opacity`` 0–1 (1 = hidden).
    """

    out_bits: int = DEFAULT_MASK_OUT_BITS
    invert: bool = False
    enabled: bool = True
    colour: tuple = (0, 0, 0)
    opacity: float = 1.0

    def validate(self) -> MaskSettings:
        if not (isinstance(self.out_bits, (int, np.integer)) and 0 <= self.out_bits < 2**64):
            raise ParameterError(f"mask bits must be a non-negative integer (got {self.out_bits!r})")
        if len(self.colour) != 3 or not all(0 <= int(c) <= 255 for c in self.colour):
            raise ParameterError(f"mask colour must be (r, g, b) with 0…255 (got {self.colour!r})")
        if not 0.0 <= self.opacity <= 1.0:
            raise ParameterError(f"mask opacity must be within 0…1 (got {self.opacity})")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MaskSettings:
        m = _from_dict(cls, d)
        return replace(m, colour=tuple(int(c) for c in m.colour)).validate()


def _from_dict(cls, d: dict):
    kwargs = {}
    for f in fields(cls):
        if f.name in d:
            default = getattr(cls(), f.name)
            value = d[f.name]
            if isinstance(default, bool):  # QSettings hands back "true"/"false" strings
                value = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            elif isinstance(default, (int, float, str)):
                value = type(default)(value)
            kwargs[f.name] = value
    return cls(**kwargs)


# -- real values ------------------------------------------------------------------------------
def to_real(frame: np.ndarray, complex_mode: str = "amplitude") -> np.ndarray:
    """A real frame the mapping kernels take directly.

    Complex data gives its amplitude, phase (radians, −π…π), real or imaginary part as float32
    (S5). float32 and 8/16-bit integers are returned as they are (no copy when C-contiguous),
    bool as a uint8 view, every other real type (int32, uint32, int64, float64, ...) as float32
    (D2: the display needs no more precision, and float32 halves the memory traffic).
    """
    a = np.asarray(frame)
    if a.dtype.kind == "c":
        if complex_mode not in COMPLEX_MODES:
            raise ParameterError(f"unknown complex mode {complex_mode!r}; "
                                 f"choose one of {', '.join(COMPLEX_MODES)}")
        part = {"amplitude": np.abs, "phase": np.angle, "real": np.real, "imag": np.imag}
        return np.ascontiguousarray(part[complex_mode](a), dtype=np.float32)
    if a.dtype == np.float64:
        return a.astype(np.float32)
    return mappable(a)


# -- statistics and the subsample -------------------------------------------------------------
@dataclass(frozen=True)
class FrameStats:
    """Statistics of a frame's finite, unmasked pixels (NaN when there are none)."""

    min: float
    max: float
    mean: float
    std: float  # population standard deviation (ddof = 0)
    sum: float
    n_valid: int


_EMPTY_STATS = FrameStats(math.nan, math.nan, math.nan, math.nan, 0.0, 0)


@numba.njit(parallel=True, cache=True, nogil=True)
def _sample_kernel(frame, valid, vstep, row0, row_step, col_step, out):
    """Strided subsample: rows row0, row0 + row_step, ...; in the i-th of them every
    col_step-th column from column i % col_step. Excluded pixels (non-finite, masked) and
    unused slots are NaN."""
    nx = frame.shape[1]
    n_rows, n_cols = out.shape
    for i in prange(n_rows):
        r = row0 + i * row_step
        c0 = i % col_step
        for j in range(n_cols):
            c = c0 + j * col_step
            if c < nx:
                x = frame[r, c]
                ok = abs(np.float64(x)) <= 1.7976931348623157e308 and valid[r * vstep, c]
                out[i, j] = x if ok else np.nan
            else:
                out[i, j] = np.nan


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc"})
def _stats_kernel(frame, valid, vstep, shift):
    """Count, sums of d = x − shift and d², and min/max keys of the finite unmasked pixels.

    Branch-free so that it vectorises: min/max run on order-preserving integer keys, and
    reassociation is allowed for the sums only (NaN handling stays strict). The shift (the
    subsample's mean) keeps the variance from cancelling.
    """
    ny, nx = frame.shape
    rn = np.zeros(ny, np.int64)
    rs = np.zeros(ny)
    rq = np.zeros(ny)
    rmin = np.empty(ny, np.int64)
    rmax = np.empty(ny, np.int64)
    big = np.int64(9223372036854775807)
    for r in prange(ny):
        n = 0
        s = 0.0
        q = 0.0
        mn = big
        mx = -big
        for c in range(nx):
            x = frame[r, c]
            ok = (abs(np.float64(x)) <= 1.7976931348623157e308) & valid[r * vstep, c]
            d = (np.float64(x) - shift) if ok else 0.0
            n += np.int64(ok)
            s += d
            q += d * d
            k = _value_key(x)
            mn = min(mn, k if ok else big)
            mx = max(mx, k if ok else -big)
        rn[r] = n
        rs[r] = s
        rq[r] = q
        rmin[r] = mn
        rmax[r] = mx
    return rn.sum(), rs.sum(), rq.sum(), rmin.min(), rmax.max()


@numba.njit(parallel=True, cache=True, nogil=True, fastmath={"reassoc"})
def _stats_preview_kernel(frame, valid, vstep, shift, step, none, out):
    """:func:`_stats_kernel` and the block maxima of :func:`owlx.core.preview.value_preview` in
    one pass over the frame (a big frame shown zoomed out is read once, not twice), in parallel
    over rows of blocks.

    ``out`` (the preview shape) is in the frame's dtype; ``none`` is the value no pixel beats
    (−inf; the dtype's minimum for integers). Blocks without a finite value are left at
    ``none``. Masked pixels count in the maxima (the preview is a picture; the overlay hides
    them), not in the statistics.
    """
    ny, nx = frame.shape
    oh, ow = out.shape
    big = np.int64(9223372036854775807)
    bn = np.zeros(oh, np.int64)
    bs = np.zeros(oh)
    bq = np.zeros(oh)
    bmin = np.full(oh, big)
    bmax = np.full(oh, -big)
    whole = nx // step
    for i in prange(oh):
        acc = np.full(nx, none)  # per column: the maximum over this row of blocks
        n = np.int64(0)
        s = 0.0
        q = 0.0
        kmin = big
        kmax = -big
        for r in range(i * step, min(ny, i * step + step)):
            for c in range(nx):
                x = frame[r, c]
                fin = abs(np.float64(x)) <= 1.7976931348623157e308
                y = x if fin else none
                a = acc[c]
                acc[c] = y if y > a else a
                ok = fin & valid[r * vstep, c]
                d = (np.float64(x) - shift) if ok else 0.0
                n += np.int64(ok)
                s += d
                q += d * d
                k = _value_key(x)
                kmin = min(kmin, k if ok else big)
                kmax = max(kmax, k if ok else -big)
        bn[i] = n
        bs[i] = s
        bq[i] = q
        bmin[i] = kmin
        bmax[i] = kmax
        m = np.full(ow, none)
        for b in range(step):  # columns: ``step`` strided sweeps over the folded row
            for j in range(whole):
                y = acc[j * step + b]
                m[j] = y if y > m[j] else m[j]
        for c in range(whole * step, nx):
            y = acc[c]
            m[whole] = y if y > m[whole] else m[whole]
        out[i, :] = m
    return bn.sum(), bs.sum(), bq.sum(), bmin.min(), bmax.max()


def _value_key(x):
    """Order-preserving int64 key of a value (exact: the value can be recovered)."""
    raise NotImplementedError  # only called from numba code


@overload(_value_key)
def _value_key_impl(x):
    if isinstance(x, types.Float):
        return lambda x: float_key(x)
    if isinstance(x, (types.Integer, types.Boolean)):
        return lambda x: np.int64(x)
    return None


def _from_key(k: int, dtype) -> float:
    if np.dtype(dtype).kind == "f":
        return float(from_ordered(np.array([k], np.int64), dtype)[0])
    return float(k)


def _sample_grid(ny: int, nx: int) -> tuple[int, int, int]:
    """(first row, row step, column step) of a subsample of at most MAX_SAMPLE pixels.

    Whole rows are cheap to read (a strided row touches every cache line anyway), so the
    column step stays ≤ 4 and the row step carries the rest. The row step is odd and the rows
    start half a step in, so that they do not sit on the edges of 2ⁿ-row detector modules.
    """
    f = -(-ny * nx // MAX_SAMPLE)
    if f <= 1:
        return 0, 1, 1
    col_step = min(4, f)
    row_step = -(-f // col_step)
    while True:
        row_step += 1 - row_step % 2
        row0 = row_step // 2
        if -(-(ny - row0) // row_step) * -(-nx // col_step) <= MAX_SAMPLE:
            return row0, row_step, col_step
        row_step += 1


def _check_valid(valid, shape) -> np.ndarray | None:
    if valid is None:
        return None
    v = np.asarray(valid)
    if v.shape != shape:
        raise DatasetError(f"the mask shape {v.shape} does not match the frame shape {shape}")
    return np.ascontiguousarray(v, dtype=np.bool_)


def _valid_arg(valid: np.ndarray | None, nx: int) -> tuple[np.ndarray, int]:
    """The kernels read valid[r * vstep, c]: a one-row stand-in with vstep 0 when unmasked."""
    if valid is None:
        return np.ones((1, nx), np.bool_), 0
    return valid, 1


def _subsample(a: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Finite unmasked values of a strided subsample (float32, or float64 for float64 frames)."""
    ny, nx = a.shape
    row0, row_step, col_step = _sample_grid(ny, nx)
    n_rows = -(-(ny - row0) // row_step)
    out = np.empty((n_rows, -(-nx // col_step)), np.float64 if a.dtype == np.float64 else np.float32)
    v, vstep = _valid_arg(valid, nx)
    with parallel_section():
        _sample_kernel(a, v, vstep, row0, row_step, col_step, out)
    out = out.ravel()
    return out[~np.isnan(out)]


def _stats(a: np.ndarray, valid: np.ndarray | None, shift: float) -> FrameStats:
    v, vstep = _valid_arg(valid, a.shape[1])
    with parallel_section():
        n, s, q, kmin, kmax = _stats_kernel(a, v, vstep, shift)
    if n == 0:
        return _EMPTY_STATS
    mean_d = s / n
    return FrameStats(_from_key(kmin, a.dtype), _from_key(kmax, a.dtype), shift + mean_d,
                      math.sqrt(max(q / n - mean_d * mean_d, 0.0)), shift * n + s, int(n))


def _scan(a: np.ndarray, valid: np.ndarray | None) -> tuple[FrameStats, np.ndarray]:
    """Statistics of a 2-D mappable frame and its subsample of finite unmasked values, sorted
    (percentiles and the histogram then cost a few index look-ups)."""
    if a.size == 0:
        return _EMPTY_STATS, np.empty(0, np.float32)
    # numpy's SIMD sort takes ≤ 1 ms on 2¹⁸ float32 values, whereas np.percentile's partition
    # degrades to several ms on the heavily tied values of photon-counting frames.
    sample = np.sort(_subsample(a, valid))
    shift = float(sample.mean(dtype=np.float64)) if sample.size else 0.0
    return _stats(a, valid, shift), sample


def _scan_preview(a: np.ndarray, valid: np.ndarray | None, step: int):
    """:func:`_scan` plus the block maxima of the values (:func:`owlx.core.preview.value_preview`)
    over ``step × step`` blocks, from one pass over the frame when its dtype allows (float32,
    float64, 8/16-bit integers; others are converted for the preview as for the mapping)."""
    if a.dtype not in (np.float32, np.float64) and not (a.dtype.kind in "iu" and a.dtype.itemsize <= 2):
        stats, sample = _scan(a, valid)
        return stats, sample, value_preview(mappable(a), step)
    a = np.ascontiguousarray(a)
    sample = np.sort(_subsample(a, valid))
    shift = float(sample.mean(dtype=np.float64)) if sample.size else 0.0
    v, vstep = _valid_arg(valid, a.shape[1])
    floating = a.dtype.kind == "f"
    none = a.dtype.type(-np.inf) if floating else a.dtype.type(np.iinfo(a.dtype).min)
    small = np.empty(preview_shape(a.shape, step), a.dtype)
    with parallel_section():
        n, s, q, kmin, kmax = _stats_preview_kernel(a, v, vstep, shift, int(step), none, small)
    if floating:
        small[small == none] = np.nan  # no finite value in the block: maps to NOT_FINITE
    if n == 0:
        return _EMPTY_STATS, sample, small
    mean_d = s / n
    stats = FrameStats(_from_key(kmin, a.dtype), _from_key(kmax, a.dtype), shift + mean_d,
                       math.sqrt(max(q / n - mean_d * mean_d, 0.0)), shift * n + s, int(n))
    return stats, sample, small


def _percentiles(ordered: np.ndarray, qs) -> list[float]:
    """Percentiles (0–100) of a sorted sample, with numpy's default linear interpolation."""
    n = ordered.size
    out = []
    for q in qs:
        p = (n - 1) * q / 100.0
        k = min(int(math.floor(p)), n - 1)
        a, b = float(ordered[k]), float(ordered[min(k + 1, n - 1)])
        t = p - k
        out.append(a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t))
    return out


def _as_2d(frame: np.ndarray, complex_mode: str) -> np.ndarray:
    a = to_real(frame, complex_mode)
    if a.ndim != 2:
        raise DatasetError(f"a frame must be a 2-D image, got shape {a.shape}")
    return a


def frame_stats(frame: np.ndarray, valid: np.ndarray | None = None,
                complex_mode: str = "amplitude") -> FrameStats:
    """min, max, mean, std, sum and count of the finite unmasked pixels (one parallel pass over
    the frame after the subsample that centres the sums)."""
    a = _as_2d(frame, complex_mode)
    return _scan(a, _check_valid(valid, a.shape))[0]


# -- levels -------------------------------------------------------------------------------------
def _resolve_levels(s: DisplaySettings, stats: FrameStats, sample: np.ndarray | None):
    """(lo, hi) in data units from the settings' units; always finite with lo < hi."""
    pct = [p for unit, p in ((s.lo_unit, s.lo), (s.hi_unit, s.hi)) if unit == "percentile"]
    pvals = iter(_percentiles(sample, pct) if pct and sample is not None and sample.size else ())
    ends = []
    for unit, value in ((s.lo_unit, s.lo), (s.hi_unit, s.hi)):
        if unit == "value":
            ends.append(float(value))
        elif unit == "range":
            ok = stats.n_valid > 0
            ends.append(stats.min + value / 100.0 * (stats.max - stats.min) if ok else None)
        else:
            ends.append(float(next(pvals, math.nan)))
    lo, hi = (e if e is not None and math.isfinite(e) else None for e in ends)
    if lo is None and hi is None:  # nothing valid to take levels from
        lo, hi = 0.0, 1.0
    elif lo is None:
        lo = hi - 1.0
    elif hi is None:
        hi = lo + 1.0
    if not lo < hi:
        # A constant frame (or mixed units that cross): keep lo and open a minimal range above
        # it, so lo-valued pixels show the lowest colour, as an empty detector frame should.
        hi = lo + max(1.0, abs(lo) * 2.0**-20)
    return lo, hi


def compute_levels(frame: np.ndarray, valid: np.ndarray | None = None,
                   settings: DisplaySettings | None = None,
                   stats: FrameStats | None = None) -> tuple[float, float]:
    """Display levels (lo, hi) in data units of ``frame`` under ``settings`` (D3).

    ``stats`` (from :func:`frame_stats`) saves a pass when only value/range units are used.
    With no valid pixel the relative ends fall back to (0, 1); lo == hi opens a minimal range
    above lo.
    """
    s = (settings or DisplaySettings()).validate()
    a = _as_2d(frame, s.complex_mode)
    valid = _check_valid(valid, a.shape)
    sample = None
    if "percentile" in (s.lo_unit, s.hi_unit):
        stats, sample = _scan(a, valid)
    elif stats is None and "range" in (s.lo_unit, s.hi_unit):
        stats = _scan(a, valid)[0]
    return _resolve_levels(s, stats or _EMPTY_STATS, sample)


# -- histogram ----------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _hist_kernel(values, valid, use_valid, lo, hi, bins):
    counts = np.zeros(bins, np.int64)
    scale = bins / (hi - lo)
    flat = values.ravel()
    vflat = valid.ravel()
    for i in range(flat.size):
        x = np.float64(flat[i])
        if x >= lo and x <= hi and (not use_valid or vflat[i]):
            b = int((x - lo) * scale)
            counts[min(b, bins - 1)] += 1
    return counts


def _edges(lo: float, hi: float, bins: int) -> np.ndarray:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if not lo < hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def histogram(frame: np.ndarray, valid: np.ndarray | None = None, bins: int = HIST_BINS,
              value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts (int64, ``bins``) and edges (float64, ``bins + 1``) of the finite unmasked values
    of ``frame`` (any shape) over ``value_range`` (default: their [min, max]); uniform bins, the
    last one closed. Complex data counts its amplitude. The display panel plots
    log10(count + 1); :func:`render` gives the same histogram estimated from its subsample."""
    a = np.asarray(frame)
    if a.dtype.kind == "c":
        a = np.abs(a)
    a = np.ascontiguousarray(a)
    use = valid is not None
    v = np.ascontiguousarray(valid, dtype=np.bool_) if use else np.ones(1, np.bool_)
    if use and v.shape != a.shape:
        raise DatasetError(f"the mask shape {v.shape} does not match the data shape {a.shape}")
    if value_range is None:
        finite = np.isfinite(a) & v if use else np.isfinite(a)
        value_range = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 1.0)
    edges = _edges(float(value_range[0]), float(value_range[1]), bins)
    counts = _hist_kernel(a, v, use, edges[0], edges[-1], bins)
    return counts, edges


# -- the pipeline -------------------------------------------------------------------------------
@dataclass
class Rendered:
    """A frame ready for the GUI.

    ``index``: uint8 (ny, nx) colour indices, or the (ny, nx, 3|4) uint8 frame itself for RGB(A)
    data (shown without colour table); None when only the preview was made (a big frame shown
    zoomed out: :func:`render` with ``full=False``; :func:`full_index` makes it later).
    ``lo``/``hi``: the levels used, in data units. ``real``: the float32 frame that was mapped
    when the input had to be converted (complex, int32, float64, ...), else None.
    ``histogram``: (counts, edges) of the finite unmasked values over [min, max], estimated from
    the ≤ 2¹⁸-pixel subsample with counts scaled to the number of valid pixels (float64).
    ``preview``: the index image reduced by ``preview_step`` (:mod:`owlx.core.preview`), or None.
    ``settings``: the (validated) display settings the frame was rendered with.
    """

    index: np.ndarray | None
    lo: float
    hi: float
    stats: FrameStats
    real: np.ndarray | None = None
    histogram: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    preview: np.ndarray | None = field(default=None, repr=False)
    preview_step: int = 1
    settings: DisplaySettings | None = field(default=None, repr=False)


def _is_rgb(a: np.ndarray) -> bool:
    return a.ndim == 3 and a.shape[2] in (3, 4) and a.dtype == np.uint8


def _sample_histogram(ordered: np.ndarray, stats: FrameStats, bins: int):
    """Histogram over [min, max] from the sorted subsample, scaled to the valid pixel count."""
    edges = _edges(stats.min, stats.max, bins)
    if ordered.size == 0:
        return np.zeros(bins), edges
    pos = np.searchsorted(ordered, edges, side="left")
    pos[-1] = np.searchsorted(ordered, edges[-1], side="right")  # the last bin is closed
    return np.diff(pos) * (stats.n_valid / ordered.size), edges


def render(frame: np.ndarray, valid: np.ndarray | None, settings: DisplaySettings,
           preview_step: int = 1, full: bool = True) -> Rendered:
    """Map one frame to colour indices with its own levels (one statistics pass, one mapping
    pass; safe to call from several threads at once).

    ``preview_step`` > 1 also makes the preview reduced by that step. ``full=False`` asks for
    the preview alone: the block maxima of the values are mapped instead of the whole frame
    (:func:`owlx.core.preview.value_preview`; a quarter of the work at step 2, a sixteenth of
    the mapping at step 4), and ``index`` stays None. With clamp off that shortcut would be
    wrong (see owlx.core.preview), so the full image is mapped anyway.
    """
    s = settings.validate()
    step = int(preview_step)
    if step < 1:
        raise ParameterError(f"the preview step must be ≥ 1, not {preview_step}")
    raw = np.asarray(frame)
    if _is_rgb(raw):
        rgb = np.ascontiguousarray(raw)
        ny, nx, nc = rgb.shape
        v = _check_valid(valid, (ny, nx))
        flat_valid = None if v is None else np.repeat(v, nc, axis=1)
        stats, sample = _scan(rgb.reshape(ny, nx * nc), flat_valid)
        return Rendered(rgb, 0.0, 255.0, stats, None, _sample_histogram(sample, stats, HIST_BINS), settings=s)
    a = _as_2d(raw, s.complex_mode)
    v = _check_valid(valid, a.shape)
    real = a if a is not raw and a.base is not raw else None
    if step > 1 and not full and s.clamp and a.size:
        stats, sample, small = _scan_preview(a, v, step)
        lo, hi = _resolve_levels(s, stats, sample)
        out = Rendered(None, lo, hi, stats, real, _sample_histogram(sample, stats, HIST_BINS), settings=s)
        out.preview, out.preview_step = map_to_index(small, lo, hi, s.norm, s.gamma, s.clamp), step
        return out
    stats, sample = _scan(a, v)
    lo, hi = _resolve_levels(s, stats, sample)
    out = Rendered(None, lo, hi, stats, real, _sample_histogram(sample, stats, HIST_BINS), settings=s)
    out.index = map_to_index(a, lo, hi, s.norm, s.gamma, s.clamp)
    if step > 1:
        out.preview, out.preview_step = index_preview(out.index, step), step
    return out


def map_like(values: np.ndarray, rendered: Rendered) -> np.ndarray:
    """Colour indices of any 2-D ``values`` (a frame or a block of one, in its file dtype) with
    the levels, norm and complex mode ``rendered`` was made with."""
    s = rendered.settings or DisplaySettings()
    return map_to_index(_as_2d(np.asarray(values), s.complex_mode), rendered.lo, rendered.hi, s.norm,
                        s.gamma, s.clamp)


def full_index(frame: np.ndarray, rendered: Rendered) -> np.ndarray:
    """The full-resolution colour-index image of ``frame`` as :func:`render` made ``rendered``:
    ``rendered.index`` when there is one, else mapped now (and not stored: the caller decides
    whether to keep it)."""
    if rendered.index is not None:
        return rendered.index
    return map_like(rendered.real if rendered.real is not None else frame, rendered)


def warm_up() -> None:
    """Compile the kernels for the common frame types, or load them from numba's on-disk
    cache (seconds the very first time, ~0.3 s after), so that the first frame a user opens
    renders at full speed. Meant for a worker thread at start-up."""
    for dtype in (np.float32, np.uint16, np.int16, np.uint8):
        frame = np.arange(64, dtype=dtype).reshape(8, 8)
        render(frame, None, DisplaySettings())
        render(frame, np.ones(frame.shape, bool), DisplaySettings(), preview_step=2)
        render(frame, None, DisplaySettings(), preview_step=2, full=False)
