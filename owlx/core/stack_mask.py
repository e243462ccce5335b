"""Bad-pixel masks from a collection of frames, streaming (spec/peaks.md §10).

``mask_from_collection(frames, px_thresh, std_thresh)`` passes once over an iterable of frames
(a stack, a generator reading a file, a list) holding O(1) frames in memory. A pixel is invalid
when any frame exceeds max(px_thresh) or falls below min(px_thresh) (a scalar px_thresh is an
upper bound only) or is NaN, or, with ``std_thresh``, when its running population standard deviation
(Welford, ddof = 0) exceeds std_thresh after any frame (the reference's semantics; with
``std_check="final"`` only the final standard deviation is tested, which is what merged
per-chunk moments can give).

**owlx returns True = valid** (scikit-ued's ``mask_from_collection`` returns True = invalid).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from owlx.errors import ParameterError

__all__ = ["CollectionMask", "combine_masks", "mask_from_collection", "snr_from_collection"]


@njit(cache=True, nogil=True)
def _update(frame, n, mean, m2, invalid, lo, hi, std_limit, running):  # pragma: no cover - numba
    """One Welford step per pixel plus the value-range and (running) fluctuation tests."""
    limit2 = std_limit * std_limit * n  # std² > limit² ⇔ M2 > limit²·n
    inv_n = 1.0 / n
    for k in range(frame.size):
        v = float(frame[k])
        if v > hi or v < lo or np.isnan(v):
            invalid[k] = True
        d = v - mean[k]
        mean[k] += d * inv_n
        m2[k] += d * (v - mean[k])
        if running and m2[k] > limit2:
            invalid[k] = True


class CollectionMask:
    """Streaming accumulator: ``add(frame)`` for each frame, then ``valid()`` (True = valid).

    Also keeps the running mean and standard deviation (``mean``, ``std()``) of every pixel."""

    def __init__(self, px_thresh=(0, 3e4), std_thresh: float | None = None, std_check: str = "running"):
        if std_check not in ("running", "final"):
            raise ParameterError(f"std_check must be 'running' or 'final', got {std_check!r}")
        if np.ndim(px_thresh) == 0:
            self.lo, self.hi = -np.inf, float(px_thresh)
        else:
            vals = [float(v) for v in px_thresh]
            if not vals:
                raise ParameterError("px_thresh must be a number or a (low, high) pair")
            self.lo, self.hi = min(vals), max(vals)
        if std_thresh is not None and not (float(std_thresh) >= 0):
            raise ParameterError(f"std_thresh must be ≥ 0 or None, got {std_thresh!r}")
        self.std_thresh = None if std_thresh is None else float(std_thresh)
        self.std_check = std_check
        self.shape: tuple[int, ...] | None = None
        self.n = 0

    def add(self, frame) -> None:
        f = np.asarray(frame)
        if f.ndim != 2:
            raise ParameterError(f"frames must be 2-D, got shape {f.shape}")
        if self.shape is None:
            self.shape = f.shape
            self.mean = np.zeros(f.size)
            self._m2 = np.zeros(f.size)
            self._invalid = np.zeros(f.size, dtype=np.bool_)
        elif f.shape != self.shape:
            raise ParameterError(f"frame {self.n} has shape {f.shape}, the first {self.shape}")
        self.n += 1
        running = self.std_thresh is not None and self.std_check == "running"
        limit = self.std_thresh if self.std_thresh is not None else np.inf
        _update(np.ascontiguousarray(f).reshape(-1), self.n, self.mean, self._m2, self._invalid,
                self.lo, self.hi, limit, running)

    def std(self) -> np.ndarray:
        """Population standard deviation (ddof 0) of each pixel so far."""
        self._check()
        return np.sqrt(self._m2 / self.n).reshape(self.shape)

    def valid(self) -> np.ndarray:
        """The mask so far, True = valid."""
        self._check()
        invalid = self._invalid.copy()
        if self.std_thresh is not None and self.std_check == "final":
            invalid |= np.sqrt(self._m2 / self.n) > self.std_thresh
        return ~invalid.reshape(self.shape)

    def _check(self) -> None:
        if self.n == 0:
            raise ParameterError("no frames were given")


def mask_from_collection(images, px_thresh=(0, 3e4), std_thresh: float | None = None,
                         std_check: str = "running") -> np.ndarray:
    """Validity mask (True = valid) from an iterable of 2-D frames or a single 2-D array."""
    acc = CollectionMask(px_thresh, std_thresh, std_check)
    arr = images if isinstance(images, np.ndarray) else None
    if arr is not None and arr.ndim == 2:
        acc.add(arr)
    else:
        for frame in images:
            acc.add(frame)
    return acc.valid()


def combine_masks(*masks) -> np.ndarray:
    """Logical AND of validity masks (True = valid); accepts masks or one iterable of masks."""
    if len(masks) == 1 and not isinstance(masks[0], np.ndarray):
        masks = tuple(masks[0])
    if not masks:
        raise ParameterError("combine_masks needs at least one mask")
    out = np.array(masks[0], dtype=bool)
    for m in masks[1:]:
        m = np.asarray(m, dtype=bool)
        if m.shape != out.shape:
            raise ParameterError(f"masks of shapes {out.shape} and {m.shape} cannot be combined")
        out &= m
    return out


def snr_from_collection(images) -> np.ndarray:
    """Signal-to-noise ratio mean/std (ddof 0) per pixel over an iterable of frames (inf where std is 0)."""
    acc = CollectionMask(px_thresh=np.inf)
    for frame in images:
        acc.add(frame)
    with np.errstate(divide="ignore", invalid="ignore"):
        return acc.mean.reshape(acc.shape) / acc.std()
