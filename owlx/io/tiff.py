"""TIFF files (plain, multi-page, ImageJ hyperstack, OME, BigTIFF) and numbered TIFF series via
tifffile (spec/formats.md §5).

* The first series (``TiffFile.series[0]``) is the stack. The frame index runs over every axis
  except Y, X and S (samples), in C order; :meth:`TiffStack.axis_indices` gives the index along
  each of them (e.g. ``{"T": 1, "Z": 0, "C": 2}``) for the info panel.
* A file with several series: when they all share shape, dtype and axes (an OME file with
  several positions, or frames appended one ``imwrite(..., append=True)`` at a time, which makes
  one series per write), the frames run over all of them; otherwise the first series is shown
  with the warning "N series of different shape; showing the first".
* Files written page by page with tifffile's metadata are not handed to tifffile's series
  parser, which builds an object per page and groups series in quadratic time (~50 s for
  20 000 appended frames): owlx reads the first page and walks the chain of image file
  directories reading only the shape and data-type tags of each (:func:`_scan_pages`), then
  reads frames page by page. A page unlike the first is reported when it is read.
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

import json
import math
import os
import struct
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io.series import TIFF_SUFFIXES, SeriesSource
from owlx.io.source import Stack
from owlx.io.virtual import DATA_GROUP, DATA_PATH

_FRAME_AXES = ("Y", "X", "S")


class _Layout:
    """How frames sit in one file.

    ``kind`` is ``"series"`` (tifffile's first series, repeated ``n_series`` times when the file
    holds that many series of one shape) or ``"pages"`` (the file's pages one after the other,
    shaped like the first page: axes ``I`` + the page's axes).
    """

    def __init__(self, axes: str, shape, dtype, keyframe, name: str, *, kind: str = "series", n_series: int = 1):
        self.kind = kind
        self.n_series = n_series
        self.axes = axes
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if "Y" not in self.axes or "X" not in self.axes:
            raise FileFormatError(f"cannot open '{name}': its first TIFF series (axes {self.axes}) has no Y and X axes")
        self.index_axes = [a for a in self.axes if a not in _FRAME_AXES]
        self.index_shape = tuple(self.shape[self.axes.index(a)] for a in self.index_axes)
        self.frame_shape = tuple(self.shape[self.axes.index(a)] for a in _FRAME_AXES if a in self.axes)
        self.keyframe = keyframe
        self.page_axes = keyframe.axes
        self.page_shape = tuple(int(s) for s in keyframe.shape)
        self.frames_per_page = math.prod(
            s for a, s in zip(self.page_axes, self.page_shape) if a not in _FRAME_AXES
        )
        self.per_series = math.prod(self.index_shape)
        self.n = self.per_series * n_series

    @classmethod
    def of_series(cls, series, name: str, n_series: int = 1) -> "_Layout":
        return cls(series.axes, series.shape, series.dtype, series.keyframe, name, n_series=n_series)

    @classmethod
    def of_pages(cls, page, n_pages: int, name: str) -> "_Layout":
        return cls("I" + page.axes, (n_pages, *page.shape), page.dtype, page, name, kind="pages")

    def matches(self, other: "_Layout") -> bool:
        return (self.kind, self.n_series, self.shape, self.dtype, self.axes) == (
            other.kind, other.n_series, other.shape, other.dtype, other.axes)

    def to_frame(self, array: np.ndarray, axes: str) -> np.ndarray:
        """Reorder an array with ``axes`` (frame axes included, index axes already chosen) to
        (Y, X[, S]) and drop a single sample."""
        order = [axes.index(a) for a in _FRAME_AXES if a in axes]
        frame = np.transpose(array, order) if order != sorted(order) else array
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        return np.ascontiguousarray(frame)


def _file_layout(tif, name: str) -> tuple[_Layout, str | None]:
    """The layout of an open TiffFile and a warning (several series of different shape)."""
    pages = tif.pages
    n_pages = len(pages)  # walks the chain of IFD offsets only: 20 000 pages in ~50 ms
    if n_pages == 0:
        raise FileFormatError(f"cannot open '{name}': the TIFF file holds no image")
    first = pages.first
    if tif.is_shaped and n_pages > 1:
        per_series = _shaped_series_pages(first)
        if per_series is not None and per_series < n_pages:  # written in several parts
            scan = _scan_pages(tif, n_pages)
            if scan.uniform:
                return _Layout.of_pages(first, scan.count, name), None
            different = f"'{name}' holds {max(scan.described, 2)} series of different shape; showing the first"
            return _Layout.of_pages(first, per_series, name), different
    series = tif.series
    if not series:
        raise FileFormatError(f"cannot open '{name}': the TIFF file holds no image")
    head = series[0]
    if len(series) == 1:
        return _Layout.of_series(head, name), None
    if all((s.shape, s.dtype, s.axes) == (head.shape, head.dtype, head.axes) for s in series):
        return _Layout.of_series(head, name, n_series=len(series)), None
    return _Layout.of_series(head, name), f"'{name}' holds {len(series)} series of different shape; showing the first"


def _shaped_series_pages(page) -> int | None:
    """Pages in the first series of a file with tifffile's metadata (``{"shape": [...]}``, or
    the older ``shape=(...)``, in the first page's description), or None when unreadable."""
    text = (getattr(page, "shaped_description", None) or page.description or "").strip()
    try:
        if text.startswith("{"):
            shape = json.loads(text)["shape"]
        elif text.startswith("shape=("):
            shape = [s for s in text[len("shape=("): text.index(")")].split(",") if s.strip()]
        else:
            return None
        count = math.prod(int(s) for s in shape) // math.prod(int(s) for s in page.shape)
    except (ValueError, KeyError, TypeError, ZeroDivisionError):  # json errors are ValueErrors
        return None
    return count if count >= 1 else None


#: tags that decide a page's shape and data type: ImageWidth, ImageLength, BitsPerSample,
#: SamplesPerPixel, PlanarConfiguration, SampleFormat, ImageDepth
_SHAPE_TAGS = frozenset((256, 257, 258, 277, 284, 339, 32997))
_IMAGE_DESCRIPTION = 270
#: TIFF integer tag types -> struct codes
_TAG_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}


