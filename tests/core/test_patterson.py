"""Patterson maps: the autocorrelation peak of a two-scatterer object sits at the separation."""

import numpy as np
import pytest

from owlx.core.patterson import PattersonParams, patterson_kernel, patterson_map
from owlx.errors import ParameterError

N = 128


def two_point_pattern(dx: int, dy: int, n: int = N, scale: float = 1000.0) -> np.ndarray:
    """|F|² of two point scatterers (dx, dy) px apart: 2 + 2 cos(2π(dx·x + dy·y)/n) fringes."""
    y, x = np.mgrid[0:n, 0:n]
    return scale * (1 + np.cos(2 * np.pi * (dx * x + dy * y) / n))


def side_peaks(pmap: np.ndarray, exclude: int = 3) -> list[tuple[int, int]]:
    """(row, col) of the two largest pixels outside the central (2·exclude+1)² box."""
    work = pmap.copy()
    cy, cx = work.shape[0] // 2, work.shape[1] // 2
    work[cy - exclude:cy + exclude + 1, cx - exclude:cx + exclude + 1] = 0
    flat = np.argsort(work, axis=None)[::-1][:2]
    return sorted(tuple(int(v) for v in np.unravel_index(i, work.shape)) for i in flat)


@pytest.mark.parametrize("dx,dy", [(17, 0), (9, -23), (0, 30)])
def test_autocorrelation_peak_at_the_separation(dx, dy):
    pmap = patterson_map(two_point_pattern(dx, dy), None, PattersonParams(image_threshold=0))
    c = N // 2
    assert side_peaks(pmap) == sorted([(c + dy, c + dx), (c - dy, c - dx)])
    # the side peaks are half the central one (|1 + e^{iφ}|² = 2 + e^{iφ} + e^{-iφ})
    assert pmap[c + dy, c + dx] == pytest.approx(pmap[c, c] / 2, rel=1e-5)


def test_masked_gap_keeps_the_peak_and_is_normalised_by_ten_medians():
    valid = np.ones((N, N), bool)
    valid[:, 60:68] = False  # a detector gap
    pattern = two_point_pattern(12, 20) + np.random.default_rng(3).random((N, N)) * 50  # noise: median > 0
    pattern[~valid] = 0.0  # the gap reads nothing
    raw = patterson_map(pattern, valid, PattersonParams(image_threshold=0), normalize=False)
    norm = patterson_map(pattern, valid, PattersonParams(image_threshold=0))
    assert np.median(raw) > 0
    np.testing.assert_allclose(norm, raw / (10 * np.median(raw)), rtol=1e-6)
    assert side_peaks(norm, exclude=4) == sorted([(N // 2 + 20, N // 2 + 12), (N // 2 - 20, N // 2 - 12)])


def test_kernel_follows_owls_recipe():
    valid = np.zeros((64, 64), bool)
    valid[16:48, 16:48] = True
    k = patterson_kernel(valid, 2.0, 0.2)
    assert k.max() == pytest.approx(1.0)
    assert k[32, 32] == pytest.approx(1.0, abs=1e-6)
    assert k[0, 0] == 0.0  # far outside: cut by the threshold, then smoothing cannot reach it
    assert np.all(k >= 0)
    assert patterson_kernel(np.zeros((8, 8), bool), 2.0, 0.2).max() == 0.0
    # no smoothing: the thresholded mask itself
    np.testing.assert_array_equal(patterson_kernel(valid, 0, 0.5), valid.astype(float))


def test_darkfield_gaussian_is_centred_on_x_column_and_y_row():
    valid = np.ones((40, 60), bool)
    k = patterson_kernel(valid, 0, 0.2, darkfield=(10.0, -5.0, 3.0))
    row, col = np.unravel_index(np.argmax(k), k.shape)
    # middle (29.5, 19.5) + (10, -5): the maximum straddles col 39/40 and row 14/15
    assert col in (39, 40) and row in (14, 15)
    assert k[row, col] == pytest.approx(np.exp(-(0.5**2 + 0.5**2) / (2 * 9)), rel=1e-6)


def test_threshold_removes_background_and_owl_names_round_trip():
    flat = np.full((32, 32), 25.0)  # all below the default threshold of 30
    assert patterson_map(flat, normalize=False).max() == 0.0
    p = PattersonParams(image_threshold=12, darkfield=True, darkfield_sigma=40)
    owl = p.to_owl()
    assert owl["imageThreshold"] == 12.0 and owl["darkfield"] == 1.0 and owl["maskSmooth"] == 5.0
    assert PattersonParams.from_owl(owl) == p


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="maskThreshold"):
        patterson_map(np.ones((8, 8)), params=PattersonParams(mask_threshold=2))
    with pytest.raises(ParameterError, match="does not match"):
        patterson_map(np.ones((8, 8)), np.ones((4, 4), bool))
