"""Transform models and robust solvers for matched FIB-SEM keypoints (spec/fibsem.md §5–§6).

Matrices are 3 × 3 in OpenCV/scikit-image (x, y) = (col, row) homogeneous coordinates,
``[[Sxx Sxy Tx], [Syx Syy Ty], [0 0 1]]``, and map src → dst: ``dst ≈ M·[x, y, 1]ᵀ``.

Models (closed-form estimators; ``MODEL_MIN`` points needed):

* ``Shift``: t = mean(dst − src).
* ``XScaleShift``: OLS slope/intercept of x_d on x_s; ty = mean(y_d − y_s).
* ``ScaleShift``: independent OLS slope and intercept per axis, no cross terms.
* ``Affine``: linear least squares of the 2n equations.
* ``RegularizedAffine``: Hartley-normalise src and dst (centroid c, ρ = rms distance,
  s = √2/ρ), solve ``h = (AᵀA/n² + L)⁻¹(Aᵀb/n² + L·h_t)`` with ``L = diag(λ, λ, 0, λ, λ, 0)``
  and ``h_t`` = identity, then ``M = N_dst⁻¹·H·N_src``. In normalised coordinates AᵀA/n² ≈ I/n,
  so the off-identity part shrinks by **λn/(1 + λn)** (about 1.5 % for n = 1500 and λ = 1e-5:
  the λ is not independent of n); λ → ∞ gives the centroid → centroid map with isotropic scale
  ρ_dst/ρ_src (not a pure shift); λ = 0 is ordinary least squares. Kept as in the reference.

Solvers: RANSAC (exactly ``max_iter`` trials, no early stop; minimal sample
``max(model_min, floor(N·initial_fraction))``; Euclidean residual; inliers below ``drmax``;
most inliers wins, ties go to the smaller Σ residual² over all points; refit on all inliers;
seeded, so a pair gives the same result wherever it runs) and LinReg (refit after removing the
worst ``remove_per_iter`` pairs until max residual ≤ drmax or ``max_iter`` iterations; no pair
is removed after convergence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from owlx.errors import ParameterError

__all__ = [
    "MODELS",
    "MODEL_MIN",
    "FitSettings",
    "PairFit",
    "estimate",
    "fit_pair",
    "linreg",
    "pair_seed",
    "ransac",
    "residuals",
]

MODELS = ("Shift", "XScaleShift", "ScaleShift", "Affine", "RegularizedAffine")
MODEL_MIN = {"Shift": 1, "XScaleShift": 2, "ScaleShift": 2, "Affine": 3, "RegularizedAffine": 3}
SOLVERS = ("RANSAC", "LinReg")
STATUS_OK = "ok"


@numba.njit(cache=True, nogil=True)
def _solve3(a, b):
    """Solve the 3 × 3 system a·x = b by cofactors; ok=False when (nearly) singular."""
    c00 = a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]
    c01 = a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]
    c02 = a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]
    det = a[0, 0] * c00 + a[0, 1] * c01 + a[0, 2] * c02
    scale = np.abs(a).max()
    x = np.zeros(3)
    if scale == 0.0 or abs(det) <= 1e-13 * scale ** 3:
        return x, False
    inv = np.empty((3, 3))
    inv[0, 0] = c00
    inv[1, 0] = c01
    inv[2, 0] = c02
    inv[0, 1] = a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]
    inv[1, 1] = a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]
    inv[2, 1] = a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]
    inv[0, 2] = a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]
    inv[1, 2] = a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]
    inv[2, 2] = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    for i in range(3):
        x[i] = (inv[i, 0] * b[0] + inv[i, 1] * b[1] + inv[i, 2] * b[2]) / det
    return x, True


@numba.njit(cache=True, nogil=True)
def _ols(u, v):
    """Slope and intercept of v on u; ok=False when u has no spread."""
    n = u.shape[0]
    mu = u.mean()
    mv = v.mean()
    suu = 0.0
    suv = 0.0
    for i in range(n):
        suu += (u[i] - mu) * (u[i] - mu)
        suv += (u[i] - mu) * (v[i] - mv)
    if suu <= 1e-12 * max(1.0, mu * mu) * n:
        return 1.0, mv - mu, False
    slope = suv / suu
    return slope, mv - slope * mu, True


@numba.njit(cache=True, nogil=True)
def _fit(code, src, dst, lam, ht):
    """Closed-form estimate of model ``code`` (index into MODELS); returns (M, ok)."""
    n = src.shape[0]
    m = np.eye(3)
    if n < 1:
        return m, False
    xs = src[:, 0].astype(np.float64)
    ys = src[:, 1].astype(np.float64)
    xd = dst[:, 0].astype(np.float64)
    yd = dst[:, 1].astype(np.float64)
    if code == 0:
        m[0, 2] = (xd - xs).mean()
        m[1, 2] = (yd - ys).mean()
        return m, True
    if code == 1:
        sx, tx, ok = _ols(xs, xd)
        m[0, 0] = sx
        m[0, 2] = tx
        m[1, 2] = (yd - ys).mean()
        return m, ok
    if code == 2:
        sx, tx, okx = _ols(xs, xd)
        sy, ty, oky = _ols(ys, yd)
        m[0, 0] = sx
        m[0, 2] = tx
        m[1, 1] = sy
        m[1, 2] = ty
        return m, okx and oky
    # affine models: work in normalised coordinates (Hartley), which also conditions OLS
    cxs, cys, cxd, cyd = xs.mean(), ys.mean(), xd.mean(), yd.mean()
    rs = np.sqrt(((xs - cxs) ** 2 + (ys - cys) ** 2).sum() / n)
    rd = np.sqrt(((xd - cxd) ** 2 + (yd - cyd) ** 2).sum() / n)
    if rs <= 0.0 or rd <= 0.0:
        return m, False
    ss = np.sqrt(2.0) / rs
    sd = np.sqrt(2.0) / rd
    u = (xs - cxs) * ss
    w = (ys - cys) * ss
    p = (xd - cxd) * sd
    q = (yd - cyd) * sd
    lam_eff = lam if code == 4 else 0.0
    g = np.zeros((3, 3))
    g[0, 0] = (u * u).sum()
    g[0, 1] = (u * w).sum()
    g[0, 2] = u.sum()
    g[1, 1] = (w * w).sum()
    g[1, 2] = w.sum()
    g[2, 2] = n
    g[1, 0] = g[0, 1]
    g[2, 0] = g[0, 2]
    g[2, 1] = g[1, 2]
    n2 = float(n) * n
    a = g / n2
    a[0, 0] += lam_eff
    a[1, 1] += lam_eff
    bx = np.array([(u * p).sum(), (w * p).sum(), p.sum()]) / n2
    by = np.array([(u * q).sum(), (w * q).sum(), q.sum()]) / n2
    bx[0] += lam_eff * ht[0]
    bx[1] += lam_eff * ht[1]
    by[0] += lam_eff * ht[3]
    by[1] += lam_eff * ht[4]
    hx, okx = _solve3(a, bx)
    hy, oky = _solve3(a, by)
    if not (okx and oky):
        return m, False
    # M = N_dst⁻¹·H·N_src written out (no matmul: it keeps numba's compile time short)
    for r, (hr, c) in enumerate(((hx, cxd), (hy, cyd))):
        m[r, 0] = hr[0] * ss / sd
        m[r, 1] = hr[1] * ss / sd
        m[r, 2] = (hr[2] - hr[0] * ss * cxs - hr[1] * ss * cys) / sd + c
    return m, True


@numba.njit(cache=True, nogil=True)
def _residuals(m, src, dst):
    n = src.shape[0]
    out = np.empty(n)
    for i in range(n):
        x = src[i, 0]
        y = src[i, 1]
        dx = m[0, 0] * x + m[0, 1] * y + m[0, 2] - dst[i, 0]
        dy = m[1, 0] * x + m[1, 1] * y + m[1, 2] - dst[i, 1]
        out[i] = np.sqrt(dx * dx + dy * dy)
    return out


@numba.njit(cache=True, nogil=True)
def _ransac(code, src, dst, k, drmax, max_iter, seed, lam, ht):
    np.random.seed(seed)
    n = src.shape[0]
    idx = np.arange(n)
    best_m = np.eye(3)
    best_count = -1
    best_sse = np.inf
    sub_s = np.empty((k, 2))
    sub_d = np.empty((k, 2))
    for _ in range(max_iter):
        for j in range(k):  # partial Fisher–Yates: k distinct indices
            r = j + np.random.randint(0, n - j)
            t = idx[j]
            idx[j] = idx[r]
            idx[r] = t
            sub_s[j, 0] = src[idx[j], 0]
            sub_s[j, 1] = src[idx[j], 1]
            sub_d[j, 0] = dst[idx[j], 0]
            sub_d[j, 1] = dst[idx[j], 1]
        m, ok = _fit(code, sub_s, sub_d, lam, ht)
        if not ok:
            continue
        res = _residuals(m, src, dst)
        count = 0
        sse = 0.0
        for i in range(n):
            sse += res[i] * res[i]
            if res[i] < drmax:
                count += 1
        if count > best_count or (count == best_count and sse < best_sse):
            best_count = count
            best_sse = sse
            best_m = m
    return best_m, best_count


def _model_code(model: str) -> int:
    if model not in MODELS:
        raise ParameterError(f"unknown transform model {model!r}; use one of {', '.join(MODELS)}")
    return MODELS.index(model)


def _points(a) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, 2)
    return a


def estimate(model: str, src, dst, lam: float = 1e-5, targ_vector=(1, 0, 0, 0, 1, 0)) -> np.ndarray:
    """The closed-form estimate (3 × 3) of ``model`` from matched points; ParameterError when
    the points cannot determine it (too few, or degenerate)."""
    src, dst = _points(src), _points(dst)
    m, ok = _fit(_model_code(model), src, dst, float(lam), np.asarray(targ_vector, dtype=np.float64))
    if not ok:
        raise ParameterError(f"{len(src)} matched points do not determine a {model} transform (degenerate)")
    return m


def residuals(m, src, dst) -> np.ndarray:
    """Euclidean residuals ``‖M·src − dst‖`` (px)."""
    return _residuals(np.asarray(m, dtype=np.float64), _points(src), _points(dst))


def pair_seed(base_seed: int, pair_index: int) -> int:
    """The RANSAC seed of pair ``pair_index``: a hash of (base seed, pair index), the same on
    every worker (spec/fibsem.md §1)."""
    return int(np.random.SeedSequence([int(base_seed) & 0xFFFFFFFF, int(pair_index)]).generate_state(1)[0])


def ransac(model: str, src, dst, drmax: float = 1.5, max_iter: int = 1000, initial_fraction: float = 0.005,
           seed: int = 0, lam: float = 1e-5, targ_vector=(1, 0, 0, 0, 1, 0)) -> tuple[np.ndarray, np.ndarray]:
    """RANSAC fit; returns (M refitted on all inliers, boolean inlier mask)."""
    src, dst = _points(src), _points(dst)
    code = _model_code(model)
    n = len(src)
    k = max(MODEL_MIN[model], int(np.floor(n * initial_fraction)))
    if n < k:
        raise ParameterError(f"{n} matches are fewer than the {k} a {model} RANSAC sample needs")
    ht = np.asarray(targ_vector, dtype=np.float64)
    m, count = _ransac(code, src, dst, k, float(drmax), int(max_iter), int(seed) & 0xFFFFFFFF, float(lam), ht)
    if count <= 0:
        return np.eye(3), np.zeros(n, dtype=bool)
    inliers = _residuals(m, src, dst) < drmax
    refit, ok = _fit(code, src[inliers], dst[inliers], float(lam), ht)
    return (refit if ok else m), inliers


def linreg(model: str, src, dst, drmax: float = 1.5, max_iter: int = 1000, remove_per_iter: int = 1,
           lam: float = 1e-5, targ_vector=(1, 0, 0, 0, 1, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Iterative worst-residual removal; returns (M, boolean mask of the pairs kept)."""
    src, dst = _points(src), _points(dst)
    code = _model_code(model)
    ht = np.asarray(targ_vector, dtype=np.float64)
    keep = np.arange(len(src))
    m = np.eye(3)
    for _ in range(int(max_iter) + 1):
        if len(keep) < MODEL_MIN[model]:
            break
        m, ok = _fit(code, src[keep], dst[keep], float(lam), ht)
        if not ok:
            break
        e = _residuals(m, src[keep], dst[keep])
        if e.max() <= drmax or _ == max_iter:
            break
        worst = np.argsort(e, kind="stable")[-max(1, int(remove_per_iter)):]
        keep = np.delete(keep, worst)
    mask = np.zeros(len(src), dtype=bool)
    mask[keep] = True
    return m, mask