@dataclass
class _PageScan:
    count: int  # pages found in the IFD chain
    uniform: bool  # every page has the first page's shape and data-type tags
    described: int  # pages with an ImageDescription (tifffile starts each series with one)


def _scan_pages(tif, limit: int) -> _PageScan:
    """Walk the main IFD chain (at most ``limit`` pages) reading only the shape and data-type
    tags of each page: two small reads per page (about 10 µs), where a tifffile ``TiffPage``
    parses every tag (about 150 µs). TIFF 6.0 §2 (IFD structure) and BigTIFF."""
    fh, fmt = tif.filehandle, tif.tiff
    entry_format = struct.Struct(fmt.byteorder + "HH" + fmt.tagformat2[1:])  # code, type, count, value
    entries_size = fmt.tagsize
    first: dict | None = None
    uniform, described, count = True, 0, 0
    seen: set[int] = set()
    inline: dict[tuple, tuple] = {}
    offset = tif.pages.first.offset
    while offset and count < limit and offset not in seen and offset + fmt.tagnosize <= fh.size:
        seen.add(offset)
        fh.seek(offset)
        (ntags,) = struct.unpack(fmt.tagnoformat, fh.read(fmt.tagnosize))
        size = ntags * entries_size
        block = fh.read(size + fmt.offsetsize)
        if len(block) < size + fmt.offsetsize:
            break
        signature = {}
        for code, dtype, n, value in entry_format.iter_unpack(block[:size]):
            if code == _IMAGE_DESCRIPTION:
                described += 1
            elif code in _SHAPE_TAGS:
                key = (dtype, n, value)  # the same entry on every page: decode it once
                values = inline.get(key)
                if values is None:
                    values, fits = _tag_values(fh, fmt, dtype, n, value)
                    if fits:
                        inline[key] = values
                signature[code] = values
        (offset,) = struct.unpack(fmt.offsetformat, block[size:])
        count += 1
        if first is None:
            first = signature
        elif signature != first:
            uniform = False
    return _PageScan(count, uniform, described)


def _tag_values(fh, fmt, dtype: int, n: int, value: bytes) -> tuple[tuple, bool]:
    """The integers of one tag entry (read from the file when they do not fit in the entry),
    and whether they fit."""
    code = _TAG_TYPES.get(dtype)
    if code is None or n > 64:  # not an integer tag, or absurdly long: compare it raw
        return (dtype, n, value), True
    nbytes = n * struct.calcsize(code)
    fits = nbytes <= fmt.offsetsize
    if fits:
        data = value[:nbytes]
    else:
        fh.seek(struct.unpack(fmt.offsetformat, value)[0])
        data = fh.read(nbytes)
        if len(data) < nbytes:
            return (dtype, n, value), False
    values = struct.unpack(fmt.byteorder + code * n, data)
    return (values[:1] if len(set(values)) == 1 else values), fits  # BitsPerSample (8,) == (8, 8, 8)


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
        """Index along every non-image axis of the file (C order), plus ``series`` for files
        with several series and ``file`` for numbered series of files."""
        layout = self._layout
        file_index, k = divmod(int(i), layout.n)
        series_index, k = divmod(k, layout.per_series)
        idx = np.unravel_index(k, layout.index_shape) if layout.index_shape else ()
        out = {a: int(v) for a, v in zip(layout.index_axes, idx)}
        if layout.n_series > 1:
            out["series"] = series_index
        if len(self._source.files) > 1:
            out["file"] = file_index
        return out

    def _read(self, i: int) -> np.ndarray:
        return self._source._read_frame(i)


