"""Bragg peaks by the autocorrelation/Laplacian method (spec/peaks.md §4, acceptance §14.5)."""

import numpy as np
import pytest
from peaks_synthetic import SKUED_DATA, hex_lattice
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
