"""Bragg peaks by the autocorrelation/Laplacian method (spec/peaks.md §4, acceptance §14.5)."""

import numpy as np
import pytest
from peaks_synthetic import SKUED_DATA, hex_lattice
from scipy import ndimage
from scipy.spatial import cKDTree

from owlx.core.bragg_peaks import bragg_peaks, triangle_threshold


@pytest.fixture(scope="module")
def lattice():
    return hex_lattice(seed=2)


def test_hexagonal_lattice_spots_are_found(lattice):
    image, mask, centre, visible = lattice
    peaks = bragg_peaks(image, mask, center=centre)
    distance, _ = cKDTree(peaks).query(visible)
    assert (distance <= 1.0).mean() >= 0.95
    assert np.median(distance) <= 0.25
    assert len(peaks) <= 1.1 * len(visible)
    # nearest the centre first, and never on an invalid pixel
    radii = np.hypot(*(peaks - centre).T)
    assert np.all(np.diff(radii) >= 0)
    assert mask[tuple(np.rint(peaks).astype(int).T)].all()


def test_a_positive_rescaling_changes_nothing(lattice):
    image, mask, centre, _ = lattice
    np.testing.assert_allclose(bragg_peaks(42.0 * image + 0.0, mask, center=centre),
                               bragg_peaks(image, mask, center=centre), atol=1e-9)


def test_min_dist_merges_close_peaks(lattice):
    image, mask, centre, _ = lattice
    peaks = bragg_peaks(image, mask, center=centre, min_dist=60.0)  # above the 40 px spacing
    assert len(cKDTree(peaks).query_pairs(60.0 - 1e-9)) == 0


def test_triangle_threshold_of_a_skewed_histogram():
    # 1000 zeros, then a linearly decaying tail to 100: the threshold sits near the foot of the peak
    values = np.concatenate([np.zeros(1000), np.repeat(np.arange(1, 101), np.arange(100, 0, -1) // 10 + 1)])
    t = triangle_threshold(values)
    assert 0.0 < t < 10.0
    assert triangle_threshold(-values) == pytest.approx(-t, abs=0.5)  # mirrored histogram
    assert triangle_threshold(np.full(10, 3.0)) == 3.0


def test_ewald_walkoff_peaks_and_friedel_pairs():
    tifffile = pytest.importorskip("tifffile")
    path, mpath = SKUED_DATA / "ewald_walkoff.tif", SKUED_DATA / "ewald_walkoff_mask.tif"
    if not path.exists() or not mpath.exists():
        pytest.skip("shared/data/skued is not available")
    image, mask = tifffile.imread(path), tifffile.imread(mpath) != 0
    centre = np.array([322.7, 134.5])
    peaks = bragg_peaks(image, mask, center=centre)
    assert 60 <= len(peaks) <= 120
    # at least 30 peaks have a Friedel partner (p + p' = 2c) within 2 px
    distance, _ = cKDTree(peaks).query(2 * centre - peaks)
    assert (distance < 2.0).sum() >= 30


@pytest.mark.parametrize("shape", [(64, 80), (63, 41)])
def test_same_window_autocorrelation_equals_auto_ncc(shape):
    from owlx.core.bragg_autocorr import autocorrelation_same, mask_transforms
    from owlx.core.mnxc import auto_ncc
    from owlx.errors import ParameterError

    rng = np.random.default_rng(1)
    image = ndimage.gaussian_filter(rng.random(shape), 1.5)
    mask = rng.random(shape) > 0.2
    half = tuple(n // 2 for n in shape)
    ncc, origin = auto_ncc(image, mask, max_shift=half, dtype=np.float32)
    assert origin == half
    expected = np.abs(ncc[:shape[0], :shape[1]])  # lags −n//2 … n − 1 − n//2
    first = autocorrelation_same(image, mask)
    again = autocorrelation_same(2.0 * image + 1.0, mask)  # the mask's transforms come from the cache
    np.testing.assert_allclose(first, expected, atol=1e-6)
    np.testing.assert_allclose(again, expected, atol=1e-6)
    assert first[half] == pytest.approx(1.0, abs=1e-6) and first.max() <= 1.0
    other = mask.copy()
    other[0, 0] = not other[0, 0]  # a different mask must not reuse the cached transforms
    ncc2, _ = auto_ncc(image, other, max_shift=half, dtype=np.float32)
    np.testing.assert_allclose(autocorrelation_same(image, other), np.abs(ncc2[:shape[0], :shape[1]]), atol=1e-6)
    assert autocorrelation_same(image, np.zeros(shape, dtype=bool)) is None
    kept = mask_transforms(mask)
    assert mask_transforms(mask.copy()) is kept  # found by value
    np.testing.assert_allclose(autocorrelation_same(image, mask, mask=kept), expected, atol=1e-6)
    with pytest.raises(ParameterError, match="shape"):
        autocorrelation_same(image[:-1], mask[:-1], mask=kept)


def test_pixel_kernels_follow_scipy():
    from owlx.core import bragg_peaks as bp

    rng = np.random.default_rng(2)
    a = ndimage.gaussian_filter(rng.random((40, 52)), 2.0)
    shifted = np.empty_like(a)
    bp._shift_linear_nearest(a, 3.3, -7.6, shifted)
    np.testing.assert_allclose(shifted, ndimage.shift(a, (3.3, -7.6), order=1, mode="nearest"), atol=1e-12)
    lap = np.empty_like(a)
    assert bp._negative_laplace(a, lap) == (lap.min(), lap.max())
    np.testing.assert_array_equal(lap, -ndimage.laplace(a))
    valid = rng.random(a.shape) > 0.05
    threshold = float(np.quantile(lap, 0.3))
    eroded = np.empty(a.shape, dtype=bool)
    bp._eroded_regions(lap, threshold, valid, eroded)
    disk = np.hypot(*np.indices((5, 5)) - 2) <= 2
    expected = ndimage.binary_erosion((lap > threshold) & valid, structure=disk)
    assert expected.sum() > 50
    np.testing.assert_array_equal(eroded, expected)
    # labels numbered as ndimage.label numbers them: the greedy de-duplication follows that order
    for fraction in (0.3, 0.55, 0.7):
        blobs = rng.random((61, 47)) < fraction
        labels, n = bp._label8(blobs)
        expected_labels, expected_n = ndimage.label(blobs, structure=np.ones((3, 3)))
        assert n == expected_n > 1
        np.testing.assert_array_equal(labels, expected_labels)


def test_normalisation_divides_by_the_truncated_blur():
    from owlx.core.bragg_peaks import _normalised

    rng = np.random.default_rng(3)
    for shape in ((60, 90), (200, 160)):  # σ = 3 px (direct filter) and 8 px (by DCT)
        image = rng.random(shape) + 5.0
        image[:, :40] = 0.0  # the minimum, and a dark band: zero after subtracting it
        shifted = image - image.min()
        with np.errstate(invalid="ignore"):
            expected = np.nan_to_num(shifted / ndimage.gaussian_filter(shifted, min(shape) / 20, truncate=2))
        assert expected[:, :30].max() == 0.0 and expected[:, 50:].min() > 0.5
        np.testing.assert_allclose(_normalised(image), expected, rtol=1e-10, atol=1e-12)


def test_default_centre_is_searched_alongside(lattice):
    from owlx.core.autocenter import autocenter

    image, mask, _, _ = lattice
    np.testing.assert_array_equal(bragg_peaks(image, mask), bragg_peaks(image, mask, center=autocenter(image, mask)))
