"""Reuse of big frame buffers (a 4096² float32 frame is 64 MB).

A fresh 64 MB array costs the kernel a page fault and a zeroing of every page when it is first
written: about 10 ms, as long as the read that fills it from the page cache. A viewer stepping
through big frames allocates one per step and frees one (the cache's oldest) per step, so the
readers take their buffers from here instead, and the frame cache hands the frames it drops
back (:meth:`FrameBuffers.retire`).

A retired array is only handed out again once nothing else refers to it: the pool keeps a
reference and reuses the array when its reference count shows the pool's reference alone (a
view, a memoryview or any container holding the array keeps it out of reuse; anything that can
reach the memory holds a reference). The pool holds at most ``max_bytes`` of retired arrays;
beyond that the oldest are let go.

What a reference count cannot see: a weak reference, or a raw address (``.ctypes.data``,
``__array_interface__``) kept without the array. Code must never hold frames that way. The
count is also only meaningful with CPython's GIL; on a free-threaded build the pool hands
nothing back (:data:`REUSE`).
"""

from __future__ import annotations

import sys
import threading
from collections import deque

import numpy as np

MIN_BYTES = 16 * 2**20  # smaller frames: the allocation is cheap next to reading them
# Reference counts are exact only under the GIL (3.13+ may run without it).
REUSE = getattr(sys, "_is_gil_enabled", lambda: True)()


class FrameBuffers:
    """A pool of C-contiguous arrays, matched by shape and dtype."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = int(max_bytes)
        self._retired: deque[np.ndarray] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self.reused = 0  # buffers handed out again (for tests and benchmarks)
        # The count sys.getrefcount reports for an array referred to by the deque alone, taken
        # where _unshared takes it: the interpreter's own temporaries are included either way.
        self._retired.append(np.empty(1))
        self._alone = self._count(0)
        self._retired.clear()

    def _count(self, k: int) -> int:
        return sys.getrefcount(self._retired[k])

    def retire(self, array: np.ndarray) -> None:
        """Offer ``array`` for reuse (a frame the caller no longer needs; others may still)."""
        if not isinstance(array, np.ndarray) or array.nbytes < MIN_BYTES or array.base is not None \
                or not array.flags.owndata or not array.flags.c_contiguous or not array.flags.writeable:
            return
        with self._lock:
            if any(a is array for a in self._retired):
                return
            self._retired.append(array)
            self._bytes += array.nbytes
            while self._bytes > self.max_bytes and self._retired:
                self._bytes -= self._retired.popleft().nbytes

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray | None:
        """A retired array of ``shape`` and ``dtype`` that nothing else refers to (its old
        contents still in it), or None."""
        if not REUSE:
            return None
        shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        with self._lock:
            for k in range(len(self._retired)):
                a = self._retired[k]
                if a.shape == shape and a.dtype == dtype:
                    del a  # our local reference would spoil the count
                    if self._count(k) <= self._alone:
                        a = self._retired[k]
                        del self._retired[k]
                        self._bytes -= a.nbytes
                        self.reused += 1
                        return a
        return None

    def empty(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Like ``np.empty``: a reused buffer when one is free, else a new array."""
        if int(np.prod(shape)) * np.dtype(dtype).itemsize >= MIN_BYTES:
            a = self.take(shape, dtype)
            if a is not None:
                return a
        return np.empty(shape, dtype)

    def keep_only(self, shape: tuple[int, ...] | None, dtype=None) -> None:
        """Let go of the retired arrays that are not of ``shape`` and ``dtype`` (all of them for
        None): a viewer that moves to frames of another size has no use for the old buffers."""
        with self._lock:
            if shape is None:
                kept = deque()
            else:
                shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
                kept = deque(a for a in self._retired if a.shape == shape and a.dtype == dtype)
            self._retired = kept
            self._bytes = sum(a.nbytes for a in kept)

    def clear(self) -> None:
        self.keep_only(None)

    @property
    def nbytes(self) -> int:
        return self._bytes


frame_buffers = FrameBuffers()
