"""Display-resolution previews of big frames (spec/viewer.md, frame stepping at 4096²).

A 4096² frame shown zoomed out in a 1000-pixel view puts 16 data pixels on each screen pixel.
Painting all 16 M of them costs tens of ms per frame on the GUI thread, for nothing the eye can
see. The loader therefore also makes, on its worker, a preview reduced by an integer ``step``
(a power of two, chosen from the view size by :func:`preview_step`), and the view shows it
while zoomed out, and the full image once the user zooms in past it.

Like the gallery's thumbnails (:mod:`owlx.core.thumbnail`), a preview pixel is the **maximum**
of its block, so single bright pixels (a weak hit's photons, a hot pixel) stay visible. It is
taken over colour indices (:mod:`owlx.core.colorindex`), whose data range 0–253 is monotonic in
the value for every norm: the maximum index is the index of the maximum value, so the preview
equals "downsample, then map" without mapping twice. A block without data pixels takes 254
(out of range) when it has one, else 255 (not finite).

For a big frame shown zoomed out, the full-resolution index image need not exist at all:
:func:`value_preview` takes the block maximum of the frame's *values* (finite ones only) and
only that small image is mapped to colour indices. With clamp on the mapping is monotonic and
sends every finite value to a data index, so "maximum value, then map" equals "map, then
maximum index" exactly. (With clamp off, values outside the levels map to 254, below every
data index, so the block maximum of values is not enough; :func:`owlx.core.display.render`
then maps the full frame first.)

Conventions: images are row-major ``(ny, nx)``; block (i, j) covers rows ``i·step … i·step+step-1``
and columns alike, clipped at the edges, so the preview is ``ceil(ny/step) × ceil(nx/step)``.
Masks are boolean, True = valid; a preview pixel is valid when any pixel of its block is.
"""

from __future__ import annotations

import numba
import numpy as np

from ..errors import ParameterError


def preview_step(image_shape: tuple[int, int], view_pixels: tuple[int, int]) -> int:
    """The largest power of two ``step`` with at least ``step`` data pixels per screen pixel
    along both axes when the whole image (ny, nx) fits the view (height, width in device
    pixels); 1 when the image is not bigger than twice the view."""
    ny, nx = int(image_shape[0]), int(image_shape[1])
    h, w = max(int(view_pixels[0]), 1), max(int(view_pixels[1]), 1)
    # "fit" scales by the tighter axis: screen pixels per data pixel = min(h / ny, w / nx)
    density = max(ny / h, nx / w)
    step = 1
    while step * 2 <= density:
        step *= 2
    return step


