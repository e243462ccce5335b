"""Per-frame photon-count histograms of all q rings in one pass (spec/xsvs.md §4, §6, §7).

One frame: for every ring pixel (CSR index lists, :mod:`owlx.core.xsvs_rings`) the count is
``n = round_half_even(raw / flat)`` (``raw`` itself without a flat field); per ring the
normalised histogram ``h_f(k)`` of the frame is formed and added to the running sums Σh, Σh²,
Σh₀h₁, Σh₀h₂, Σh₁h₂ (for the R−1 error), the pooled integer counts (for the maximum-likelihood
fit), Σn and Σn² (moment estimator), and the ring mean ``trace[j, f]``. All sums combine
associatively (:meth:`RingHistograms.merge`), so frame chunks may be reduced in any order.

Histogram modes (the bins of ring j are k = 0 … E_j − 2, unit width, E_j from the static):

* ``"pyxsvs"``: numpy density histogram with edges 0 … E−1: the last bin is closed
  (h(E−2) = P(E−2) + P(E−1)), counts ≥ E are dropped and the normalisation is over in-range
  pixels. A frame without in-range pixels is skipped for that ring and counted.
* ``"exact"``: ``h_f(k) = #{n = k}/N_ring``; ``overflow_f = #{n ≥ E−1}/N_ring`` is kept in
  column E−1 of the sums, so Σ_k h_f(k) + overflow_f = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from owlx.core.xsvs_rings import Rings
from owlx.errors import ParameterError

HISTOGRAM_MODES = ("exact", "pyxsvs")


def n_edges_from_static(ring_mean: float) -> int:
    """Number of bin edges E of a ring whose static mean is ``ring_mean`` counts (spec §6):
    ``2·floor(m)`` when m > 20, else 20. The ring then has E − 1 unit bins, left edges 0 … E−2."""
    if not math.isfinite(ring_mean):
        return 20
    return 2 * math.floor(ring_mean) if ring_mean > 20 else 20


@njit(cache=True, nogil=True)
def _count(x, flat, use_flat):
    """Photon count of one pixel: round_half_even(raw/flat), or of raw without a flat field."""
    if use_flat:
        return np.int64(np.rint(x / flat))
    return np.int64(np.rint(np.float64(x)))


@njit(cache=True, nogil=True)
def _ring_sparse(frame, flat_ring, use_flat, idx, a, b, e, compat, scratch):
    """Counts of pixels a…b−1 into scratch[0, :e+1] (column e: n ≥ e); returns (Σn, Σn²).
    For sparse frames: a zero pixel costs no division and no memory increment (a run of
    increments of one bin would wait on each other's stores)."""
    s1 = 0
    s2 = 0
    zeros = 0
    for p in range(a, b):
        x = frame[idx[p]]
        if x == 0:
            zeros += 1
            continue
        n = _count(x, flat_ring[p], use_flat)
        if n <= 0:
            # photon counts are never negative: numpy's histogram drops such values (compat),
            # the exact mode and the trace take them as 0
            if n == 0 or not compat:
                zeros += 1
            continue
        s1 += n
        s2 += n * n
        scratch[0, min(n, e)] += 1
    scratch[0, 0] += zeros
    return s1, s2


@njit(cache=True, nogil=True)
def _ring_dense(frame, flat_ring, use_flat, idx, a, b, e, compat, scratch, buf):
    """As :func:`_ring_sparse` for frames with many photons: one branch-free loop computes the
    counts (it vectorises: gather, divide, round), a second one histograms them into four
    interleaved copies so that equal neighbouring counts do not serialise."""
    for p in range(a, b):
        buf[p - a] = _count(frame[idx[p]], flat_ring[p], use_flat)
    s1 = 0
    s2 = 0
    for p in range(b - a):
        n = buf[p]
        if n < 0:
            if compat:
                continue
            n = 0
        s1 += n
        s2 += n * n
        scratch[p & 3, min(n, e)] += 1
    for r in range(1, 4):
        for k in range(e + 1):
            scratch[0, k] += scratch[r, k]
    return s1, s2


@njit(cache=True, nogil=True)
def _accumulate(frames, flat_ring, use_flat, ptr, idx, n_edges, compat, first_frame,
                counts, sum_h, sum_h2, sum_cross, moments, trace, n_used, scratch, buf):
    """Add ``frames`` (n, n_pixels) to the sums; frame i of the block is frame
    ``first_frame + i`` of the exposure. ``flat_ring[p]`` is the flat-field value of CSR
    element p (unused without a flat field). ``scratch`` is (4, Emax+1) int64, ``buf`` holds
    the largest ring. See the module docstring for the sums."""
    n_rings = ptr.size - 1
    for i in range(frames.shape[0]):
        frame = frames[i]
        f = first_frame + i
        for j in range(n_rings):
            e = n_edges[j]
            for r in range(4):
                for k in range(e + 1):
                    scratch[r, k] = 0
            # the previous frame's ring mean picks the faster loop (same result either way)
            prev = trace[j, f - 1] if f > 0 else 0.0
            if prev < 1.0 or np.isnan(prev):
                s1, s2 = _ring_sparse(frame, flat_ring, use_flat, idx, ptr[j], ptr[j + 1], e, compat, scratch)
            else:
                s1, s2 = _ring_dense(frame, flat_ring, use_flat, idx, ptr[j], ptr[j + 1], e, compat, scratch, buf)
            scratch1 = scratch[0]
            npix = ptr[j + 1] - ptr[j]
            trace[j, f] = s1 / npix if npix > 0 else np.nan
            moments[j, 0] += s1
            moments[j, 1] += s2
            for k in range(e + 1):
                counts[j, k] += scratch1[k]
            if compat:
                scratch1[e - 2] += scratch1[e - 1]  # numpy's last bin is closed on the right
                n_in = 0
                for k in range(e - 1):
                    n_in += scratch1[k]
                if n_in == 0:
                    continue  # density undefined (NaN in numpy): skip the frame, it is counted
                norm = 1.0 / n_in
                n_bins = e - 1
            else:
                if npix == 0:
                    continue
                scratch1[e - 1] += scratch1[e]  # overflow = #{n ≥ E−1}
                norm = 1.0 / npix
                n_bins = e
            for k in range(n_bins):
                h = scratch1[k] * norm
                sum_h[j, k] += h
                sum_h2[j, k] += h * h
            h0 = scratch1[0] * norm
            h1 = scratch1[1] * norm
            h2 = scratch1[2] * norm
            sum_cross[j, 0] += h0 * h1
            sum_cross[j, 1] += h0 * h2
            sum_cross[j, 2] += h1 * h2
            n_used[j] += 1


@dataclass
class RingHistograms:
    """Running sums of one exposure for all rings (spec §7).

    Arrays (nq = number of rings, E = ``n_edges``, Emax = max E):

    * ``counts`` (nq, Emax+1) int64: pooled counts of n = k for k < E_j; column E_j counts n ≥ E_j
    * ``sum_h``, ``sum_h2`` (nq, Emax) float64: Σ_f h_f(k), Σ_f h_f(k)² for k ≤ E_j−2; in exact mode
      column E_j−1 holds the overflow sums
    * ``sum_cross`` (nq, 3): Σ h₀h₁, Σ h₀h₂, Σ h₁h₂
    * ``moments`` (nq, 2): Σn, Σn² over all pixels and frames (counts beyond the bins included)
    * ``trace`` (nq, n_frames): ring mean per frame (NaN for frames not added yet)
    * ``n_used`` (nq,) int64: frames that entered the histogram sums
    """

    mode: str
    n_edges: np.ndarray
    npix: np.ndarray
    counts: np.ndarray
    sum_h: np.ndarray
    sum_h2: np.ndarray
    sum_cross: np.ndarray
    moments: np.ndarray
    trace: np.ndarray
    n_used: np.ndarray

    @classmethod
    def empty(cls, rings: Rings, n_edges, n_frames: int, mode: str = "exact") -> RingHistograms:
        if mode not in HISTOGRAM_MODES:
            raise ParameterError(f"unknown histogram mode {mode!r}: use one of {', '.join(HISTOGRAM_MODES)}")
        e = np.asarray(n_edges, dtype=np.int64).reshape(-1)
        if e.size != rings.n_rings:
            raise ParameterError(f"{e.size} bin counts given for {rings.n_rings} rings")
        if e.size and e.min() < 4:
            raise ParameterError("every ring needs at least 4 bin edges (3 bins) for R−1")
        emax = int(e.max()) if e.size else 4
        nq = rings.n_rings
        return cls(
            mode=mode, n_edges=e, npix=rings.npix,
            counts=np.zeros((nq, emax + 1), np.int64),
            sum_h=np.zeros((nq, emax)), sum_h2=np.zeros((nq, emax)), sum_cross=np.zeros((nq, 3)),
            moments=np.zeros((nq, 2)), trace=np.full((nq, int(n_frames)), np.nan),
            n_used=np.zeros(nq, np.int64),
        )

    def add(self, frames: np.ndarray, first_frame: int, rings: Rings, flat_ring: np.ndarray | None) -> None:
        """Histogram ``frames`` ((n, rows, cols) or one (rows, cols) frame, any real dtype)
        as frames ``first_frame …`` of the exposure. ``flat_ring`` is ``flat.ravel()[rings.idx]``
        (float64), or None for no flat-field division."""
        block = np.asarray(frames)
        if block.ndim == 2:
            block = block[None]
        if block.shape[1:] != rings.shape:
            raise ParameterError(f"frames of shape {block.shape[1:]} do not match the rings' image shape {rings.shape}")
        if first_frame < 0 or first_frame + block.shape[0] > self.trace.shape[1]:
            raise ParameterError(f"frames {first_frame}…{first_frame + block.shape[0] - 1} are outside "
                                 f"the exposure's {self.trace.shape[1]} frames")
        block = block.reshape(block.shape[0], -1)
        if not block.flags.c_contiguous:
            block = np.ascontiguousarray(block)
        use_flat = flat_ring is not None
        flat = np.ascontiguousarray(flat_ring, dtype=np.float64) if use_flat else np.ones(1)
        scratch = np.zeros((4, self.counts.shape[1]), np.int64)
        buf = np.empty(int(self.npix.max()) if self.npix.size else 0, np.int64)
        _accumulate(block, flat, use_flat, rings.ptr, rings.idx, self.n_edges, self.mode == "pyxsvs",
                    int(first_frame), self.counts, self.sum_h, self.sum_h2, self.sum_cross, self.moments,
                    self.trace, self.n_used, scratch, buf)

    def merge(self, other: RingHistograms) -> None:
        """Add the sums of ``other`` (another chunk of frames of the same exposure)."""
        if other.mode != self.mode or not np.array_equal(other.n_edges, self.n_edges) \
                or other.trace.shape != self.trace.shape:
            raise ParameterError("cannot merge histograms of different rings, bins or modes")
        for name in ("counts", "sum_h", "sum_h2", "sum_cross", "moments", "n_used"):
            getattr(self, name)[...] += getattr(other, name)
        self.trace = np.where(np.isnan(self.trace), other.trace, self.trace)

    # -- averages ----------------------------------------------------------------------------
    def n_bins(self, j: int) -> int:
        """Histogram bins of ring j (E_j − 1)."""
        return int(self.n_edges[j]) - 1

    def bins(self, j: int) -> np.ndarray:
        """Left edges 0 … E_j−2 (``histogramBins``)."""
        return np.arange(self.n_bins(j), dtype=np.int64)

    def histogram(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(histogram, histStdDev) of ring j over the frames used: the mean of h_f(k) and its
        population standard deviation (ddof = 0), not a standard error (spec §7)."""
        nb = self.n_bins(j)
        f = max(int(self.n_used[j]), 1)
        mean = self.sum_h[j, :nb] / f
        var = self.sum_h2[j, :nb] / f - mean**2
        return mean, np.sqrt(np.maximum(var, 0.0))

    def overflow(self, j: int) -> float:
        """Mean fraction of ring pixels with n ≥ E−1 (exact mode); NaN in pyxsvs mode."""
        if self.mode != "exact":
            return math.nan
        return float(self.sum_h[j, self.n_bins(j)] / max(int(self.n_used[j]), 1))

    def first_three_cov(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean of (h₀, h₁, h₂) over frames and the covariance of that mean (per-frame
        covariance / F), for the delta-method error of R−1 (spec §10)."""
        f = max(int(self.n_used[j]), 1)
        m = self.sum_h[j, :3] / f
        second = np.empty((3, 3))
        for a in range(3):
            second[a, a] = self.sum_h2[j, a] / f
        pairs = ((0, 1), (0, 2), (1, 2))
        for c, (a, b) in enumerate(pairs):
            second[a, b] = second[b, a] = self.sum_cross[j, c] / f
        cov = (second - np.outer(m, m)) / f
        return m, cov

    def pooled_counts(self, j: int) -> tuple[np.ndarray, int]:
        """Pooled integer counts c_k (k = 0 … E−2) over all frames and the tail #{n ≥ E−1}."""
        nb = self.n_bins(j)
        return self.counts[j, :nb].copy(), int(self.counts[j, nb:nb + 2].sum())

    def pooled_moments(self, j: int) -> tuple[float, float]:
        """Mean and variance (ddof = 0) of n over all pixels and frames of ring j."""
        n = float(self.npix[j]) * float(np.count_nonzero(~np.isnan(self.trace[j])))
        if n <= 0:
            return math.nan, math.nan
        mean = self.moments[j, 0] / n
        return mean, self.moments[j, 1] / n - mean * mean
