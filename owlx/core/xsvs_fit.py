"""Negative-binomial model of speckle photon counts and the fits of M (spec/xsvs.md §9, §10).

``P(k; K, M) = Γ(k+M)/(Γ(k+1)Γ(M)) · (K/(K+M))^k · (M/(K+M))^M``: K is the mean count per pixel,
M the number of modes, the speckle contrast β = 1/M (Bandyopadhyay et al., Rev. Sci. Instrum.
76, 093110 (2005)). Mean K, variance K + K²/M; M → ∞ is Poisson, M = 1 geometric.

Fits of M with K fixed at the ring mean:

* :func:`fit_lsq`: least squares on log10 probabilities weighted by σ_log = σ/(y ln 10), as
  pyxsvs. ``compat=True`` is pyxsvs's unbounded MINPACK Levenberg–Marquardt in M from M₀ = 5;
  otherwise Levenberg–Marquardt in log M, clipped to M ∈ [1e-2, 1e6] (a result on a bound is
  flagged ``at_bound``).
* :func:`fit_mle`: maximum likelihood on the pooled integer counts, the tail beyond the last
  bin entering through the survival function; σ_M from the observed information.
* :func:`moment_M`: ``1/M = (var − mean)/mean²``.
* :func:`r_minus_1`: the low-count contrast estimator R − 1 from P(0), P(1), P(2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from owlx.errors import ParameterError

M_BOUNDS = (1e-2, 1e6)
FIT_METHODS = ("lsq", "mle")
R1_FORMS = ("exact", "pyxsvs")
LN10 = math.log(10.0)


# -- the model --------------------------------------------------------------------------------
def nb_logpmf(k, K: float, M: float) -> np.ndarray:
    """Natural log of P(k; K, M); ``k`` may be non-integer (curves on a fine grid).
    ``M·log(M/(K+M))`` is evaluated as ``−M·log1p(K/M)`` so large M keeps its precision."""
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        coeff = special.gammaln(k + M) - special.gammaln(k + 1.0) - special.gammaln(M)
        return coeff + special.xlogy(k, K) - k * np.log(K + M) - M * np.log1p(K / M)


def nb_pmf(k, K: float, M: float) -> np.ndarray:
    """P(k; K, M)."""
    return np.exp(nb_logpmf(k, K, M))


def nb_logsf(k: float, K: float, M: float) -> float:
    """log P(n > k) for integer k ≥ 0: the regularised incomplete beta I_{K/(K+M)}(k+1, M)."""
    return float(np.log(special.betainc(k + 1.0, M, K / (K + M))))


def _dlogpmf_dM(k: np.ndarray, K: float, M: float) -> np.ndarray:
    """∂ log P/∂M = ψ(k+M) − ψ(M) + log(M/(K+M)) + (K−k)/(K+M)."""
    return special.digamma(k + M) - special.digamma(M) - np.log1p(K / M) + (K - k) / (K + M)


def _d2logpmf_dM2(k: np.ndarray, K: float, M: float) -> np.ndarray:
    """∂² log P/∂M² = ψ'(k+M) − ψ'(M) + 1/M − 1/(K+M) − (K−k)/(K+M)²."""
    return (special.polygamma(1, k + M) - special.polygamma(1, M) + 1.0 / M - 1.0 / (K + M)
            - (K - k) / (K + M) ** 2)


def moment_M(mean: float, var: float) -> float:
    """Moment estimate of M from ``1/M = (var − mean)/mean²``, clipped to [1e-2, 1e6]; NaN
    without counts."""
    if not (mean > 0 and math.isfinite(var)):
        return math.nan
    inv = (var - mean) / mean**2
    return float(np.clip(1.0 / inv, *M_BOUNDS)) if inv > 0 else M_BOUNDS[1]


# -- R − 1 ------------------------------------------------------------------------------------
def r_minus_1(p0, p1, p2, form: str = "exact"):
    """``exact``: 2·P0·P2/P1² − 1 (= 1/M for any K under the NB law); ``pyxsvs``:
    2·P2·(1 − P1)/P1² − 1 (P0 replaced by 1 − P1; biased upward unless K ≪ 1)."""
    if form not in R1_FORMS:
        raise ParameterError(f"unknown R−1 form {form!r}: use one of {', '.join(R1_FORMS)}")
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    with np.errstate(divide="ignore", invalid="ignore"):
        if form == "exact":
            out = 2.0 * p0 * p2 / p1**2 - 1.0
        else:
            out = 2.0 * p2 * (1.0 - p1) / p1**2 - 1.0
    return float(out) if out.ndim == 0 else out


def r_minus_1_with_error(mean3: np.ndarray, cov3: np.ndarray, form: str = "exact") -> tuple[float, float]:
    """R − 1 of mean (P0, P1, P2) and its delta-method standard deviation from the 3×3
    covariance of that mean (spec §10)."""
    p0, p1, p2 = (float(v) for v in mean3)
    value = float(r_minus_1(p0, p1, p2, form))
    if not (p1 > 0 and math.isfinite(value)):
        return value, math.nan
    if form == "exact":
        grad = np.array([2 * p2 / p1**2, -4 * p0 * p2 / p1**3, 2 * p0 / p1**2])
    else:
        grad = np.array([0.0, -4 * p2 / p1**3 + 2 * p2 / p1**2, 2 * (1 - p1) / p1**2])
    var = float(grad @ np.asarray(cov3) @ grad)
    return value, math.sqrt(max(var, 0.0))


# -- fits -------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """One fit of M. ``status``: "ok", "at_bound", "too_few_bins", "no_counts" or "failed".
    ``chi2_red`` = Σr²/(N−1) for lsq, NaN for mle."""

    method: str
    M: float
    M_stddev: float
    status: str
    n_bins: int
    chi2_red: float = math.nan

    @property
    def beta(self) -> float:
        return 1.0 / self.M if self.M else math.nan

    @property
    def beta_stddev(self) -> float:
        return self.M_stddev / self.M**2 if self.M else math.nan

    @property
    def at_bound(self) -> bool:
        return self.status == "at_bound"


def fit_bins_pyxsvs(y: np.ndarray) -> np.ndarray:
    """pyxsvs's fit bins (spec §9.3): ``roi = {y > 1e-5}``; more than n−2 bins → roi without its
    last two; otherwise every bin with y > 0."""
    y = np.asarray(y, dtype=np.float64)
    roi = np.flatnonzero(y > 1e-5)
    use = np.zeros(y.size, dtype=bool)
    if roi.size > y.size - 2:
        use[roi[:-2]] = True
    else:
        use[y > 0] = True
    return use


def fit_bins_owlx(y: np.ndarray, sigma: np.ndarray, merged_last: bool) -> np.ndarray:
    """owlx's fit bins: y > 0 and σ > 0, without the last bin when it merges P(E−2)+P(E−1)."""
    use = (np.asarray(y) > 0) & (np.asarray(sigma) > 0)
    if merged_last and use.size:
        use[-1] = False
    return use


