"""Peaks by topological persistence (spec/peaks.md §5, acceptance §14.6)."""

import numpy as np
import pytest
from scipy import ndimage

from owlx.core.persistence import bragg_peaks_persistence, persistence_classes


@pytest.fixture
def two_bumps():
    image = np.zeros((40, 60))
    image[10, 45] = 5.0
    image[30, 12] = 3.0
    return image


def test_two_bumps_in_row_col_order(two_bumps):
    res = bragg_peaks_persistence(two_bumps, center=(0, 60), prominence=0.5)
    np.testing.assert_array_equal(res.peaks, [[10, 45], [30, 12]])  # nearest (0, 60) first
    np.testing.assert_array_equal(res.persistence, [5.0, 3.0])
    np.testing.assert_array_equal(res.birth_death, [[5.0, 0.0], [3.0, 0.0]])
    compat = bragg_peaks_persistence(two_bumps, center=(0, 60), prominence=0.5, skued_compat=True)
    np.testing.assert_array_equal(compat.peaks, [[45, 10], [12, 30]])


def test_the_global_maximum_never_dies():
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random((50, 70)), 2) + 1.0
    classes = persistence_classes(image)
    top = image.max()
    assert classes.birth[0] == top and classes.persistence[0] == top and classes.death[0] == 0.0
    assert np.unravel_index(classes.birth_index[0], image.shape) == np.unravel_index(np.argmax(image), image.shape)
    assert np.all(np.diff(classes.persistence) <= 0)


def test_every_strict_local_maximum_is_a_birth_and_nothing_else():
    rng = np.random.default_rng(1)
    image = rng.random((37, 53))  # asymmetric, no ties
    classes = persistence_classes(image)
    neighbours = ndimage.maximum_filter(image, footprint=np.ones((3, 3)) - np.eye(3)[1][:, None] * np.eye(3)[1],
                                        mode="constant", cval=-np.inf)
    maxima = set(zip(*np.nonzero(image > neighbours)))
    births = {tuple(int(v) for v in np.unravel_index(i, image.shape)) for i in classes.birth_index}
    assert births == maxima


def test_mask_min_dist_and_prominence():
    image = np.zeros((30, 30))
    image[5, 5], image[5, 8], image[20, 20] = 4.0, 3.0, 2.0
    mask = np.ones_like(image, dtype=bool)
    res = bragg_peaks_persistence(image, center=(0, 0), prominence=2.5)
    assert [tuple(p) for p in res.peaks] == [(5, 5), (5, 8)]
    res = bragg_peaks_persistence(image, center=(0, 0), min_dist=4.0)
    assert [tuple(p) for p in res.peaks] == [(5, 5), (20, 20)]  # (5, 8) is 3 px from a stronger peak
    res = bragg_peaks_persistence(image, center=(0, 0), min_dist=(0, 3))  # |Δrow| ≤ 0 and |Δcol| ≤ 3
    assert [tuple(p) for p in res.peaks] == [(5, 5), (20, 20)]
    mask[5, 5] = False
    res = bragg_peaks_persistence(image, mask, center=(0, 0), prominence=0.5)
    assert (5, 5) not in [tuple(p) for p in res.peaks]
    assert len(res.peaks) == len(res.persistence) == len(res.birth_death) == len(res.birth_indices)
