"""Cumulation, post-processing, bad pairs, canvas, warp and binning (spec/fibsem.md §7–§9,
acceptance checks 4–6 and 8)."""

import numpy as np
import pytest
from fibsem_synthetic import drift_stack

from owlx.core.fibsem_metrics import crop_box, ncc
from owlx.core.fibsem_register import (
    PostSettings,
    cumulate,
    nomatch_frames,
    postprocess,
    preserve_scales,
    recompute_translations,
    resolve_steps,
    subtract_linear_fit,
)
from owlx.core.fibsem_transforms import PairFit
from owlx.core.fibsem_warp import (
    Canvas,
    bin_frames,
    canvas_for,
    moving_boxes,
    to_output,
    warp_frame,
)


def shift(dx, dy):
    return np.array([[1.0, 0, dx], [0, 1.0, dy], [0, 0, 1]])


def test_cumulative_shifts_are_sums_of_steps():
    d = np.random.default_rng(0).normal(0, 1.2, (20, 2))
    cum = cumulate([shift(*v) for v in d])
    np.testing.assert_allclose(cum[1:, :2, 2], np.cumsum(d, axis=0), atol=1e-12)
    assert np.array_equal(cum[0], np.eye(3))


def fit_of(i, m, ok=True, points=None):
    p = np.zeros((0, 2)) if points is None else points
    q = p if points is None else p @ m[:2, :2].T + m[:2, 2]
    return PairFit(i, m, len(p), len(p) if ok else 0, "ok" if ok else "insufficient_matches",
                   src_inliers=p, dst_inliers=q)


def test_failed_pairs_are_flagged_with_their_fallback():
    fits = [fit_of(0, shift(1, 0)), fit_of(1, shift(9, 9), ok=False), fit_of(2, shift(3, 2))]
    steps, flagged = resolve_steps(fits, "identity")
    assert flagged == [1] and np.array_equal(steps[1], np.eye(3))
    steps, flagged = resolve_steps(fits, "neighbour_mean")
    np.testing.assert_allclose(steps[1], shift(2, 1)) and flagged == [1]
    reg = postprocess(range(4), fits, PostSettings(preserve_scales=False, subtract_linear_fit=(False, False)))
    assert reg.flagged == [1]
    np.testing.assert_allclose(reg.shifts[:, 0], [0, 1, 1, 4])
    assert nomatch_frames([50, 2, 1, 40, 0]) == [2] and nomatch_frames([1, 1, 1]) == [1, 2]


def test_linear_drift_is_removed_and_jitter_kept():
    f = np.arange(30.0)
    drift = np.stack([0.7 * f, -0.2 * f], axis=1)
    assert np.abs(subtract_linear_fit(drift)).max() < 1e-9
    jitter = 0.3 * np.sin(f / 2.0)
    out = subtract_linear_fit(drift + np.stack([jitter, jitter], axis=1))
    expect = jitter - np.polyval(np.polyfit(f, jitter, 1), f)
    np.testing.assert_allclose(out[:, 0], expect - expect[0], atol=1e-12)
    fov = np.stack([0.5 * f, np.zeros(30)], axis=1)  # the FOV trend joins the fit of that axis
    out = subtract_linear_fit(drift, fov_trend=fov)
    np.testing.assert_allclose(out[:, 0], -0.5 * f, atol=1e-9)


def test_preserve_scales():
    n = 40
    cum = np.repeat(np.eye(3)[None], n, axis=0)
    cum[:, 0, 0] = cum[:, 1, 1] = 1 + 1e-4 * np.arange(n)
    out = preserve_scales(cum, ("LF",))
    np.testing.assert_allclose(out[:, 0, 0], 1.0, atol=1e-12)
    np.testing.assert_allclose(out[:, 1, 1], 1.0, atol=1e-12)
    noise = np.random.default_rng(1).normal(0, 1e-5, n)
    cum[:, 0, 0] += noise
    out = preserve_scales(cum, ("PF", 1))  # a line over the whole stack: only the noise stays
    resid = noise - np.polyval(np.polyfit(np.arange(n), noise, 1), np.arange(n))
    np.testing.assert_allclose(out[:, 0, 0] - 1, resid, atol=1e-12)
    kept = preserve_scales(cum, ("SG", 11, 3))[:, 0, 0] - 1  # SG follows the ramp: no ramp is left
    assert abs(np.polyfit(np.arange(n), kept, 1)[0]) < 2e-7  # the ramp had slope 1e-4
    assert 0 < kept.std() < noise.std()


