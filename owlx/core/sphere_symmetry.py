"""Point-symmetry scores of a diffraction pattern about candidate beam centres
(spec/sphere.md §4.2), shared by the centre finders of :mod:`owlx.core.sphere_center`.

Centre convention (spec §1): results are offsets ``(cx, cy)`` [px] from the array middle
((Nx−1)/2, (Ny−1)/2); the kernels work with integer array indices X (column), Y (row).

The score of libspimage's ``find_center_blurred`` (FXIhub/libspimage, ``find_center.c``),
independently implemented, is S(X, Y) = Σ(a − b)²/Σ(a + b) over the pairs a = B[Y+dy, X+dx],
b = B[Y−dy, X−dx], dy = −ry…−1, dx = −rx…rx, both pixels valid, with the largest symmetric
window rx = min(X, Nx−1−X), ry = min(Y, Ny−1−Y) unless fixed; +inf without signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from owlx.errors import ParameterError

__all__ = ["FASTMATH", "CenterResult", "ScoreImage", "center_out_of_range", "pair_score"]


@dataclass(frozen=True)
class CenterResult:
    """Outcome of a centre search; all positions are offsets [px] from ((Nx−1)/2, (Ny−1)/2).

    ``cx, cy`` is the result (sub-pixel when refined), ``cx_int, cy_int`` the integer-pixel
    result of the search and ``score`` its score (``blurred``: S at full resolution;
    ``quadrant``: the squared relative imbalance). ``flags`` may hold ``center_search_clipped``,
    ``center_out_of_range``, ``center_no_signal`` and ``subpixel_failed``.
    """

    cx: float
    cy: float
    cx_int: float
    cy_int: float
    score: float
    method: str
    flags: tuple = ()


# reassoc lets LLVM vectorise the two sums (4–8 partial sums instead of one); the order is still
# fixed for a given machine, so results stay deterministic run to run and thread to thread.
FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _score_grid(b, v, bf, vf, xs, ys, rx_fixed, ry_fixed, num, den):
    """Pair sums Σ(a−b)², Σ(a+b) of the symmetry score for every candidate (xs[i], ys[j]).

    ``b``/``v`` are the image (0 at invalid pixels) and its validity; ``bf``/``vf`` the same
    arrays flipped in both axes, so that the mirror pixel b[Y+d, X−dx] = bf[ny−1−Y−d, nx−1−X+dx]
    is read forwards and the inner loop vectorises. Windows are rx = min(X, nx−1−X) unless
    ``rx_fixed`` ≥ 0 (likewise ry). Candidates whose window is empty are left untouched.
    Loop order: candidate row, row pair, candidate column: the two rows of a pair stay in L1
    while all candidate columns use them.
    """
    ny, nx = b.shape
    for jy in range(ys.size):
        y0 = ys[jy]
        ry = min(y0, ny - 1 - y0) if ry_fixed < 0 else ry_fixed
        if ry <= 0:
            continue
        for d in range(1, ry + 1):
            ra = b[y0 - d]
            wa = v[y0 - d]
            rb = bf[ny - 1 - y0 - d]
            wb = vf[ny - 1 - y0 - d]
            for jx in range(xs.size):
                x0 = xs[jx]
                rx = min(x0, nx - 1 - x0) if rx_fixed < 0 else rx_fixed
                if rx <= 0:
                    continue
                a_ = ra[x0 - rx:x0 + rx + 1]
                va_ = wa[x0 - rx:x0 + rx + 1]
                b_ = rb[nx - 1 - x0 - rx:nx - x0 + rx]
                vb_ = wb[nx - 1 - x0 - rx:nx - x0 + rx]
                # float32 sums over one row pair (≤ nx terms, ~1e-6 relative), then float64:
                # eight lanes per vector instead of four halve the time of the search.
                s_n = np.float32(0.0)
                s_d = np.float32(0.0)
                for i in range(a_.size):
                    # A select, not a branch, so the loop vectorises.
                    m = np.float32(1.0) if (va_[i] and vb_[i]) else np.float32(0.0)
                    p = a_[i]
                    q = b_[i]
                    s_n += m * (p - q) * (p - q)
                    s_d += m * (p + q)
                num[jy, jx] += s_n
                den[jy, jx] += s_d


class ScoreImage:
    """An image prepared for the symmetry score: float32, zero at invalid pixels, plus copies
    flipped in both axes."""

    def __init__(self, b: np.ndarray, valid: np.ndarray):
        self.b = np.ascontiguousarray(b, dtype=np.float32)
        self.v = np.ascontiguousarray(valid)
        self.bf = np.ascontiguousarray(self.b[::-1, ::-1])
        self.vf = np.ascontiguousarray(self.v[::-1, ::-1])
        self.ny, self.nx = self.b.shape

    def scores(self, xs, ys, rx_fixed=-1, ry_fixed=-1) -> np.ndarray:
        """S for the candidate grid, shape (len(ys), len(xs)); inf without pairs or signal."""
        xs = np.asarray(xs, dtype=np.int64)
        ys = np.asarray(ys, dtype=np.int64)
        num = np.zeros((ys.size, xs.size))
        den = np.zeros((ys.size, xs.size))
        _score_grid(self.b, self.v, self.bf, self.vf, xs, ys, int(rx_fixed), int(ry_fixed),
                    num, den)
        # No valid pair leaves Σ(a+b) = 0, so one test covers both of the spec's inf cases.
        ok = den > 0
        return np.where(ok, num / np.where(ok, den, 1.0), np.inf)


def pair_score(img: np.ndarray, valid: np.ndarray | None, cx: float, cy: float) -> float:
    """Symmetry score S of the centre offset ``(cx, cy)`` [px from the array middle], which must
    fall on a pixel; image and validity mask (True = valid) as given, no blur."""
    img = np.asarray(img, dtype=np.float32)
    ny, nx = img.shape
    x, y = 0.5 * (nx - 1) + cx, 0.5 * (ny - 1) + cy
    if x != round(x) or y != round(y):
        raise ParameterError("pair_score needs a centre on a pixel (integer X, Y)")
    v = np.ones(img.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    b = np.where(v & np.isfinite(img), img, 0.0)
    return float(ScoreImage(b, v).scores([int(x)], [int(y)])[0, 0])


def center_out_of_range(shape, cx, cy) -> bool:
    """True when the offset (cx, cy) [px] lies beyond half the frame (ParameterError if not
    finite): the reference reset such centres to 0, owlx keeps them and flags them."""
    ny, nx = shape
    cx, cy = float(cx), float(cy)
    if not (math.isfinite(cx) and math.isfinite(cy)):
        raise ParameterError(f"the centre guess must be finite, got ({cx}, {cy})")
    return abs(cx) > nx / 2 or abs(cy) > ny / 2
