"""A bounded, thread-safe LRU cache of frames, sized in bytes.

The GUI's frame loader keeps raw frames and their rendered colour-index images here so that
stepping back and forth, and prefetched neighbours, cost a dictionary lookup. The budget is the
"image cache" setting (1024 MB by default, as in Owl; spec/viewer.md C2). Entries larger than
the whole budget are not cached at all rather than evicting everything else.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np


def _nbytes(value: Any) -> int:
    """Bytes held by a cached value: arrays, or objects exposing ``nbytes``, or tuples of them."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 64))


class FrameCache:
    """LRU mapping ``key -> value`` whose values' total ``nbytes`` stays ≤ ``max_bytes``.

    ``on_evict(key, value)``, when given, is called (outside the cache's lock) for every value
    the cache lets go: evicted, discarded, cleared or replaced by another value.
    """

    def __init__(self, max_bytes: int = 1024 * 2**20,
                 on_evict: Callable[[Hashable, Any], None] | None = None):
        self.on_evict = on_evict
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self.misses += 1
                return default
            self._items.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = _nbytes(value)
        dropped = []
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
                if old[0] is not value:
                    dropped.append((key, old[0]))
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                self._bytes += size
                self._shrink(dropped)
        self._report(dropped)

    def _shrink(self, dropped: list) -> None:
        while self._bytes > self.max_bytes and self._items:
            key, (value, evicted) = self._items.popitem(last=False)
            self._bytes -= evicted
            dropped.append((key, value))

    def _report(self, dropped: list) -> None:
        if self.on_evict is not None:
            for key, value in dropped:
                self.on_evict(key, value)

    def discard(self, predicate) -> None:
        """Drop every entry whose key satisfies ``predicate(key)``."""
        with self._lock:
            dropped = [(k, self._items[k][0]) for k in self._items if predicate(k)]
            for key, _ in dropped:
                self._bytes -= self._items.pop(key)[1]
        self._report(dropped)

    def clear(self) -> None:
        with self._lock:
            dropped = [(k, v) for k, (v, _) in self._items.items()]
            self._items.clear()
            self._bytes = 0
        self._report(dropped)

    def resize(self, max_bytes: int) -> None:
        dropped = []
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._shrink(dropped)
        self._report(dropped)
