"""Difference correlations and angles: spec/polar.md §8–9, acceptance checks §11.8–11.9."""

import threading

import numpy as np
import pytest

from owlx.core.correlation import (
    autocorrelation,
    cross_correlation,
    difference_correlation,
    difference_indices,
)
from owlx.core.polar_angles import (
    bragg_angle,
    correct_polarization,
    correlation_vs_cos_psi,
    cos_psi,
    polarization_factor,
    q_of_radius,
)
from owlx.errors import JobCancelled, ParameterError

N = 360
J = np.arange(N)


def brute_cross(x, y):
    n = x.size
    return np.array([sum(x[(l + k) % n] * y[l] for l in range(n)) for k in range(n)])


def test_autocorrelation_of_a_cosine():
    c = autocorrelation(2 * np.cos(2 * np.pi * 3 * J / N))
    assert c[0] == pytest.approx(720)
    assert np.abs(c - 4 * N / 2 * np.cos(2 * np.pi * 3 * J / N)).max() < 1e-9 * c[0]


def test_fft_cross_correlation_equals_the_brute_force_sum():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=N), rng.normal(size=N)
    assert np.abs(cross_correlation(x, y) - brute_cross(x, y)).max() < 1e-10
    assert np.abs(autocorrelation(x) - brute_cross(x, x)).max() < 1e-10


def test_consecutive_differences():
    a, b = difference_indices(7, delta=2)
    shots = np.random.default_rng(1).normal(size=(7, 20))
    np.testing.assert_array_equal(shots[a] - shots[b], shots[:-2] - shots[2:])
    a, b = difference_indices(4, pairs=[[0, 3], [1, 2]])
    assert a.tolist() == [0, 1] and b.tolist() == [3, 2]


def test_masked_normalisation_recovers_the_cosine():
    mask = np.random.default_rng(2).random(N) >= 0.1
    x = np.cos(2 * np.pi * 3 * J / N)
    res = difference_correlation(np.stack([x, np.zeros(N)]), mask, norm="none")
    assert res.n_pairs == 1
    assert np.abs(res.corr[0] - 0.5 * np.cos(2 * np.pi * 3 * J / N)).max() < 0.05
    np.testing.assert_array_equal(res.counts[0], brute_cross(mask.astype(float), mask.astype(float)))
    full = difference_correlation(np.stack([x, np.zeros(N)]), None, norm="none")
    assert np.all(full.counts == N)


def brute_difference_correlation(shots, masks, a_idx, b_idx, average, cross_row=None):
    n_q, n = shots.shape[1:]
    num, den, ratio, cnt = (np.zeros((n_q, n)) for _ in range(4))
    for a, b in zip(a_idx, b_idx):
        m = masks[a] & masks[b]

        def mean_sub(v, m=m):
            return (v * m - (v * m).sum(-1, keepdims=True) / m.sum(-1, keepdims=True)) * m

        d = mean_sub(shots[a]) - mean_sub(shots[b])
        for q in range(n_q):
            q0 = q if cross_row is None else cross_row
            cd, cm = brute_cross(d[q0], d[q]), brute_cross(m[q0] * 1.0, m[q] * 1.0)
            num[q] += cd
            den[q] += cm
            ok = cm > 0
            ratio[q][ok] += cd[ok] / cm[ok]
            cnt[q] += ok
    return ratio / cnt if average == "mean" else num / den


@pytest.mark.parametrize("average", ["mean", "ratio_of_sums"])
@pytest.mark.parametrize("cross_row", [None, 1])
def test_difference_correlation_with_varying_masks_equals_brute_force(average, cross_row):
    rng = np.random.default_rng(3)
    shots = rng.normal(size=(6, 3, 48))
    masks = rng.random((6, 3, 48)) > 0.3
    res = difference_correlation(shots, masks, pairs=[[0, 4], [1, 2], [3, 5]], average=average, cross_row=cross_row)
    ref = brute_difference_correlation(shots, masks, [0, 1, 3], [4, 2, 5], average, cross_row)
    np.testing.assert_allclose(res.corr, ref, rtol=0, atol=1e-12)
    assert res.n_pairs == 3 and res.cross_row == cross_row


