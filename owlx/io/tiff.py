"""TIFF files (plain, multi-page, ImageJ hyperstack, OME, BigTIFF) and numbered TIFF series via
tifffile (spec/formats.md §5).

* The first series (``TiffFile.series[0]``) is the stack. The frame index runs over every axis
  except Y, X and S (samples), in C order; :meth:`TiffStack.axis_indices` gives the index along
  each of them (e.g. ``{"T": 1, "Z": 0, "C": 2}``) for the info panel.
* Frames are read page by page. A series whose pages tifffile does not list one by one
  (ImageJ files over 4 GB) is memory-mapped when its data are contiguous.
* float64 stays float64 (the display converts); RGB(A) frames are ``(ny, nx, 3 or 4)``.
* Compressed pages need the codec: when ``imagecodecs`` lacks one, opening adds a warning and
  reading a frame raises :class:`DatasetError` naming the codec and the package to install.
* Numbered series (``img_0001.tif``, …) follow the EDF series rules (:mod:`owlx.io.series`); every
  file must hold the first file's frames. A file that does not is reported when one of its
  frames is read (files are not opened ahead, so that opening a long series stays fast).
"""

from __future__ import annotations

import math
import os
import threading
from typing import Sequence

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io.series import TIFF_SUFFIXES, find_series, series_from_paths, split_name
from owlx.io.source import Stack
from owlx.io.virtual import DATA_GROUP, DATA_PATH, VirtualSource

_FRAME_AXES = ("Y", "X", "S")


class _Layout:
    """How frames sit in one file's first series."""

    def __init__(self, series, name: str):
        self.axes = series.axes
        self.shape = tuple(int(s) for s in series.shape)
        self.dtype = np.dtype(series.dtype)
        if "Y" not in self.axes or "X" not in self.axes:
            raise FileFormatError(f"cannot open '{name}': its first TIFF series (axes {self.axes}) has no Y and X axes")
        self.index_axes = [a for a in self.axes if a not in _FRAME_AXES]
        self.index_shape = tuple(self.shape[self.axes.index(a)] for a in self.index_axes)
        self.frame_shape = tuple(self.shape[self.axes.index(a)] for a in _FRAME_AXES if a in self.axes)
        key = series.keyframe
        self.page_axes = key.axes
        self.page_shape = tuple(int(s) for s in key.shape)
        self.frames_per_page = math.prod(
            s for a, s in zip(self.page_axes, self.page_shape) if a not in _FRAME_AXES
        )
        self.n = math.prod(self.index_shape)

    def matches(self, other: "_Layout") -> bool:
        return (self.shape, self.dtype, self.axes) == (other.shape, other.dtype, other.axes)

    def to_frame(self, array: np.ndarray, axes: str) -> np.ndarray:
        """Reorder an array with ``axes`` (frame axes included, index axes already chosen) to
        (Y, X[, S]) and drop a single sample."""
        order = [axes.index(a) for a in _FRAME_AXES if a in axes]
        frame = np.transpose(array, order) if order != sorted(order) else array
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        return np.ascontiguousarray(frame)


class TiffStack(Stack):
    """Frames of a TIFF file or series: 2-D ``(ny, nx)``, or ``(ny, nx, S)`` for RGB(A)
    (``samples`` = S), in the file's dtype (float64 included)."""

    def __init__(self, source: "TiffSource", layout: _Layout, n: int):
        self._source = source
        self._layout = layout
        self.path = DATA_PATH
        self.shape = (n, int(layout.frame_shape[0]), int(layout.frame_shape[1]))
        self.dtype = layout.dtype
        self.samples = int(layout.frame_shape[2]) if len(layout.frame_shape) == 3 and layout.frame_shape[2] > 1 else 1

    @property
    def nbytes_per_frame(self) -> int:
        return super().nbytes_per_frame * self.samples

    def axis_indices(self, i: int) -> dict[str, int]:
        """Index along every non-image axis of the file (C order), plus ``file`` for series."""
        per_file = self._layout.n
        file_index, k = divmod(int(i), per_file)
        idx = np.unravel_index(k, self._layout.index_shape) if self._layout.index_shape else ()
        out = {a: int(v) for a, v in zip(self._layout.index_axes, idx)}
        if len(self._source.files) > 1:
            out["file"] = file_index
        return out

    def _read(self, i: int) -> np.ndarray:
        return self._source._read_frame(i)