def test_translations_follow_new_linear_parts_exactly():
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 500, (50, 2))
    m = np.array([[1.001, 0.0, 2.0], [0.0, 0.999, -1.0], [0, 0, 1]])
    fits = [fit_of(0, m, points=p)]
    lin = np.array([np.eye(2), np.eye(2)])  # scales removed: the translation of the pair's centroid stays
    t = recompute_translations(lin, [(f.src_inliers, f.dst_inliers) for f in fits], "exact")
    q = p @ m[:2, :2].T + m[:2, 2]
    np.testing.assert_allclose(t[1], (q - p).mean(axis=0), atol=1e-12)
    tc = recompute_translations(lin, [(p, q)], "compat")
    np.testing.assert_allclose(tc[1], (q - p).mean(axis=0), atol=1e-12)


def test_padding_holds_every_frame_and_warp_reproduces_frame_zero():
    frames, steps = drift_stack(6, (96, 96), sigma=3.0, noise=0.0, seed=3)
    cum = cumulate(steps)
    canvas = canvas_for(cum, (96, 96))
    shifts = cum[:, :2, 2]
    assert canvas.xi == max(0, int(np.ceil(shifts[:, 0].max()))) or canvas.xi >= shifts[:, 0].max()
    for k in range(6):
        ones = warp_frame(np.ones((96, 96)), cum[k], canvas, order=0)
        assert int(ones.sum()) == 96 * 96  # the whole frame lies inside the canvas
    inner = (canvas.yi + 12, 96 - 24, canvas.xi + 12, 96 - 24)
    ref = crop_box(warp_frame(frames[0], cum[0], canvas), inner)
    for k in range(1, 6):
        assert ncc(ref, crop_box(warp_frame(frames[k], cum[k], canvas), inner)) > 0.99
        assert ncc(ref, crop_box(warp_frame(frames[k], cum[k], canvas, order=3), inner)) > 0.99
    assert canvas_for(cum, (96, 96), pad_edges=False) == Canvas((96, 96), 0, 0)


def test_zbin_rounds_half_even_and_counts_clipping():
    a = np.array([[1.0, 2.0, 32767.0, -5.0]])
    b = np.array([[2.0, 2.0, 32767.0, -6.0]])
    out, clipped = to_output(bin_frames([a, b]), "int16")
    assert out.tolist() == [[2, 2, 32767, -6]] and clipped == 0  # 1.5 → 2, -5.5 → -6 (half-even)
    out, clipped = to_output(bin_frames([a + 40000, b]), "int16")
    assert clipped == 1 and out[0, 2] == 32767
    out, _ = to_output(np.array([[10.0, 20.0, 30.0]]), "uint8", data_range=(10.0, 30.0), invert=True)
    assert out.tolist() == [[255, 128, 0]]
    flipped, _ = to_output(np.array([[1.0], [2.0]]), "float32", flip_y=True)
    assert flipped.ravel().tolist() == [2.0, 1.0]


def test_evaluation_box_selects_rows_top_to_top_plus_height():
    img = np.arange(100).reshape(10, 10)
    assert np.array_equal(crop_box(img, [2, 3, 4, 5]), img[2:5, 4:9])
    assert np.array_equal(crop_box(img, [2, 0, 0, 0]), img[2:, :])
    cum = cumulate([shift(2, 1)] * 4)
    canvas = canvas_for(cum, (10, 10))
    boxes = moving_boxes(cum, canvas, (2, 4, 3, 5), (10, 10))
    assert boxes[:, 1].tolist() == [4] * 5 and boxes[:, 3].tolist() == [5] * 5
    assert boxes[0, 0] == 2 + canvas.yi and boxes[0, 2] == 3 + canvas.xi


def test_bad_settings():
    with pytest.raises(Exception, match="on_failure"):
        PostSettings(on_failure="skip")
