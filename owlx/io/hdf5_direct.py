"""Whole-frame reads of uncompressed HDF5 datasets straight from the file, without the GIL.

h5py holds the GIL for the whole of a read call, so a 64 MB frame read on a worker (prefetch)
stalls the GUI thread for its full duration. For the common layout of detector stacks —
uncompressed, contiguous or chunked by whole frames, in an ordinary file — the bytes of frame i
sit at a known file offset, and ``os.preadv`` copies them into a numpy buffer with the GIL
released. The offset comes from HDF5 itself (``H5Dget_offset`` / ``H5Dget_chunk_info_by_coord``),
so nothing about the layout is guessed; anything else (filters, external or virtual storage,
other file drivers, SWMR files being written, compound types) keeps using h5py.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from .buffers import frame_buffers

_HAS_PREADV = hasattr(os, "preadv")


class DirectFrames:
    """Offsets of the frames of one dataset and a GIL-free reader for them.

    ``frame_shape`` is the (ny, nx) of one frame, ``dtype`` the stored numpy dtype (byte order
    included: the bytes are copied as stored). Build with :meth:`for_dataset`.
    """

    def __init__(self, frame_shape: tuple[int, int], dtype: np.dtype, frames_per_chunk: int,
                 contiguous_offset: int | None, dsid):
        self.frame_shape = frame_shape
        self.dtype = np.dtype(dtype)
        self.frame_bytes = int(np.prod(frame_shape)) * self.dtype.itemsize
        self._per_chunk = frames_per_chunk
        self._contiguous = contiguous_offset
        self._dsid = dsid

    @classmethod
    def for_dataset(cls, ds: h5py.Dataset, frame_axis: int | None, swmr: bool = False,
                    filename: str | None = None) -> DirectFrames | None:
        """A reader for ``ds`` when its frames can be read as raw bytes from ``filename`` (the
        file the caller holds a descriptor of; a dataset reached through an external link lives
        in another file), else None."""
        if not _HAS_PREADV or swmr or ds.file.driver != "sec2":
            return None
        if filename is not None and ds.file.filename != filename:
            return None
        if ds.dtype.names is not None or ds.dtype.kind not in "biufc" or ds.dtype.hasobject:
            return None
        if frame_axis == 0 and ds.ndim == 3:
            frame_shape = (int(ds.shape[1]), int(ds.shape[2]))
        elif frame_axis is None and ds.ndim == 2:
            frame_shape = (int(ds.shape[0]), int(ds.shape[1]))
        else:
            return None
        try:
            dcpl = ds.id.get_create_plist()
            if dcpl.get_nfilters() or dcpl.get_external_count():
                return None
            layout = dcpl.get_layout()
            if layout == h5py.h5d.CONTIGUOUS:
                offset = ds.id.get_offset()
                if offset is None:  # never written: the fill value, which h5py supplies
                    return None
                return cls(frame_shape, ds.dtype, 1, int(offset), ds.id)
            if layout == h5py.h5d.CHUNKED:
                chunks = ds.chunks
                if tuple(chunks[-2:]) != frame_shape:  # a frame split over chunks: not one block
                    return None
                per_chunk = int(chunks[0]) if ds.ndim == 3 else 1
                return cls(frame_shape, ds.dtype, per_chunk, None, ds.id)
        except (AttributeError, OSError, RuntimeError, ValueError):  # an old HDF5 without the calls
            return None
        return None

    def offset(self, i: int) -> int | None:
        """File offset of frame ``i`` (HDF5 reports addresses from the start of the file, a
        user block included), or None when its chunk was never written."""
        if self._contiguous is not None:
            return self._contiguous + i * self.frame_bytes
        first = i - i % self._per_chunk
        coord = (first, 0, 0) if len(self._dsid.shape) == 3 else (0, 0)
        info = self._dsid.get_chunk_info_by_coord(coord)
        if info.byte_offset is None:
            return None
        return int(info.byte_offset) + (i - first) * self.frame_bytes

    def read(self, fd: int, i: int) -> np.ndarray | None:
        """Frame ``i`` as an (ny, nx) array of the stored dtype, or None when the raw bytes are
        not there (an unwritten chunk: let h5py supply the fill value)."""
        offset = self.offset(i)
        if offset is None:
            return None
        out = frame_buffers.empty(self.frame_shape, self.dtype)
        view = memoryview(out).cast("B")
        done = 0
        while done < self.frame_bytes:  # preadv may return short counts for huge reads
            n = os.preadv(fd, [view[done:]], offset + done)
            if n <= 0:
                raise OSError(f"the file ends inside frame {i} (read {done} of {self.frame_bytes} bytes)")
            done += n
        return out
