"""Where the registration's tasks read their frames from.

* :class:`FileFrames` — a picklable description (path or list of paths, dataset, optional
  second channel) that a worker opens itself with :func:`owlx.io.open_source`; each process
  keeps the last few opened sources, so a dask worker opens a stack once, not once per task.
* :class:`MemoryFrames` — any ``frame(i)`` callable or stack object (the GUI session's current
  stack, an array); for inline and thread runs only.

Both give ``len()``, ``frame(i)`` (2-D array, native dtype), ``frame_b(i)`` (the second
channel for fusion, or None), ``frame_name(i)`` (a file-name stem, for the keypoint cache) and
``info()`` (header facts: pixel size, WD per frame, …).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from owlx.errors import DatasetError

_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 4


def _open_cached(path, dataset: str | None):
    """The (source, stack) of ``path``/``dataset``, opened once per process."""
    from owlx.io.open import open_source

    key = (tuple(path) if isinstance(path, (list, tuple)) else path, dataset)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        source = open_source(list(path) if isinstance(path, (list, tuple)) else path)
        stack = source.set_image(dataset) if dataset else source.set_image()
        _cache[key] = (source, stack, threading.Lock())
        while len(_cache) > _CACHE_SIZE:
            _, (old, _s, _l) = _cache.popitem(last=False)
            old.close()
        return _cache[key]


def clear_cache() -> None:
    """Close every source opened by :class:`FileFrames` in this process."""
    with _cache_lock:
        while _cache:
            _, (source, _s, _l) = _cache.popitem()
            source.close()


@dataclass(frozen=True)
class FileFrames:
    """Frames of a file, folder or list of files (``path``), image dataset ``dataset`` (None =
    the default stack), fusion channel ``dataset_b``. Picklable: dask tasks carry it."""

    path: str | tuple
    dataset: str | None = None
    dataset_b: str | None = None

    @classmethod
    def of(cls, path, dataset=None, channel: int = 0, fuse: bool = False) -> FileFrames:
        """Frames of ``path``; for ``.dat`` stacks ``channel`` picks the detector (0 = DetA)
        and ``fuse`` adds the other one as channel B."""
        if isinstance(path, (list, tuple)):
            path = tuple(os.path.abspath(os.fspath(p)) for p in path)
        else:
            path = os.path.abspath(os.fspath(path))
        if dataset is None:
            source, _stack, _ = _open_cached(path, None)
            if getattr(source, "format", "") == "dat":
                n_chan = len(source.channel_names)
                if not 0 <= channel < n_chan:
                    raise DatasetError(f"the .dat stack has {n_chan} channel(s); channel {channel} does not exist")
                dataset = source.channel_stack(channel).path
                if fuse and n_chan > 1:
                    return cls(path, dataset, source.channel_stack(1 - channel if channel < 2 else 0).path)
        return cls(path, dataset)

    def _opened(self, dataset=None):
        return _open_cached(self.path, dataset or self.dataset)

    def __len__(self) -> int:
        return len(self._opened()[1])

    def frame(self, i: int) -> np.ndarray:
        _, stack, lock = self._opened()
        with lock:  # some readers keep one file handle: one read at a time per source
            return stack[int(i)]

    def frame_b(self, i: int) -> np.ndarray | None:
        if self.dataset_b is None:
            return None
        source, _, lock = self._opened()
        with lock:
            return source.stack(self.dataset_b)[int(i)]

    def files(self) -> tuple[str, ...]:
        """Every file the frames are read from (the members of a folder or series; the path
        itself for one file)."""
        if isinstance(self.path, tuple):
            return self.path
        source = self._opened()[0]
        listed = getattr(source, "files", None)
        return tuple(os.fspath(f) for f in listed) if listed else (self.path,)

    def frame_name(self, i: int) -> str:
        """A file-name stem for frame ``i`` (keypoint cache files): the stem of its own file
        when the stack is one file per frame, else ``frame_<i:06d>``."""
        source, stack, _ = self._opened()
        return _name_of(getattr(source, "files", None), len(stack), i)

    def dtype(self) -> np.dtype:
        return np.dtype(self._opened()[1].dtype)

    def frame_shape(self) -> tuple[int, int]:
        return tuple(self._opened()[1].frame_shape)

    def info(self) -> dict:
        return source_info(self._opened()[0])


class MemoryFrames:
    """Frames from a callable ``frame(i)`` or a stack/array, for inline and thread runs."""

    def __init__(self, frames: Callable[[int], np.ndarray] | Any, n: int | None = None, info: dict | None = None,
                 frames_b: Callable[[int], np.ndarray] | None = None, dtype=None, shape=None, names=None):
        self._get = frames if callable(frames) and not hasattr(frames, "__getitem__") else frames.__getitem__
        self._n = len(frames) if n is None else int(n)
        self._info = dict(info or {})
        self._get_b = frames_b
        if dtype is None or shape is None:  # read frame 0 only when not told (never on a GUI thread)
            first = np.asarray(self._get(0))
            dtype, shape = first.dtype, first.shape
        self._dtype, self._shape = np.dtype(dtype), tuple(int(v) for v in shape)
        self._names = list(names) if names is not None else None

    def __len__(self) -> int:
        return self._n

    def frame(self, i: int) -> np.ndarray:
        return np.asarray(self._get(int(i)))

    def frame_b(self, i: int) -> np.ndarray | None:
        return None if self._get_b is None else np.asarray(self._get_b(int(i)))

    def frame_name(self, i: int) -> str:
        """The stem of ``names[i]`` (file names, one per frame) when given, else ``frame_<i:06d>``."""
        return _name_of(self._names, self._n, i)

    def dtype(self) -> np.dtype:
        return self._dtype

    def frame_shape(self) -> tuple[int, int]:
        return tuple(self._shape)

    def info(self) -> dict:
        return dict(self._info)


def _name_of(files, n: int, i: int) -> str:
    if files is not None and len(files) == n:
        return os.path.splitext(os.path.basename(os.fspath(files[int(i)])))[0]
    return f"frame_{int(i):06d}"


def source_info(source) -> dict:
    """Header facts the pipeline uses: ``pixel_size_nm``, ``wd_mm`` (per frame), ``first_pixel``
    (n, 2) and ``resolution`` (x, y) for the FOV trend, ``voxel_size_A`` of MRC input."""
    info: dict = {}
    if getattr(source, "format", "") == "dat":
        info["pixel_size_nm"] = float(source.headers[0].pixel_size_nm)
        info["wd_mm"] = source.header_values("WD")
        fx, fy = source.header_values("FirstPixelX"), source.header_values("FirstPixelY")
        if np.isfinite(fx).all() and np.isfinite(fy).all():
            ny, nx = source.headers[0].shape
            info["first_pixel"] = np.stack([fx, fy], axis=1)
            info["resolution"] = (nx, ny)
    elif getattr(source, "format", "") == "mrc":
        vx, _vy, vz = source.voxel_size
        if vx > 0:
            info["pixel_size_nm"] = vx / 10.0
        if vz > 0:
            info["z_step_nm"] = vz / 10.0
    return info
