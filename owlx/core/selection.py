"""Sorting, range filters, yields and the 1-D plot helpers of spec/viewer.md §8 (numpy only).

Conventions
-----------
* ``values`` are per-frame arrays of length N indexed by frame index (spec/formats.md §1.5);
  NaN marks a missing value.
* A *display order* is an int64 array of frame indices: the frames that pass every enabled
  filter, in sort order (frame order when unsorted).
* Sorting is stable: ties keep frame order. NaN sorts last in both directions (viewer.md O1).
* Range filters are inclusive and NaN fails them (viewer.md R1, R2).

Everything is vectorised: sort + filter of 10⁶ frames takes a few tens of milliseconds
(viewer.md R4; benchmarks/bench_workflow.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


def sort_order(values: np.ndarray, descending: bool = True) -> np.ndarray:
    """Frame indices that sort ``values``; ties keep frame order and NaN comes last.

    ``[3, 1, NaN, 2]`` gives ``[0, 3, 1, 2]`` descending and ``[1, 3, 0, 2]`` ascending
    (viewer.md §17 check 7).
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"sort values must be 1-D, got shape {values.shape}")
    if values.dtype.kind in "fc":
        missing = np.isnan(values.real if values.dtype.kind == "c" else values)
    else:
        missing = None
    if missing is not None and missing.any():
        present = np.flatnonzero(~missing)
        return np.concatenate([present[_stable_order(values[present], descending)], np.flatnonzero(missing)])
    return _stable_order(values, descending)


def _stable_order(values: np.ndarray, descending: bool) -> np.ndarray:
    if not descending:
        return np.argsort(values, kind="stable").astype(np.int64, copy=False)
    # Sorting the reversed array ascending and reversing the result gives a descending order
    # in which ties keep their original order; negating would overflow integers.
    n = values.shape[0]
    order = np.argsort(values[::-1], kind="stable")[::-1]
    return (n - 1 - order).astype(np.int64, copy=False)


