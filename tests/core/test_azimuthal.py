"""Azimuthal average with mask and sector (spec/peaks.md §9, acceptance §14.8)."""

import numpy as np
import pytest

from owlx.core.azimuthal import RadialBins, azimuthal_average, radial_bins


def radial(shape, centre, f):
    r, c = np.indices(shape)
    return f(np.hypot(r - centre[0], c - centre[1]))


@pytest.mark.parametrize("centre", [(256.0, 256.0), (255.3, 257.8)])
def test_radial_gaussian_is_recovered(centre):
    f = lambda r: np.exp(-(r**2) / (2 * 20.0**2))
    radius, average, _ = azimuthal_average(radial((512, 512), centre, f), centre)
    inner = radius < 100
    assert np.abs(average - f(radius))[inner].max() < 0.004
    # a slowly decaying profile is within 0.5 % (relative) everywhere away from the frame edges
    g = lambda r: 1.0 / (1.0 + (r / 80.0) ** 2)
    radius, average, _ = azimuthal_average(radial((512, 512), centre, g), centre)
    inside = (radius >= 1) & (radius < 250)
    assert (np.abs(average - g(radius)) / g(radius))[inside].max() < 0.005


def test_sums_are_conserved_and_masked_hot_pixels_do_nothing():
    rng = np.random.default_rng(0)
    image = rng.random((120, 100))
    mask = rng.random(image.shape) > 0.3
    _, average, count = azimuthal_average(image, (50.5, 40.2), mask)
    assert np.sum(average * count) == pytest.approx(image[mask].sum(), rel=1e-12)
    assert count.sum() == mask.sum()
    hot = image.copy()
    hot[~mask] = 1e9
    np.testing.assert_array_equal(azimuthal_average(hot, (50.5, 40.2), mask)[1], average)


def test_trimming():
    centre = (64.0, 64.0)
    image = radial((128, 128), centre, lambda r: r)
    mask = radial((128, 128), centre, lambda r: r >= 19.5)
    radius, _, _ = azimuthal_average(image, centre, mask)
    assert radius[0] == 20
    full, _, count = azimuthal_average(image, centre, mask, trim=False)
    max_bin = int(np.rint(np.hypot(64, 64)))
    assert len(full) == max_bin + 1 and count[:20].sum() == 0
    dark = np.zeros((128, 128))  # dark rings are kept: trimming looks at counts, not sums
    assert len(azimuthal_average(dark, centre)[0]) == max_bin + 1


def test_heavily_masked_input_gives_no_nan():
    mask = np.zeros((64, 64), dtype=bool)
    mask[::7, ::5] = True
    _, average, _ = azimuthal_average(np.ones((64, 64)), (10.0, 50.0), mask, trim=False)
    assert np.all(np.isfinite(average))


def test_sector_selects_the_expected_wedge():
    centre = (50.0, 50.0)
    r, c = np.indices((101, 101))
    phi = np.degrees(np.arctan2(-(r - centre[0]), c - centre[1])) % 360  # counter-clockwise on screen
    image = np.where((phi >= 0) & (phi <= 60), 1.0, 0.0)
    radius, average, count = azimuthal_average(image, centre, angular_bounds=(0, 60))
    assert np.all(average[radius > 0] == 1.0)
    expected = ((phi >= 0) & (phi <= 60)).sum()
    assert count.sum() == expected
    # a sector wrapping through 0°
    _, _, count2 = azimuthal_average(image, centre, angular_bounds=(300, 30))
    assert count2.sum() == ((phi >= 300) | (phi <= 30)).sum()
    # the upper-right quadrant (rows above the centre, columns to the right) is φ 0…90
    quadrant = np.zeros((101, 101))
    quadrant[:50, 51:] = 1.0
    _, avg3, _ = azimuthal_average(quadrant, centre, angular_bounds=(1, 89))
    assert np.all(avg3[1:] == 1.0)


def test_geometry_is_cached_by_value():
    mask = np.ones((40, 40), dtype=bool)
    a = radial_bins((40, 40), (20.0, 20.0), mask)
    b = radial_bins((40, 40), (20.0, 20.0), mask.copy())
    assert a is b
    mask2 = mask.copy()
    mask2[0, 0] = False
    assert radial_bins((40, 40), (20.0, 20.0), mask2) is not a
    assert isinstance(a, RadialBins) and a.count.sum() == 1600


def test_reference_compatibility_quirks():
    image = np.ones((30, 40))
    image[15, 20] = 0.0
    col_row = (20.0, 15.0)
    radius, _, _ = azimuthal_average(image, col_row, trim=True, skued_compat=True)
    assert radius[0] == 1  # the dark centre bin (sum 0) is trimmed by the reference
    full, _, _ = azimuthal_average(image, col_row, trim=False, skued_compat=True)
    assert len(full) == int(np.rint(np.hypot(15, 20)))  # the last bin is dropped
