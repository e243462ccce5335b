"""EDF files and numbered EDF series as a :class:`~owlx.io.virtual.VirtualSource`
(spec/formats.md §3).

* A single file (possibly multi-frame) or a numbered series ``<prefix><digits><suffix>``
  (suffix ``.edf``, ``.edf.gz``, ``.edf.bz2``; :mod:`owlx.io.series`) is one stack at
  ``/entry_1/data_1/data``. Frames are read on demand, one block at a time
  (:mod:`owlx.io.edfblock`); blocks with in-file compression or an external data file are
  decoded by fabio.
* Opening a series reads the first file only (its headers give frame shape, dtype, frames per
  file and the header keys). Opening must stay fast for thousands of gzip files, so the other
  files' headers are read only when a per-frame header dataset
  (``/entry_1/data_1/header/<key>``) is first asked for. That scan applies the series rule
  "the first file with another frame shape, dtype or frame count ends the series": N can then
  shrink, with a warning. Reading a frame from such a file before the scan raises
  :class:`DatasetError`.
* ``/entry_1/data_1/file_number`` holds the number of the file of each frame (series only).
* Numeric header values become per-frame scalars (NaN where a file lacks the key).
"""

from __future__ import annotations

import os
import threading
import zlib
from typing import Sequence

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io import edfblock
from owlx.io.edfblock import EdfHeaderError
from owlx.io.series import EDF_SUFFIXES, SeriesSource
from owlx.io.source import Kind, Stack
from owlx.io.virtual import DATA_GROUP, DATA_PATH

_OPEN_ERRORS = (OSError, EOFError, zlib.error, EdfHeaderError)


class EdfStack(Stack):
    """Frames of an EDF file or series: frame i is frame ``i % frames_per_file`` of file
    ``i // frames_per_file``."""

    def __init__(self, source: "EdfSource", shape: tuple[int, int, int], dtype: np.dtype):
        self._source = source
        self.path = DATA_PATH
        self.shape = shape
        self.dtype = dtype

    def _read(self, i: int) -> np.ndarray:
        return self._source._read_frame(i)


