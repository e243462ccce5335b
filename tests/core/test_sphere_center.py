"""Centre finding: spec/sphere.md §4.2 and acceptance checks §7.6 (blurred) and §7.7 (sub-pixel)."""

import math

import numpy as np
import pytest
from scipy import ndimage
from sphere_synthetic import OFFSET, poisson, spec_frame, spec_mask

from owlx.core import sphere_center as C
from owlx.core.masked_blur import gaussian_kernel_1d, masked_blur
from owlx.core.sphere_symmetry import ScoreImage
from owlx.errors import JobCancelled, ParameterError

BLURRED = {"threshold": 0.5, "dmax_px": 5, "sigma_px": 4}


# ----------------------------------------------------------------------------- blur (§4.2 1–3)


def reference_blur(img, mask, sigma, threshold, wrap):
    """Straight 2-D normalised convolutions with the full square kernel (scipy.ndimage)."""
    g = gaussian_kernel_1d(sigma)
    kernel = np.outer(g, g)
    conv = lambda a: ndimage.correlate(a, kernel, mode="wrap" if wrap else "constant")
    im = np.where(img >= threshold, img, 0.0) * mask
    m = mask.astype(float)
    num, den = conv(im), conv(m)
    filled = ~mask & (den > 1e-12)
    im_f = im.copy()
    im_f[filled] = num[filled] / den[filled]
    m_f = (mask | filled).astype(float)
    num2, den2 = conv(im_f * m_f), conv(m_f)
    return np.where(den2 > 1e-12, num2 / np.where(den2 > 0, den2, 1), 0.0)


@pytest.mark.parametrize("edge", ["zero", "wrap"])
def test_masked_blur_equals_direct_normalised_convolution(edge):
    rng = np.random.default_rng(0)
    img = rng.poisson(3.0, (90, 70)).astype(float)
    mask = np.ones(img.shape, bool)
    mask[40:48] = False  # a gap
    mask[:, :2] = False
    mask[70:, 50:] = False  # a hole wider than the kernel: its core stays unfilled
    blurred, valid = masked_blur(img, mask, 3.0, 2.0, edge)
    ref = reference_blur(img, mask, 3.0, 2.0, edge == "wrap")
    assert blurred.dtype == np.float32
    np.testing.assert_allclose(blurred, ref, atol=2e-6 * ref.max())
    assert np.array_equal(valid, mask)


def test_kernel_side_is_int_8_sigma_plus_1():
    assert gaussian_kernel_1d(4).size == 33
    assert gaussian_kernel_1d(2.5).size == 21
    assert gaussian_kernel_1d(0.7).size % 2 == 1  # int(6.6) = 6 is made odd: centred
    with pytest.raises(ParameterError):
        gaussian_kernel_1d(0)


# ----------------------------------------------------------------------------- score and search


def brute_score(b, v, x, y, rx=None, ry=None):
    """The pair score of §4.2 written out literally (pixel indices, loops)."""
    ny, nx = b.shape
    rx = min(x, nx - 1 - x) if rx is None else rx
    ry = min(y, ny - 1 - y) if ry is None else ry
    num = den = 0.0
    for dy in range(-ry, 0):
        for dx in range(-rx, rx + 1):
            if v[y + dy, x + dx] and v[y - dy, x - dx]:
                a, c = b[y + dy, x + dx], b[y - dy, x - dx]
                num += (a - c) ** 2
                den += a + c
    return num / den if den > 0 else math.inf


def test_score_kernel_matches_the_definition():
    rng = np.random.default_rng(1)
    b = rng.random((37, 44)).astype(np.float32)
    v = rng.random(b.shape) > 0.2
    b[~v] = 0
    image = ScoreImage(b, v)
    xs, ys = [3, 10, 21, 40], [1, 5, 18, 30]
    got = image.scores(xs, ys)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            assert got[j, i] == pytest.approx(brute_score(b, v, x, y), rel=1e-5)
    fixed = image.scores([20, 21], [17], rx_fixed=6, ry_fixed=4)
    assert fixed[0, 1] == pytest.approx(brute_score(b, v, 21, 17, 6, 4), rel=1e-5)
    # Windows that are empty (on the edge) score inf.
    assert np.isinf(image.scores([0], [5])[0, 0])


def test_candidates_follow_the_reference_loop():
    assert C._candidates(127.5, 4) == list(range(123, 132))
    assert C._candidates(-1.5, 2) == [-3, -2, -1, 0]  # trunc(−3.5) = −3


# ----------------------------------------------------------------------------- §7.6


def test_noise_free_centre_is_exact_without_subpixel():
    r = C.find_center_blurred(spec_frame(), spec_mask(), 0, 0, subpixel=False, **BLURRED)
    assert (r.cx, r.cy) == OFFSET
    assert (r.cx_int, r.cy_int) == OFFSET
    assert r.flags == ()


@pytest.mark.parametrize("offset", [(7.5, -6.5), (-6.5, 7.5)])
def test_far_offsets_need_and_pass_the_coarse_stage(offset):
    r = C.find_center_blurred(spec_frame(*offset), spec_mask(), 0, 0, subpixel=False, **BLURRED)
    assert (r.cx, r.cy) == offset