def range_filter(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Boolean pass mask of ``lo ≤ value ≤ hi`` (None: no bound). NaN fails, even unbounded."""
    values = np.asarray(values)
    if values.dtype.kind in "fc":
        ok = ~np.isnan(values)
    else:
        ok = np.ones(values.shape, bool)
    if lo is not None:
        ok &= values >= lo
    if hi is not None:
        ok &= values <= hi
    return ok


def combine_filters(n: int, masks: Iterable[np.ndarray]) -> np.ndarray:
    """AND of boolean masks of length ``n`` (all True when there are none)."""
    out = np.ones(int(n), bool)
    for mask in masks:
        mask = np.asarray(mask, bool)
        if mask.shape != (n,):
            raise ValueError(f"a filter mask must have shape ({n},), got {mask.shape}")
        out &= mask
    return out


def display_order(
    n: int,
    sort_values: np.ndarray | None = None,
    filters: Sequence[np.ndarray] = (),
    descending: bool = True,
) -> np.ndarray:
    """The display order of ``n`` frames: those passing every mask in ``filters``, sorted by
    ``sort_values`` (None: frame order). Ties and NaN as in :func:`sort_order`."""
    selected = np.flatnonzero(combine_filters(n, filters)) if len(filters) else np.arange(int(n), dtype=np.int64)
    if sort_values is None:
        return selected.astype(np.int64, copy=False)
    sort_values = np.asarray(sort_values)
    if sort_values.shape[0] != n:
        raise ValueError(f"sort values have {sort_values.shape[0]} entries for {n} frames")
    # ``selected`` is ascending, so a stable sort of its values keeps frame order for ties.
    return selected[sort_order(sort_values[selected], descending)]


@dataclass(frozen=True)
class Yield:
    """How many of ``total`` frames pass: ``Yield(600, 1000).text == "Yield: 60.0% - 600/1000"``."""

    passed: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.total if self.total else 0.0

    @property
    def text(self) -> str:
        """The label under one filter widget (viewer.md R1)."""
        return f"Yield: {self.percent:.1f}% - {self.passed}/{self.total}"

    @property
    def title(self) -> str:
        """The Filters group title for the combined selection (viewer.md R2)."""
        return f"Filters (yield: {self.percent:.1f}% - {self.passed}/{self.total})"


def mask_yield(mask: np.ndarray) -> Yield:
    mask = np.asarray(mask, bool)
    return Yield(int(np.count_nonzero(mask)), int(mask.size))


# -- 1-D plot (viewer.md L1, L3) -------------------------------------------------------------

def plot_series(order: np.ndarray, y: np.ndarray, x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the *plot* mode: both taken in display order (L3; Owl reordered only y).
    Without ``x`` the view position 0, 1, 2, … is used."""
    order = np.asarray(order, np.int64)
    ys = np.asarray(y)[order]
    xs = np.arange(order.size, dtype=np.float64) if x is None else np.asarray(x)[order]
    return xs, ys


def running_average(
    frames: np.ndarray,
    values: np.ndarray,
    window: int = 10,
    weighting: str = "uniform",
) -> tuple[np.ndarray, np.ndarray]:
    """Trailing average over the last ``window`` filtered frames, in frame order (L1).

    ``frames`` are the frame indices that pass the filters (any order, e.g. the display
    order), ``values`` the per-frame values indexed by frame index. Returns (x, y): x the
    frames in ascending order (so time trends survive a sort), y at each x the average of the
    samples present among that frame and the ``window − 1`` filtered frames before it. NaN
    samples and the frames before the first are absent, not zero, so the curve has no ramp at
    the start (Owl padded with zeros). ``weighting`` is ``"uniform"`` or ``"exponential"``
    (weight 2^(−lag / (window/2)): half-life window/2, lag 0 = the frame itself).
    """
    window = int(window)
    if window < 1:
        raise ValueError(f"the running-average window must be at least 1 frame, got {window}")
    x = np.sort(np.asarray(frames, np.int64))
    v = np.asarray(values, np.float64)[x]
    present = ~np.isnan(v)
    filled = np.where(present, v, 0.0)
    if weighting == "uniform":
        num = _trailing_sum(filled, window)
        den = _trailing_sum(present.astype(np.float64), window)
    elif weighting == "exponential":
        r = 0.5 ** (2.0 / window)  # r ** (window / 2) == 1/2
        num = _trailing_decay_sum(filled, window, r)
        den = _trailing_decay_sum(present.astype(np.float64), window, r)
    else:
        raise ValueError(f"weighting must be 'uniform' or 'exponential', not {weighting!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return x, y


def _trailing_sum(a: np.ndarray, window: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(a)])
    idx = np.arange(1, a.size + 1)
    return c[idx] - c[np.maximum(idx - window, 0)]


def _trailing_decay_sum(a: np.ndarray, window: int, r: float) -> np.ndarray:
    """Σ_{k<window} r^k · a[i−k], by the recurrence S_i = a_i + r·S_{i−1} − r^window·a_{i−window}
    (an IIR filter, O(n) for any window; the error of each step decays by r)."""
    from scipy.signal import lfilter

    b = np.zeros(window + 1)
    b[0] = 1.0
    b[window] = -(r**window)
    return lfilter(b, [1.0, -r], a)


def histogram(
    values: np.ndarray,
    bins: int = 200,
    value_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of the finite values: the plot's *histogram* mode (L1, default 200
    bins) and the filter widgets (R1, 100 bins). Constant data get a unit-wide range so that
    the bar is visible; no finite values give zero counts over [0, 1]."""
    bins = int(bins)
    if bins < 1:
        raise ValueError(f"a histogram needs at least 1 bin, got {bins}")
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if value_range is None:
        if v.size == 0:
            value_range = (0.0, 1.0)
        else:
            lo, hi = float(v.min()), float(v.max())
            value_range = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    counts, edges = np.histogram(v, bins=bins, range=value_range)
    return counts, edges