class TiffSource(VirtualSource):
    """A TIFF file, or a numbered series of them, as a one-stack virtual tree."""

    format = "tiff"

    def __init__(self, path: str | Sequence[str], *, series: bool = True):
        if isinstance(path, (str, os.PathLike)):
            first_path = os.fspath(path)
            files = find_series(first_path, TIFF_SUFFIXES) if series else [(0, os.path.abspath(first_path))]
            numbered = series and split_name(first_path, TIFF_SUFFIXES) is not None
        else:
            files = series_from_paths([os.fspath(p) for p in path], TIFF_SUFFIXES)
            first_path, numbered = files[0][1], True
        super().__init__(first_path)
        self.files = [p for _, p in files]
        self.numbers = [n for n, _ in files]
        self._open: tuple[str, object, _Layout] | None = None
        self._memmap: np.ndarray | None = None
        self._lock = threading.RLock()

        tif, layout = self._tiff(self.files[0])
        if layout.n == 0:
            raise FileFormatError(f"cannot open '{os.path.basename(self.files[0])}': its first TIFF series holds no frames")
        self._layout = layout
        self._codec_problem = self._check_codec(tif)
        opened = os.path.abspath(first_path)
        self.start_frame = self.files.index(opened) * layout.n if opened in self.files else 0
        stack = TiffStack(self, layout, layout.n * len(self.files))
        key = tif.series[0].keyframe
        root_attrs = {
            "format": "TIFF",
            "axes": layout.axes,
            "series_shape": layout.shape,
            "photometric": getattr(key.photometric, "name", str(key.photometric)),
            "compression": getattr(key.compression, "name", str(key.compression)),
            "flavour": _flavour(tif),
            "files": len(self.files),
        }
        per_frame = {}
        if numbered:
            per_frame[DATA_GROUP + "/file_number"] = (self._file_numbers, np.dtype(np.int64))
        self._build(stack, root_attrs=root_attrs, data_attrs={"axes": layout.axes}, per_frame=per_frame)

    # -- files ------------------------------------------------------------------------------
    def _tiff(self, path: str):
        """The open TiffFile of ``path`` and its layout; one file is kept open at a time."""
        if self._open is not None and self._open[0] == path:
            return self._open[1], self._open[2]
        import tifffile  # imported here: only TIFF users pay for it

        self._close_file()
        name = os.path.basename(path)
        try:
            tif = tifffile.TiffFile(path)
        except (tifffile.TiffFileError, OSError, ValueError, EOFError) as err:
            raise FileFormatError(f"cannot open '{name}': not a readable TIFF file ({err})") from err
        try:
            if not tif.series:
                raise FileFormatError(f"cannot open '{name}': the TIFF file holds no image")
            layout = _Layout(tif.series[0], name)
        except BaseException:
            tif.close()
            raise
        self._open = (path, tif, layout)
        return tif, layout

    def _close_file(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None
        self._memmap = None

    def _check_codec(self, tif) -> str | None:
        from tifffile import TIFF

        compression = tif.series[0].keyframe.compression
        if int(compression) == 1:
            return None
        try:
            TIFF.DECOMPRESSORS[compression]
        except KeyError:
            name = getattr(compression, "name", str(compression))
            problem = (
                f"'{os.path.basename(tif.filehandle.path)}' is {name}-compressed and decoding it needs the "
                "'imagecodecs' package (pip install imagecodecs)"
            )
            self.warnings.append(problem)
            return problem
        return None

    # -- frames -----------------------------------------------------------------------------
    def _read_frame(self, i: int) -> np.ndarray:
        # one TiffFile is shared by all readers (GUI loader, jobs): switch and read under a lock
        with self._lock:
            return self._read_frame_locked(i)

    def _read_frame_locked(self, i: int) -> np.ndarray:
        file_index, k = divmod(i, self._layout.n)
        path = self.files[file_index]
        name = os.path.basename(path)
        try:
            tif, layout = self._tiff(path)
        except FileFormatError as err:
            raise DatasetError(f"cannot read frame {i}: {err}") from err
        if not layout.matches(self._layout):
            raise DatasetError(
                f"frame {i} comes from '{name}', whose images are {layout.shape} {layout.dtype.name} "
                f"({layout.axes}), unlike the series' {self._layout.shape} {self._layout.dtype.name}; "
                "the series ends before this file"
            )
        if self._codec_problem:
            raise DatasetError(f"cannot read frame {i}: {self._codec_problem}")
        series = tif.series[0]
        try:
            pages = series.pages
            page_index, sub = divmod(k, layout.frames_per_page)
            if len(pages) * layout.frames_per_page >= layout.n and pages[page_index] is not None:
                array = pages[page_index].asarray()
                page_axes = layout.page_axes
                if layout.frames_per_page > 1:
                    idx_axes = [a for a in page_axes if a not in _FRAME_AXES]
                    idx = np.unravel_index(sub, [array.shape[page_axes.index(a)] for a in idx_axes])
                    sel = tuple(int(idx[idx_axes.index(a)]) if a in idx_axes else slice(None) for a in page_axes)
                    array = array[sel]
                    page_axes = "".join(a for a in page_axes if a in _FRAME_AXES)
                return layout.to_frame(array, page_axes)
            return self._read_mapped(series, layout, k)
        except DatasetError:
            raise
        except Exception as err:  # noqa: BLE001 - tifffile/imagecodecs raise many types
            raise DatasetError(f"cannot read frame {i} from '{name}': {type(err).__name__}: {err}") from err

    def _read_mapped(self, series, layout: _Layout, k: int) -> np.ndarray:
        """Pages not listed one by one (ImageJ > 4 GB): memory-map the contiguous data."""
        if self._memmap is None:
            if series.dataoffset is None:
                raise DatasetError(
                    f"cannot read frames of '{self.name}': tifffile does not list its pages and "
                    "its data are not contiguous"
                )
            byteorder = self._open[1].byteorder  # type: ignore[index]
            self._memmap = np.memmap(
                series.parent.filehandle.path, dtype=layout.dtype.newbyteorder(byteorder), mode="r",
                offset=series.dataoffset, shape=layout.shape,
            )
        idx = np.unravel_index(k, layout.index_shape) if layout.index_shape else ()
        it = iter(idx)
        sel = tuple(int(next(it)) if a not in _FRAME_AXES else slice(None) for a in layout.axes)
        frame_axes = "".join(a for a in layout.axes if a in _FRAME_AXES)
        return layout.to_frame(np.asarray(self._memmap[sel]), frame_axes).astype(layout.dtype, copy=False)

    def _file_numbers(self) -> np.ndarray:
        return np.repeat(np.asarray(self.numbers, dtype=np.int64), self._layout.n)

    def close(self) -> None:
        with self._lock:
            self._close_file()


def _flavour(tif) -> str:
    for flag in ("imagej", "ome", "shaped", "micromanager", "lsm", "stk"):
        if getattr(tif, f"is_{flag}", False):
            return flag
    return "generic"
