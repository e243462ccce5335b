"""Display pipeline: norms, exact colour indices, levels, statistics, masks (spec/viewer.md
D2–D4, M2, M5, S5, §17 checks 2 and 12)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from owlx.core import colorindex
from owlx.core.display import (
    NORMS,
    NOT_FINITE,
    OUT_OF_RANGE,
    TOP_INDEX,
    DisplaySettings,
    MaskSettings,
    compute_levels,
    frame_stats,
    histogram,
    map_to_index,
    norm_thresholds,
    normalize,
    reference_index,
    render,
    to_real,
)
from owlx.errors import DatasetError, ParameterError

RNG = np.random.default_rng(20240611)


def formula(x, lo, hi, norm, gamma=0.25):
    """spec/viewer.md D2, written out literally in float64."""
    x = np.clip(np.asarray(x, float), lo, hi)
    v, s = x - lo, hi - lo
    if norm == "linear":
        return v / s
    if norm == "log":
        return np.log(1 + v) / np.log(1 + s)
    if norm == "sqrt":
        return np.sqrt(v / s)
    if norm == "power":
        return ((1 + v) ** gamma - 1) / ((1 + s) ** gamma - 1)
    return (np.arcsinh(x) - np.arcsinh(lo)) / (np.arcsinh(hi) - np.arcsinh(lo))


def adversarial(lo, hi, norm, gamma, dtype, n=4000):
    """Values spread over the float range, ±0, NaN, ±inf, the extremes of the dtype, lo and hi,
    every threshold and its two neighbours."""
    big = float(np.finfo(dtype).max)
    with np.errstate(over="ignore"):
        parts = [
            RNG.standard_normal(n) * 10.0 ** RNG.integers(-30, 30, n),
            RNG.uniform(lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo), n),
            lo + (hi - lo) * RNG.uniform(0, 1e-3, n),  # crowded thresholds of log/power near lo
            [0.0, -0.0, np.nan, np.inf, -np.inf, big, -big, lo, hi, np.nextafter(lo, -np.inf)],
        ]
        x = np.concatenate(parts).astype(dtype)
    th = norm_thresholds(lo, hi, norm, gamma, dtype)
    th = th[np.isfinite(th)]
    x = np.concatenate([x, th, np.nextafter(th, dtype(-np.inf)), np.nextafter(th, dtype(np.inf))])
    x = x[: x.size // 8 * 8].reshape(8, -1)
    return x


CASES = [(0.0, 1e4), (1000.0, 1e6), (-1e6, 1e6), (-5.0, 3.0), (1e-3, 2e-3), (0.0, 3e38),
         (1e20, 1e20 + 3e4), (5000.0, 5000.001)]


# -- the norms --------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("lo, hi", [(0.0, 1000.0), (-20.0, 50.0), (3.0, 3.5), (-1e4, -10.0)])
def test_normalize_follows_the_d2_formulas(norm, lo, hi):
    x = np.concatenate([RNG.uniform(lo - 10, hi + 10, 5000), [lo, hi]])
    for gamma in ([0.25, 2.0, -1.5, 10.0, -10.0] if norm == "power" else [0.25]):
        assert normalize(x, lo, hi, norm, gamma) == pytest.approx(formula(x, lo, hi, norm, gamma),
                                                                  rel=1e-9, abs=1e-12)


def test_normalize_ends_and_nan():
    for norm in NORMS:
        t = normalize([-1.0, 0.0, 5.0, 10.0, 11.0, np.nan], 0.0, 10.0, norm)
        assert t[:2].tolist() == [0.0, 0.0] and t[3:5].tolist() == [1.0, 1.0]
        assert 0 < t[2] < 1 and np.isnan(t[5])
    # log of zero and negative data works through the offset (D2)
    assert normalize([-3.0], -5.0, 5.0, "log")[0] == pytest.approx(np.log(3) / np.log(11))


def test_power_survives_huge_ranges():
    t = normalize([0.0, 1e20, 3e38], 0.0, 3e38, "power", 10.0)
    assert t[0] == 0 and t[2] == 1 and 0 <= t[1] < 1e-100


# -- exact colour indices -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm", NORMS)
def test_map_to_index_is_exact_on_adversarial_data(norm, dtype):
    for lo, hi in CASES:
        for gamma in ([0.25, 3.0, 10.0, -0.5, -10.0] if norm == "power" else [0.25]):
            x = adversarial(lo, hi, norm, gamma, dtype)
            for clamp in (True, False):
                got = map_to_index(x, lo, hi, norm, gamma, clamp)
                want = reference_index(x, lo, hi, norm, gamma, clamp)
                assert got.dtype == np.uint8 and got.shape == x.shape
                np.testing.assert_array_equal(got, want, err_msg=f"{norm} γ={gamma} {lo}..{hi} clamp={clamp}")


def test_reference_index_layout():
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf]])
    on = reference_index(x, 0.0, 1.0, "linear", clamp=True)
    off = reference_index(x, 0.0, 1.0, "linear", clamp=False)
    assert on.tolist() == [[0, 0, 127, TOP_INDEX, TOP_INDEX, NOT_FINITE, NOT_FINITE, NOT_FINITE]]
    assert off.tolist() == [[OUT_OF_RANGE, 0, 127, TOP_INDEX, OUT_OF_RANGE] + [NOT_FINITE] * 3]
    np.testing.assert_array_equal(map_to_index(x.astype(np.float32), 0, 1, "linear", clamp=True), on)
    np.testing.assert_array_equal(map_to_index(x.astype(np.float32), 0, 1, "linear", clamp=False), off)


def test_every_index_is_reached_and_rounds_half_up():
    t = (np.arange(254) + 0.5) / 253  # just at each rounding boundary k + 1/2
    x = np.concatenate([np.arange(254) / 253, t[:-1]])[None, :]
    idx = map_to_index(x, 0.0, 1.0, "linear")
    assert set(idx[0, :254].tolist()) == set(range(254))
    np.testing.assert_array_equal(idx, reference_index(x, 0.0, 1.0, "linear"))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_small_integers_go_through_an_exact_table(dtype):
    info = np.iinfo(dtype)
    x = np.arange(info.min, int(info.max) + 1).astype(dtype).reshape(-1, 16)
    for norm in NORMS:
        for lo, hi in [(0, 255), (-3.5, 100.2), (10, 11), (-30000.0, 60000.0), (0.1, 0.2)]:
            for clamp in (True, False):
                np.testing.assert_array_equal(map_to_index(x, lo, hi, norm, 0.25, clamp),
                                              reference_index(x, lo, hi, norm, 0.25, clamp))


def test_bins_with_several_thresholds_fall_back_to_a_search(monkeypatch):
    monkeypatch.setattr(colorindex, "N_BINS", 2)  # every bin then holds many thresholds
    for norm in NORMS:
        x = adversarial(0.0, 1e4, norm, 0.25, np.float32)
        np.testing.assert_array_equal(map_to_index(x, 0.0, 1e4, norm), reference_index(x, 0.0, 1e4, norm))


@pytest.mark.parametrize("norm", NORMS)
def test_thresholds_are_the_first_value_of_each_index(norm):
    lo, hi = 2.0, 5000.0
    th = norm_thresholds(lo, hi, norm, 0.25, np.float32)
    assert th.dtype == np.float32 and th.shape == (253,) and np.all(np.diff(th) >= 0)
    at = reference_index(th, lo, hi, norm).astype(int)
    below = reference_index(np.nextafter(th, np.float32(-np.inf)), lo, hi, norm).astype(int)
    k = np.arange(1, 254)
    assert np.all(at >= k) and np.all(below < k)


def test_map_to_index_rejects_nonsense():
    with pytest.raises(ParameterError):
        map_to_index(np.zeros((2, 2)), 1.0, 1.0, "log")
    with pytest.raises(ParameterError):
        map_to_index(np.zeros((2, 2)), 0.0, 1.0, "cubic")
    with pytest.raises(ParameterError):
        map_to_index(np.zeros((2, 2)), 0.0, 1.0, "power", 0.0)
    with pytest.raises(ParameterError):
        map_to_index(np.zeros(4), 0.0, 1.0, "log")
    out = np.empty((3, 3), np.uint8)
    with pytest.raises(ParameterError):
        map_to_index(np.zeros((2, 2)), 0.0, 1.0, "log", out=out)


def test_out_array_is_filled():
    x = RNG.uniform(0, 10, (5, 7)).astype(np.float32)
    out = np.zeros(x.shape, np.uint8)
    assert map_to_index(x, 0, 10, "sqrt", out=out) is out
    np.testing.assert_array_equal(out, reference_index(x, 0, 10, "sqrt"))


# -- levels -----------------------------------------------------------------------------------
def test_check_12_percentile_levels_of_0_to_9999():
    frame = RNG.permutation(10000).astype(np.float32).reshape(100, 100)
    lo, hi = compute_levels(frame, None, DisplaySettings())
    assert lo == pytest.approx(50, rel=0.01) and hi == pytest.approx(9949, rel=0.01)


def test_percentiles_of_a_large_frame_come_from_a_subsample():
    frame = RNG.gamma(0.5, 100.0, (2048, 2048)).astype(np.float32)
    lo, hi = compute_levels(frame, None, DisplaySettings(lo=1.0, hi=99.0))
    want = np.percentile(frame, [1.0, 99.0])
    assert lo == pytest.approx(want[0], rel=0.05) and hi == pytest.approx(want[1], rel=0.02)


def test_level_units():
    frame = np.linspace(-100.0, 300.0, 401, dtype=np.float32).reshape(1, -1)
    s = DisplaySettings(lo_unit="value", lo=-5.0, hi_unit="value", hi=7.0)
    assert compute_levels(frame, None, s) == (-5.0, 7.0)
    s = DisplaySettings(lo_unit="range", lo=10.0, hi_unit="range", hi=75.0)
    assert compute_levels(frame, None, s) == pytest.approx((-60.0, 200.0))
    s = DisplaySettings(lo_unit="value", lo=0.0, hi_unit="percentile", hi=50.0)
    assert compute_levels(frame, None, s) == pytest.approx((0.0, 100.0))


def test_degenerate_levels_are_opened_sensibly():
    lo, hi = compute_levels(np.full((8, 8), 3.0, np.float32), None, DisplaySettings())
    assert lo == 3.0 and hi > lo  # a constant frame shows its lowest colour
    lo, hi = compute_levels(np.full((8, 8), np.nan, np.float32), None, DisplaySettings())
    assert (lo, hi) == (0.0, 1.0)
    s = DisplaySettings(lo_unit="value", lo=1000.0, hi_unit="percentile", hi=50.0)
    lo, hi = compute_levels(np.arange(100, dtype=np.float32).reshape(10, 10), None, s)
    assert lo == 1000.0 and hi > lo


@pytest.mark.parametrize("change", [
    {"norm": "cubic"}, {"gamma": 0.0}, {"gamma": 10.5}, {"gamma": -11.0}, {"gamma": float("nan")},
    {"lo_unit": "percent"}, {"lo": -0.1}, {"hi": 100.5}, {"lo": 99.6},
    {"lo_unit": "value", "lo": 5.0, "hi_unit": "value", "hi": 5.0},
    {"lo_unit": "value", "lo": 6.0, "hi_unit": "value", "hi": 5.0},
    {"lo_unit": "range", "lo": 50.0, "hi_unit": "range", "hi": 20.0},
    {"lo_unit": "value", "lo": float("inf")}, {"complex_mode": "modulus"}, {"colormap": ""},
])
def test_nonsense_settings_are_refused(change):
    with pytest.raises(ParameterError):
        replace(DisplaySettings(), **change).validate()
    with pytest.raises(ParameterError):
        render(np.zeros((4, 4), np.float32), None, replace(DisplaySettings(), **change))


def test_sensible_settings_pass_and_round_trip_through_dicts():
    s = DisplaySettings(norm="power", gamma=-2.5, lo_unit="value", lo=-1e6, hi_unit="range", hi=30.0)
    assert s.validate() is s
    d = {k: str(v) for k, v in s.to_dict().items()} | {"clamp": "false", "unknown": 1}
    assert DisplaySettings.from_dict(d) == replace(s, clamp=False)
    m = MaskSettings(out_bits=64, invert=True, colour=(255, 0, 10), opacity=0.25)
    assert MaskSettings.from_dict(m.to_dict() | {"colour": [255, 0, 10]}) == m
    with pytest.raises(ParameterError):
        MaskSettings(opacity=1.5).validate()


# -- statistics and masks -------------------------------------------------------------------------
def test_frame_stats_match_numpy_over_finite_unmasked_pixels():
    frame = (RNG.standard_normal((300, 257)) * 3 + 1e4).astype(np.float32)
    frame[5, 5], frame[6, 6], frame[7, 7] = np.nan, np.inf, -np.inf
    valid = RNG.random(frame.shape) > 0.2
    sel = frame[valid & np.isfinite(frame)].astype(np.float64)
    st = frame_stats(frame, valid)
    assert st.n_valid == sel.size
    assert (st.min, st.max) == (sel.min(), sel.max())
    assert st.mean == pytest.approx(sel.mean(), rel=1e-12)
    assert st.std == pytest.approx(sel.std(), rel=1e-9)
    assert st.sum == pytest.approx(sel.sum(), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float64])
def test_frame_stats_of_other_types(dtype):
    frame = RNG.integers(-100 if np.dtype(dtype).kind != "u" else 0, 200, (64, 48)).astype(dtype)
    st, ref = frame_stats(frame), frame.astype(np.float64)
    assert (st.min, st.max, st.n_valid) == (ref.min(), ref.max(), ref.size)
    assert st.mean == pytest.approx(ref.mean()) and st.std == pytest.approx(ref.std())


def test_masked_pixels_leave_levels_stats_and_histogram_m5():
    frame = RNG.uniform(0, 100, (512, 512)).astype(np.float32)
    valid = np.ones(frame.shape, bool)
    frame[:64] = 1e6  # a masked bright module
    valid[:64] = False
    st = frame_stats(frame, valid)
    assert st.max < 100 and st.n_valid == 448 * 512
    lo, hi = compute_levels(frame, valid, DisplaySettings())
    assert 0 <= lo < 1 and 99 < hi <= 100
    counts, edges = histogram(frame, valid)
    assert counts.sum() == 448 * 512 and edges[-1] < 100
    r = render(frame, valid, DisplaySettings())
    assert r.histogram[1][-1] < 100 and r.histogram[0].sum() == pytest.approx(448 * 512)


def test_min_and_max_use_the_full_frame():
    frame = np.zeros((2048, 2048), np.float32)
    frame[1001, 1337] = 5e4  # one hot pixel that no strided subsample is likely to hit
    st = render(frame, None, DisplaySettings()).stats
    assert st.max == 5e4 and st.min == 0


def test_check_2_mask_bits_64_masked_32_not():
    maskbits = pytest.importorskip("owlx.io.maskbits")
    assert MaskSettings().out_bits == maskbits.DEFAULT_MASK_OUT_BITS == 5855
    valid = maskbits.valid_from_bits(np.array([[64, 32, 0]], np.uint16), MaskSettings().out_bits)
    assert valid.tolist() == [[False, True, True]]


# -- real values and the pipeline -------------------------------------------------------------------
def test_to_real_modes_and_conversions():
    z = np.array([[3 + 4j, -1j]], np.complex64)
    assert to_real(z).tolist() == [[5.0, 1.0]]
    assert to_real(z, "phase") == pytest.approx(np.angle(z))
    assert to_real(z, "real").tolist() == [[3.0, 0.0]] and to_real(z, "imag").tolist() == [[4.0, -1.0]]
    assert all(to_real(z, m).dtype == np.float32 for m in ("amplitude", "phase", "real", "imag"))
    for dtype in (np.int32, np.uint32, np.int64, np.float64):
        assert to_real(np.ones((2, 2), dtype)).dtype == np.float32
    u = np.ones((3, 3), np.uint16)
    assert to_real(u) is u  # no copy on the fast types
    with pytest.raises(ParameterError):
        to_real(z, "modulus")


def test_render_end_to_end():
    frame = RNG.poisson(RNG.exponential(3.0, (300, 400))).astype(np.int32)
    frame[0, 0] = -7
    r = render(frame, None, DisplaySettings())
    assert r.index.shape == frame.shape and r.index.dtype == np.uint8
    assert r.real is not None and r.real.dtype == np.float32  # int32 went through float32
    np.testing.assert_array_equal(r.index, reference_index(frame, r.lo, r.hi, "log"))
    assert (r.lo, r.hi) == pytest.approx(tuple(np.percentile(frame, [0.5, 99.5])), rel=1e-6, abs=1e-6)
    assert r.stats.min == -7 and r.stats.n_valid == frame.size
    counts, edges = r.histogram
    assert len(counts) == 100 and len(edges) == 101 and counts.sum() == pytest.approx(frame.size)
    z = render(np.full((4, 4), 1 + 1j, np.complex64), None, replace(DisplaySettings(), complex_mode="real"))
    assert z.stats.mean == 1.0
    with pytest.raises(DatasetError):
        render(np.zeros((2, 3, 4), np.float32), None, DisplaySettings())
    with pytest.raises(DatasetError):
        render(np.zeros((2, 3), np.float32), np.ones((3, 2), bool), DisplaySettings())


def test_render_passes_rgb_through():
    rgb = RNG.integers(0, 255, (6, 5, 3)).astype(np.uint8)
    r = render(rgb, None, DisplaySettings())
    assert r.index is not None and r.index.shape == (6, 5, 3) and (r.index == rgb).all()


def test_render_is_thread_safe():
    frames = [RNG.gamma(1.0, 50.0, (512, 512)).astype(np.float32) for _ in range(4)]
    want = [render(f, None, DisplaySettings()).index for f in frames]
    got = [None] * 8

    def work(i):
        got[i] = render(frames[i % 4], None, DisplaySettings()).index

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        np.testing.assert_array_equal(got[i], want[i % 4])
