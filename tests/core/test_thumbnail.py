"""Gallery thumbnails: block maxima of finite valid pixels, block geometry, full-frame
statistics and colour indices (spec/viewer.md G4, G5, S3)."""

from __future__ import annotations

import numpy as np
import pytest

from owlx.core.display import DisplaySettings, compute_levels, frame_stats, map_to_index
from owlx.core.thumbnail import (
    block_edges,
    block_max_downsample,
    block_of,
    downsample_frame,
    thumbnail_index,
    thumbnail_shape,
)
from owlx.errors import ParameterError


def reference(frame, shape, valid=None):
    """Block maxima by the definition: input pixel r goes to block (r * oh) // ny."""
    ny, nx = frame.shape
    oh, ow = shape
    out = np.full(shape, -np.inf)
    ok = np.isfinite(frame) & (True if valid is None else valid)
    for r in range(ny):
        for c in range(nx):
            if ok[r, c]:
                i, j = r * oh // ny, c * ow // nx
                out[i, j] = max(out[i, j], frame[r, c])
    out[out == -np.inf] = np.nan
    return out


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    return rng.normal(100, 20, (53, 71)).astype(np.float32)


@pytest.mark.parametrize("shape", [(53, 71), (10, 7), (17, 33), (1, 1), (52, 70)])
def test_block_max_matches_the_definition(frame, shape):
    out = block_max_downsample(frame, shape)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, reference(frame, shape))


def test_integer_factor_blocks_clip_at_the_edges(frame):
    out = block_max_downsample(frame, 8)
    assert out.shape == (7, 9)  # ceil(53 / 8), ceil(71 / 8)
    assert out[6, 8] == frame[48:, 64:].max()
    assert out[2, 3] == frame[16:24, 24:32].max()


def test_lone_bright_pixel_survives_and_non_finite_pixels_are_skipped():
    a = np.zeros((1024, 1024), np.float32)
    a[517, 333] = 1000.0
    a[0:8, 0:8] = np.nan
    a[8:16, 0:8] = np.inf
    a[16, 0] = -np.inf
    out = block_max_downsample(a, 8)
    assert out.shape == (128, 128)
    assert out[517 // 8, 333 // 8] == 1000.0
    assert np.count_nonzero(out == 1000.0) == 1
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 0])  # no finite pixel in those blocks
    assert out[2, 0] == 0.0


def test_masked_pixels_are_excluded_and_fully_masked_blocks_are_nan(frame):
    valid = np.ones(frame.shape, bool)
    bright = np.unravel_index(np.argmax(frame), frame.shape)
    valid[bright] = False
    valid[:10, :10] = False
    out = block_max_downsample(frame, (17, 33), valid)
    np.testing.assert_array_equal(out, reference(frame, (17, 33), valid))
    assert np.nanmax(out) < frame.max()
    assert np.isnan(out[0, 0])


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.bool_, np.int32, np.float64])
def test_integer_bool_and_double_frames(dtype):
    rng = np.random.default_rng(5)
    a = (rng.random((40, 30)) * 200).astype(dtype)
    out = block_max_downsample(a, (9, 8))
    assert out.dtype == (np.float64 if dtype == np.float64 else np.float32)
    np.testing.assert_array_equal(out, reference(a.astype(np.float64), (9, 8)).astype(out.dtype))


def test_bad_arguments_are_refused(frame):
    for bad in (0, 2.5, (54, 10), (0, 3)):
        with pytest.raises(ParameterError):
            block_max_downsample(frame, bad)
    with pytest.raises(ParameterError):
        block_max_downsample(frame, 2, np.ones((3, 3), bool))
    with pytest.raises(ParameterError):
        block_max_downsample(frame[None], 2)


def test_block_edges_cover_the_frame_and_block_of_agrees():
    for n, m in ((1024, 190), (53, 17), (7, 7), (100, 1)):
        edges = block_edges(n, m)
        assert edges[0] == 0 and edges[-1] == n and np.all(np.diff(edges) >= 1)
        for r in range(n):
            k = block_of(r, n, m)
            assert edges[k] <= r < edges[k + 1]
    assert thumbnail_shape((1024, 512), (190, 190)) == (190, 190)
    assert thumbnail_shape((64, 512), (190, 190)) == (64, 190)


def test_downsample_frame_gives_full_frame_statistics(frame):
    a = frame.copy()
    a[3, 4] = np.nan
    valid = np.ones(a.shape, bool)
    valid[20:30, 40:50] = False
    base = downsample_frame(a, valid, (12, 16))
    ref = frame_stats(a, valid)
    s = base.stats
    assert s.n_valid == ref.n_valid
    assert s.min == ref.min and s.max == ref.max
    assert s.mean == pytest.approx(ref.mean, rel=1e-12)
    assert s.std == pytest.approx(ref.std, rel=1e-9)
    assert s.sum == pytest.approx(ref.sum, rel=1e-12)
    np.testing.assert_array_equal(base.values, reference(a, (12, 16), valid))
    assert base.frame_shape == a.shape
    wholly_masked = reference(valid.astype(np.float32), (12, 16)) == 0
    assert wholly_masked.any()
    np.testing.assert_array_equal(base.masked, wholly_masked)
    assert downsample_frame(a, None, (12, 16)).masked is None


def test_large_offset_keeps_the_standard_deviation():
    rng = np.random.default_rng(8)
    a = (1e6 + rng.normal(0, 1, (256, 256))).astype(np.float32)
    assert downsample_frame(a, None, (32, 32)).stats.std == pytest.approx(frame_stats(a).std, rel=1e-6)


def test_wholly_masked_blocks_are_flagged():
    a = np.ones((64, 64), np.float32)
    valid = np.ones(a.shape, bool)
    valid[:16, :16] = False  # exactly blocks (0..1, 0..1) of 8×8
    base = downsample_frame(a, valid, (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[:2, :2] = True
    np.testing.assert_array_equal(base.masked, expected)
    assert np.isnan(base.values[expected]).all()


def test_empty_frame_statistics_are_nan():
    base = downsample_frame(np.full((8, 8), np.nan, np.float32), None, (2, 2))
    assert base.stats.n_valid == 0 and np.isnan(base.stats.mean)


def test_complex_frames_use_the_complex_mode():
    z = (np.arange(64).reshape(8, 8) * np.exp(1j * 0.5)).astype(np.complex64)
    amp = downsample_frame(z, None, (4, 4), "amplitude")
    phase = downsample_frame(z, None, (4, 4), "phase")
    np.testing.assert_allclose(amp.values, block_max_downsample(np.abs(z), (4, 4)), rtol=1e-6)
    np.testing.assert_allclose(phase.values[1:], 0.5, rtol=1e-6)


def test_rgb_frames_keep_their_colours():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[5, 7] = (255, 0, 0)
    rgb[20, 20] = (0, 0, 200)
    base = downsample_frame(rgb, None, (8, 8))
    assert base.is_rgb and base.values.shape == (8, 8, 3) and base.values.dtype == np.uint8
    assert base.values[1, 1].tolist() == [255, 0, 0]
    assert base.values[5, 5].tolist() == [0, 0, 200]
    assert thumbnail_index(base, 0, 255, DisplaySettings()) is base.values


def test_thumbnail_index_maps_with_the_full_frame_levels(frame):
    s = DisplaySettings(norm="linear")
    lo, hi = compute_levels(frame, None, s)
    base = downsample_frame(frame, None, (10, 10))
    index = thumbnail_index(base, lo, hi, s)
    np.testing.assert_array_equal(index, map_to_index(base.values, lo, hi, "linear"))
    assert index.dtype == np.uint8 and index.shape == (10, 10)
