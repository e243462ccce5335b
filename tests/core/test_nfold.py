"""n-fold and mirror symmetrisation (spec/peaks.md §8, acceptance §14.7)."""

import numpy as np
import pytest

from owlx.core.nfold import nfold, reflection


@pytest.fixture(scope="module")
def sixfold():
    n, centre = 512, (255.5, 255.5)
    r, c = np.indices((n, n))
    dr, dc = r - centre[0], c - centre[1]
    radius, phi = np.hypot(dr, dc), np.arctan2(-dr, dc)
    return np.cos(6 * phi) * np.exp(-((radius - 100) ** 2) / (2 * 30**2)), radius, phi


def test_sixfold_pattern_is_unchanged(sixfold):
    image, radius, _ = sixfold
    out = nfold(image, 6)
    assert np.abs(out - image)[radius < 250].max() < 0.005  # 0.5 % of the amplitude


def test_identity_zeros_range_and_bad_mod(sixfold):
    image, _, _ = sixfold
    np.testing.assert_array_equal(nfold(image, 1), image)
    assert np.all(nfold(np.zeros((20, 20)), 5) == 0.0)
    small = image[200:300, 180:300]
    out = nfold(small, 7)  # 7 does not divide 360: accepted
    assert out.min() >= small.min() - 1e-12 and out.max() <= small.max() + 1e-12
    for bad in (1.7, 0, -3, True):
        with pytest.raises(ValueError):
            nfold(small, bad)


def test_masked_overlap_gets_the_fill_value(sixfold):
    image, radius, _ = sixfold
    mask = radius > 30  # a central beam block, the same under every rotation
    out = nfold(image, 6, mask=mask, fill_value=-7.0)
    assert np.all(out[radius < 29] == -7.0)
    ok = radius > 32
    assert np.abs(out - image)[ok & (radius < 250)].max() < 0.005
    # a block masked off-axis is filled in from the rotated copies
    mask2 = np.ones_like(mask)
    mask2[150:200, 250:300] = False
    damaged = np.where(mask2, image, 100.0)
    assert np.abs(nfold(damaged, 6, mask=mask2) - image)[radius < 250].max() < 0.005


def test_reflection_about_a_symmetry_line(sixfold):
    image, radius, phi = sixfold
    inner = radius < 250
    assert np.abs(reflection(image, 0.0) - image)[inner].max() < 1e-12  # cos 6φ is even about φ = 0
    assert np.abs(reflection(image, 30.0) - image)[inner].max() < 0.005
    odd = np.sin(6 * phi) * np.exp(-((radius - 100) ** 2) / (2 * 30**2))
    assert np.abs(reflection(odd, 0.0))[inner].max() < 1e-12  # sin 6φ is odd about φ = 0