@dataclass(frozen=True)
class FitSettings:
    """Model and solver settings of the pairwise fit (spec/fibsem.md §5–§6)."""

    model: str = "RegularizedAffine"
    solver: str = "RANSAC"
    drmax: float = 1.5
    max_iter: int = 1000
    initial_fraction: float = 0.005
    min_inliers: int = 10
    remove_per_iter: int = 1
    l2_lambda: float = 1e-5
    targ_vector: tuple = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    def __post_init__(self):
        _model_code(self.model)
        if self.solver not in SOLVERS:
            raise ParameterError(f"unknown solver {self.solver!r}; use one of {', '.join(SOLVERS)}")
        if not self.drmax > 0:
            raise ParameterError(f"drmax must be > 0 px, got {self.drmax}")
        if int(self.max_iter) < 1:
            raise ParameterError(f"max_iter must be ≥ 1, got {self.max_iter}")


@dataclass
class PairFit:
    """The fit of one consecutive pair (j, j+1). ``matrix`` maps frame-j (x, y) to frame j+1;
    ``status`` is "ok", "insufficient_matches" (fewer matches than the model needs) or
    "low_inliers" (fewer inliers than ``min_inliers``). Failed pairs keep their fitted matrix
    here; the step actually used is decided by ``on_failure`` (:mod:`owlx.core.fibsem_register`)."""

    index: int
    matrix: np.ndarray
    n_matches: int
    npts: int
    status: str
    error_abs_mean: float = float("nan")
    fwhm_x: float = float("nan")
    fwhm_y: float = float("nan")
    src_inliers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    dst_inliers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    n_src_keypoints: int = -1
    n_dst_keypoints: int = -1

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def n_rejected(self) -> int:
        return self.n_matches - self.npts


