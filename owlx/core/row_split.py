"""Run a row-range numba kernel on a few Python threads.

The kernels of the peak tools are single-threaded ``@njit(nogil=True)`` functions over a row
range ``[r0, r1)``. Large inputs are split into one range per core and run on short-lived
Python threads: the kernels release the GIL, and idle threads block instead of spinning, so a
machine shared with other work is not slowed down (numba's OpenMP ``prange`` threads spin while
waiting, which on a loaded 2-core machine made small kernels up to 40× slower).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["n_threads", "split_rows"]

MIN_ROWS_PER_THREAD = 64


def n_threads() -> int:
    """Cores available to this process (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def split_rows(kernel: Callable, n_rows: int, *args, work: int | None = None, threads: int | None = None):
    """``kernel(*args, r0, r1)`` over [0, n_rows) in up to ``threads`` row ranges.

    Results that are arrays are summed (partial sums per range); ``None`` results (kernels that
    write into an output argument) give ``None``. ``work`` (e.g. pixels × lags) below ~2·10⁵ runs
    inline: thread start-up would cost more than it saves."""
    k = n_threads() if threads is None else max(1, int(threads))
    k = min(k, max(1, n_rows // MIN_ROWS_PER_THREAD))
    if k == 1 or (work is not None and work < 200_000):
        return kernel(*args, 0, n_rows)
    edges = np.linspace(0, n_rows, k + 1).astype(int)
    with ThreadPoolExecutor(max_workers=k) as pool:
        parts = list(pool.map(lambda i: kernel(*args, int(edges[i]), int(edges[i + 1])), range(k)))
    if parts[0] is None:
        return None
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total
