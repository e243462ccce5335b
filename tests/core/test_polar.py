"""Polar resampling: spec/polar.md §3 and acceptance check §11.1."""

import numpy as np
import pytest

from owlx.core.polar import polar_map, polar_resample, radial_profile
from owlx.errors import ParameterError


def index_image(n=100):
    return 1000.0 * np.arange(n)[:, None] + np.arange(n)[None, :]


def test_nearest_reproduces_the_spec_index_vectors():
    polar, valid = polar_resample(index_image(), (50, 40), 10, 11, 8)
    assert polar.shape == (1, 8)
    assert polar[0].tolist() == [40040, 33043, 30050, 33057, 40060, 47057, 50050, 47043]
    assert valid.all()
    pmap = polar_map((50, 40), 10, 11, 8, (100, 100))
    x, y = pmap.index[0] % 100, pmap.index[0] // 100
    assert x.tolist() == [40, 43, 50, 57, 60, 57, 50, 43]
    assert y.tolist() == [40, 33, 30, 33, 40, 47, 50, 47]


def test_bilinear_reproduces_a_linear_image():
    img = index_image()
    polar, valid = polar_resample(img, (50.3, 40.7), 5, 30, 64, method="bilinear")
    r = np.arange(5, 30)[:, None]
    phi = 2 * np.pi * np.arange(64)[None, :] / 64
    x, y = r * np.cos(phi - np.pi) + 50.3, r * np.sin(phi - np.pi) + 40.7
    assert valid.all()
    np.testing.assert_allclose(polar, 1000 * y + x, rtol=0, atol=1e-9)
    spec, _ = polar_resample(img, (50, 40), 10, 11, 8, method="bilinear")
    assert spec[0, 1] == pytest.approx(32971.861, abs=1e-3)


def test_nearest_ties_round_down_as_loki():
    # x = 0.5 exactly (r = 2, centre 2.5, φ = 0 → x = 0.5): ceil(0.5 − 0.5) = 0, not 1
    img = index_image(10)
    polar, _ = polar_resample(img, (2.5, 5.0), 2, 3, 4)
    assert polar[0, 0] == 5000 + 0


def test_off_image_samples_are_flagged_and_never_wrap():
    img = index_image()
    polar, valid = polar_resample(img, (2, 2), 0, 10, 360)
    pmap = polar_map((2, 2), 0, 10, 360, img.shape)
    r = np.arange(10)[:, None]
    phi = 2 * np.pi * np.arange(360)[None, :] / 360
    x, y = r * np.cos(phi - np.pi) + 2, r * np.sin(phi - np.pi) + 2
    inside = (np.ceil(x - 0.5) >= 0) & (np.ceil(y - 0.5) >= 0)
    assert np.array_equal(valid, inside)  # all-true image: False only off the image
    assert np.all(polar[~valid] == 0)
    assert np.all(pmap.index[~valid] == -1)
    # every accepted sample reads its own nearest pixel (no wrapped row, no index 1 for x ∈ (−0.5, 0))
    np.testing.assert_array_equal(polar[valid], (1000 * np.ceil(y - 0.5) + np.ceil(x - 0.5))[valid])


def test_mask_is_resampled_and_honoured():
    img = index_image()
    mask = np.ones(img.shape, bool)
    mask[30, 50] = False  # the φ = π/2 sample of the spec grid
    polar, valid = polar_resample(img, (50, 40), 10, 11, 8, mask=mask)
    assert valid[0].tolist() == [True, True, False, True, True, True, True, True]
    assert polar[0, 2] == 0
    # bilinear: one bad neighbour of four with weight < 0.5 leaves the sample valid, renormalised
    mask = np.ones(img.shape, bool)
    mask[33, 42] = False
    bil, bvalid = polar_resample(img, (50, 40), 10, 11, 8, mask=mask, method="bilinear")
    assert bvalid[0, 1]
    x, y = 10 * np.cos(np.pi / 4 - np.pi) + 50, 10 * np.sin(np.pi / 4 - np.pi) + 40
    fx, fy = x - 42, y - 32
    w = {(32, 42): (1 - fx) * (1 - fy), (32, 43): fx * (1 - fy), (33, 43): fx * fy}
    expect = sum(wk * img[k] for k, wk in w.items()) / sum(w.values())
    assert bil[0, 1] == pytest.approx(expect, abs=1e-9)
    strict, svalid = polar_resample(img, (50, 40), 10, 11, 8, mask=mask, method="bilinear", min_weight=1.0)
    assert not svalid[0, 1] and strict[0, 1] == 0 and svalid[0, 0]


def test_output_dtype_and_radial_profile():
    img = np.full((64, 64), 7, np.uint16)
    polar, valid = polar_resample(img, (31.5, 31.5), 0, 40, 90)
    assert polar.dtype == np.float32
    prof = radial_profile(polar, valid)
    assert np.all(prof[:32] == 7)
    assert np.isnan(radial_profile(np.zeros((1, 4)), np.zeros((1, 4), bool))[0])


def test_bad_parameters_raise():
    with pytest.raises(ParameterError):
        polar_map((5, 5), 10, 10, 8, (20, 20))
    with pytest.raises(ParameterError):
        polar_map((5, 5), 0, 10, 8, (20, 20), method="cubic")
    with pytest.raises(ParameterError):
        polar_map((5, 5), 0, 10, 8, (20, 20)).resample(np.zeros((10, 10)))