def fwhm(values: np.ndarray, bins: int = 64) -> float:
    """Full width at half maximum of the histogram of ``values`` (``bins`` bins, linear
    interpolation of the half-maximum crossings between bin centres); NaN for < 2 values."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or np.ptp(values) == 0:
        return float("nan") if len(values) < 2 else 0.0
    hist, edges = np.histogram(values, bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    half = hist.max() / 2.0
    above = np.nonzero(hist >= half)[0]
    i, j = int(above[0]), int(above[-1])

    def cross(a: int, b: int) -> float:  # between centres a (below half) and b (at/above)
        ha, hb = hist[a], hist[b]
        return centres[a] + (half - ha) / (hb - ha) * (centres[b] - centres[a]) if hb != ha else centres[b]

    left = cross(i - 1, i) if i > 0 else centres[i]
    right = cross(j + 1, j) if j < bins - 1 else centres[j]
    return float(right - left)


def fit_pair(index: int, src, dst, settings: FitSettings | None = None, seed: int = 0) -> PairFit:
    """Fit pair ``index`` from its matched points with the settings' model and solver, and
    judge it: too few matches or inliers give a flagged status, never a silent identity."""
    s = settings or FitSettings()
    src, dst = _points(src), _points(dst)
    n = len(src)
    need = max(MODEL_MIN[s.model], int(np.floor(n * s.initial_fraction)))
    if n < need:
        return PairFit(index, np.eye(3), n, 0, "insufficient_matches")
    if s.solver == "RANSAC":
        m, inl = ransac(s.model, src, dst, s.drmax, s.max_iter, s.initial_fraction, pair_seed(seed, index),
                        s.l2_lambda, s.targ_vector)
    else:
        m, inl = linreg(s.model, src, dst, s.drmax, s.max_iter, s.remove_per_iter, s.l2_lambda, s.targ_vector)
    npts = int(inl.sum())
    fit = PairFit(index, m, n, npts, STATUS_OK if npts >= s.min_inliers else "low_inliers",
                  src_inliers=src[inl].astype(np.float32), dst_inliers=dst[inl].astype(np.float32))
    if npts:
        pred = src[inl] @ m[:2, :2].T + m[:2, 2]
        d = pred - dst[inl]
        fit.error_abs_mean = float(np.hypot(d[:, 0], d[:, 1]).mean())
        fit.fwhm_x, fit.fwhm_y = fwhm(d[:, 0]), fwhm(d[:, 1])
    return fit
