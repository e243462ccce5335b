"""Writing image stacks to MRC2014 files (mrcfile, memory-mapped), slice by slice.

Used by the FIB-SEM registration (spec/fibsem.md §9): the file is created with its final shape
``(nz, ny, nx)`` and dtype, then every slice is written as it is produced, in any order, so
that a stack larger than memory can be written by workers finishing out of order.

* The file is written as ``<name>.part`` with its blocks allocated up front (a full disk is an
  error at the start, not a crash of the memory map half-way) and renamed to its name only when
  the writer is closed normally: a cancel or an error leaves the previous file of that name (if
  any) as it was, and no partial stack under the final name.
* The header statistics (min, max, mean, rms) are accumulated per slice as slices are written
  (float64), not recomputed from the whole mapped stack at the end.
* Modes: uint8 → 0 (stored unsigned, the IMOD/Fiji convention; a header label says so and
  reading it back needs ``mode0_unsigned``), int16 → 1, float32 → 2, uint16 → 6.
* ``voxel_size`` is (x, y, z) in **Å**. ``labels`` (≤ 10, 80 characters each) go to the header.
"""

from __future__ import annotations

import contextlib
import errno
import os

import numpy as np

from owlx.errors import DatasetError, FileFormatError

MODES = {np.dtype(np.uint8): 0, np.dtype(np.int16): 1, np.dtype(np.float32): 2, np.dtype(np.uint16): 6}
UNSIGNED_MODE0_LABEL = "owlx: mode 0 holds unsigned bytes (0-255)"


PART_SUFFIX = ".part"


class MrcStackWriter:
    """A new MRC file of ``shape`` (nz, ny, nx) and ``dtype``, written slice by slice.

    Use as a context manager; :meth:`write` stores slice ``z``; :meth:`close` sets the header
    statistics (min, max, mean, rms over the written slices), flushes and renames the file into
    place; leaving the ``with`` block by an exception (or :meth:`abort`) deletes it instead.
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
        name = os.path.basename(self.path)
        if not overwrite and os.path.exists(self.path):
            raise FileFormatError(f"cannot write '{name}': the file exists")
        self.shape = (nz, ny, nx)
        self._part = self.path + PART_SUFFIX
        self._mrc = None
        try:
            self._mrc = mrcfile.new_mmap(self._part, shape=self.shape, mrc_mode=MODES[self.dtype], overwrite=True)
            self._allocate()
        except (OSError, ValueError) as err:
            self.abort()
            raise FileFormatError(f"cannot write '{name}': {err}") from err
        self._mrc.voxel_size = tuple(float(v) for v in voxel_size)
        texts = list(labels) + ([UNSIGNED_MODE0_LABEL] if self.dtype == np.uint8 else [])
        for text in texts[:10]:
            self._mrc.add_label(str(text)[:80])
        self._written = np.zeros(nz, dtype=bool)
        # per slice: min, max, sum, sum of squares (float64), for the header at the end
        self._stats = np.zeros((nz, 4))

    def _allocate(self) -> None:
        """Reserve the disk blocks of the (sparse) file now: writing into a hole of a memory map
        on a full disk kills the process (SIGBUS) instead of raising."""
        if not hasattr(os, "posix_fallocate"):
            return
        size = os.path.getsize(self._part)
        fd = os.open(self._part, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(err.errno, f"not enough disk space for {size / 1e9:.2f} GB") from err
            # file systems without fallocate (EOPNOTSUPP, EINVAL): write as before
        finally:
            os.close(fd)

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
        z = int(z)
        if not 0 <= z < self.shape[0]:
            raise DatasetError(f"slice {z} is outside the MRC stack of {self.shape[0]} slices")
        stored = image.astype(self.dtype, copy=False)
        self.data[z] = stored
        values = stored.astype(np.float64).ravel()
        self._stats[z] = (values.min(), values.max(), values.sum(), values @ values)
        self._written[z] = True

    @property
    def complete(self) -> bool:
        """True when every slice was written."""
        return bool(self._written.all())

    def _set_header_stats(self) -> None:
        st = self._stats[self._written]
        n = float(st.shape[0] * self.shape[1] * self.shape[2])
        mean = st[:, 2].sum() / n
        header = self._mrc.header
        header.dmin, header.dmax, header.dmean = st[:, 0].min(), st[:, 1].max(), mean
        header.rms = np.sqrt(max(st[:, 3].sum() / n - mean * mean, 0.0))  # as mrcfile: the standard deviation

    def close(self) -> None:
        """Finish the file: header statistics, flush, rename into place."""
        if self._mrc is None:
            return
        try:
            if self._written.any():
                self._set_header_stats()
            self._mrc.flush()
            self._mrc.close()
            self._mrc = None
            os.replace(self._part, self.path)
        except OSError as err:
            self.abort()
            raise FileFormatError(f"cannot write '{os.path.basename(self.path)}': {err}") from err

    def abort(self) -> None:
        """Close and delete the partial file; a file of the final name stays as it was."""
        if self._mrc is not None:
            with contextlib.suppress(Exception):
                self._mrc.close()
            self._mrc = None
        with contextlib.suppress(OSError):
            os.remove(self._part)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
