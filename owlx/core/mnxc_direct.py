"""Masked NCC evaluated directly (in real space) on a small window of lags, with a hill climb.

The pyramid of spec/peaks.md §13 finds a coarse lag by FFT on a downsampled copy and then only
needs the NCC within ±2 lags of the propagated estimate at each finer level. For a window of
W lags, W sums over the overlap are far cheaper than a dozen padded FFTs of the full image.

The kernel runs over the rows of the fixed image once; for each row it accumulates all lags of
the window while the row and the few moving rows it needs are in cache. Large images are split
into row ranges on a few threads (owlx.core.row_split), one accumulator per range, so the result
does not depend on scheduling. Sums are float64.

The NCC is formed from the sums by :func:`owlx.core.mnxc.ncc_from_sums`, so a lag gets exactly the
value the FFT path would give (to rounding). Lags are (row, col); a peak at τ means
``moving(u − τ)`` matches ``fixed(u)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .mnxc import centred_masked, ncc_from_sums, parabolic_offset
from .row_split import split_rows

__all__ = ["PreparedImage", "climb_ncc", "lag_ncc", "window_ncc"]


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _row_sums(rm1, ra1, rb1, rm2, ra2, rb2, lo, hi, dc):  # pragma: no cover - numba
    sn = 0.0
    s1 = 0.0
    s2 = 0.0
    s12 = 0.0
    q1 = 0.0
    q2 = 0.0
    for uc in range(lo, hi):
        vc = uc - dc
        x1 = rm1[uc]
        y1 = ra1[uc]
        x2 = rm2[vc]
        y2 = ra2[vc]
        sn += x1 * x2
        s1 += y1 * x2
        s2 += x1 * y2
        s12 += y1 * y2
        q1 += rb1[uc] * x2
        q2 += x1 * rb2[vc]
    return sn, s1, s2, s12, q1, q2


@njit(cache=True, nogil=True, fastmath=True)
def _lag_sums(m1, a1, b1, m2, a2, b2, lags, r0, r1):  # pragma: no cover - numba
    """The six sums for each lag (row, col) of ``lags`` (k × 2 ints) over fixed rows r0…r1 − 1."""
    n1c = m1.shape[1]
    n2r, n2c = m2.shape
    nl = lags.shape[0]
    acc = np.zeros((nl, 6))
    for ur in range(r0, r1):
        for t in range(nl):
            vr = ur - lags[t, 0]
            if vr < 0 or vr >= n2r:
                continue
            dc = lags[t, 1]
            r = _row_sums(m1[ur], a1[ur], b1[ur], m2[vr], a2[vr], b2[vr], max(0, dc), min(n1c, n2c + dc), dc)
            for q in range(6):
                acc[t, q] += r[q]
    return acc


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _row_sums_reflected(rm1, ra1, rb1, rm2, ra2, lo, hi, base):  # pragma: no cover - numba
    """Row sums against a reversed row: the partner of column uc is base − uc."""
    sn = 0.0
    s = 0.0
    s12 = 0.0
    q = 0.0
    for uc in range(lo, hi):
        vc = base - uc
        x2 = rm2[vc]
        y2 = ra2[vc]
        sn += rm1[uc] * x2
        s += ra1[uc] * x2
        s12 += ra1[uc] * y2
        q += rb1[uc] * x2
    return sn, s, s12, q


@njit(cache=True, nogil=True, fastmath=True)
def _reflection_sums(m, a, b, lags, r0, r1):  # pragma: no cover - numba
    """The sums of an image against its own point reflection, without building the reflection.

    The reflected image R(v) = I(n − 1 − v), so the partner of u at lag τ is n − 1 − u + τ. By
    that symmetry ΣI₁M₂ = ΣM₁I₂ and ΣI₁²M₂ = ΣM₁I₂², so four sums suffice: N, S, S12, Q."""
    nr, nc = m.shape
    nl = lags.shape[0]
    acc = np.zeros((nl, 4))
    for ur in range(r0, r1):
        for t in range(nl):
            pr = nr - 1 - ur + lags[t, 0]  # partner row
            if pr < 0 or pr >= nr:
                continue
            dc = lags[t, 1]
            base = nc - 1 + dc
            r = _row_sums_reflected(m[ur], a[ur], b[ur], m[pr], a[pr], max(0, dc), min(nc, nc + dc), base)
            for q in range(4):
                acc[t, q] += r[q]
    return acc


class PreparedImage:
    """An image with its mask as the three float64 planes M, A = M·(I − mean)/std, B = A²."""

    reflected_of: PreparedImage | None = None  # set on the point reflection made by flipped()

    def __init__(self, image=None, mask=None, _planes=None):
        if _planes is not None:
            self.m, self.a, self.b = _planes
        else:
            image = np.asarray(image)
            mask = np.ones(image.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
            self.m, self.a, self.b = centred_masked(image, mask)
        self.count = float(self.m.sum())
        self.shape = self.m.shape

    def flipped(self) -> PreparedImage:
        """The point reflection image[::-1, ::-1] (same moments, so no recomputation). Its planes
        are views; the NCC against the image itself uses a kernel that reads them in place."""
        out = PreparedImage(_planes=tuple(x[::-1, ::-1] for x in (self.m, self.a, self.b)))
        out.reflected_of = self
        return out


def lag_ncc(fixed: PreparedImage, moving: PreparedImage, lags, overlap_ratio: float = 0.3) -> np.ndarray:
    """NCC at each lag (row, col) of ``lags`` (k × 2).

    The overlap rule uses min(valid counts) as the largest overlap, an upper bound of max N."""
    lags = np.ascontiguousarray(np.asarray(lags, dtype=np.int64).reshape(-1, 2))
    rows, work = fixed.shape[0], fixed.m.size * len(lags)
    if moving.reflected_of is fixed:
        n, s, s12, q = split_rows(_reflection_sums, rows, fixed.m, fixed.a, fixed.b, lags, work=work).T
        return ncc_from_sums(n, s, s, s12, q, q, overlap_ratio=overlap_ratio, max_n=fixed.count)
    mv = [np.ascontiguousarray(x) for x in (moving.m, moving.a, moving.b)]
    s = split_rows(_lag_sums, rows, fixed.m, fixed.a, fixed.b, *mv, lags, work=work)
    return ncc_from_sums(*(s[:, k] for k in range(6)), overlap_ratio=overlap_ratio,
                         max_n=min(fixed.count, moving.count))


def window_ncc(fixed: PreparedImage, moving: PreparedImage, lag0, shape, overlap_ratio: float = 0.3) -> np.ndarray:
    """NCC at lags ``lag0 + (i, j)`` for ``(i, j)`` in ``shape`` (a (rows, cols) window)."""
    ii, jj = np.indices(tuple(int(v) for v in shape))
    lags = np.stack([ii.ravel() + int(lag0[0]), jj.ravel() + int(lag0[1])], axis=1)
    return lag_ncc(fixed, moving, lags, overlap_ratio).reshape(tuple(int(v) for v in shape))


_CROSS = np.array([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)])


def climb_ncc(fixed: PreparedImage, moving: PreparedImage, start, max_walk: int = 6, overlap_ratio: float = 0.3,
              refine: bool = True) -> tuple[np.ndarray, float]:
    """Peak lag (row, col) of the NCC near ``start`` and its NCC value.

    Evaluates ``start`` and its four neighbours; while a neighbour is higher, moves there and
    evaluates the new neighbours (each lag once), at most ``max_walk`` steps. With ``refine`` a
    3-point parabola per axis through the peak and its neighbours adds the sub-pixel offset."""
    seen: dict[tuple[int, int], float] = {}

    def evaluate(centre):
        todo = [tuple(int(v) for v in centre + d) for d in _CROSS]
        new = [lag for lag in todo if lag not in seen]
        if new:
            for lag, v in zip(new, lag_ncc(fixed, moving, new, overlap_ratio)):
                seen[lag] = float(v)
        return [seen[lag] for lag in todo]

    centre = np.rint(np.asarray(start, dtype=float)).astype(int)
    for _ in range(max_walk + 1):
        vals = evaluate(centre)
        best = int(np.argmax(vals))
        if best == 0:
            break
        centre = centre + _CROSS[best]
    else:
        vals = evaluate(centre)
    lag = centre.astype(float)
    if refine:
        grid = np.array([[0.0, vals[1], 0.0], [vals[3], vals[0], vals[4]], [0.0, vals[2], 0.0]])
        lag += parabolic_offset(grid, (1, 1))
    return lag, vals[0]
