"""The masked autocorrelation of a pattern in the "same" window, for ``bragg_peaks`` (spec/peaks.md §4).

|MNXC(image, image)| (spec §2 with fixed = moving, mask = mask) at the lags
τ = (i − n₀//2, j − n₁//2), i < n₀, j < n₁: the output has the image's shape and lag 0 at index
(n₀//2, n₁//2). It equals ``owlx.core.mnxc.auto_ncc`` (float32 transforms) cropped to that window
(to ~1e-8; bit for bit on 512² images, where numpy multiplies the spectra in the same operand
order), with the same transforms done with less work:

* the forward transforms (centred image A and A², as one batch) skip the zero-padding rows in
  their row pass (a 2-D real FFT is a row pass then a column pass, so pruning rows whose input
  is zero changes no value);
* the inverse transforms run their row pass only on the rows of the lags kept (−h₀ … h₀, two
  thirds of the padded length);
* the mask's part (its transform and N = M⋆M, :func:`mask_transforms`) does not depend on the
  image: it can be computed meanwhile, and it is kept for the next call with the same mask (the
  frames of a series share one; spec §2 caches fixed masks across a stack), one forward and one
  inverse transform fewer;
* the NCC rules, the ``abs`` and the crop are one numba pass over the float32 sums (the NCC
  itself in float64).

Fixed and moving being the same, ΣM₁I₂ and ΣM₁I₂² at lag τ are ΣI₁M₂ and ΣI₁²M₂ at lag −τ.
The maxima of the rules (max N, max den₁·den₂) run over the symmetric window ±h, as auto_ncc's.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy import fft as sfft

from owlx.errors import ParameterError

from .mnxc import WORKERS, masked_moments

__all__ = ["MaskTransforms", "autocorrelation_same", "mask_transforms"]

_EPS64 = np.finfo(np.float64).eps
_CACHE_SIZE = 2  # masks whose transforms are kept (~4 MB each for 512² images)
_CACHE_BYTES = 160 * 2**20  # and at most this much memory (2048² images: ~63 MB each)
_cache: list[MaskTransforms] = []  # most recent last
_cache_lock = threading.Lock()


class MaskTransforms(NamedTuple):
    """What a validity mask contributes to the autocorrelation, for one image shape: the mask's
    spectrum F_M (P₀ × P₁//2 + 1, rows by the column pass) and N = M⋆M at lags −h₀ … h₀ (rows)
    × all P₁ columns (lag k mod P₁)."""

    key: tuple  # (n0, n1, p0, p1, dtype)
    packed: bytes  # np.packbits of the mask
    spectrum: np.ndarray
    n_sums: np.ndarray


@njit(cache=True, nogil=True)
def _fill_centred(img, mask, out):  # pragma: no cover - numba
    """Into the first columns of the zeroed buffer ``out`` (2, n₀, P₁): A = M·(I − mean)/std and A²
    (masked moments, ddof 0). False when no pixel is valid or the moments are not finite."""
    ok, mean, inv = masked_moments(img, mask)
    if not ok:
        return False
    nr, nc = img.shape
    for i in range(nr):
        for j in range(nc):
            if mask[i, j]:
                v = (img[i, j] - mean) * inv
                out[0, i, j] = v
                out[1, i, j] = v * v
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _abs_ncc_same(n_sums, s12_sums, s1_sums, q1_sums, h0, h1, n0, n1, overlap_ratio, eps, out):  # pragma: no cover
    """|NCC| at lags (i − h0, j − h1) into out (n0, n1) from the correlation sums (2h0 + 1, P1):
    row k is lag k − h0, column k lag k (mod P1). The rules of ncc_from_sums, in float64 and in
    its operation order; their maxima over lags ±h0 × ±h1. Row by row, gathered first so that the
    arithmetic runs on contiguous rows (error_model "numpy": no zero-division checks, which would
    stop its vectorisation); one pass, the rules applied at the end."""
    p1 = n_sums.shape[1]
    m = 2 * h1 + 1
    col = np.empty(m, dtype=np.int64)  # column of lag c, c = −h1 … h1
    opp = np.empty(m, dtype=np.int64)  # column of lag −c
    for c in range(-h1, h1 + 1):
        col[c + h1] = c % p1
        opp[c + h1] = (-c) % p1
    buf = np.empty((7, m))
    nk, s1, s2, q1, q2, s12, prod = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6]
    n_all = np.empty((n0, n1))
    prod_all = np.empty((n0, n1))
    top = 0.0
    nmax = 0.0
    for k in range(2 * h0 + 1):
        kb = 2 * h0 - k  # the row of the opposite lags
        for j in range(m):
            nk[j] = n_sums[k, col[j]]
            s1[j] = s1_sums[k, col[j]]
            q1[j] = q1_sums[k, col[j]]
            s2[j] = s1_sums[kb, opp[j]]
            q2[j] = q1_sums[kb, opp[j]]
        for j in range(m):
            n = max(np.rint(nk[j]), _EPS64)
            d1 = max(q1[j] - s1[j] * s1[j] / n, 0.0)
            d2 = max(q2[j] - s2[j] * s2[j] / n, 0.0)
            nk[j] = n
            prod[j] = d1 * d2
            top = max(top, prod[j])
            nmax = max(nmax, n)
        if k < n0:
            for j in range(n1):
                s12[j] = s12_sums[k, col[j]]
            for j in range(n1):
                v = (s12[j] - s1[j] * s2[j] / nk[j]) / np.sqrt(prod[j])  # not finite where prod = 0: ruled out below
                out[k, j] = abs(min(max(v, -1.0), 1.0))
                n_all[k, j] = nk[j]
                prod_all[k, j] = prod[j]
    limit = 1e3 * eps * top
    floor = overlap_ratio * nmax
    for i in range(n0):
        for j in range(n1):
            if not (prod_all[i, j] > limit and n_all[i, j] >= floor):
                out[i, j] = 0.0


def _sizes(shape, dtype) -> tuple:
    n0, n1 = shape
    p0, p1 = (sfft.next_fast_len(n + n // 2, real=True) for n in (n0, n1))
    return n0, n1, p0, p1, np.dtype(dtype).str


def _forward(planes: np.ndarray, p0: int) -> np.ndarray:
    """2-D real FFTs of the planes (k, n₀, P₁), zero-padded to P₀ rows: the row pass on the n₀ rows
    that hold data, then the column pass (as rfftn, bit for bit)."""
    return sfft.fft(sfft.rfft(planes, axis=2, workers=WORKERS), n=p0, axis=1, workers=WORKERS, overwrite_x=True)


def _inverse(prods: np.ndarray, h0: int, p1: int, dtype) -> np.ndarray:
    """Correlations (k, 2h₀ + 1, P₁) at row lags −h₀ … h₀ from spectra (k, P₀, P₁//2 + 1), as irfftn
    computes them (the same rounding, bit for bit): both passes unscaled, then × 1/(P₀·P₁) in the
    transforms' precision; the row pass only on the rows of the lags kept."""
    p0 = prods.shape[1]
    cols = sfft.ifft(prods, axis=1, norm="forward", workers=WORKERS, overwrite_x=True)
    rows = np.r_[p0 - h0:p0, 0:h0 + 1]
    sums = sfft.irfft(cols[:, rows], n=p1, axis=2, norm="forward", workers=WORKERS, overwrite_x=True)
    sums *= np.asarray(1.0 / (p0 * p1), dtype=dtype)
    return sums


def mask_transforms(valid: np.ndarray, dtype=np.float32) -> MaskTransforms:
    """The mask's part of :func:`autocorrelation_same` (bool mask, True = valid), from the cache
    when the same mask (by value) was seen last or last but one, else computed and kept. It does
    not depend on the image: ``bragg_peaks`` computes it while the image is being normalised."""
    key = _sizes(valid.shape, dtype)
    packed = np.packbits(valid).tobytes()
    with _cache_lock:
        for entry in _cache:
            if entry.key == key and entry.packed == packed:
                return entry
    n0, n1, p0, p1, _ = key
    plane = np.zeros((1, n0, p1), dtype=dtype)
    plane[0, :, :n1] = valid
    fm = _forward(plane, p0)
    fmc = np.conj(fm)
    n_sums = _inverse(fm * fmc, n0 // 2, p1, dtype)  # auto_ncc's operand order (see below)
    entry = MaskTransforms(key, packed, fm[0], n_sums[0])
    with _cache_lock:
        _cache.append(entry)
        del _cache[:-_CACHE_SIZE]
        while sum(e.spectrum.nbytes + e.n_sums.nbytes for e in _cache) > _CACHE_BYTES:
            del _cache[0]
    return entry


def autocorrelation_same(image: np.ndarray, valid: np.ndarray, overlap_ratio: float = 0.3,
                         dtype=np.float32, mask: MaskTransforms | None = None) -> np.ndarray | None:
    """|masked NCC| of ``image`` with itself at lags (i − n₀//2, j − n₁//2), (row, col), as float64
    of the image's shape; None when no pixel is valid.

    ``valid``: bool mask (True = valid). ``dtype``: the transforms' precision (float32: the sums
    carry ~1e-7 relative rounding). ``mask``: ``mask_transforms(valid, dtype)`` if already at hand."""
    n0, n1, p0, p1, _ = key = _sizes(image.shape, dtype)
    if mask is None:
        mask = mask_transforms(valid, dtype)
    elif mask.key != key:
        raise ParameterError(f"the mask transforms are for shape {mask.key[:2]}, the image is {image.shape}")
    planes = np.zeros((2, n0, p1), dtype=dtype)
    if not _fill_centred(image, valid, planes):
        if valid.any():
            raise ParameterError("the image has non-finite values (NaN or inf) at valid pixels: mask them")
        return None
    fa, fb = _forward(planes, p0)
    # ΣI₁I₂ = A⋆A, ΣI₁M₂ = A⋆M, ΣI₁²M₂ = B⋆M. numpy's complex products use FMA, so the operand
    # order changes the rounding: this is auto_ncc's order on large arrays (numpy then computes
    # its ``fa * np.conj(fa)`` in place in the temporary, as conj(fa)·fa)
    prods = np.empty((3,) + fa.shape, dtype=fa.dtype)
    fmc = np.conj(mask.spectrum)
    np.multiply(np.conj(fa), fa, out=prods[0])
    np.multiply(fa, fmc, out=prods[1])
    np.multiply(fb, fmc, out=prods[2])
    sums = _inverse(prods, n0 // 2, p1, dtype)
    out = np.empty((n0, n1))
    _abs_ncc_same(mask.n_sums, sums[0], sums[1], sums[2], n0 // 2, n1 // 2, n0, n1, float(overlap_ratio),
                  float(np.finfo(dtype).eps), out)
    return out