def test_shared_mask_mean_equals_ratio_of_sums_and_chunks_agree(monkeypatch):
    rng = np.random.default_rng(4)
    shots = rng.normal(size=(9, 2, 64)).astype(np.float32)
    mask = rng.random((2, 64)) > 0.2
    masks = np.broadcast_to(mask, shots.shape)
    ref = brute_difference_correlation(shots.astype(float), masks, range(8), range(1, 9), "mean")
    for average in ("mean", "ratio_of_sums"):
        res = difference_correlation(shots, mask, average=average)
        np.testing.assert_allclose(res.corr, ref, atol=1e-10)
    import owlx.core.correlation as C

    monkeypatch.setattr(C, "_CHUNK_ELEMENTS", 128)  # one pair per chunk
    seen = []
    res = difference_correlation(shots, mask, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(res.corr, ref, atol=1e-10)
    assert seen[-1] == (8, 8) and len(seen) == 8


def test_lags_without_valid_pairs_are_nan_and_cancel_works():
    mask = np.zeros(16, bool)
    mask[:3] = True  # valid pairs only at lags −2…2
    res = difference_correlation(np.random.default_rng(5).normal(size=(3, 16)), mask)
    assert np.all(np.isfinite(res.corr[0, [0, 1, 2, 14, 15]]))
    assert np.all(np.isnan(res.corr[0, 3:14])) and not np.isinf(res.corr).any()
    stop = threading.Event()
    stop.set()
    with pytest.raises(JobCancelled):
        difference_correlation(np.zeros((3, 16)), cancel=stop)
    with pytest.raises(ParameterError):
        difference_correlation(np.zeros((1, 16)))


def test_single_shot_correlation_without_differences():
    x = np.cos(2 * np.pi * 4 * J / N) + 5
    res = difference_correlation(x[None], None, delta=0, norm="mean_sub")
    np.testing.assert_allclose(res.corr[0], 0.5 * np.cos(2 * np.pi * 4 * J / N), atol=1e-12)


# -- angles and polarisation (§9) ------------------------------------------------------------
LAM, Q = 1.442e-10, 2.668e10  # 1.442 Å, 2.668 Å⁻¹ in SI


def test_cos_psi_spec_values():
    assert np.degrees(bragg_angle(Q, LAM)) == pytest.approx(17.8277, abs=1e-4)
    c = cos_psi(np.radians([0, 60, 90, 180]), Q, LAM)
    np.testing.assert_allclose(c, [1, 0.546865, 0.093731, -0.812538], atol=1e-6)
    assert c[-1] == pytest.approx(-np.cos(2 * bragg_angle(Q, LAM)))


def test_polarisation_spec_values():
    p = polarization_factor(Q, LAM, 360, 0.0)
    assert p.shape == (1, 360)
    assert p[0, 0] == pytest.approx(0.660219, abs=1e-6) and p[0, 90] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(polarization_factor(Q, LAM, 360, 0.5), 0.830109, atol=1e-6)
    np.testing.assert_allclose(correct_polarization(np.ones((2, 1, 360)), [Q], LAM)[1], 1 / p)


def test_q_of_radius_and_cos_psi_resampling():
    q = q_of_radius(100, 110e-6, 0.1, 1e-10)
    assert q == pytest.approx(4 * np.pi / 1e-10 * np.sin(0.5 * np.arctan(0.11)))
    dphi = 2 * np.pi * np.arange(N) / N
    qs = np.array([Q, Q * 1.01])
    # C = a_r + cos ψ: rings of different offsets; the resampled mean is linear in cos ψ exactly
    corr = np.vstack([off + cos_psi(dphi, qq, LAM) for off, qq in zip((0.0, 2.0), qs)])
    corr[0, 7] = np.nan  # a lag without valid pairs is skipped, its mirror lag still counts
    axis, mean, counts = correlation_vs_cos_psi(corr, dphi, qs, LAM, n_bins=40)
    assert axis[-1] == pytest.approx(1.0, abs=1e-15)
    assert axis[0] == pytest.approx(max(-np.cos(2 * bragg_angle(qs, LAM))))
    assert np.all(counts == 2)
    np.testing.assert_allclose(mean, 1.0 + axis, atol=1e-12)
    with pytest.raises(ParameterError):
        bragg_angle(1e12, LAM)


@pytest.mark.parametrize("masks_per_shot", [False, True])
def test_single_precision_agrees_with_double(masks_per_shot):
    rng = np.random.default_rng(6)
    shots = rng.normal(50, 5, size=(5, 2, 128))
    masks = rng.random((5, 2, 128)) > 0.1 if masks_per_shot else rng.random((2, 128)) > 0.1
    double = difference_correlation(shots, masks)
    single = difference_correlation(shots, masks, precision="single")
    assert single.corr.dtype == np.float64
    np.testing.assert_allclose(single.corr, double.corr, rtol=0, atol=1e-5 * np.abs(double.corr).max())
    assert not np.array_equal(single.corr, double.corr)
    with pytest.raises(ParameterError):
        difference_correlation(shots, masks, precision="half")
