"""Masked normalised cross-correlation: FFT, direct and special forms against brute force (spec §14.2)."""

import numpy as np
import pytest

from owlx.core.mnxc import (
    auto_ncc,
    masked_ncc,
    parabolic_offset,
    peak_lag,
    reflection_ncc,
)
from owlx.core.mnxc_direct import PreparedImage, climb_ncc, window_ncc


def brute_ncc(a, b, ma, mb, overlap_ratio=0.3):
    """Pearson correlation of a(u) and b(u − τ) over the valid overlap, every lag, plus N."""
    n1, n2 = a.shape, b.shape
    out = np.zeros((n1[0] + n2[0] - 1, n1[1] + n2[1] - 1))
    count = np.zeros_like(out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            dr, dc = i - (n2[0] - 1), j - (n2[1] - 1)
            ur = np.arange(max(0, dr), min(n1[0], n2[0] + dr))
            uc = np.arange(max(0, dc), min(n1[1], n2[1] + dc))
            if not ur.size or not uc.size:
                continue
            x = a[np.ix_(ur, uc)]
            y = b[np.ix_(ur - dr, uc - dc)]
            ok = ma[np.ix_(ur, uc)] & mb[np.ix_(ur - dr, uc - dc)]
            x, y = x[ok] - x[ok].mean() if ok.any() else x[ok], y[ok] - y[ok].mean() if ok.any() else y[ok]
            count[i, j] = ok.sum()
            den = np.sqrt((x * x).sum() * (y * y).sum())
            out[i, j] = (x * y).sum() / den if ok.sum() > 1 and den > 0 else 0.0
    out[count < overlap_ratio * count.max()] = 0.0
    return out, count


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(32, 32)), rng.normal(size=(32, 32))
    return a, b, rng.random((32, 32)) > 0.3, rng.random((32, 32)) > 0.3


@pytest.fixture(scope="module")
def brute(pair):
    """(NCC, N) by brute force, every lag, without the overlap rule."""
    return brute_ncc(*pair, overlap_ratio=0.0)


def test_fft_ncc_equals_brute_force_masked_pearson(pair, brute):
    a, b, ma, mb = pair
    ncc, origin = masked_ncc(a, b, ma, mb)
    expected, count = brute
    expected = np.where(count < 0.3 * count.max(), 0.0, expected)
    assert origin == (31, 31)
    np.testing.assert_allclose(ncc, expected, atol=1e-10)


def test_direct_window_equals_brute_force(pair, brute):
    a, b, ma, mb = pair
    expected, _ = brute
    got = window_ncc(PreparedImage(a, ma), PreparedImage(b, mb), (-5, -4), (9, 7), overlap_ratio=0.0)
    np.testing.assert_allclose(got, expected[31 - 5:31 + 4, 31 - 4:31 + 3], atol=1e-10)


def test_self_correlation_is_one_at_zero_lag_and_values_are_bounded(pair):
    a, _, ma, _ = pair
    ncc, origin = masked_ncc(a, a, ma, ma)
    assert ncc[origin] == pytest.approx(1.0, abs=1e-12)
    assert ncc.max() <= 1.0 and ncc.min() >= -1.0
    np.testing.assert_array_equal(peak_lag(ncc, origin), [0.0, 0.0])


def test_invariant_under_positive_affine_change(pair):
    a, b, ma, mb = pair
    ref, _ = masked_ncc(a, b, ma, mb)
    changed, _ = masked_ncc(3.7 * a - 12.0, 0.2 * b + 5.0, ma, mb)
    np.testing.assert_allclose(changed, ref, atol=1e-10)


def test_reflection_and_autocorrelation_shortcuts_equal_the_general_form(pair):
    a, _, ma, _ = pair
    got, origin = reflection_ncc(a, ma)
    expected, origin2 = masked_ncc(a, a[::-1, ::-1], ma, ma[::-1, ::-1])
    assert origin == origin2
    np.testing.assert_allclose(got, expected, atol=1e-12)
    part, o3 = reflection_ncc(a, ma, max_fraction=0.5)  # lags ±16 only, smaller transforms
    assert o3 == (16, 16)
    np.testing.assert_allclose(part, expected[31 - 16:31 + 17, 31 - 16:31 + 17], atol=1e-12)
    auto, o = auto_ncc(a[:, :30], ma[:, :30], max_shift=(10, 12))
    general, o2 = masked_ncc(a[:, :30], a[:, :30], ma[:, :30], ma[:, :30], max_shift=(10, 12))
    assert o == o2 == (10, 12)
    np.testing.assert_allclose(auto, general, atol=1e-12)


def test_max_shift_gives_the_central_lags_of_the_full_search(pair):
    a, b, ma, mb = pair
    full, o = masked_ncc(a, b, ma, mb, overlap_ratio=0.0)
    part, o2 = masked_ncc(a, b, ma, mb, max_shift=5, overlap_ratio=0.0)
    assert part.shape == (11, 11) and o2 == (5, 5)
    np.testing.assert_allclose(part, full[o[0] - 5:o[0] + 6, o[1] - 5:o[1] + 6], atol=1e-10)


def test_parabola_finds_the_vertex_and_climb_walks_to_the_peak():
    x = np.arange(7.0)
    values = -((x[:, None] - 3.3) ** 2) - 2 * (x[None, :] - 2.8) ** 2
    np.testing.assert_allclose(parabolic_offset(values, (3, 3)), [0.3, -0.2], atol=1e-12)
    flat = np.zeros((3, 3))
    np.testing.assert_array_equal(parabolic_offset(flat, (1, 1)), [0.0, 0.0])  # no curvature: no offset
    rng = np.random.default_rng(1)
    from scipy import ndimage

    big = ndimage.gaussian_filter(rng.normal(size=(90, 90)), 3)
    fixed, moving = big[10:74, 10:74], big[14:78, 7:71]  # moving(u) = fixed(u + (4, −3))
    lag, value = climb_ncc(PreparedImage(fixed), PreparedImage(moving), (0, 0), max_walk=8)
    np.testing.assert_allclose(lag, [4.0, -3.0], atol=0.05)  # moving(u − lag) = fixed(u)
    assert value == pytest.approx(1.0, abs=1e-9)
