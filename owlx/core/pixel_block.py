"""The block of pixels around a position, for the pixel peeper (spec/viewer.md P3).

Conventions: images are ``(ny, nx)``; the position is (x, y) = (column, row); the block is
``size × size`` with the position at its centre (``size`` odd), rows and columns in image order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

MIN_SIZE, MAX_SIZE = 3, 11


@dataclass
class PixelBlock:
    """``values`` (size, size) in the image's dtype (0 outside the image), ``inside`` True where
    the cell lies on the image, ``valid`` True where the pixel is valid (unmasked) and inside,
    ``x0``/``y0`` the column/row of cell (0, 0)."""

    values: np.ndarray
    inside: np.ndarray
    valid: np.ndarray
    x0: int
    y0: int


def check_block_size(size: int) -> int:
    size = int(size)
    if size % 2 == 0 or not MIN_SIZE <= size <= MAX_SIZE:
        raise ParameterError(f"the pixel peeper block must be an odd size {MIN_SIZE}–{MAX_SIZE}, not {size}")
    return size


def pixel_block(image: np.ndarray, x: int, y: int, size: int = 5, valid: np.ndarray | None = None) -> PixelBlock:
    """The ``size × size`` block centred on column ``x``, row ``y`` of ``image`` (2-D; an RGB
    image (ny, nx, c) gives (size, size, c) values). ``valid``: bool mask, True = valid."""
    size = check_block_size(size)
    image = np.asarray(image)
    ny, nx = image.shape[:2]
    half = size // 2
    x0, y0 = int(x) - half, int(y) - half
    values = np.zeros((size, size) + image.shape[2:], image.dtype)
    inside = np.zeros((size, size), bool)
    r0, r1 = max(y0, 0), min(y0 + size, ny)
    c0, c1 = max(x0, 0), min(x0 + size, nx)
    if r0 < r1 and c0 < c1:
        values[r0 - y0:r1 - y0, c0 - x0:c1 - x0] = image[r0:r1, c0:c1]
        inside[r0 - y0:r1 - y0, c0 - x0:c1 - x0] = True
    ok = inside.copy()
    if valid is not None and r0 < r1 and c0 < c1:
        ok[r0 - y0:r1 - y0, c0 - x0:c1 - x0] &= np.asarray(valid, bool)[r0:r1, c0:c1]
    return PixelBlock(values, inside, ok, x0, y0)
