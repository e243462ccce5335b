"""Lazy frame access to one HDF5 dataset: :class:`Hdf5Stack`.

The stack keeps the dataset's *path*, never an h5py object, so that a save or reload that
closes and reopens the file cannot leave it holding a dead handle (spec/formats.md §1.1). Each
``stack[i]`` reads exactly one frame. Conventions of the returned frames:

* 2-D ``(ny, nx)``, row 0 first; a ``module_identifier`` axis is stacked along y;
* native dtype, except boolean → uint8 and CXI compound ``{r, i}`` → numpy complex;
* uncompressed frames in an ordinary file are read with ``os.preadv`` at the offset HDF5
  reports (:mod:`owlx.io.hdf5_direct`), which releases the GIL: a prefetch on a worker does not
  stall the GUI thread;
* other frames larger than 16 MiB are read in row blocks, so that a GUI thread waiting for the
  GIL gets it between blocks (h5py holds the GIL for the whole of one read call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h5py
import numpy as np

from owlx.errors import DatasetError
from owlx.io import cxi
from owlx.io.buffers import frame_buffers
from owlx.io.hdf5_direct import DirectFrames
from owlx.io.source import Stack

if TYPE_CHECKING:  # pragma: no cover
    from owlx.io.hdf5 import Hdf5Source

#: what h5py raises when a path cannot be resolved to an object: KeyError (missing),
#: OSError (unreadable, external file absent), ValueError (bad name) and RuntimeError
#: ("too many links": a cycle of soft links, or a chain longer than HDF5 follows)
LOOKUP_ERRORS = (KeyError, OSError, ValueError, RuntimeError)

#: frames bigger than this are read in several row blocks
ROW_BLOCK_BYTES = 16 * 2**20

#: registered by hdf5plugin; used to name a missing filter in error messages
FILTER_NAMES = {
    32008: "Bitshuffle",
    32004: "LZ4",
    32001: "Blosc",
    32026: "Blosc2",
    32015: "Zstd",
    307: "BZip2",
    32013: "ZFP",
    32017: "SZ",
}


def complex_fields(dtype: np.dtype) -> tuple[str, str] | None:
    """The (real, imaginary) field names when ``dtype`` is the CXI complex compound."""
    names = dtype.names or ()
    for pair in (("r", "i"), ("real", "imag")):
        if set(names) == set(pair) and all(dtype[n].kind in "fi" for n in pair):
            return pair
    return None


def presented_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype owlx hands out for data stored as ``dtype``."""
    pair = complex_fields(dtype)
    if pair:
        wide = max(dtype[n].itemsize for n in pair) > 4
        return np.dtype(np.complex128 if wide else np.complex64)
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    return np.dtype(dtype)


def convert_block(block: np.ndarray) -> np.ndarray:
    """Apply :func:`presented_dtype` to data just read."""
    pair = complex_fields(block.dtype)
    if pair:
        out = np.empty(block.shape, presented_dtype(block.dtype))
        out.real = block[pair[0]]
        out.imag = block[pair[1]]
        return out
    if block.dtype.kind == "b":
        return block.view(np.uint8)
    return block


def read_error(source_name: str, path: str, ds: h5py.Dataset | None, what: str, err: Exception) -> DatasetError:
    """A :class:`DatasetError` saying why ``what`` of ``path`` could not be read.

    A missing compression filter is named with its id, with the fix (install hdf5plugin).
    """
    missing = []
    if ds is not None:
        try:
            plist = ds.id.get_create_plist()
            for k in range(plist.get_nfilters()):
                fid = plist.get_filter(k)[0]
                if not h5py.h5z.filter_avail(fid):
                    missing.append(fid)
        except Exception:  # noqa: BLE001 - the diagnosis must never hide the original error
            pass
    if missing:
        names = ", ".join(f"{FILTER_NAMES.get(fid, 'unknown')} (filter id {fid})" for fid in missing)
        return DatasetError(
            f"cannot read {what} of '{path}' in '{source_name}': it is compressed with {names}, "
            "which is not available; install the 'hdf5plugin' package (pip install hdf5plugin)"
        )
    return DatasetError(f"cannot read {what} of '{path}' in '{source_name}': {err}")


class Hdf5Stack(Stack):
    """A lazy stack over an HDF5 image dataset (kind stack or single image).

    ``extra_axes`` maps every extra axis position to ``(name, size)``; ``extra_index`` holds
    the index read along each (default 0), settable by the GUI's index selectors.
    """

    def __init__(self, source: "Hdf5Source", path: str, names: list[str], frame_axis: int | None):
        self._source = source
        self.path = path
        self.axis_names = list(names)
        self.frame_axis = frame_axis
        self.extra_index: dict[int, int] = {}
        self._direct: DirectFrames | None | bool = False  # False: not looked at yet
        self._reload(source._dataset(path))

    def _reload(self, ds: h5py.Dataset) -> None:
        shape = tuple(int(s) for s in ds.shape)
        self._layout = cxi.frame_layout(shape, self.axis_names, self.frame_axis)
        num_events = cxi.parse_num_events(ds.attrs.get("numEvents")) if "numEvents" in ds.attrs else None
        n = cxi.n_frames_of(shape, self.frame_axis, num_events)
        self.shape = (n, *self._layout.frame_shape)  # type: ignore[assignment]
        self._stored_dtype = ds.dtype
        self.dtype = presented_dtype(ds.dtype)
        self.extra_axes = {
            a: (self.axis_names[a] if a < len(self.axis_names) else f"axis {a}", shape[a])
            for a in self._layout.extra_axes
        }
        self._direct = False  # a refresh may have moved or grown the storage

    def _read(self, i: int) -> np.ndarray:
        ds = self._source._dataset(self.path)
        try:
            if self._layout.is_simple and self._stored_dtype.names is None:
                return self._read_slab(ds, i)
            block = ds[self._layout.selection(i, self.extra_index)]
            return self._layout.assemble(convert_block(np.asarray(block)))
        except (OSError, TypeError, ValueError) as err:
            raise read_error(self._source.name, self.path, ds, f"frame {i}", err) from err

    def _read_slab(self, ds: h5py.Dataset, i: int) -> np.ndarray:
        if self._direct is False:
            self._direct = DirectFrames.for_dataset(ds, self.frame_axis, swmr=self._source.swmr,
                                                    filename=self._source.raw_filename)
        if self._direct is not None:
            frame = self._direct.read(self._source.raw_fd(), i)
            if frame is not None:
                return convert_block(frame)
        ny, nx = self._layout.frame_shape
        out = frame_buffers.empty((ny, nx), self._stored_dtype)
        row_bytes = max(1, nx * self._stored_dtype.itemsize)
        rows = max(1, ROW_BLOCK_BYTES // row_bytes)
        if ds.chunks is not None and rows < ny:
            chunk_rows = ds.chunks[-2]
            rows = max(chunk_rows, rows - rows % chunk_rows)  # whole chunks: no chunk decoded twice
        lead = (i,) if self.frame_axis is not None else ()
        for r0 in range(0, ny, rows):
            r1 = min(ny, r0 + rows)
            ds.read_direct(out, source_sel=lead + (slice(r0, r1),), dest_sel=np.s_[r0:r1])
        return convert_block(out)

    def refresh(self) -> bool:
        """Re-read shape and ``numEvents`` (live mode); True when N changed."""
        ds = self._source._dataset(self.path)
        if self._source.swmr:
            ds.refresh()
        old = len(self)
        self._reload(ds)
        return len(self) != old
