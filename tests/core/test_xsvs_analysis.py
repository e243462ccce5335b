"""One exposure from frames to contrast: static image, bins from the static, settings
(spec/xsvs.md §6, §13)."""

import numpy as np
import pytest

from owlx.core.xsvs_analysis import ExposureAnalysis, XsvsSettings, flat_field_valid
from owlx.core.xsvs_rings import make_rings, q_map, ring_centres
from owlx.errors import ParameterError


def rings_and_frames(mean_counts, n_frames=12, seed=0):
    qm = q_map((32, 32), 15.5, 15.5, 1.53, 0.055, 2140.0)
    rings = make_rings(qm, None, ring_centres(0.0005, 0.0015, 0.0005), 2e-4)
    rng = np.random.default_rng(seed)
    frames = rng.poisson(mean_counts, size=(n_frames, 32, 32)).astype(np.uint16)
    return rings, frames


def test_static_is_the_unrounded_flat_corrected_mean_of_the_first_frames():
    rings, frames = rings_and_frames(2.0)
    flat = np.full((32, 32), 0.8)
    flat[0, 0] = 0.0  # invalid flat pixel: static stays finite there
    analysis = ExposureAnalysis(rings, flat, XsvsSettings(static_frames=5), len(frames))
    for i, f in enumerate(frames):
        analysis.add(i, f)
    expected = frames[:5].mean(axis=0) / 0.8
    assert np.allclose(analysis.static[1:, 1:], expected[1:, 1:], rtol=1e-14)
    assert analysis.static[0, 0] == pytest.approx(frames[:5, 0, 0].mean())
    results = analysis.finish()
    assert [r.npix for r in results] == rings.npix.tolist()
    assert all(r.trace.size == len(frames) for r in results)
    assert not flat_field_valid(flat)[0, 0] and flat_field_valid(flat)[1, 1]


def test_bins_follow_the_static_ring_mean():
    rings, frames = rings_and_frames(30.0, n_frames=4)
    analysis = ExposureAnalysis(rings, None, XsvsSettings(), len(frames))
    for i, f in enumerate(frames):
        analysis.add(i, f)
    results = analysis.finish()
    for j, r in enumerate(results):
        m = analysis.static.ravel()[rings.pixels(j)].mean()
        assert r.bins.tolist() == list(range(2 * int(m) - 1))
    low, frames = rings_and_frames(0.1, n_frames=3)
    a = ExposureAnalysis(low, None, XsvsSettings(), 3)
    for i, f in enumerate(frames):
        a.add(i, f)
    assert all(r.bins.tolist() == list(range(19)) for r in a.finish())


def test_compat_settings_and_validation():
    c = XsvsSettings.compat()
    assert (c.pyxsvs_compat, c.histogram_mode, c.fit_method, c.fit_bins, c.r1_form) == (
        True, "pyxsvs", "lsq", "pyxsvs", "pyxsvs")
    d = XsvsSettings()
    assert (d.pyxsvs_compat, d.histogram_mode, d.fit_method, d.r1_form, d.static_frames) == (
        False, "exact", "lsq", "exact", 200)
    with pytest.raises(ParameterError, match="fit_method"):
        XsvsSettings(fit_method="chi-by-eye")
    with pytest.raises(ParameterError):
        ExposureAnalysis(rings_and_frames(1.0)[0], None, d, 3).finish()


def test_an_empty_ring_gives_nan_results_not_an_error():
    qm = q_map((16, 16), 7.5, 7.5, 1.53, 0.055, 2140.0)
    rings = make_rings(qm, None, np.array([0.0005, 0.05]), 2e-4)  # the second ring is off the detector
    assert rings.npix[1] == 0
    analysis = ExposureAnalysis(rings, None, XsvsSettings(), 2)
    for i in range(2):
        analysis.add(i, np.ones((16, 16), np.uint16))
    good, empty = analysis.finish()
    assert good.K == 1.0 and good.trace.tolist() == [1.0, 1.0]
    assert np.isnan(empty.K) and np.isnan(empty.beta) and empty.fit.status == "no_counts"
