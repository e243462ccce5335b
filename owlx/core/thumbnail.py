"""Gallery thumbnails: block-maximum downsampling, full-frame statistics and colour indices
(spec/viewer.md G4, G5, S3).

A gallery cell shows its frame at the cell's on-screen size. Averaging or sub-sampling would
drop the single bright pixels (a weak hit's few photons, a hot pixel) that a user scans the
gallery for, so each thumbnail pixel is the **maximum of the finite, valid pixels of its block**
(Owl's gallery showed every pixel through OpenGL; owlx downsamples on a worker instead).

Conventions
-----------
* Frames are row-major ``(ny, nx)``; ``valid`` is boolean with True = valid pixel.
* Downsampling to an output shape ``(oh, ow)`` maps input row ``r`` to output row
  ``(r * oh) // ny`` (columns alike), so blocks differ by at most one row/column and cover the
  frame exactly; :func:`block_of` is that mapping. An integer factor ``f`` gives
  ``ceil(ny / f) × ceil(nx / f)`` blocks of ``f × f`` pixels (the last ones clipped).
* A block with no finite valid pixel is NaN. Outputs are float32 (float64 for float64 input).

:func:`downsample_frame` is what the gallery's workers run: one pass over the frame gives the
block maxima *and* the frame's statistics (:class:`owlx.core.display.FrameStats`: min, max,
mean, std, sum of the finite unmasked full-resolution pixels, as the single view shows them).
:func:`thumbnail_index` maps a downsampled frame to the colour indices of
:mod:`owlx.core.colorindex` with given levels; the levels come from the **full** frame
(:func:`owlx.core.display.compute_levels`), so a gallery cell and the single view of the same
frame use the same levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import ParameterError
from .display import DisplaySettings, FrameStats, frame_stats, map_to_index, to_real

__all__ = [
    "ThumbnailBase",
    "block_edges",
    "block_max_downsample",
    "block_of",
    "downsample_frame",
    "thumbnail_index",
    "thumbnail_shape",
]

# -- kernels ------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _block_max_kernel(a, valid, vstep, row_edges, col_edges, out, acc):
    """out[i, j] = max of the finite valid a[r, c] over block (i, j); NaN when there is none.

    Rows are folded into a per-column running maximum ``acc`` (a contiguous, branch-free loop
    that vectorises), which is then reduced over each block's columns once per block row.
    """
    nx = a.shape[1]
    oh, ow = out.shape
    neg = -np.inf
    for i in range(oh):
        acc[:] = neg
        for r in range(row_edges[i], row_edges[i + 1]):
            vr = r * vstep
            for c in range(nx):
                x = np.float64(a[r, c])
                ok = (abs(x) <= 1.7976931348623157e308) & valid[vr, c]
                acc[c] = max(acc[c], x if ok else neg)
        for j in range(ow):
            m = neg
            for c in range(col_edges[j], col_edges[j + 1]):
                m = max(m, acc[c])
            out[i, j] = m if m > neg else np.nan


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _block_max_stats_kernel(a, valid, vstep, row_edges, col_edges, out, acc, shift):
    """:func:`_block_max_kernel` plus count, Σd, Σd² (d = x − shift) and min of the finite
    valid pixels in the same pass (the max is the largest block maximum). Reassociation is
    allowed for the sums only, as in :mod:`owlx.core.display`; selections stay exact."""
    nx = a.shape[1]
    oh, ow = out.shape
    neg = -np.inf
    n = 0
    s = 0.0
    q = 0.0
    mn = np.inf
    for i in range(oh):
        acc[:] = neg
        for r in range(row_edges[i], row_edges[i + 1]):
            vr = r * vstep
            rn = 0
            rs = 0.0
            rq = 0.0
            rmn = np.inf
            for c in range(nx):
                x = np.float64(a[r, c])
                ok = (abs(x) <= 1.7976931348623157e308) & valid[vr, c]
                acc[c] = max(acc[c], x if ok else neg)
                d = (x - shift) if ok else 0.0
                rn += np.int64(ok)
                rs += d
                rq += d * d
                rmn = min(rmn, x if ok else np.inf)
            n += rn
            s += rs
            q += rq
            mn = min(mn, rmn)
        for j in range(ow):
            m = neg
            for c in range(col_edges[j], col_edges[j + 1]):
                m = max(m, acc[c])
            out[i, j] = m if m > neg else np.nan
    return n, s, q, mn


@numba.njit(cache=True, nogil=True)
def _block_none_valid_kernel(valid, row_edges, col_edges, out, acc):
    """out[i, j] = True when no pixel of block (i, j) is valid (same folding as above)."""
    nx = valid.shape[1]
    oh, ow = out.shape
    for i in range(oh):
        acc[:] = 0
        for r in range(row_edges[i], row_edges[i + 1]):
            for c in range(nx):
                acc[c] |= valid[r, c]
        for j in range(ow):
            m = np.uint8(0)
            for c in range(col_edges[j], col_edges[j + 1]):
                m |= acc[c]
            out[i, j] = m == 0


@numba.njit(cache=True, nogil=True)
def _row_shift(a, valid, vstep, r):
    """Mean of the finite valid pixels of row r (0 when none): the shift that keeps the
    variance sums from cancelling for frames with a large offset."""
    n = 0
    s = 0.0
    for c in range(a.shape[1]):
        x = np.float64(a[r, c])
        if abs(x) <= 1.7976931348623157e308 and valid[r * vstep, c]:
            n += 1
            s += x
    return s / n if n else 0.0


# -- geometry -----------------------------------------------------------------------------------
def block_edges(n: int, n_out: int) -> np.ndarray:
    """Start indices of ``n_out`` blocks over ``n`` pixels, plus ``n`` at the end (int64,
    ``n_out + 1``): block k holds the pixels r with ``(r * n_out) // n == k``."""
    if not 1 <= n_out <= n:
        raise ParameterError(f"cannot split {n} pixels into {n_out} blocks")
    k = np.arange(n_out + 1, dtype=np.int64)
    return -(-k * n // n_out)


def block_of(index: int, n: int, n_out: int) -> int:
    """The block (output pixel) that input pixel ``index`` of ``n`` falls in."""
    return (int(index) * n_out) // n


def thumbnail_shape(frame_shape: tuple[int, int], max_shape: tuple[int, int]) -> tuple[int, int]:
    """The downsampled shape for a cell of ``max_shape`` (rows, cols) device pixels: the cell
    size, but never more than the frame (small frames are scaled up when painted, not here)."""
    return (max(1, min(int(frame_shape[0]), int(max_shape[0]))),
            max(1, min(int(frame_shape[1]), int(max_shape[1]))))


def _edges_for(shape: tuple[int, int], factor_or_shape) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    if np.ndim(factor_or_shape) == 0:
        f = int(factor_or_shape)
        if f < 1 or f != factor_or_shape:
            raise ParameterError(f"the downsampling factor must be a whole number ≥ 1, got {factor_or_shape!r}")
        rows = np.minimum(np.arange(0, ny + f, f, dtype=np.int64)[: -(-ny // f) + 1], ny)
        cols = np.minimum(np.arange(0, nx + f, f, dtype=np.int64)[: -(-nx // f) + 1], nx)
        return rows, cols
    oh, ow = (int(v) for v in factor_or_shape)
    if not (1 <= oh <= ny and 1 <= ow <= nx):
        raise ParameterError(f"cannot downsample a {ny}×{nx} frame to {oh}×{ow}")
    return block_edges(ny, oh), block_edges(nx, ow)


def _prepare(frame, valid):
    a = np.asarray(frame)
    if a.ndim != 2:
        raise ParameterError(f"block_max_downsample needs a 2-D frame, got shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise ParameterError(f"cannot downsample {a.dtype} data (convert complex data with to_real)")
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    if valid is None:
        return a, np.ones((1, a.shape[1]), np.bool_), 0
    v = np.asarray(valid)
    if v.shape != a.shape:
        raise ParameterError(f"the mask shape {v.shape} does not match the frame shape {a.shape}")
    return a, np.ascontiguousarray(v, dtype=np.bool_), 1


def block_max_downsample(frame: np.ndarray, factor_or_shape, valid: np.ndarray | None = None) -> np.ndarray:
    """Block maximum of the finite, valid pixels of a 2-D frame (G4).

    ``factor_or_shape``: an integer factor f (f × f blocks) or the output shape (oh, ow) with
    oh ≤ ny and ow ≤ nx. Blocks without a finite valid pixel are NaN. Returns float32
    (float64 for float64 frames). Releases the GIL; about a millisecond for 1024² → 128².
    """
    a, v, vstep = _prepare(frame, valid)
    rows, cols = _edges_for(a.shape, factor_or_shape)
    out = np.empty((rows.size - 1, cols.size - 1), np.float64 if a.dtype == np.float64 else np.float32)
    _block_max_kernel(a, v, vstep, rows, cols, out, np.empty(a.shape[1], np.float64))
    return out


# -- the gallery pipeline -----------------------------------------------------------------------
@dataclass(frozen=True)
class ThumbnailBase:
    """A frame downsampled for one cell size, independent of the display settings.

    ``values``: (th, tw) block maxima of the real frame (float32, NaN where a block has no
    finite valid pixel), or (th, tw, 3|4) uint8 for RGB(A) frames. ``masked``: (th, tw) bool,
    True where every pixel of the block is masked (painted in the mask colour), or None
    without a mask. ``stats``: of the full-resolution frame (finite, unmasked pixels).
    ``frame_shape``: (ny, nx) of the full frame, to map cursor positions to frame pixels.
    """

    values: np.ndarray
    masked: np.ndarray | None
    stats: FrameStats
    frame_shape: tuple[int, int]

    @property
    def is_rgb(self) -> bool:
        return self.values.ndim == 3

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes) + (int(self.masked.nbytes) if self.masked is not None else 0)


def _masked_blocks(valid: np.ndarray | None, rows: np.ndarray, cols: np.ndarray, out_shape) -> np.ndarray | None:
    """True for blocks without any valid pixel (block maximum of the validity is 0)."""
    if valid is None:
        return None
    out = np.empty(out_shape, np.bool_)
    v = valid.view(np.uint8)
    _block_none_valid_kernel(v, rows, cols, out, np.empty(v.shape[1], np.uint8))
    return out if out.any() else None


def _rgb_base(frame: np.ndarray, valid, shape) -> ThumbnailBase:
    ny, nx, nc = frame.shape
    rows, cols = _edges_for((ny, nx), shape)
    _, v, vstep = _prepare(frame[:, :, 0], valid)
    channels = []
    for k in range(nc):  # each channel's own block maximum: a bright spot stays bright in colour
        out = np.empty((rows.size - 1, cols.size - 1), np.float32)
        _block_max_kernel(frame[:, :, k], v, vstep, rows, cols, out, np.empty(nx, np.float64))
        channels.append(np.nan_to_num(out, nan=0.0).astype(np.uint8))
    flat_valid = None if valid is None else np.repeat(v, nc, axis=1)
    stats = frame_stats(np.ascontiguousarray(frame).reshape(ny, nx * nc), flat_valid)
    return ThumbnailBase(np.stack(channels, axis=2),
                         _masked_blocks(None if valid is None else v, rows, cols, channels[0].shape),
                         stats, (ny, nx))


def downsample_frame(frame: np.ndarray, valid: np.ndarray | None, shape: tuple[int, int],
                     complex_mode: str = "amplitude") -> ThumbnailBase:
    """Downsample one frame to ``shape`` (≤ the frame's) for a gallery cell, with the full
    frame's statistics, in one pass. Complex data is first turned into its amplitude, phase,
    real or imaginary part (S5); RGB(A) uint8 frames keep their colours (per-channel maxima)."""
    raw = np.asarray(frame)
    if raw.ndim == 3 and raw.shape[2] in (3, 4) and raw.dtype == np.uint8:
        return _rgb_base(raw, valid, shape)
    a, v, vstep = _prepare(to_real(raw, complex_mode), valid)
    ny, nx = a.shape
    rows, cols = _edges_for((ny, nx), shape)
    out = np.empty((rows.size - 1, cols.size - 1), np.float32)
    shift = _row_shift(a, v, vstep, ny // 2) if ny else 0.0
    n, s, q, mn = _block_max_stats_kernel(a, v, vstep, rows, cols, out, np.empty(nx, np.float64), shift)
    if n == 0:
        stats = FrameStats(math.nan, math.nan, math.nan, math.nan, 0.0, 0)
    else:
        mean_d = s / n
        # The frame's maximum is the largest block maximum (exact: to_real hands out float32 or
        # 8/16-bit integers, which float32 holds exactly).
        stats = FrameStats(float(mn), float(np.nanmax(out)), shift + mean_d,
                           math.sqrt(max(q / n - mean_d * mean_d, 0.0)),
                           shift * n + s, int(n))
    masked = _masked_blocks(None if valid is None else v, rows, cols, out.shape)
    return ThumbnailBase(out, masked, stats, (ny, nx))


def thumbnail_index(base: ThumbnailBase, lo: float, hi: float, settings: DisplaySettings) -> np.ndarray:
    """Colour indices (uint8, layout of :mod:`owlx.core.colorindex`) of a downsampled frame
    with levels (lo, hi) in data units and the settings' norm, γ and clamp; RGB(A) thumbnails
    are returned as they are."""
    if base.is_rgb:
        return base.values
    return map_to_index(base.values, lo, hi, settings.norm, settings.gamma, settings.clamp)
