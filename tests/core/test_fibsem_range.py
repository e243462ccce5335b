"""Data range and 8-bit conversion (spec/fibsem.md §2, acceptance check 1)."""

import numpy as np
import pytest

from owlx.core.fibsem_range import (
    bin2x2,
    fov_trend,
    get_min_max_thresholds,
    sliding_window,
    stack_range,
    to_uint8,
    z_step_from_wd,
)


def test_thresholds_on_arange_are_left_bin_edges():
    lo, hi = get_min_max_thresholds(np.arange(1e6))
    assert lo == 0.0
    assert hi == pytest.approx(996092.75, abs=0.01)  # bin width 999999/256 ≈ 3906.25, left edge of bin 255


def test_thresholds_ignore_nan_and_constant_images():
    img = np.arange(100.0).reshape(10, 10)
    img[0, 0] = np.nan
    lo, hi = get_min_max_thresholds(img, 0.05, 0.05, nbins=99)  # values 1…99, one per bin of width 98/99
    assert lo == pytest.approx(1 + 4 * 98 / 99, rel=1e-12)  # cdf 5/99 is the closest to 0.05
    assert hi == pytest.approx(1 + 93 * 98 / 99, rel=1e-12)  # cdf 94/99 is the closest to 0.95
    assert get_min_max_thresholds(np.full((3, 3), 7.0)) == (7.0, 7.0)


@pytest.mark.parametrize("n", [5, 6, 7, 16, 63, 200, 1001, 14312])
def test_sliding_window_is_odd_and_valid(n):
    for fit_window in (None, 1, 4, 501):
        w = sliding_window(n, fit_window)
        assert w % 2 == 1 and 5 <= w <= n
    assert sliding_window(14312, 501) == 501 and sliding_window(64) == 5


def test_sliding_and_global_range():
    mins = np.linspace(10, 20, 50) + np.random.default_rng(0).normal(0, 0.1, 50)
    maxs = mins + 100
    lo, _ = stack_range(mins, maxs, sliding=True)
    assert np.abs(lo - np.linspace(10, 20, 50)).max() < 0.3 and lo.shape == (50,)
    glo, ghi = stack_range(mins, maxs, sliding=False)
    assert np.all(glo == glo[0]) and np.all(ghi == ghi[0])
    assert glo[0] == pytest.approx(mins.min(), abs=1e-9)  # left edge of the first bin
    short = stack_range([1, 2, 3], [4, 5, 6])
    assert np.array_equal(short[0], [1, 2, 3])


def test_eight_bit_conversion_truncates():
    img = np.array([[-5.0, 0.0, 0.5, 1.0 - 1e-9, 1.0, 7.0, np.nan]])
    u8 = to_uint8(img, 0.0, 1.0)
    assert u8.dtype == np.uint8
    assert u8.tolist() == [[0, 0, 127, 254, 255, 255, 0]]  # floor(0.5·255) = 127
    assert to_uint8(img, 3.0, 3.0).max() == 0
    assert to_uint8(np.array([[100, 300]], np.int16), 100, 300).tolist() == [[0, 255]]


def test_bin2x2_area_average_and_odd_edges():
    u8 = np.array([[0, 2, 9], [4, 6, 9], [9, 9, 9]], np.uint8)
    assert bin2x2(u8).tolist() == [[3]]


def test_z_step_from_working_distance_and_fov_trend():
    wd = 5.0 - 8e-6 * np.arange(20)  # mm: 8 nm per frame
    assert z_step_from_wd(wd) == pytest.approx(8.0, rel=1e-9)
    first = 100 + 0.5 * np.arange(60)
    trend = fov_trend(first, 1000)
    assert trend[0] == pytest.approx(0.0, abs=1e-9) and trend[-1] == pytest.approx(29.5, abs=1e-9)
    assert np.all(fov_trend([np.nan] * 5, 10) == 0)