def preview_shape(shape: tuple[int, int], step: int) -> tuple[int, int]:
    return (-(-int(shape[0]) // step), -(-int(shape[1]) // step))


@numba.njit(cache=True, nogil=True)
def _rank(v):
    """Colour index → rank whose maximum is the preview's choice: data 0…253 → 2…255 (above
    everything else), 254 (out of range) → 1, 255 (not finite) → 0. Branch-free uint8
    arithmetic, so the row loop below vectorises."""
    k = np.uint8(v + np.uint8(2))  # wraps: 254 → 0, 255 → 1
    return k ^ np.uint8(k < 2)  # swap them: 254 → 1, 255 → 0


@numba.njit(cache=True, nogil=True)
def _unrank(k):
    k = k ^ np.uint8(k < 2)
    return np.uint8(k - np.uint8(2))


@numba.njit(cache=True, nogil=True)
def _index_block_max(index, step, out):
    ny, nx = index.shape
    oh, ow = out.shape
    acc = np.empty(nx, np.uint8)  # per-column maximum rank over the rows of one block row
    for i in range(oh):
        acc[:] = 0
        for r in range(i * step, min(ny, i * step + step)):
            row = index[r]
            for c in range(nx):
                acc[c] = max(acc[c], _rank(row[c]))
        for j in range(ow):
            m = np.uint8(0)
            for c in range(j * step, min(nx, j * step + step)):
                m = max(m, acc[c])
            out[i, j] = _unrank(m)


@numba.njit(cache=True, nogil=True)
def _valid_block_any(valid, step, out):
    ny, nx = valid.shape
    oh, ow = out.shape
    acc = np.empty(nx, np.uint8)  # per column: any valid pixel in the rows of one block row
    for i in range(oh):
        acc[:] = 0
        for r in range(i * step, min(ny, i * step + step)):
            row = valid[r]
            for c in range(nx):
                acc[c] |= row[c]
        for j in range(ow):
            m = np.uint8(0)
            for c in range(j * step, min(nx, j * step + step)):
                m |= acc[c]
            out[i, j] = m != 0


def _check(a: np.ndarray, step: int, dtype, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.dtype != dtype:
        raise ParameterError(f"{what} must be a 2-D {np.dtype(dtype).name} image, not {a.dtype} {a.shape}")
    if int(step) < 1:
        raise ParameterError(f"the preview step must be ≥ 1, not {step}")
    return np.ascontiguousarray(a)


def index_preview(index: np.ndarray, step: int) -> np.ndarray:
    """Block maxima (uint8) of a colour-index image over ``step × step`` blocks (see module)."""
    index = _check(index, step, np.uint8, "a colour-index image")
    if step == 1:
        return index
    out = np.empty(preview_shape(index.shape, step), np.uint8)
    _index_block_max(index, int(step), out)
    return out


def valid_preview(valid: np.ndarray, step: int) -> np.ndarray:
    """Per block: True when any pixel of the block is valid (a block is shown masked only when
    all its pixels are)."""
    valid = _check(valid, step, np.bool_, "a validity mask")
    if step == 1:
        return valid
    out = np.empty(preview_shape(valid.shape, step), np.bool_)
    _valid_block_any(valid, int(step), out)
    return out


@numba.njit(cache=True, nogil=True)
def _float_block_max(frame, step, out):
    """Block maxima of the finite values; NaN for a block without one.

    Rows are folded first into a per-column maximum (contiguous, branch-free selects: it
    vectorises), then the columns of that row in ``step`` strided sweeps. ``x − x == 0`` holds
    exactly for finite x (it is NaN for NaN and ±inf).
    """
    ny, nx = frame.shape
    oh, ow = out.shape
    none = frame.dtype.type(-np.inf)
    zero = frame.dtype.type(0)
    acc = np.empty(nx, frame.dtype)  # per-column maximum over the rows of one block row
    m = np.empty(ow, frame.dtype)
    whole = nx // step  # blocks with all their columns
    for i in range(oh):
        acc[:] = none
        for r in range(i * step, min(ny, i * step + step)):
            for c in range(nx):
                x = frame[r, c]
                x = x if (x - x) == zero else none
                a = acc[c]
                acc[c] = x if x > a else a
        m[:] = none
        for s in range(step):
            for j in range(whole):
                x = acc[j * step + s]
                m[j] = x if x > m[j] else m[j]
        for c in range(whole * step, nx):
            x = acc[c]
            m[whole] = x if x > m[whole] else m[whole]
        for j in range(ow):
            out[i, j] = m[j] if m[j] > none else np.nan


@numba.njit(cache=True, nogil=True)
def _int_block_max(frame, step, out):
    ny, nx = frame.shape
    oh, ow = out.shape
    acc = np.empty(nx, frame.dtype)
    whole = nx // step
    for i in range(oh):
        r0 = i * step
        acc[:] = frame[r0]
        for r in range(r0 + 1, min(ny, r0 + step)):
            for c in range(nx):
                acc[c] = max(acc[c], frame[r, c])
        for j in range(whole):
            out[i, j] = acc[j * step]
        for s in range(1, step):
            for j in range(whole):
                out[i, j] = max(out[i, j], acc[j * step + s])
        if whole < ow:
            top = acc[whole * step]
            for c in range(whole * step + 1, nx):
                top = max(top, acc[c])
            out[i, whole] = top


def value_preview(frame: np.ndarray, step: int) -> np.ndarray:
    """Block maxima of a 2-D float32/float64 or 8/16-bit integer frame over ``step × step``
    blocks (see module), in the frame's dtype: NaN where a block has no finite value. Masked
    pixels count like any other, as in :func:`index_preview` (the mask is reduced separately by
    :func:`valid_preview`)."""
    a = np.asarray(frame)
    if a.ndim != 2 or not (a.dtype.kind in "iu" and a.dtype.itemsize <= 2 or a.dtype in (np.float32, np.float64)):
        raise ParameterError(f"value_preview needs a 2-D float or 8/16-bit integer frame, not {a.dtype} {a.shape}")
    if int(step) < 1:
        raise ParameterError(f"the preview step must be ≥ 1, not {step}")
    a = np.ascontiguousarray(a)
    if step == 1 or a.size == 0:
        return a
    out = np.empty(preview_shape(a.shape, step), a.dtype)
    (_float_block_max if a.dtype.kind == "f" else _int_block_max)(a, int(step), out)
    return out