def fit_lsq(x, y, sigma, K: float, use: np.ndarray, compat: bool = False, M0: float = 5.0) -> FitResult:
    """Least squares on log probabilities: r_k = (log10 y_k − log10 P(x_k; K, M))/σlog_k with
    σlog = σ/(y ln 10) over the bins ``use``. σ_M = sqrt(cov·Σr²/(N−1)), cov = (JᵀJ)⁻¹ at the
    optimum (invariant to a common scale of σ)."""
    x = np.asarray(x, dtype=np.float64)[use]
    y = np.asarray(y, dtype=np.float64)[use]
    sigma = np.asarray(sigma, dtype=np.float64)[use]
    n = int(x.size)
    method = "lsq"
    if not (K > 0):
        return FitResult(method, math.nan, math.nan, "no_counts", n)
    if n == 0:
        return FitResult(method, math.nan, math.nan, "too_few_bins", n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.log10(y)
        slog = sigma / (y * LN10)

    def residuals(M):
        return (ly - nb_logpmf(x, K, M) / LN10) / slog

    if compat:
        def fun(p):
            return residuals(float(p[0]))

        with np.errstate(all="ignore"):
            p, cov, info, _msg, ier = optimize.leastsq(fun, [M0], full_output=True)
        M = float(p[0])
        r = info["fvec"]
        if ier not in (1, 2, 3, 4) or cov is None or not math.isfinite(M):
            return FitResult(method, M, math.nan, "failed", n)
        s_sq = float(r @ r) / (n - 1) if n > 1 else math.nan
        return FitResult(method, M, math.sqrt(float(cov[0, 0]) * s_sq), "ok" if n > 1 else "too_few_bins",
                         n, s_sq)

    lo, hi = math.log(M_BOUNDS[0]), math.log(M_BOUNDS[1])
    u0 = min(max(math.log(M0), lo), hi)

    # Levenberg–Marquardt in u = log M keeps M positive; the upper bound is applied by
    # clipping (the residuals flatten out towards the Poisson limit, so LM may walk far)
    def fun_u(p):
        return residuals(math.exp(min(max(p[0], lo - 1.0), hi + 1.0)))

    def jac_u(p):
        M = math.exp(min(max(p[0], lo - 1.0), hi + 1.0))
        return (-_dlogpmf_dM(x, K, M) / LN10 / slog * M)[:, None]

    with np.errstate(all="ignore"):
        p, _cov, _info, _msg, ier = optimize.leastsq(fun_u, [u0], Dfun=jac_u, full_output=True, xtol=1e-12,
                                                     ftol=1e-12)
    u = min(max(float(p[0]), lo), hi)
    M = math.exp(u)
    r = residuals(M)
    if not np.all(np.isfinite(r)):
        return FitResult(method, M, math.nan, "failed", n)
    J = -_dlogpmf_dM(x, K, M) / LN10 / slog
    jtj = float(J @ J)
    s_sq = float(r @ r) / (n - 1) if n > 1 else math.nan
    M_std = math.sqrt(s_sq / jtj) if jtj > 0 and n > 1 else math.nan
    if ier not in (1, 2, 3, 4):
        status = "failed"
    elif min(u - lo, hi - u) < 1e-6:
        status = "at_bound"
    else:
        status = "ok" if n > 1 else "too_few_bins"
    return FitResult(method, M, M_std, status, n, s_sq)


def nb_loglik(M: float, counts: np.ndarray, tail: int, K: float) -> float:
    """ℓ(M) = Σ_k c_k log P(k; K, M) + c_tail·log P(n > E−2), k = 0 … E−2."""
    k = np.arange(counts.size, dtype=np.float64)
    nz = counts > 0
    ll = float(counts[nz] @ nb_logpmf(k[nz], K, M))
    if tail:
        ll += tail * nb_logsf(counts.size - 1, K, M)
    return ll


def fit_mle(counts: np.ndarray, tail: int, K: float) -> FitResult:
    """Maximum-likelihood M from pooled integer counts ``counts[k]`` (k = 0 … E−2) and ``tail``
    = #{n ≥ E−1}, K fixed (the sample mean, which is the ML estimate of the NB mean).

    Bounded Brent search in log M over [1e-2, 1e6]; σ_M = 1/sqrt(−ℓ''(M̂)) from the observed
    information, which is optimistic when pixels inside one speckle are correlated."""
    counts = np.asarray(counts, dtype=np.float64)
    n_bins = int(np.count_nonzero(counts)) + (1 if tail else 0)
    if not (K > 0) or counts.sum() + tail <= 0:
        return FitResult("mle", math.nan, math.nan, "no_counts", n_bins)
    lo, hi = math.log(M_BOUNDS[0]), math.log(M_BOUNDS[1])
    with np.errstate(all="ignore"):
        sol = optimize.minimize_scalar(lambda u: -nb_loglik(math.exp(u), counts, tail, K), bounds=(lo, hi),
                                       method="bounded", options={"xatol": 1e-10, "maxiter": 500})
    u = float(sol.x)
    M = math.exp(u)
    k = np.arange(counts.size, dtype=np.float64)
    d2 = float(counts @ _d2logpmf_dM2(k, K, M))
    if tail:
        h = 1e-4 * M
        f = [tail * nb_logsf(counts.size - 1, K, m) for m in (M - h, M, M + h)]
        d2 += (f[0] - 2 * f[1] + f[2]) / h**2
    M_std = 1.0 / math.sqrt(-d2) if d2 < 0 else math.nan
    if not sol.success or not math.isfinite(M):
        status = "failed"
    else:
        status = "at_bound" if min(u - lo, hi - u) < 1e-4 else "ok"
    return FitResult("mle", M, M_std, status, n_bins)
