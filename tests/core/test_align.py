"""Registration and alignment by masked NCC (spec/peaks.md §7, acceptance §14.3)."""

import numpy as np
import pytest
from peaks_synthetic import texture
from scipy import ndimage

from owlx.core.align import Aligner, align, ialign, register_shift
from owlx.core.image_shift import shift_image
from owlx.errors import ParameterError


def shifted_pair(shift, sigma=2.0, size=256, seed=0):
    """(reference, moving) crops of one texture with moving(u) = reference(u − shift), integer."""
    big = texture((size + 64, size + 64), sigma, seed)
    r, c = 32, 32
    ref = big[r:r + size, c:c + size]
    mov = big[r - shift[0]:r - shift[0] + size, c - shift[1]:c - shift[1] + size]
    return ref, mov


@pytest.fixture(scope="module")
def block_mask():
    mask = np.ones((256, 256), dtype=bool)
    mask[100:125, 60:110] = False  # a 25 × 50 invalid block
    return mask


@pytest.mark.parametrize("shift", [(3, -5), (-7, 12)])
@pytest.mark.parametrize("masked", [False, True])
def test_integer_shifts_are_recovered_exactly(shift, masked, block_mask):
    ref, mov = shifted_pair(shift)
    mask = block_mask if masked else None
    # mov(u) = ref(u − shift): aligning mov needs the opposite shift
    aligned, found = align(mov, ref, mask, return_shift=True)
    np.testing.assert_array_equal(found, [-shift[0], -shift[1]])
    rows = slice(max(0, -shift[0]), 256 + min(0, -shift[0]))
    cols = slice(max(0, -shift[1]), 256 + min(0, -shift[1]))
    assert np.abs(aligned[rows, cols] - ref[rows, cols]).max() <= 1e-12
    assert np.all(aligned[~np.isin(np.arange(256), np.arange(256)[rows])] == 0.0)  # uncovered rows: fill


@pytest.mark.parametrize("sigma", [1.5, 3.0, 6.0])
def test_subpixel_shifts_on_masked_smooth_textures(sigma, block_mask):
    rng = np.random.default_rng(int(sigma * 10))
    big = texture((300, 300), sigma, seed=int(sigma))
    ref = big[22:278, 22:278]
    errors_parabolic, errors_lk = [], []
    for _ in range(4):
        s = rng.uniform(-8, 8, 2)
        mov = ndimage.shift(big, -s, order=3, mode="nearest")[22:278, 22:278]  # mov(u) = big(u + s)
        errors_parabolic.append(register_shift(mov, ref, block_mask) - s)
        errors_lk.append(register_shift(mov, ref, block_mask, refine="lk") - s)
    assert np.abs(errors_parabolic).max() <= 0.1
    assert np.abs(errors_lk).max() <= 0.02


def test_aligned_subpixel_image_matches_the_reference():
    big = texture((300, 300), 3.0, seed=4)
    ref = big[22:278, 22:278]
    s = np.array([2.4, -3.7])
    mov = ndimage.shift(big, -s, order=3, mode="nearest")[22:278, 22:278]
    aligned = align(mov, ref, refine="lk")
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(aligned[inner] - ref[inner]).max() < 0.02 * np.abs(ref).max()


def test_integer_refine_none_and_max_shift():
    ref, mov = shifted_pair((4, -6))
    np.testing.assert_array_equal(register_shift(mov, ref, refine="none"), [-4, 6])
    np.testing.assert_array_equal(register_shift(mov, ref, max_shift=10), [-4, 6])
    # a bound smaller than the shift keeps the answer inside the bound
    assert np.all(np.abs(register_shift(mov, ref, max_shift=2)) <= 2)


def test_ialign_streams_one_output_per_input():
    ref, mov = shifted_pair((2, 3), size=64)
    out = list(ialign([ref, mov, mov]))
    assert len(out) == 3
    np.testing.assert_array_equal(out[0], ref)
    np.testing.assert_allclose(out[2][:-5, :-5], ref[:-5, :-5], atol=1e-12)  # aligned(u) = mov(u + (2, 3))
    aligner = Aligner(ref)
    np.testing.assert_array_equal(aligner.shift(mov), [-2, -3])


def test_large_images_use_the_pyramid_and_agree_with_the_full_search():
    big = texture((1130, 1130), 3.0, seed=11)
    ref = big[40:1090, 40:1090]
    s = np.array([5.3, -7.6])
    mov = shift_image(big, -s)[40:1090, 40:1090]
    mask = np.ones(ref.shape, dtype=bool)
    mask[500:560, :400] = False
    pyr = register_shift(mov, ref, mask)
    assert Aligner(ref, mask).factor == 4
    np.testing.assert_allclose(pyr, s, atol=0.1)
    full = register_shift(mov, ref, mask, pyramid=False, refine="none")
    np.testing.assert_array_equal(np.rint(pyr), full)


def test_bad_arguments():
    ref = texture((32, 32), 2.0)
    with pytest.raises(ParameterError):
        register_shift(ref[:30], ref)
    with pytest.raises(ParameterError):
        register_shift(ref, ref, refine="magic")
