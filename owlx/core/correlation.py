"""Angular difference correlations of ring profiles (spec/polar.md §8, LOKI ``DiffCorr``).

Definitions (N = n_phi, lag k = 0 … N−1, indices mod N):

* autocorrelation ``C[k] = Σ_j Δ[j]·Δ[(j+k) mod N] = irfft(|rfft(Δ)|²)``;
* cross-correlation of row q₀ with row q ``C_q[k] = Σ_l Δ_q₀[(l+k) mod N]·Δ_q[l]
  = irfft(F_q₀·conj(F_q))``;
* mask normalisation ``C_norm = C_Δ / C_m`` with ``C_m`` the same correlation of the pair mask
  ``m = m_A·m_B`` (the number of valid bin pairs at each lag); NaN where ``C_m = 0``.

Differences ``Δ = x_A − x_B`` come from explicit pairs (:mod:`owlx.core.shot_pairing`) or from
shots ``delta`` apart (``Δ_s = x_s − x_{s+δ}``, LOKI's ``pre_dif=False``). Each shot's rings are
normalised (:func:`owlx.core.ring_profiles.normalize_rings`) under the pair mask before
differencing, so both shots of a pair are averaged over the same bins.

Averaging over pairs: ``"mean"`` (LOKI's ``mean(0)`` of the normalised correlations; a pair
with no valid bin pair at a lag is left out of that lag) or ``"ratio_of_sums"`` =
Σ C_Δ / Σ C_m (less noisy when masks vary). When every shot shares one mask the two are equal.

Speed: the sum over pairs is taken in Fourier space (Σ irfft(|F|²) = irfft(Σ|F|²)), so each
difference costs one forward FFT and each ring one inverse FFT, and a shared mask is
transformed once per ring. Pairs are processed in chunks to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import fft as sfft

from owlx.core.cancel import cancel_checker
from owlx.core.ring_profiles import NORMALIZATIONS
from owlx.errors import ParameterError

__all__ = [
    "AVERAGES",
    "DiffCorrelation",
    "autocorrelation",
    "cross_correlation",
    "difference_correlation",
    "difference_indices",
]

AVERAGES = ("mean", "ratio_of_sums")
_CHUNK_ELEMENTS = 1 << 22  # differences per chunk × rings × angles: ~32 MB of float64


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Periodic autocorrelation along the last axis, ``irfft(|rfft(x)|², n=N)``."""
    x = np.asarray(x, dtype=np.float64)
    f = sfft.rfft(x, axis=-1)
    return sfft.irfft(f.real ** 2 + f.imag ** 2, n=x.shape[-1], axis=-1)


def cross_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Periodic cross-correlation ``C[k] = Σ_l x[(l+k) mod N]·y[l]`` along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[-1]
    return sfft.irfft(sfft.rfft(x, axis=-1) * np.conj(sfft.rfft(y, axis=-1)), n=n, axis=-1)


