"""Sorting, range filters, yields, running average and histograms (spec/viewer.md §8; §17
checks 6 and 7)."""

import numpy as np
import pytest

from owlx.core.selection import (
    Yield,
    combine_filters,
    display_order,
    histogram,
    mask_yield,
    plot_series,
    range_filter,
    running_average,
    sort_order,
)


def test_check_7_nan_last_in_both_directions():
    values = np.array([3, 1, np.nan, 2])
    assert sort_order(values).tolist() == [0, 3, 1, 2]
    assert sort_order(values, descending=False).tolist() == [1, 3, 0, 2]


def test_ties_keep_frame_order_both_ways():
    values = np.array([2.0, 1.0, 2.0, np.nan, 1.0, 2.0, np.nan])
    assert sort_order(values).tolist() == [0, 2, 5, 1, 4, 3, 6]
    assert sort_order(values, descending=False).tolist() == [1, 4, 0, 2, 5, 3, 6]


def test_integer_extremes_sort_without_overflow():
    values = np.array([0, np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0], dtype=np.int64)
    assert sort_order(values).tolist() == [2, 0, 3, 1]
    u = np.array([0, 255, 3], dtype=np.uint8)
    assert sort_order(u).tolist() == [1, 2, 0]
    assert sort_order(np.zeros(0)).tolist() == []


def test_range_filter_is_inclusive_and_nan_fails():
    v = np.array([0.0, 1.0, 1.5, 2.0, np.nan, 3.0])
    assert range_filter(v, 1, 2).tolist() == [False, True, True, True, False, False]
    assert range_filter(v).tolist() == [True, True, True, True, False, True]
    assert range_filter(v, hi=1).tolist() == [True, True, False, False, False, False]
    assert range_filter(np.array([1, 5, 9]), 5, None).tolist() == [False, True, True]


def test_check_6_yields_and_group_title():
    n = 1000
    a = np.zeros(n, bool)
    b = np.zeros(n, bool)
    a[:600] = True
    b[400:700] = True  # 300 frames, 200 of them also in A
    assert mask_yield(a).text == "Yield: 60.0% - 600/1000"
    assert mask_yield(b).text == "Yield: 30.0% - 300/1000"
    order = display_order(n, None, [a, b])
    assert order.tolist() == list(range(400, 600))
    assert Yield(order.size, n).title == "Filters (yield: 20.0% - 200/1000)"
    assert Yield(0, 0).text == "Yield: 0.0% - 0/0"


def test_display_order_sorts_only_the_selected_frames():
    values = np.array([5.0, 1.0, 4.0, np.nan, 4.0, 9.0])
    keep = np.array([True, True, True, True, True, False])
    assert display_order(6, values, [keep]).tolist() == [0, 2, 4, 1, 3]
    assert display_order(6, values, [keep], descending=False).tolist() == [1, 2, 4, 0, 3]
    assert display_order(6).tolist() == list(range(6))
    with pytest.raises(ValueError):
        combine_filters(6, [np.ones(5, bool)])


def test_plot_series_pairs_x_and_y_in_display_order():
    order = np.array([2, 0, 1])
    x, y = plot_series(order, np.array([10.0, 11.0, 12.0]), np.array([0.1, 0.2, 0.3]))
    assert y.tolist() == [12.0, 10.0, 11.0] and x.tolist() == [0.3, 0.1, 0.2]
    x, _ = plot_series(order, np.array([10.0, 11.0, 12.0]))
    assert x.tolist() == [0.0, 1.0, 2.0]


def test_running_average_uniform_has_no_ramp_and_skips_missing():
    values = np.array([2.0, 4.0, np.nan, 6.0, 8.0, 10.0])
    frames = np.array([5, 3, 0, 1, 2, 4])  # any order: x comes back in frame order
    x, y = running_average(frames, values, window=3)
    assert x.tolist() == [0, 1, 2, 3, 4, 5]
    # frame 0 alone; then (2+4)/2; frame 2 is NaN: (2+4)/2; (4+6)/2 over frames 1..3; ...
    np.testing.assert_allclose(y, [2.0, 3.0, 3.0, 5.0, 7.0, 8.0])
    # only filtered frames count as neighbours
    x, y = running_average(np.array([0, 3, 5]), values, window=2)
    assert x.tolist() == [0, 3, 5]
    np.testing.assert_allclose(y, [2.0, 4.0, 8.0])
    _, y = running_average(np.array([2]), values, window=4)
    assert np.isnan(y[0])


def test_running_average_exponential_matches_direct_weights():
    rng = np.random.default_rng(1)
    values = rng.normal(size=200)
    values[[5, 17, 60]] = np.nan
    w = 8
    _, y = running_average(np.arange(200), values, window=w, weighting="exponential")
    weights = 0.5 ** (np.arange(w) / (w / 2))
    for i in (0, 3, 7, 8, 17, 18, 120, 199):
        lags = np.arange(min(w, i + 1))
        v = values[i - lags]
        ok = ~np.isnan(v)
        expected = np.sum(weights[lags][ok] * v[ok]) / np.sum(weights[lags][ok])
        assert y[i] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError):
        running_average(np.arange(3), values[:3], window=0)
    with pytest.raises(ValueError):
        running_average(np.arange(3), values[:3], weighting="triangular")


def test_histogram_ignores_nan_and_widens_constant_data():
    counts, edges = histogram(np.array([1.0, 2.0, np.nan, 3.0, np.inf]), bins=2)
    assert counts.tolist() == [1, 2] and edges.tolist() == [1.0, 2.0, 3.0]
    counts, edges = histogram(np.full(5, 7.0), bins=10)
    assert counts.sum() == 5 and edges[0] < 7.0 < edges[-1]
    counts, edges = histogram(np.array([np.nan]), bins=4)
    assert counts.sum() == 0 and edges[0] == 0.0 and edges[-1] == 1.0
    assert histogram(np.arange(1000.0))[0].size == 200
