"""Registration-quality metrics self-checks (spec/fibsem.md §11, §14; acceptance check 9)."""

import numpy as np
import pytest
from scipy import ndimage

from owlx.core.fibsem_metrics import (
    frc,
    ncc,
    nmi,
    nsad,
    pair_metrics,
    single_image_snr,
    snr_from_ncc,
    summarize,
    van_heel_threshold,
)
from owlx.errors import ParameterError


@pytest.fixture(scope="module")
def signal():
    rng = np.random.default_rng(0)
    s = ndimage.gaussian_filter(rng.standard_normal((512, 512)), 3, mode="wrap")
    s = (s - s.mean()) / s.std()
    return s, s + rng.normal(0, 0.5, s.shape), s + rng.normal(0, 0.5, s.shape)


def test_ncc_and_snr_of_known_noise(signal):
    _, a, b = signal
    c = ncc(a, b)
    assert c == pytest.approx(0.8, abs=0.005)  # S²/(S² + σ²) = 1/1.25
    assert snr_from_ncc(c) == pytest.approx(4.0, rel=0.05)  # S²/σ² = 4


def test_nmi_of_an_image_with_itself_and_of_independent_images(signal):
    s, a, _ = signal
    for bins in (256, 2048):
        assert nmi(a, a, bins)[0] == pytest.approx(1.0, abs=1e-6)
    other = np.random.default_rng(5).standard_normal(a.shape)
    assert nmi(a, other, 256)[0] < 0.02
    assert nmi(a, other, 2048)[0] > nmi(a, other, 256)[0]  # the positive bias grows with bins²/samples
    value, mi = nmi(s, a, 256)
    assert 0.02 < value < 1 and mi > 0


def test_thong_single_image_snr(signal):
    _, a, _ = signal
    x, y, r = single_image_snr(a)
    assert x == pytest.approx(4.0, rel=0.1) and y == pytest.approx(4.0, rel=0.1)
    assert r == pytest.approx(4.0, rel=0.15)
    for method in ("linear", "nearest", "gaussian"):
        assert np.isfinite(single_image_snr(a, method)[1])


def test_nsad_invariant_to_scale_not_offset(signal):
    _, a, b = signal  # zero-mean images: |I₁/2 + I₂/2| folds negative values, so an offset matters
    assert nsad(3 * a, 3 * b) == pytest.approx(nsad(a, b), rel=1e-12)
    assert abs(nsad(a + 10, b + 10) - nsad(a, b)) > 0.01
    with pytest.raises(ParameterError, match="unequal shapes"):
        ncc(a, b[:10])


def test_frc_of_identical_images_is_one(signal):
    _, a, _ = signal
    res = frc(a[:300, :256], a[:300, :256])  # non-square: centre-cropped to 256²
    np.testing.assert_allclose(res.frc, 1.0, atol=1e-12)
    assert not res.crossed and len(res.freq) == res.frc.size


def test_frc_bandwidth_matches_the_analytic_crossing():
    rng = np.random.default_rng(2)
    sigma_b, sigma_n = 2.0, 0.05
    s = ndimage.gaussian_filter(rng.standard_normal((256, 256)), sigma_b, mode="wrap")
    res = frc(s + rng.normal(0, sigma_n, s.shape), s + rng.normal(0, sigma_n, s.shape))
    f_star = np.sqrt(-np.log(0.143 / 0.857 * sigma_n ** 2) / (4 * np.pi ** 2 * sigma_b ** 2))
    assert f_star == pytest.approx(0.222, abs=1e-3)
    assert res.crossed and res.bandwidth == pytest.approx(f_star, abs=0.01)
    assert res.resolution(8.0) == pytest.approx(8.0 / res.bandwidth)
    half = frc(s + rng.normal(0, sigma_n, s.shape), s + rng.normal(0, sigma_n, s.shape), threshold="half-bit")
    assert half.crossed and abs(half.bandwidth - res.bandwidth) < 0.05
    assert van_heel_threshold(1e12, 0.2071) == pytest.approx(0.2071 / 1.2071, rel=1e-5)


def test_pair_metrics_and_summary(signal):
    _, a, b = signal
    m = pair_metrics(a, b, box=(0, 128, 0, 128), nmi_bins=256)
    assert m["ncc"] == pytest.approx(ncc(a[:128, :128], b[:128, :128]))
    assert m["snr"] == pytest.approx(m["ncc"] / (1 - m["ncc"])) and m["nmi_bins"] == 256
    assert 0 < m["frc_bandwidth"] < 0.7
    mean, spread = summarize(np.full(30, 0.5) + 0.01 * np.sin(np.arange(30) * 3))
    assert mean == pytest.approx(0.5, abs=0.005) and 0 < spread < 0.01
    assert summarize([1.0, 3.0]) == (2.0, 1.0)
