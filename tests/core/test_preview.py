"""Display previews of big frames: block maxima of colour indices, any-valid masks, the step."""

from __future__ import annotations

import numpy as np
import pytest

from owlx.core.display import DisplaySettings, full_index, map_like, render
from owlx.core.preview import index_preview, preview_step, valid_preview, value_preview
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int16, np.uint8])
@pytest.mark.parametrize("shape,step", [((64, 64), 4), ((37, 50), 4), ((9, 5), 2), ((33, 70), 8)])
def test_value_preview_is_the_block_maximum_of_the_finite_values(dtype, shape, step):
    rng = np.random.default_rng(3)
    frame = rng.integers(-50, 200, shape).astype(dtype) if np.dtype(dtype).kind != "u" \
        else rng.integers(0, 250, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        frame[:step, :step] = np.nan  # a block with no finite value
        frame[step:2 * step, :step] = np.inf
        frame[step, 0] = -np.inf
        frame[-1, -1] = np.nan
        frame[0, -1] = 1e6  # the maximum of a ragged edge block
    out = value_preview(frame, step)
    assert out.dtype == frame.dtype and out.shape == (-(-shape[0] // step), -(-shape[1] // step))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = frame[i * step:(i + 1) * step, j * step:(j + 1) * step].astype(np.float64)
            finite = block[np.isfinite(block)]
            if finite.size:
                assert out[i, j] == finite.max()
            else:
                assert np.isnan(out[i, j])


@pytest.mark.parametrize("norm,gamma", [("linear", 1), ("log", 1), ("sqrt", 1), ("power", 0.3), ("power", 3),
                                        ("arcsinh", 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int16])
def test_preview_alone_equals_the_reduced_full_rendering(norm, gamma, dtype):
    """render(full=False) maps only the block maxima of the values; it must give exactly the
    preview of the full rendering, NaN and ±inf blocks included."""
    rng = np.random.default_rng(5)
    frame = rng.gamma(0.4, 300, (150, 133)).astype(dtype)
    if np.dtype(dtype).kind == "f":
        frame[:4, :4] = np.nan
        frame[4:8, :4] = np.inf
        frame[10, 10] = -np.inf
        frame[20:24, 20:24] = np.nan
        frame[21, 22] = 5.0
    valid = np.ones(frame.shape, bool)
    valid[50:60] = False  # masked pixels still count in the picture (the overlay hides them)
    s = DisplaySettings(norm=norm, gamma=gamma)
    full = render(frame, valid, s, preview_step=4)
    alone = render(frame, valid, s, preview_step=4, full=False)
    assert alone.index is None and (alone.lo, alone.hi) == (full.lo, full.hi)
    # the statistics come from the same pass as the block maxima: the same numbers
    a, b = alone.stats, full.stats
    assert (a.min, a.max, a.n_valid) == (b.min, b.max, b.n_valid) == (b.min, b.max, int(valid[np.isfinite(frame)].sum()))
    np.testing.assert_allclose([a.mean, a.std, a.sum], [b.mean, b.std, b.sum], rtol=1e-12)
    np.testing.assert_array_equal(alone.preview, full.preview)
    np.testing.assert_array_equal(full.preview, index_preview(full.index, 4))
    np.testing.assert_array_equal(full_index(frame, alone), full.index)


def test_preview_alone_with_clamp_off_maps_the_full_frame():
    """Out-of-range values (index 254) rank below every data index, so a block maximum of the
    values would hide in-range pixels next to a hot one: render maps everything instead."""
    frame = np.zeros((8, 8), np.float32)
    frame[0, 0] = 1000.0  # above hi
    frame[1, 1] = 5.0
    s = DisplaySettings(lo=0, hi=10, lo_unit="value", hi_unit="value", norm="linear", clamp=False)
    r = render(frame, None, s, preview_step=4, full=False)
    assert r.index is not None and r.index[0, 0] == 254
    assert r.preview[0, 0] == r.index[1, 1] == int(5 / 10 * 253 + 0.5)  # floor(t·253 + 0.5)


def test_complex_frames_keep_their_mode_when_mapped_later():
    frame = (np.arange(64, dtype=np.float32).reshape(8, 8) * np.exp(1j * 0.5)).astype(np.complex64)
    s = DisplaySettings(norm="linear", complex_mode="real")
    full = render(frame, None, s, preview_step=2)
    alone = render(frame, None, s, preview_step=2, full=False)
    alone.real = None  # as the frame loader keeps it
    np.testing.assert_array_equal(full_index(frame, alone), full.index)
    np.testing.assert_array_equal(alone.preview, full.preview)
    block = frame[2:5, 3:6]
    np.testing.assert_array_equal(map_like(block, alone), full.index[2:5, 3:6])


def test_value_preview_rejects_other_images():
    with pytest.raises(ParameterError):
        value_preview(np.zeros((4, 4), np.int32), 2)
    with pytest.raises(ParameterError):
        value_preview(np.zeros((4, 4, 3), np.float32), 2)
    with pytest.raises(ParameterError):
        value_preview(np.zeros((4, 4), np.float32), 0)


def test_preview_alone_of_a_frame_without_valid_pixels():
    frame = np.full((16, 16), np.nan, np.float32)
    r = render(frame, None, DisplaySettings(), preview_step=4, full=False)
    assert r.stats.n_valid == 0 and np.isnan(r.stats.max)
    assert (r.preview == 255).all() and r.preview.shape == (4, 4)
    masked = render(np.ones((16, 16), np.uint16), np.zeros((16, 16), bool), DisplaySettings(), preview_step=4,
                    full=False)
    assert masked.stats.n_valid == 0 and masked.preview.shape == (4, 4)
