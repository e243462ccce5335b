"""Streaming an aligned image stack to disk, frame by frame (HDF5/CXI or multi-page TIFF).

Used by the peaks plugin's stack alignment (spec/peaks.md §7): each aligned frame is written as
soon as it is computed, so memory holds O(1) frames whatever the stack length.

Files are written under a temporary name ``<path>.part`` in the destination folder and renamed
to ``path`` by :meth:`AlignedStackWriter.finish` (``os.replace``: atomic on one file system). A
cancelled or failed run calls :meth:`AlignedStackWriter.abort` (also done when a ``with`` block
is left by an exception), which deletes the partial files: no half-written file ever carries
the final name, and an existing file of that name is replaced only by a complete one.

HDF5 layout (one new file; group ``group``, default ``/aligned``):
``data`` (n, rows, cols) float32, one chunk per frame, ``axes = [b"experiment_identifier:y:x"]``
(a CXI-style stack owlx opens like any other); ``frames`` int64 (source frame indices);
``shifts`` (n, 2) float64 (row, col) px, applied as ``aligned(u) = frame(u − shift)``;
``quality`` float64 (peak NCC); attributes ``reference_frame``, ``source``, ``settings``
(JSON), ``owlx_version``, ``notes``.

TIFF: ``<name>.tif`` (float32 pages in stack order) and ``<name>_shifts.csv``
(``frame,shift_row,shift_col,quality``), both renamed into place at the end: the CSV first and the
stack last (the CSV is removed again if the stack's rename fails), so a stack under the final name
always has its own shifts table beside it.

Given ``inputs`` (the files the frames are read from), the constructor refuses an output that is
one of them (:func:`owlx.io.output_paths.refuse_input_as_output`): the final rename would replace
the open data file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io.output_paths import refuse_input_as_output

__all__ = ["PART_SUFFIX", "AlignedStackWriter"]

PART_SUFFIX = ".part"
CXI_AXES = np.array([b"experiment_identifier:y:x"])


def _fmt_of(path: Path, fmt: str | None) -> str:
    fmt = fmt or ("tiff" if path.suffix.lower() in (".tif", ".tiff") else "hdf5")
    if fmt not in ("hdf5", "tiff"):
        raise FileFormatError(f"an aligned stack is written as 'hdf5' or 'tiff', not {fmt!r}")
    return fmt


class AlignedStackWriter:
    """A new aligned-stack file of ``n`` frames of ``frame_shape`` (rows, cols); see the module doc.

    Frames may arrive in any order for HDF5, in stack order for TIFF (``k`` = 0, 1, …). Use as
    a context manager: :meth:`finish` publishes the file, leaving the block without it (or by an
    exception) deletes the partial files. ``inputs`` (a path or list of paths, e.g. the open data
    file) are the files the frames come from: an output naming one of them raises
    :class:`~owlx.errors.ParameterError` before anything is created.
    """

    def __init__(self, path, n: int, frame_shape: tuple[int, int], fmt: str | None = None, group: str = "/aligned",
                 inputs=None):
        refuse_input_as_output(path, inputs)
        self.path = Path(path).resolve()
        self.fmt = _fmt_of(self.path, fmt)
        self.n = int(n)
        self.frame_shape = tuple(int(s) for s in frame_shape)
        if self.n < 1 or len(self.frame_shape) != 2 or min(self.frame_shape) < 1:
            raise DatasetError(f"cannot write an aligned stack of {n} frames of shape {frame_shape}")
        self.group = group
        self.shifts = np.full((self.n, 2), np.nan)
        self.quality = np.full(self.n, np.nan)
        self._written = np.zeros(self.n, dtype=bool)
        self._next = 0  # TIFF pages are sequential
        self._done = False
        self.csv_path = self.path.with_name(self.path.stem + "_shifts.csv") if self.fmt == "tiff" else None
        refuse_input_as_output(self.csv_path, inputs)  # the shifts table replaces its name too
        self._tmp = self._part(self.path)
        try:
            if self.fmt == "hdf5":
                import h5py

                self._file = h5py.File(self._tmp, "w")
                g = self._file.create_group(group)
                self._data = g.create_dataset("data", shape=(self.n, *self.frame_shape), dtype=np.float32,
                                              chunks=(1, *self.frame_shape))
                self._data.attrs["axes"] = CXI_AXES
            else:
                import tifffile

                self._file = tifffile.TiffWriter(self._tmp, bigtiff=self.n * np.prod(self.frame_shape) * 4 > 2**31)
        except (OSError, ValueError) as err:
            self._remove(self._tmp)
            raise FileFormatError(f"cannot write '{self.path}': {err}; choose a writable folder") from err

    @staticmethod
    def _part(path: Path) -> Path:
        return path.with_name(path.name + PART_SUFFIX)

    @staticmethod
    def _remove(path: Path) -> None:
        """Delete a partial file if it is there. Cleanup runs while another error is being
        reported (read-only folder, full disk…): its own OSError must not replace that one."""
        with contextlib.suppress(OSError):
            path.unlink()

    def write(self, k: int, image: np.ndarray, shift=(np.nan, np.nan), quality: float = np.nan) -> None:
        """Store aligned frame ``k`` (cast to float32) with its (row, col) shift and peak NCC."""
        image = np.asarray(image)
        if image.shape != self.frame_shape:
            raise DatasetError(f"frame of shape {image.shape} does not fit the aligned stack {self.frame_shape}")
        k = int(k)
        if not 0 <= k < self.n:  # k = -1 would silently mark the last frame as written
            raise DatasetError(f"frame {k} is outside the aligned stack of {self.n} frames (0 … {self.n - 1})")
        if self.fmt == "tiff":
            if k != self._next:
                raise DatasetError(f"TIFF pages are written in order: expected frame {self._next}, got {k}")
            self._file.write(image.astype(np.float32, copy=False), contiguous=True, photometric="minisblack")
            self._next += 1
        else:
            self._data[k] = image.astype(np.float32, copy=False)
        self.shifts[k] = shift
        self.quality[k] = quality
        self._written[k] = True

    @property
    def complete(self) -> bool:
        """True when every frame was written."""
        return bool(self._written.all())

    def finish(self, frames, reference: int, source: str = "", settings: dict | None = None) -> list[Path]:
        """Write the per-frame table and attributes, close and rename into place; returns the
        files written (HDF5: one; TIFF: the stack and its shifts CSV)."""
        if not self.complete:
            missing = int((~self._written).sum())
            self.abort()
            raise DatasetError(f"{missing} of {self.n} aligned frames were never written; nothing was saved")
        frames = np.asarray(frames, dtype=np.int64)
        try:
            if self.fmt == "hdf5":
                from owlx import __version__

                g = self._file[self.group]
                g["frames"] = frames
                g["shifts"] = self.shifts
                g["quality"] = self.quality
                g.attrs.update(reference_frame=int(reference), source=str(source),
                               settings=json.dumps(settings or {}), owlx_version=__version__,
                               notes="aligned(u) = frame(u - shift), shifts (row, col) px")
                self._file.close()
                os.replace(self._tmp, self.path)
                written = [self.path]
            else:
                self._file.close()
                csv_tmp = self._part(self.csv_path)
                lines = ["frame,shift_row,shift_col,quality"]
                lines += [f"{int(f)},{s[0]!r},{s[1]!r},{q!r}" for f, s, q in
                          zip(frames, self.shifts.tolist(), self.quality.tolist())]
                csv_tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
                # the table first, the stack last: a stack under the final name always has its
                # shifts beside it. If the stack's rename fails, the new table is removed again so
                # it cannot pass for the table of an older stack of that name.
                os.replace(csv_tmp, self.csv_path)
                try:
                    os.replace(self._tmp, self.path)
                except OSError:
                    self._remove(self.csv_path)
                    raise
                written = [self.path, self.csv_path]
        except OSError as err:
            self.abort()
            raise FileFormatError(f"cannot write '{self.path.name}': {err}") from err
        self._done = True
        return written

    def abort(self) -> None:
        """Close and delete the partial files (the final name is left as it was)."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):  # closing a broken handle must not hide the original error
            self._file.close()
        self._remove(self._tmp)
        if self.csv_path is not None:
            self._remove(self._part(self.csv_path))

    def __enter__(self) -> AlignedStackWriter:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()  # a no-op after finish()
