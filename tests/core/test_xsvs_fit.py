"""Negative-binomial model, fits of M and R − 1 (spec/xsvs.md §9, §10, §16.5–16.8)."""

import math

import numpy as np
import pytest
from scipy import stats

from owlx.core.xsvs_analysis import ExposureAnalysis, XsvsSettings
from owlx.core.xsvs_fit import fit_bins_pyxsvs, fit_lsq, nb_logpmf, nb_pmf, r_minus_1
from owlx.core.xsvs_rings import Rings


# -- PMF --------------------------------------------------------------------------------------
def test_pmf_normalisation_mean_and_variance():
    k = np.arange(401)
    p = nb_pmf(k, 3.0, 5.0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    mean = (k * p).sum()
    var = (k**2 * p).sum() - mean**2
    assert mean == pytest.approx(3.0, rel=1e-10)
    assert var == pytest.approx(3.0 + 9.0 / 5.0, rel=1e-10)


@pytest.mark.parametrize("K", [0.05, 0.5, 3.0])
def test_pmf_limits_and_scipy(K):
    k = np.arange(60)
    assert np.max(np.abs(nb_pmf(k, K, 1e6) - stats.poisson.pmf(k, K))) < 1e-5
    assert np.allclose(nb_pmf(k, K, 1.0), (1 / (1 + K)) * (K / (1 + K)) ** k, rtol=1e-12, atol=0)
    for M in (0.7, 5.0, 20.0, 300.0):
        assert np.max(np.abs(nb_pmf(k, K, M) - stats.nbinom.pmf(k, M, M / (K + M)))) < 1e-12


def test_logpmf_keeps_precision_for_large_M():
    assert nb_logpmf(0, 2.0, 1e12) == pytest.approx(-2.0, rel=1e-9)


# -- R − 1 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("M", [5.0, 20.0])
@pytest.mark.parametrize("K", [0.05, 0.5, 3.0])
def test_exact_r_minus_1_is_one_over_M(K, M):
    p0, p1, p2 = nb_pmf([0, 1, 2], K, M)
    assert r_minus_1(p0, p1, p2, "exact") == pytest.approx(1.0 / M, abs=1e-12)


@pytest.mark.parametrize("K,M,expected", [(0.05, 5, 0.20181), (0.5, 5, 0.38716), (3.0, 5, 9.33291),
                                          (0.05, 20, 0.05140), (0.5, 20, 0.20835)])
def test_pyxsvs_r_minus_1_bias(K, M, expected):
    p0, p1, p2 = nb_pmf([0, 1, 2], K, M)
    assert r_minus_1(p0, p1, p2, "pyxsvs") == pytest.approx(expected, abs=1e-5)


# -- fit bins and LSQ details -----------------------------------------------------------------
def test_pyxsvs_fit_bin_rule():
    y = np.array([0.5, 0.3, 0.1, 0.05, 0.02, 0.01, 0.008, 0.006, 0.004, 0.002])
    assert fit_bins_pyxsvs(y).tolist() == [True] * 8 + [False] * 2  # all > 1e-5: drop the last two
    y = np.array([0.9, 0.09, 0.009, 1e-6, 0.0, 0.0])
    assert fit_bins_pyxsvs(y).tolist() == [True, True, True, True, False, False]


def test_lsq_is_invariant_to_a_common_sigma_scale():
    k = np.arange(12)
    y = nb_pmf(k, 1.2, 4.0) * (1 + 0.03 * np.sin(k))
    s = 0.02 * np.sqrt(y)
    use = np.ones(12, bool)
    a = fit_lsq(k, y, s, 1.2, use)
    b = fit_lsq(k, y, s / math.sqrt(360), 1.2, use)
    c = fit_lsq(k, y, s, 1.2, use, compat=True)
    assert a.M == pytest.approx(b.M, rel=1e-9) and a.M_stddev == pytest.approx(b.M_stddev, rel=1e-6)
    assert c.M == pytest.approx(a.M, rel=1e-6) and c.M_stddev == pytest.approx(a.M_stddev, rel=1e-3)
    assert a.status == "ok" and a.n_bins == 12


# -- synthetic recovery (gamma–Poisson) ---------------------------------------------------------
N_FRAMES, N_PIX = 360, 2000
RING = Rings(np.array([0.005]), 1e-4, np.array([0, N_PIX]), np.arange(N_PIX, dtype=np.int64), (40, 50))


def analyse_synthetic(M, K, seed, settings=None):
    settings = settings or XsvsSettings()
    rng = np.random.default_rng(seed)
    frames = rng.poisson(rng.gamma(M, K / M, size=(N_FRAMES, N_PIX))).astype(np.uint16).reshape(N_FRAMES, 40, 50)
    analysis = ExposureAnalysis(RING, None, settings, N_FRAMES)
    for i, frame in enumerate(frames):
        analysis.add(i, frame)
    return analysis.finish()[0]


@pytest.fixture(scope="module")
def recovered():
    """Mean over 5 seeded repetitions of each (M, K) case: lsq, mle, moment, exact R−1."""
    out = {}
    for M, K in ((5.0, 0.5), (5.0, 3.0), (20.0, 3.0)):
        rows = [analyse_synthetic(M, K, seed) for seed in range(5)]
        out[M, K] = rows
    return out


@pytest.mark.parametrize("M,K,tol", [(5.0, 0.5, 0.05), (5.0, 3.0, 0.02), (20.0, 3.0, 0.05)])
@pytest.mark.parametrize("method", ["lsq", "mle"])
def test_M_is_recovered(recovered, M, K, tol, method):
    estimates = [r.fits[method].M for r in recovered[M, K]]
    assert abs(np.mean(estimates) / M - 1) < tol
    assert all(r.fits[method].status == "ok" for r in recovered[M, K])


@pytest.mark.parametrize("M,K", [(5.0, 0.5), (5.0, 3.0), (20.0, 3.0)])
def test_moment_estimator_agrees_with_mle(recovered, M, K):
    for r in recovered[M, K]:
        mle = r.fits["mle"]
        assert abs(r.M_moment - mle.M) < 2 * mle.M_stddev


@pytest.mark.parametrize("M,K", [(5.0, 0.5), (5.0, 3.0), (20.0, 3.0)])
def test_exact_r_minus_1_recovers_one_over_M(recovered, M, K):
    rows = recovered[M, K]
    r1 = np.mean([r.r1 for r in rows])
    err = np.sqrt(np.mean([r.r1_stddev**2 for r in rows]) / len(rows))  # of the mean of 5
    assert abs(r1 - 1 / M) < 3 * err
    assert err < 0.1 / M  # and the test has teeth


def test_pyxsvs_r_minus_1_is_biased_on_the_same_data():
    r = analyse_synthetic(5.0, 3.0, 0, XsvsSettings(r1_form="pyxsvs"))
    assert r.r1 == pytest.approx(9.33, rel=0.1)


def test_survival_function_matches_scipy():
    from owlx.core.xsvs_fit import nb_logsf

    for K, M, k in ((0.5, 5.0, 3), (3.0, 5.0, 18), (3.0, 20.0, 10), (0.05, 2.0, 1)):
        assert nb_logsf(k, K, M) == pytest.approx(stats.nbinom.logsf(k, M, M / (K + M)), rel=1e-10)
