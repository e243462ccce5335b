"""Unbiased sub-pixel centre (spec/peaks.md §3, acceptance §14.4)."""

import numpy as np
import pytest
from peaks_synthetic import SKUED_DATA, gaussian

from owlx.core.autocenter import autocenter
from owlx.errors import ParameterError


def test_centred_gaussian_256():
    centre = (127.5, 127.5)
    np.testing.assert_allclose(autocenter(gaussian((256, 256), centre, 64)), centre, atol=0.1)


def test_shifted_gaussians_128_on_integer_centres():
    errors = []
    for dr in range(-10, 10, 2):
        for dc in (-10, -4, 0, 6):  # a subset of range(−10, 10, 2) × range(−10, 10, 2), for time
            centre = np.array([64 + dr, 64 + dc], dtype=float)
            errors.append(autocenter(gaussian((128, 128), centre, 20)) - centre)
    assert np.abs(errors).max() <= 0.1


def test_masked_gaussians_with_dimmed_masked_pixels():
    mask = np.ones((256, 256), dtype=bool)
    mask[0:130, 118:138] = False
    errors = []
    for dr in range(-10, 10, 5):
        for dc in range(-10, 10, 5):
            centre = np.array([128 + dr, 128 + dc], dtype=float)
            image = gaussian((256, 256), centre, 50)
            image[~mask] *= 0.8
            errors.append(autocenter(image, mask) - centre)
    assert np.abs(errors).max() <= 0.1


def test_random_subpixel_centres_have_no_bias():
    rng = np.random.default_rng(7)
    centres = 64 + rng.uniform(-8, 8, size=(50, 2))
    errors = np.array([autocenter(gaussian((128, 128), c, 20)) - c for c in centres])
    assert np.abs(errors.mean(axis=0)).max() <= 0.05
    assert np.abs(errors).max() <= 0.1


def test_reference_mode_shows_its_half_pixel_bias():
    rng = np.random.default_rng(8)
    centres = 64 + rng.uniform(-8, 8, size=(20, 2))
    errors = np.array([autocenter(gaussian((128, 128), c, 20), skued_compat=True) - c for c in centres])
    np.testing.assert_allclose(errors.mean(axis=0), [0.5, 0.5], atol=0.1)
    # the reference's result is quantised to half pixels
    got = autocenter(gaussian((128, 128), (64, 64), 20), skued_compat=True)
    np.testing.assert_array_equal(got, [64.5, 64.5])


def test_masked_noisy_gaussians_within_a_quarter_pixel():
    rng = np.random.default_rng(9)
    mask = np.ones((256, 256), dtype=bool)
    mask[0:130, 118:138] = False
    errors = []
    for dr, dc in ((-10, 5), (0, 0), (5, -10), (-5, -5)):
        centre = np.array([128 + dr, 128 + dc], dtype=float)
        image = gaussian((256, 256), centre, 50) + 0.01 * rng.normal(size=(256, 256))
        image[~mask] *= 0.8
        errors.append(autocenter(image, mask) - centre)
    assert np.abs(errors).max() <= 0.25


def test_large_image_pyramid_matches_the_full_search():
    centre = np.array([600.3, 560.8])
    r, c = np.indices((1100, 1100))
    radius = np.hypot(r - centre[0], c - centre[1])
    image = np.exp(-radius / 150) + 0.5 * np.exp(-((radius - 250) ** 2) / 200)
    mask = np.ones(image.shape, dtype=bool)
    mask[560:640, :600] = False  # a beam-block arm
    got, quality = autocenter(image, mask, return_quality=True)
    np.testing.assert_allclose(got, centre, atol=0.1)
    assert quality > 0.99


def test_input_is_not_modified_and_read_only_input_works():
    image = gaussian((64, 64), (30.2, 33.7), 16)
    image.flags.writeable = False
    before = image.copy()
    np.testing.assert_allclose(autocenter(image), (30.2, 33.7), atol=0.1)
    np.testing.assert_array_equal(image, before)


def test_bad_input_raises_a_parameter_error():
    with pytest.raises(ParameterError):
        autocenter(np.zeros((64, 64)))  # no intensity
    with pytest.raises(ParameterError):
        autocenter(np.ones((64, 64)), mask=np.zeros((64, 64), dtype=bool))
    with pytest.raises(ParameterError):
        autocenter(np.ones((10, 10)), method="magic")


@pytest.fixture(scope="module")
def ewald():
    tifffile = pytest.importorskip("tifffile")
    path, mpath = SKUED_DATA / "ewald_walkoff.tif", SKUED_DATA / "ewald_walkoff_mask.tif"
    if not path.exists() or not mpath.exists():
        pytest.skip("shared/data/skued is not available")
    mask = tifffile.imread(mpath) != 0  # uint8, 255 = valid
    return tifffile.imread(path), mask


def test_ewald_walkoff_mask_convention(ewald):
    _, mask = ewald
    assert mask.sum() == 216718 and (~mask).sum() == 45426


def test_ewald_walkoff_centre_within_one_pixel(ewald):
    image, mask = ewald
    got = autocenter(image, mask)
    assert np.hypot(*(got - (323, 135))) < 1.0
    # Friedel pairs of the Bragg peaks agree with the reflection centre
    friedel = autocenter(image, mask, method="friedel")
    assert np.abs(friedel - got).max() < 0.25