def difference_indices(n_shots: int, pairs: np.ndarray | None = None, delta: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Shot indices ``(A, B)`` of the differences x_A − x_B: the rows of ``pairs``, or
    ``s`` and ``s + delta`` for s = 0 … n_shots − delta − 1; ``delta=0`` takes every shot alone
    (B = −1: plain, not difference, correlations)."""
    if pairs is not None:
        p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if p.size and (p.min() < 0 or p.max() >= n_shots):
            raise ParameterError(f"pair indices must lie in 0–{n_shots - 1}")
        return p[:, 0].copy(), p[:, 1].copy()
    delta = int(delta)
    if delta < 0:
        raise ParameterError(f"the shot spacing delta must be ≥ 0, got {delta}")
    if delta == 0:
        return np.arange(n_shots, dtype=np.int64), np.full(n_shots, -1, np.int64)
    a = np.arange(max(n_shots - delta, 0), dtype=np.int64)
    return a, a + delta


@dataclass(frozen=True)
class DiffCorrelation:
    """Averaged difference correlation.

    ``corr`` (n_q, N): the mask-normalised correlation per ring and lag (NaN where no valid bin
    pair exists at a lag); ``counts`` (n_q, N): Σ over pairs of valid bin pairs per lag;
    ``n_pairs``; ``dphi`` (N,) the lag angles 2πk/N [rad]; ``cross_row``: None for
    autocorrelations, else the ring q₀ every ring was correlated with."""

    corr: np.ndarray
    counts: np.ndarray
    n_pairs: int
    dphi: np.ndarray
    cross_row: int | None = None


@numba.njit(cache=True, nogil=True)
def _pair_differences(shots, masks, shared_mask, a_idx, b_idx, norm, out_d, out_m, write_mask):
    """Normalised differences of the pairs (a_idx[p], b_idx[p]) and their masks; b_idx < 0
    takes shot a alone. ``norm``: 0 mean_sub, 1 positive_mean, 2 none. ``shared_mask``: masks
    has one shot only. The pair masks go to ``out_m`` only when ``write_mask``.

    With one mask for both shots, mean subtraction of each shot followed by the difference
    equals the difference minus its own masked mean, so each row is read once."""
    n_q, n = shots.shape[1], shots.shape[2]
    w = np.empty(n)
    for p in range(a_idx.size):
        sa = a_idx[p]
        sb = b_idx[p]
        ma_i = 0 if shared_mask else sa
        mb_i = 0 if shared_mask or sb < 0 else sb
        for q in range(n_q):
            cnt = 0.0
            for j in range(n):
                ok = masks[ma_i, q, j] and (sb < 0 or masks[mb_i, q, j])
                w[j] = 1.0 if ok else 0.0
                cnt += w[j]
            if write_mask:
                for j in range(n):
                    out_m[p, q, j] = w[j]
            sc_a = 1.0
            sc_b = 1.0
            if norm == 1:  # divide each shot by the mean of its positive values
                pos_a = 0.0
                npos_a = 0.0
                pos_b = 0.0
                npos_b = 0.0
                for j in range(n):
                    va = float(shots[sa, q, j])
                    if va > 0:
                        pos_a += va
                        npos_a += 1.0
                    if sb >= 0:
                        vb = float(shots[sb, q, j])
                        if vb > 0:
                            pos_b += vb
                            npos_b += 1.0
                sc_a = npos_a / pos_a if pos_a > 0 else 1.0
                sc_b = npos_b / pos_b if pos_b > 0 else 1.0
            total = 0.0
            if sb >= 0:
                for j in range(n):
                    d = float(shots[sa, q, j]) * sc_a - float(shots[sb, q, j]) * sc_b
                    d = d if w[j] != 0.0 else 0.0  # never let a masked NaN through
                    out_d[p, q, j] = d
                    total += d
            else:
                for j in range(n):
                    d = float(shots[sa, q, j]) * sc_a
                    d = d if w[j] != 0.0 else 0.0
                    out_d[p, q, j] = d
                    total += d
            if norm == 0 and cnt > 0:
                off = total / cnt
                for j in range(n):
                    out_d[p, q, j] = (out_d[p, q, j] - off) * w[j]


@numba.njit(cache=True, nogil=True)
def _add_power(f, acc):
    """acc[q, k] += Σ_p |f[p, q, k]|²."""
    for p in range(f.shape[0]):
        for q in range(f.shape[1]):
            for k in range(f.shape[2]):
                v = f[p, q, k]
                acc[q, k] += v.real * v.real + v.imag * v.imag


@numba.njit(cache=True, nogil=True)
def _add_cross(f, row, acc):
    """acc[q, k] += Σ_p f[p, row, k]·conj(f[p, q, k])."""
    for p in range(f.shape[0]):
        for q in range(f.shape[1]):
            for k in range(f.shape[2]):
                acc[q, k] += f[p, row, k] * f[p, q, k].conjugate()


def _spectrum_product(f, cross_row):
    """|F|² (auto) or F_q₀·conj(F_q) (cross) per pair: shape of f."""
    if cross_row is None:
        return f.real ** 2 + f.imag ** 2
    return f[:, cross_row:cross_row + 1, :] * np.conj(f)


def _as_3d(shots, masks):
    """Shots as (n_shots, n_q, N) and masks as (n_shots or 1, n_q, N), bool; identical masks of
    every shot collapse to one (the common case of one detector mask)."""
    x = np.asarray(shots)
    if x.ndim not in (2, 3):
        raise ParameterError(f"shots must have shape (n_shots, n_q, n_phi) or (n_shots, n_phi), got {x.shape}")
    one_ring = x.ndim == 2
    x3 = x[:, None, :] if one_ring else x
    if masks is None:
        m = np.ones((1,) + x3.shape[1:], np.bool_)
    else:
        m = np.asarray(masks, dtype=np.bool_)
        if m.ndim == x.ndim - 1:
            m = m[None]  # one mask shared by every shot
        if one_ring:
            m = m[:, None, :]
        if m.ndim != 3 or m.shape[1:] != x3.shape[1:] or m.shape[0] not in (1, x3.shape[0]):
            raise ParameterError(f"masks of shape {np.shape(masks)} do not fit shots of shape {x.shape}")
    if m.shape[0] > 1 and bool((m == m[:1]).all()):
        m = m[:1]
    return np.ascontiguousarray(x3), np.ascontiguousarray(m)


def difference_correlation(shots: np.ndarray, masks: np.ndarray | None = None, pairs: np.ndarray | None = None,
                           delta: int = 1, norm: str = "mean_sub", average: str = "mean",
                           cross_row: int | None = None, workers: int = 1, precision: str = "double",
                           cancel=None, progress=None) -> DiffCorrelation:
    """Mask-normalised difference auto- (or cross-) correlation averaged over pairs.

    ``shots`` (n_shots, n_q, N) or (n_shots, N); ``masks`` of the same shape, one shared mask
    (n_q, N), or None (all valid); ``pairs`` (n_pairs, 2) or consecutive differences ``delta``
    apart (``delta=0``: each shot's own correlation, no differences); ``norm`` per shot and ring
    before differencing; ``average`` "mean" or "ratio_of_sums"; ``cross_row`` correlates every
    ring with ring q₀ instead of itself; ``workers`` threads for the FFTs; ``precision``
    "single" runs the differences and forward FFTs in float32 (about 3× faster, relative error
    ~1e-7; the sums over pairs stay float64); ``cancel`` (see :mod:`owlx.core.cancel`) and
    ``progress(done, total)`` are called between chunks of pairs."""
    if norm not in NORMALIZATIONS:
        raise ParameterError(f"unknown normalisation '{norm}'; use one of {', '.join(NORMALIZATIONS)}")
    if average not in AVERAGES:
        raise ParameterError(f"unknown average '{average}'; use one of {', '.join(AVERAGES)}")
    if precision not in ("double", "single"):
        raise ParameterError(f"precision must be 'double' or 'single', got '{precision}'")
    dtype = np.float64 if precision == "double" else np.float32
    x, m = _as_3d(shots, masks)
    n_shots, n_q, n = x.shape
    if cross_row is not None and not 0 <= int(cross_row) < n_q:
        raise ParameterError(f"cross_row {cross_row} is not a ring index 0–{n_q - 1}")
    a_idx, b_idx = difference_indices(n_shots, pairs, delta)
    n_pairs = a_idx.size
    if n_pairs == 0:
        raise ParameterError(f"no differences to correlate: {n_shots} shots give no pair")
    check = cancel_checker(cancel)
    shared = m.shape[0] == 1
    norm_code = NORMALIZATIONS.index(norm)
    n_k = n // 2 + 1
    cross = None if cross_row is None else int(cross_row)
    acc = np.zeros((n_q, n_k), np.float64 if cross is None else np.complex128)
    acc_m = np.zeros((n_q, n_k), acc.dtype)
    # per-lag sums for "mean" with varying masks (every pair normalised before averaging)
    per_pair = average == "mean" and not shared
    sum_ratio = np.zeros((n_q, n)) if per_pair else None
    n_valid = np.zeros((n_q, n)) if per_pair else None
    counts = np.zeros((n_q, n))
    chunk = max(1, _CHUNK_ELEMENTS // max(n_q * n, 1))
    for start in range(0, n_pairs, chunk):
        check()
        sl = slice(start, min(start + chunk, n_pairs))
        p = sl.stop - sl.start
        d = np.empty((p, n_q, n), dtype)
        dm = np.empty((p, n_q, n) if not shared else (1, 1, 1), dtype)
        _pair_differences(x, m, shared, a_idx[sl], b_idx[sl], norm_code, d, dm, not shared)
        f = sfft.rfft(d, axis=-1, workers=workers, overwrite_x=True)
        if per_pair:
            fm = sfft.rfft(dm, axis=-1, workers=workers, overwrite_x=True)
            c = sfft.irfft(_spectrum_product(f, cross), n=n, axis=-1, workers=workers)
            cm = np.rint(sfft.irfft(_spectrum_product(fm, cross), n=n, axis=-1, workers=workers))
            ok = cm > 0
            sum_ratio += np.divide(c, cm, out=np.zeros_like(c), where=ok).sum(axis=0)
            n_valid += ok.sum(axis=0)
            counts += cm.sum(axis=0)
        else:
            if cross is None:
                _add_power(f, acc)
            else:
                _add_cross(f, cross, acc)
            if not shared:
                fm = sfft.rfft(dm, axis=-1, workers=workers, overwrite_x=True)
                if cross is None:
                    _add_power(fm, acc_m)
                else:
                    _add_cross(fm, cross, acc_m)
        if progress is not None:
            progress(sl.stop, n_pairs)
    if per_pair:
        corr = np.full((n_q, n), np.nan)
        np.divide(sum_ratio, n_valid, out=corr, where=n_valid > 0)
    else:
        total = sfft.irfft(acc, n=n, axis=-1, workers=workers)
        if shared:
            fm = sfft.rfft(m[0].astype(np.float64), axis=-1)
            counts = np.rint(sfft.irfft(_spectrum_product(fm[None], cross)[0], n=n, axis=-1)) * n_pairs
        else:
            counts = np.rint(sfft.irfft(acc_m, n=n, axis=-1))
        corr = np.full((n_q, n), np.nan)
        np.divide(total, counts, out=corr, where=counts > 0)
    dphi = 2.0 * np.pi * np.arange(n) / n
    return DiffCorrelation(corr, counts, int(n_pairs), dphi, cross)
