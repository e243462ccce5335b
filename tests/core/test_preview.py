"""Display previews of big frames: block maxima of colour indices, any-valid masks, the step."""

from __future__ import annotations

import numpy as np
import pytest

from owlx.core.display import DisplaySettings, render
from owlx.core.preview import index_preview, preview_step, valid_preview
from owlx.core.thumbnail import block_max_downsample
from owlx.errors import ParameterError


def reference(index, step):
    ny, nx = index.shape
    out = np.empty((-(-ny // step), -(-nx // step)), np.uint8)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = index[i * step:(i + 1) * step, j * step:(j + 1) * step]
            data = block[block <= 253]
            out[i, j] = data.max() if data.size else (254 if (block == 254).any() else 255)
    return out


@pytest.mark.parametrize("shape,step", [((64, 64), 4), ((37, 50), 4), ((9, 5), 2), ((17, 16), 8)])
def test_index_preview_is_the_block_maximum_of_the_data_indices(shape, step):
    rng = np.random.default_rng(1)
    index = rng.integers(0, 256, shape).astype(np.uint8)
    index[:step, :step] = 255  # a block of NaN only
    index[step:2 * step, :step] = rng.choice([254, 255], (step, step)).astype(np.uint8)
    index[step, 0] = 254
    np.testing.assert_array_equal(index_preview(index, step), reference(index, step))


def test_preview_of_the_rendering_equals_rendering_the_block_maximum():
    """Max over indices = index of the max value (indices are monotonic in the value)."""
    rng = np.random.default_rng(2)
    frame = rng.gamma(0.3, 50, (128, 96)).astype(np.float32)
    frame[5, 7] = np.nan
    s = DisplaySettings(norm="log")
    full = render(frame, None, s)
    small = block_max_downsample(frame, 4)
    from owlx.core.display import map_to_index

    expect = map_to_index(small, full.lo, full.hi, s.norm, s.gamma, s.clamp)
    np.testing.assert_array_equal(index_preview(full.index, 4), expect)


def test_valid_preview_masks_a_block_only_when_all_of_it_is_masked():
    valid = np.ones((8, 8), bool)
    valid[:4, :4] = False  # a whole block
    valid[4, 4] = False  # one pixel of another
    out = valid_preview(valid, 4)
    np.testing.assert_array_equal(out, [[False, True], [True, True]])


def test_step_is_a_power_of_two_of_data_pixels_per_screen_pixel():
    assert preview_step((4096, 4096), (900, 1000)) == 4
    assert preview_step((4096, 4096), (2000, 2000)) == 2
    assert preview_step((1024, 1024), (900, 1000)) == 1
    assert preview_step((1024, 8192), (900, 1000)) == 8  # fitted by the wider axis


def test_step_one_returns_the_image_and_bad_input_is_refused():
    index = np.zeros((4, 4), np.uint8)
    assert index_preview(index, 1) is index
    with pytest.raises(ParameterError):
        index_preview(index.astype(np.float32), 2)
    with pytest.raises(ParameterError):
        index_preview(index, 0)