class EdfSource(SeriesSource):
    """One EDF file, or a numbered series (``series=True`` finds the other files in the folder)."""

    format = "edf"

    def __init__(self, path: str | Sequence[str], *, series: bool = True):
        super().__init__(path, EDF_SUFFIXES, series=series)
        self._scanned = False
        self._scan_lock = threading.Lock()

        first = self.files[0]
        try:
            blocks = edfblock.read_blocks(first, self.warnings)
        except _OPEN_ERRORS as err:
            raise FileFormatError(f"cannot open '{os.path.basename(first)}': broken EDF file ({err})") from err
        shape2d = blocks[0].shape[-2:]
        for k, block in enumerate(blocks):
            if block.shape[-2:] != shape2d or block.dtype != blocks[0].dtype or len(block.shape) != 2:
                if len(block.shape) == 3:
                    raise FileFormatError(
                        f"cannot open '{os.path.basename(first)}': frame {k} is a 3-D block (Dim_3); "
                        "owlx reads 2-D EDF frames only"
                    )
                self.warnings.append(f"'{os.path.basename(first)}': frames from {k} on differ in shape or type; ignored")
                blocks = blocks[:k]
                break
        self._blocks = {first: blocks}
        self.frames_per_file = len(blocks)
        self.frame_dtype = blocks[0].dtype.newbyteorder("=")
        self._start_at_opened_file()

        n = len(self.files) * self.frames_per_file
        self._edf_stack = EdfStack(self, (n, int(shape2d[0]), int(shape2d[1])), self.frame_dtype)
        per_frame = {}
        if self.numbered:
            per_frame[DATA_GROUP + "/file_number"] = (self._file_numbers, np.dtype(np.int64))
        for key in edfblock.numeric_items(blocks[0].header):
            safe = key.replace("/", "_")
            per_frame[f"{DATA_GROUP}/header/{safe}"] = (lambda k=key: self._header_values(k), np.dtype(np.float64))
        root_attrs = {
            "format": "EDF",
            "files": len(self.files),
            "frames_per_file": self.frames_per_file,
            "first_file": os.path.basename(first),
        }
        self._build(self._edf_stack, root_attrs=root_attrs, data_attrs=dict(blocks[0].header), per_frame=per_frame)

    # -- frames -----------------------------------------------------------------------------
    def _read_frame(self, i: int) -> np.ndarray:
        file_index, j = divmod(i, self.frames_per_file)
        path = self.files[file_index]
        name = os.path.basename(path)
        known = self._blocks.get(path)
        try:
            data, block = edfblock.read_frame(path, j, known[j] if known else None)
            if data is None:
                data = self._read_with_fabio(path, j)
        except _OPEN_ERRORS as err:
            raise DatasetError(f"cannot read frame {i} from '{name}': {err}") from err
        if data.shape != self._edf_stack.frame_shape or data.dtype != self.frame_dtype:
            raise DatasetError(
                f"frame {i} comes from '{name}', whose frames are {data.shape} {data.dtype.name}, unlike the "
                f"series' {self._edf_stack.frame_shape} {self.frame_dtype.name}; the series ends before this file"
            )
        return data

    def _read_with_fabio(self, path: str, j: int) -> np.ndarray:
        """Blocks with in-file compression or an external binary file."""
        import fabio  # imported on demand: slow to import and rarely needed

        try:
            with fabio.open(path) as image:
                frame = image if j == 0 else image.getframe(j)
                return np.array(frame.data, dtype=self.frame_dtype)
        except Exception as err:  # noqa: BLE001 - fabio raises KeyError, OSError, ValueError...
            raise OSError(f"fabio could not decode it ({type(err).__name__}: {err})") from err

    # -- per-frame values -------------------------------------------------------------------
    def _header_values(self, key: str) -> np.ndarray:
        self.scan_headers()
        values = np.full(len(self._edf_stack), np.nan)
        for f, path in enumerate(self.files):
            for j, block in enumerate(self._blocks.get(path, [])):
                text = block.header.get(key)
                if text is None:
                    continue
                try:
                    values[f * self.frames_per_file + j] = float(text)
                except ValueError:
                    pass
        return values

    def scan_headers(self) -> None:
        """Read the headers of every file of the series (once). The first file whose frames
        differ in shape, dtype or count from the first file's ends the series (warning)."""
        with self._scan_lock:  # a worker thread and the GUI may ask for header values at once
            if not self._scanned:
                self._scan()
                self._scanned = True

    def _scan(self) -> None:
        ref = self._blocks[self.files[0]]
        for f, path in enumerate(self.files[1:], start=1):
            name = os.path.basename(path)
            try:
                if self.frames_per_file == 1:
                    blocks = [edfblock.read_first_block(path)]
                else:
                    blocks = edfblock.read_blocks(path)
            except _OPEN_ERRORS as err:
                self._end_series(f, f"'{name}' has a broken header ({err})")
                return
            if len(blocks) != self.frames_per_file or any(
                b.shape != ref[0].shape or b.dtype != ref[0].dtype for b in blocks
            ):
                b = blocks[0]
                self._end_series(
                    f, f"'{name}' holds {len(blocks)} frame(s) of {b.shape} {b.dtype.name}, unlike the first file"
                )
                return
            self._blocks[path] = blocks

    def _end_series(self, f: int, why: str) -> None:
        self.warnings.append(f"the series ends before file {f + 1} of {len(self.files)}: {why}")
        self.files = self.files[:f]
        self.numbers = self.numbers[:f]
        n = f * self.frames_per_file
        self._edf_stack.shape = (n, *self._edf_stack.shape[1:])
        self.frame_count = n
        data = self._nodes[DATA_PATH]
        data.shape = (n, *data.shape[-2:]) if n > 1 else tuple(data.shape[-2:])
        data.kind, data.frame_axis = (Kind.STACK, 0) if n > 1 else (Kind.IMAGE, None)
        for path in self._loaders:
            self._nodes[path].shape = (n,)
        self._cache.clear()
