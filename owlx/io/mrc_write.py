"""Writing image stacks to MRC2014 files (mrcfile, memory-mapped), slice by slice.

Used by the FIB-SEM registration (spec/fibsem.md §9): the file is created with its final shape
``(nz, ny, nx)`` and dtype, then every slice is written as it is produced, in any order, so
that a stack larger than memory can be written by workers finishing out of order.

* Modes: uint8 → 0 (stored unsigned, the IMOD/Fiji convention; a header label says so and
  reading it back needs ``mode0_unsigned``), int16 → 1, float32 → 2, uint16 → 6.
* ``voxel_size`` is (x, y, z) in **Å**. ``labels`` (≤ 10, 80 characters each) go to the header.
"""

from __future__ import annotations

import os

import numpy as np

from owlx.errors import DatasetError, FileFormatError

MODES = {np.dtype(np.uint8): 0, np.dtype(np.int16): 1, np.dtype(np.float32): 2, np.dtype(np.uint16): 6}
UNSIGNED_MODE0_LABEL = "owlx: mode 0 holds unsigned bytes (0-255)"


class MrcStackWriter:
    """A new MRC file of ``shape`` (nz, ny, nx) and ``dtype``, written slice by slice.

    Use as a context manager; :meth:`write` stores slice ``z``; :meth:`close` updates the
    header statistics (min, max, mean, rms over all slices) and flushes.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int], dtype=np.int16,
                 voxel_size: tuple[float, float, float] = (0.0, 0.0, 0.0), labels: tuple[str, ...] = (),
                 overwrite: bool = True):
        import mrcfile  # imported here: only MRC writers pay for it

        self.path = os.fspath(path)
        self.dtype = np.dtype(dtype)
        if self.dtype not in MODES:
            raise DatasetError(f"MRC output supports uint8, int16, uint16 and float32, not {self.dtype}")
        nz, ny, nx = (int(s) for s in shape)
        if min(nz, ny, nx) < 1:
            raise DatasetError(f"cannot write an MRC stack of shape {shape}")
        self.shape = (nz, ny, nx)
        try:
            self._mrc = mrcfile.new_mmap(self.path, shape=self.shape, mrc_mode=MODES[self.dtype],
                                         overwrite=overwrite)
        except (OSError, ValueError) as err:
            raise FileFormatError(f"cannot write '{os.path.basename(self.path)}': {err}") from err
        self._mrc.voxel_size = tuple(float(v) for v in voxel_size)
        texts = list(labels) + ([UNSIGNED_MODE0_LABEL] if self.dtype == np.uint8 else [])
        for text in texts[:10]:
            self._mrc.add_label(str(text)[:80])
        self._written = np.zeros(nz, dtype=bool)

    @property
    def data(self) -> np.ndarray:
        """The memory-mapped (nz, ny, nx) array (uint8 view for mode 0)."""
        data = self._mrc.data
        return data.view(np.uint8) if self.dtype == np.uint8 else data

    def write(self, z: int, image: np.ndarray) -> None:
        """Store slice ``z`` (cast to the file's dtype; values must already fit)."""
        image = np.asarray(image)
        if image.shape != self.shape[1:]:
            raise DatasetError(f"slice of shape {image.shape} does not fit the MRC stack {self.shape}")
        self.data[int(z)] = image.astype(self.dtype, copy=False)
        self._written[int(z)] = True

    @property
    def complete(self) -> bool:
        """True when every slice was written."""
        return bool(self._written.all())

    def close(self) -> None:
        if self._mrc is None:
            return
        if self._written.any():
            self._mrc.update_header_stats()
        self._mrc.flush()
        self._mrc.close()
        self._mrc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
