"""Writing what ``owlx results`` exports: ``results.h5``, ``results.csv`` and ``selection.h5``.

* ``results.h5``: one 1-D dataset per key at the root, in the order and with the names of
  scripts/results.py (formats.md §2.8), so downstream scripts read it unchanged; ``id`` is
  fixed-length bytes. Model-derived keys carry a ``units`` attribute; the root carries
  ``owlx_version`` and ``source_files`` (fixed-length bytes, as every owlx string attribute).
* ``results.csv``: the same rows with two leading columns, ``file`` (the input file's name) and
  ``frame`` (its frame index), so every row can be traced back; ``id`` decoded as UTF-8, floats
  with full precision (``nan`` for missing values).
* ``selection.h5``: the selected frames as a CXI-style stack ``/data/data`` (``axes =
  [b"experiment_identifier:y:x"]``, one gzip chunk per frame) with their raw mask bits in
  ``/data/mask`` when an input has a mask, and the per-frame values at the root (the results
  keys plus ``frame`` and ``file_index`` into the ``source_files`` attribute). owlx opens it like
  any CXI file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import h5py
import numpy as np

__all__ = ["UNITS", "SelectionWriter", "write_results_csv", "write_results_h5"]

#: units attribute of the keys owlx derives (the others are copied as stored)
UNITS = {"diameter": "nm", "intensity": "mJ/um^2", "centerx": "mrad", "centery": "mrad"}


def _bytes_array(texts: Sequence[str]) -> np.ndarray:
    encoded = [str(t).encode("utf-8") for t in texts]
    width = max([len(e) for e in encoded] + [1])
    return np.array(encoded, dtype=f"S{width}")


def _root_attrs(f: h5py.File, source_files: Sequence[str]) -> None:
    from owlx import __version__

    f.attrs["owlx_version"] = np.bytes_(__version__.encode())
    f.attrs["source_files"] = _bytes_array(source_files)


def _write_columns(group: h5py.Group, table: dict[str, np.ndarray]) -> None:
    for key, values in table.items():
        values = np.asarray(values)
        if values.dtype.kind == "S" and values.dtype.itemsize == 0:
            values = values.astype("S1")
        ds = group.create_dataset(key, data=values)
        if key in UNITS:
            ds.attrs["units"] = np.bytes_(UNITS[key].encode())


def write_results_h5(path: str | os.PathLike, table: dict[str, np.ndarray], source_files: Sequence[str]) -> str:
    """Write ``table`` (key -> 1-D array, all the same length) to ``path`` (overwritten)."""
    path = os.fspath(path)
    with h5py.File(path, "w") as f:
        _write_columns(f, table)
        _root_attrs(f, source_files)
    return path


def write_results_csv(path: str | os.PathLike, table: dict[str, np.ndarray], files: Sequence[str],
                      frames: np.ndarray) -> str:
    """Write the rows of ``table`` with leading ``file`` and ``frame`` columns to ``path``."""
    path = os.fspath(path)
    keys = list(table)
    cols = [np.asarray(table[k]) for k in keys]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "frame", *keys])
        for i in range(len(frames)):
            writer.writerow([files[i], int(frames[i]), *(_cell(col[i]) for col in cols)])
    return path


def _cell(value) -> object:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (np.integer, int, np.bool_, bool)):
        return int(value)
    return repr(float(value))


class SelectionWriter:
    """``selection.h5`` with room for ``n`` frames of ``frame_shape``; fill with :meth:`write`,
    then :meth:`finish` with the per-frame table. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, n: int, frame_shape: tuple[int, int], dtype,
                 mask_dtype=None):
        self.path = os.fspath(path)
        self.n = int(n)
        self._file = h5py.File(self.path, "w")
        store = {"chunks": (1, *frame_shape), "compression": "gzip", "compression_opts": 1, "shuffle": True} \
            if self.n else {}
        self.data = self._file.create_dataset("data/data", shape=(self.n, *frame_shape), dtype=dtype, **store)
        self.data.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        self.mask = None
        if mask_dtype is not None:
            self.mask = self._file.create_dataset("data/mask", shape=(self.n, *frame_shape), dtype=mask_dtype,
                                                  fillvalue=0, **store)
            self.mask.attrs["axes"] = np.array([b"experiment_identifier:y:x"])

    def write(self, k: int, image: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Store one frame (and its raw mask bits; a boolean mask becomes bit 0x1 = invalid)."""
        self.data[k] = image
        if self.mask is not None and mask is not None:
            self.mask[k] = np.asarray(mask).astype(self.mask.dtype)

    def finish(self, table: dict[str, np.ndarray], frames: np.ndarray, file_index: np.ndarray,
               source_files: Sequence[str]) -> str:
        """Write the per-frame values and attributes, flush and close; returns the path."""
        try:
            _write_columns(self._file, table)
            self._file.create_dataset("frame", data=np.asarray(frames, dtype=np.int64))
            self._file.create_dataset("file_index", data=np.asarray(file_index, dtype=np.int64))
            _root_attrs(self._file, source_files)
        finally:
            self.close()
        return self.path

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self) -> SelectionWriter:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