class TiffSource(SeriesSource):
    """A TIFF file, or a numbered series of them, as a one-stack virtual tree."""

    format = "tiff"

    def __init__(self, path: str | Sequence[str], *, series: bool = True):
        super().__init__(path, TIFF_SUFFIXES, series=series)
        self._open: tuple[str, object, _Layout] | None = None
        self._memmaps: dict[int, np.ndarray] = {}
        self._lock = threading.RLock()

        tif, layout = self._tiff(self.files[0])
        if layout.n == 0:
            self._close_file()
            name = os.path.basename(self.files[0])
            raise FileFormatError(f"cannot open '{name}': its first TIFF series holds no frames")
        self._layout = layout
        self.frames_per_file = layout.n
        self._codec_problem = self._check_codec(tif)
        self._start_at_opened_file()
        stack = TiffStack(self, layout, layout.n * len(self.files))
        key = layout.keyframe
        root_attrs = {
            "format": "TIFF",
            "axes": layout.axes,
            "series_shape": layout.shape,
            "photometric": getattr(key.photometric, "name", str(key.photometric)),
            "compression": getattr(key.compression, "name", str(key.compression)),
            "flavour": _flavour(tif),
            "files": len(self.files),
        }
        if layout.n_series > 1:
            root_attrs["series"] = layout.n_series
        per_frame = {}
        if self.numbered:
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
            layout, warning = _file_layout(tif, name)
        except (tifffile.TiffFileError, OSError, ValueError, EOFError, struct.error) as err:
            tif.close()
            raise FileFormatError(f"cannot open '{name}': broken TIFF file ({err})") from err
        except BaseException:
            tif.close()
            raise
        if warning and warning not in self.warnings:
            self.warnings.append(warning)
        self._open = (path, tif, layout)
        return tif, layout

    def _close_file(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None
        self._memmaps.clear()

    def _check_codec(self, tif) -> str | None:
        from tifffile import TIFF

        compression = self._layout.keyframe.compression
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
        layout = self._layout  # equal to the file's; it is what callers (and tests) adjust
        series_index, k = divmod(k, layout.per_series)
        try:
            if layout.kind == "pages":
                return self._read_page(tif.pages, layout, i, k, name)
            series = tif.series[series_index]
            pages = series.pages
            listed = len(pages) * layout.frames_per_page >= layout.per_series
            if listed and pages[k // layout.frames_per_page] is not None:
                return self._read_page(pages, layout, i, k, name)
            return self._read_mapped(series, series_index, layout, k)
        except DatasetError:
            raise
        except Exception as err:  # noqa: BLE001 - tifffile/imagecodecs raise many types
            raise DatasetError(f"cannot read frame {i} from '{name}': {type(err).__name__}: {err}") from err

    def _read_page(self, pages, layout: _Layout, i: int, k: int, name: str) -> np.ndarray:
        """Frame ``k`` of a list of pages, ``frames_per_page`` frames per page."""
        page_index, sub = divmod(k, layout.frames_per_page)
        page = pages[page_index]
        if layout.kind == "pages" and (tuple(page.shape) != layout.page_shape or page.dtype != layout.dtype):
            raise DatasetError(
                f"cannot read frame {i}: it is page {page_index} of '{name}', whose image is "
                f"{tuple(page.shape)} {np.dtype(page.dtype).name}, unlike the first page's "
                f"{layout.page_shape} {layout.dtype.name}"
            )
        array = page.asarray()
        page_axes = layout.page_axes
        if layout.frames_per_page > 1:
            idx_axes = [a for a in page_axes if a not in _FRAME_AXES]
            idx = np.unravel_index(sub, [array.shape[page_axes.index(a)] for a in idx_axes])
            sel = tuple(int(idx[idx_axes.index(a)]) if a in idx_axes else slice(None) for a in page_axes)
            array = array[sel]
            page_axes = "".join(a for a in page_axes if a in _FRAME_AXES)
        return layout.to_frame(array, page_axes)

    def _read_mapped(self, series, series_index: int, layout: _Layout, k: int) -> np.ndarray:
        """Pages not listed one by one (ImageJ > 4 GB): memory-map the contiguous data."""
        mapped = self._memmaps.get(series_index)
        if mapped is None:
            if series.dataoffset is None:
                raise DatasetError(
                    f"cannot read frames of '{self.name}': tifffile does not list its pages and "
                    "its data are not contiguous"
                )
            byteorder = self._open[1].byteorder  # type: ignore[index]
            mapped = self._memmaps[series_index] = np.memmap(
                series.parent.filehandle.path, dtype=layout.dtype.newbyteorder(byteorder), mode="r",
                offset=series.dataoffset, shape=layout.shape,
            )
        idx = np.unravel_index(k, layout.index_shape) if layout.index_shape else ()
        it = iter(idx)
        sel = tuple(int(next(it)) if a not in _FRAME_AXES else slice(None) for a in layout.axes)
        frame_axes = "".join(a for a in layout.axes if a in _FRAME_AXES)
        return layout.to_frame(np.asarray(mapped[sel]), frame_axes).astype(layout.dtype, copy=False)

    def close(self) -> None:
        with self._lock:
            self._close_file()


def _flavour(tif) -> str:
    for flag in ("imagej", "ome", "shaped", "micromanager", "lsm", "stk"):
        if getattr(tif, f"is_{flag}", False):
            return flag
    return "generic"
