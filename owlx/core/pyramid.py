"""Masked block-mean downsampling for the coarse-to-fine searches of spec/peaks.md §13.

A coarse pixel is the mean of the valid pixels of an f × f block (0 when it has none) and is
valid when at least half of its block is. Blocks tile the input exactly (trailing rows and
columns that do not fill a block are dropped), so a point reflection or shift of the coarse
image is the same operation on the fine one: coarse pixel k covers fine pixels k·f … k·f + f − 1,
whose centre is at k·f + (f − 1)/2.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from owlx.errors import ParameterError

from .row_split import split_rows

__all__ = ["block_mean", "coarse_factor"]


@njit(cache=True, nogil=True)
def _block_mean(image, mask, f, out, valid, r0, r1):  # pragma: no cover - numba
    """Coarse rows r0 … r1 − 1 into ``out`` and ``valid``."""
    nc = out.shape[1]
    half = 0.5 * f * f
    for i in range(r0, r1):
        for j in range(nc):
            s = 0.0
            n = 0
            for a in range(i * f, i * f + f):
                for b in range(j * f, j * f + f):
                    if mask[a, b]:
                        s += image[a, b]
                        n += 1
            if n > 0:
                out[i, j] = s / n
            valid[i, j] = n >= half


def block_mean(image, mask=None, factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(coarse image float64, coarse validity mask) of ``image`` in f × f blocks (True = valid).

    With f = 1 the inputs themselves are returned (read-only use)."""
    f = int(factor)
    if f < 1:
        raise ParameterError(f"a downsampling factor must be an integer ≥ 1, got {factor!r}")
    image = np.asarray(image)
    m = np.ones(image.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if f == 1:
        return image, m  # no copy: callers only read
    nr, nc = image.shape[0] // f, image.shape[1] // f
    out, valid = np.zeros((nr, nc)), np.zeros((nr, nc), dtype=bool)
    split_rows(_block_mean, nr, np.ascontiguousarray(image, dtype=np.float64), np.ascontiguousarray(m), f, out, valid,
               work=image.size)
    return out, valid


def coarse_factor(side: int, target: int = 512) -> int:
    """The smallest power of two f with side / f ≤ target (1 when side ≤ target)."""
    f = 1
    while side / f > target:
        f *= 2
    return f