def test_poisson_10x_fluence_is_exact_for_20_seeds():
    clean = spec_frame(fluence=1e10)  # A ≈ 38
    for seed in range(20):
        r = C.find_center_blurred(poisson(clean, seed), spec_mask(), 0, 0, **BLURRED)
        assert (r.cx_int, r.cy_int) == OFFSET, seed


def test_poisson_at_a_3_8_is_within_one_pixel():
    clean = spec_frame()
    for seed in range(20):
        r = C.find_center_blurred(poisson(clean, seed), spec_mask(), 0, 0, **BLURRED)
        assert abs(r.cx_int - OFFSET[0]) <= 1 and abs(r.cy_int - OFFSET[1]) <= 1, seed


def test_noise_free_score_is_lower_than_noisy():
    clean = spec_frame(fluence=1e10)
    s0 = C.find_center_blurred(clean, spec_mask(), 0, 0, **BLURRED).score
    s1 = C.find_center_blurred(poisson(clean, 3), spec_mask(), 0, 0, **BLURRED).score
    assert 0 <= s0 < s1


# ----------------------------------------------------------------------------- §7.7


def test_subpixel_noise_free():
    r = C.find_center_blurred(spec_frame(3.3, -2.7), spec_mask(), 0, 0, **BLURRED)
    assert (r.cx_int, r.cy_int) == OFFSET
    assert abs(r.cx - 3.3) < 0.05 and abs(r.cy + 2.7) < 0.05


@pytest.mark.parametrize("offset", [(3.5, -2.5), (7.5, -6.5)])
def test_subpixel_poisson_statistics(offset):
    clean = spec_frame(*offset, fluence=1e10)
    err = []
    for seed in range(20):
        r = C.find_center_blurred(poisson(clean, seed), spec_mask(), 0, 0, **BLURRED)
        err += [r.cx - offset[0], r.cy - offset[1]]
    err = np.abs(err)
    assert np.sqrt(np.mean(err ** 2)) < 0.15
    assert err.max() < 0.3


# ----------------------------------------------------------------------------- edges and flags


def test_search_near_the_edge_is_clipped_not_aborted():
    img = spec_frame(-87.5, 0.5, fluence=1e10)  # beam on column 40
    r = C.find_center_blurred(img, None, -84.5, 0.5, threshold=0.5, dmax_px=40)
    assert "center_search_clipped" in r.flags  # the coarse search reached past the edge
    assert (r.cx_int, r.cy_int) == (-87.5, 0.5)


def test_out_of_range_guess_is_kept_and_flagged():
    r = C.find_center_blurred(spec_frame(), spec_mask(), 200.0, 0.0, **BLURRED)
    assert (r.cx, r.cy) == (200.0, 0.0)
    assert "center_out_of_range" in r.flags


def test_subpixel_fails_without_room_for_neighbours():
    # Beam on column 1: the fixed window min(X, Nx−1−X) − 1 of the sub-pixel step is empty.
    r = C.find_center_blurred(spec_frame(-126.5, 0.5), None, -126.5, 0.5, threshold=0.5,
                              dmax_px=1)
    assert "subpixel_failed" in r.flags
    assert (r.cx, r.cy) == (r.cx_int, r.cy_int) == (-126.5, 0.5)
    assert C._parabola_vertex(1.0, 1.0, 1.0) is None  # no curvature
    assert C._parabola_vertex(0.0, 1.0, 0.0) is None  # a maximum
    assert C._parabola_vertex(3.0, 1.0, 2.0) == pytest.approx(1 / 6)
    assert C._parabola_vertex(9.0, 0.0, 0.0) == 0.5  # clamped


def test_empty_image_keeps_the_guess():
    r = C.find_center_blurred(np.zeros((64, 64)), None, 1.5, -0.5, dmax_px=2)
    assert (r.cx, r.cy) == (1.5, -0.5)
    assert "center_no_signal" in r.flags


def test_wrap_edge_mode_runs_and_agrees_on_a_centred_pattern():
    r = C.find_center_blurred(spec_frame(), spec_mask(), 0, 0, edge="wrap", subpixel=False,
                              **BLURRED)
    assert (r.cx, r.cy) == OFFSET


def test_cancel_raises():
    with pytest.raises(JobCancelled):
        C.find_center_blurred(spec_frame(), spec_mask(), cancel=lambda: True)


# ----------------------------------------------------------------------------- other methods


@pytest.mark.parametrize("offset", [(3.5, -2.5), (3.3, -2.7), (-6.2, 7.4)])
def test_quadrant_method(offset):
    clean = spec_frame(*offset, fluence=1e10)
    r = C.find_center(clean, spec_mask(), 0, 0, "quadrant", threshold=0.5, dmax_px=10)
    assert abs(r.cx - offset[0]) < 0.02 and abs(r.cy - offset[1]) < 0.02
    noisy = C.find_center(poisson(clean, 1), spec_mask(), 0, 0, "Quadrant", threshold=0.5,
                          dmax_px=10)
    assert abs(noisy.cx - offset[0]) < 0.3 and abs(noisy.cy - offset[1]) < 0.3


def test_method_none_and_unknown():
    r = C.find_center(spec_frame(), None, 1.0, 2.0, "none")
    assert (r.cx, r.cy, r.method) == (1.0, 2.0, "none")
    with pytest.raises(ParameterError):
        C.find_center(spec_frame(), None, 0, 0, "pw (slow)")
