"""Outliers, peak removal and periodic fits: spec/polar.md §5–6, acceptance checks §11.4–11.6."""

import warnings

import numpy as np
import pytest
from numpy.polynomial import chebyshev as cheb
from polar_data import bragg_rings

from owlx.core.ring_cleaning import (
    fit_periodic,
    is_outlier,
    modified_z_score,
    remove_peaks,
)
from owlx.errors import ParameterError


def test_is_outlier_modified_z_score():
    z = modified_z_score([1, 2, 3, 4, 100])
    assert z[-1] == pytest.approx(65.4265, abs=1e-4)
    assert z[0] == pytest.approx(1.3490, abs=1e-4)
    assert is_outlier([1, 2, 3, 4, 100]).tolist() == [False, False, False, False, True]
    assert is_outlier([1.0, 2, 3, 4, -100]).tolist()[-1]  # two-sided
    assert is_outlier(np.zeros(0)).shape == (0,)


def test_mad_zero_flags_only_the_spike_without_warnings():
    x = np.full(20, 5.0)
    x[7] = 6.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.flatnonzero(is_outlier(x)).tolist() == [7]
        assert modified_z_score(x)[7] == np.inf and modified_z_score(x)[0] == 0


def test_is_outlier_vectors_use_the_euclidean_distance():
    pts = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [30, 40]], float)
    z = modified_z_score(pts)
    d = np.hypot(pts[:, 0] - 1, pts[:, 1] - 1)
    np.testing.assert_allclose(z, 0.6745 * d / np.median(d))


@pytest.mark.parametrize("spike, thick, loki, owlx", [
    (50, None, {50}, {50}),
    (50, 1, {49, 50, 51}, {49, 50, 51}),
    (0, 2, {0, 1, 2}, {98, 99, 0, 1, 2}),
    (99, 2, {97, 98, 99}, {97, 98, 99, 0, 1}),
])
def test_remove_peaks_table(spike, thick, loki, owlx):
    ring = 100.0 + np.arange(100) % 3
    ring[spike] = 200
    mask = np.ones(100, bool)
    assert modified_z_score(ring)[spike] == pytest.approx(66.7755, abs=1e-4)
    for wrap, expect in ((False, loki), (True, owlx)):
        cleaned, new_mask, removed = remove_peaks(ring, mask, thick=thick, peak_thresh=3.0, wrap=wrap)
        assert set(np.flatnonzero(~new_mask)) == expect
        assert np.all(cleaned[~new_mask] == 0) and np.array_equal(cleaned[new_mask], ring[new_mask])
        assert np.array_equal(np.flatnonzero(removed), sorted(expect))
        assert removed[spike] == 200


def test_remove_peaks_on_a_fit_finds_peaks_on_a_slope():
    j = np.arange(400)
    ring = 100 + 50 * np.sin(2 * np.pi * j / 400)
    ring[123] += 8  # small against the modulation, large against the fit residual
    mask = np.ones(400, bool)
    fit = fit_periodic(ring, mask, 8)
    _, plain, _ = remove_peaks(ring, mask, peak_thresh=5)
    _, on_fit, _ = remove_peaks(ring, mask, peak_thresh=5, coef=fit.cheb_raw)
    assert plain.all()
    assert np.flatnonzero(~on_fit).tolist() == [123]


def test_remove_peaks_on_the_bragg_rows():
    rings, mask = bragg_rings()
    for row, expect in zip(range(3), (151, 153, 133)):
        for wrap in (True, False):
            _, new_mask, _ = remove_peaks(rings[row].astype(float), mask, thick=2, peak_thresh=3.5, wrap=wrap)
            assert np.count_nonzero(mask & ~new_mask) == expect


def spec_profile(n=5000):
    j = np.arange(n)
    return 100 + 10 * np.cos(2 * np.pi * j / n) + 5 * np.sin(4 * np.pi * j / n)


def test_fit_periodic_spec_vectors():
    data = spec_profile()
    fit = fit_periodic(data, None, 15, overlap=0.2)
    assert np.abs(fit.yfit - data).max() == pytest.approx(6.9e-4, abs=1e-4)
    x = np.arange(-1000, 6000, dtype=float)
    p = cheb.chebval((x - 2499.5) / 3499.5, fit.cheb_unit)
    assert np.abs(cheb.chebval(x, fit.cheb_raw) - p).max() < 1e-7
    np.testing.assert_allclose(np.polyval(fit.poly, np.arange(5000.0)), fit.yfit, atol=1e-4)
    assert np.abs(fit_periodic(data, None, 4).yfit - data).max() == pytest.approx(6.24, abs=0.01)
    assert np.abs(fit_periodic(data, None, 8).yfit - data).max() == pytest.approx(2.01, abs=0.01)


def test_fit_periodic_masked_bins():
    data = spec_profile()
    mask = np.ones(5000, bool)
    mask[np.random.default_rng(0).choice(5000, 500, replace=False)] = False
    masked = fit_periodic(data, mask, 15)
    zeros = fit_periodic(data * mask, None, 15)
    assert np.all(masked.yfit[~mask] == 0)
    np.testing.assert_allclose(masked.cheb_unit, zeros.cheb_unit, rtol=0, atol=1e-9)
    keep_zeros = fit_periodic(np.where(mask, data - 100, 0.0), mask, 15, exclude_zeros=False)
    assert np.abs(keep_zeros.yfit[mask] - (data - 100)[mask]).max() < 1e-3


def test_fit_periodic_on_the_bragg_rows_matches_the_power_basis_route():
    rings, mask = bragg_rings()
    n, nn = 5000, 1000
    x = np.arange(-nn, n + nn, dtype=float)
    for ring in rings:
        fit = fit_periodic(ring.astype(float), mask, 15, overlap=0.2)
        assert not np.isnan(fit.yfit).any() and np.all(fit.yfit[~mask] == 0)
        dm = ring * mask
        y = np.concatenate([dm[n - nn:], dm, dm[:nn]]).astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # polyfit may call this fit poorly conditioned: it is the reference
            ref = cheb.chebfit(x, np.polyval(np.polyfit(x[y != 0], y[y != 0], 15), x), 15)
        assert np.abs(fit.cheb_raw - ref).max() < 1e-8 * np.abs(ref).max()


def test_fit_periodic_edge_cases():
    data = spec_profile(360)
    assert fit_periodic(data, None, 6, overlap=0).yfit.shape == (360,)
    with pytest.raises(ParameterError):
        fit_periodic(np.zeros(360), None, 3)
