"""Ring profiles and normalisations: spec/polar.md §4, and the same normalisations inside the
difference correlation (§8: each shot is normalised before differencing)."""

import numpy as np
import pytest

from owlx.core.correlation import difference_correlation
from owlx.core.ring_profiles import band_profiles, normalize_rings, ring_profile
from owlx.errors import ParameterError


def test_ring_profile_averages_rows_and_needs_every_row_valid():
    polar = np.arange(6 * 4, dtype=float).reshape(6, 4)
    mask = np.ones((6, 4), bool)
    mask[3, 1] = False
    ring, m = ring_profile(polar, mask, 2, half_width=1)
    assert m.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(ring, [8.0, 0.0, 10.0, 11.0])
    edge, _ = ring_profile(polar, mask, 0, half_width=2)  # rows −2, −1 are dropped
    np.testing.assert_array_equal(edge, polar[:3].mean(axis=0))
    no_row0, _ = ring_profile(polar, mask, 0, half_width=2, drop_row0=True)
    np.testing.assert_array_equal(no_row0, polar[1:3].mean(axis=0))
    rings, masks = band_profiles(polar, mask, [1, 4], half_width=0)
    np.testing.assert_array_equal(rings, polar[[1, 4]] * mask[[1, 4]])
    np.testing.assert_array_equal(masks, mask[[1, 4]])
    with pytest.raises(ParameterError):
        ring_profile(polar, mask, 9, half_width=1)


def test_normalisations():
    x = np.array([[1.0, 2.0, 3.0, 100.0], [0.0, 4.0, 4.0, 8.0]])
    m = np.array([[True, True, True, False], [True, True, True, True]])
    ms = normalize_rings(x, m, "mean_sub")
    np.testing.assert_allclose(ms[0], [-1, 0, 1, 0])
    np.testing.assert_allclose(ms[1], [-4, 0, 0, 4])
    pm = normalize_rings(x, m, "positive_mean")
    np.testing.assert_allclose(pm[1], [0, 4 / (16 / 3), 4 / (16 / 3), 8 / (16 / 3)])
    assert pm[0, 3] == 0  # masked bins stay 0
    np.testing.assert_array_equal(normalize_rings(x, m, "none"), x * m)
    with pytest.raises(ParameterError):
        normalize_rings(x, m, "zscore")


@pytest.mark.parametrize("norm", ["mean_sub", "positive_mean", "none"])
def test_correlation_normalises_each_shot_like_normalize_rings(norm):
    rng = np.random.default_rng(7)
    shots = rng.uniform(1, 10, size=(4, 2, 32))
    mask = rng.random((2, 32)) > 0.2
    shots *= mask
    normed = normalize_rings(shots, mask, norm)
    ref = difference_correlation(normed, mask, delta=1, norm="none")
    res = difference_correlation(shots, mask, delta=1, norm=norm)
    np.testing.assert_allclose(res.corr, ref.corr, rtol=1e-12, atol=1e-12)
