"""Per-frame photon histograms of all rings (spec/xsvs.md §4, §6, §7)."""

import numpy as np
import pytest

from owlx.core.xsvs_histogram import RingHistograms, n_edges_from_static
from owlx.core.xsvs_rings import Rings
from owlx.errors import ParameterError


def one_ring(shape, pixels=None):
    n = shape[0] * shape[1]
    idx = np.arange(n, dtype=np.int64) if pixels is None else np.asarray(pixels, dtype=np.int64)
    return Rings(np.array([0.005]), 1e-4, np.array([0, idx.size], dtype=np.int64), idx, shape)


def two_rings(shape):
    n = shape[0] * shape[1]
    a = np.arange(0, n // 2, dtype=np.int64)
    b = np.arange(n // 4, n, dtype=np.int64)  # overlaps the first ring
    return Rings(np.array([0.004, 0.005]), 1e-4, np.array([0, a.size, a.size + b.size]), np.concatenate([a, b]), shape)


def frames_with_counts(seed=0, n=40, shape=(8, 16), mean=1.5):
    rng = np.random.default_rng(seed)
    return rng.poisson(rng.gamma(3.0, mean / 3.0, size=(n, *shape))).astype(np.uint16)


def test_n_edges_rule():
    assert n_edges_from_static(0.05) == 20
    assert n_edges_from_static(20.0) == 20
    assert n_edges_from_static(20.7) == 40
    assert n_edges_from_static(33.9) == 66


def test_exact_mode_matches_numpy_and_sums_to_one():
    frames = frames_with_counts()
    frames[3, 0, :5] = 40  # counts beyond the last bin
    rings = one_ring(frames.shape[1:])
    e = 8
    h = RingHistograms.empty(rings, [e], len(frames), "exact")
    h.add(frames, 0, rings, None)
    per_frame = np.array([np.bincount(np.minimum(f.ravel(), e - 1), minlength=e) / f.size for f in frames])
    mean, std = h.histogram(0)
    assert np.allclose(mean, per_frame[:, : e - 1].mean(axis=0), atol=1e-14)
    assert np.allclose(std, per_frame[:, : e - 1].std(axis=0, ddof=0), atol=1e-12)
    assert h.overflow(0) == pytest.approx(per_frame[:, e - 1].mean(), abs=1e-14)
    assert mean.sum() + h.overflow(0) == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(h.trace[0], frames.reshape(len(frames), -1).mean(axis=1), atol=1e-12)
    counts, tail = h.pooled_counts(0)
    assert counts.sum() + tail == frames.size
    assert tail == int((frames >= e - 1).sum())


def test_pyxsvs_mode_is_numpy_density_with_closed_last_bin():
    frames = frames_with_counts(seed=1, mean=3.0)
    rings = one_ring(frames.shape[1:])
    e = 6
    h = RingHistograms.empty(rings, [e], len(frames), "pyxsvs")
    h.add(frames, 0, rings, None)
    per_frame = np.array([np.histogram(f.ravel(), bins=np.arange(e), density=True)[0] for f in frames])
    mean, std = h.histogram(0)
    assert np.allclose(mean, per_frame.mean(axis=0), atol=1e-14)
    assert np.allclose(std, per_frame.std(axis=0, ddof=0), atol=1e-12)
    # the last bin holds P(E−2) + P(E−1) over in-range pixels; counts ≥ E are dropped
    f0 = frames[0].ravel()
    in_range = f0[f0 <= e - 1]
    assert per_frame[0, -1] == pytest.approx(np.mean((in_range == e - 2) | (in_range == e - 1)), abs=1e-14)
    assert np.isnan(h.overflow(0))


def test_flat_field_division_rounds_half_to_even_after_dividing():
    raw = np.array([[5, 7, 3, 9]], dtype=np.uint16)
    flat = np.array([[2.0, 2.0, 1.0, 2.0]])  # 2.5 → 2, 3.5 → 4, 3 → 3, 4.5 → 4
    rings = one_ring(raw.shape)
    h = RingHistograms.empty(rings, [8], 1, "exact")
    h.add(raw, 0, rings, flat.ravel()[rings.idx])
    counts, _ = h.pooled_counts(0)
    assert counts.tolist() == [0, 0, 1, 1, 2, 0, 0]
    assert h.trace[0, 0] == pytest.approx((2 + 4 + 3 + 4) / 4)


def test_sparse_and_dense_paths_agree():
    # the kernel switches loops on the previous frame's ring mean; both must count alike
    rng = np.random.default_rng(5)
    flat = rng.uniform(0.5, 1.5, size=(16, 16))
    low = rng.poisson(0.3, size=(6, 16, 16))
    high = rng.poisson(6.0, size=(6, 16, 16))
    frames = np.concatenate([low, high, low, high]).astype(np.uint16)
    rings = two_rings(frames.shape[1:])
    flat_ring = flat.ravel()[rings.idx]
    h = RingHistograms.empty(rings, [20, 12], len(frames), "exact")
    h.add(frames, 0, rings, flat_ring)
    n = np.rint(frames.reshape(len(frames), -1) / flat.ravel()).astype(np.int64)
    for j in range(2):
        pix = rings.pixels(j)
        e = int(h.n_edges[j])
        expect = np.bincount(np.minimum(n[:, pix].ravel(), e), minlength=e + 1)
        assert h.counts[j, : e + 1].tolist() == expect.tolist()
        assert np.allclose(h.trace[j], n[:, pix].mean(axis=1), atol=1e-12)


def test_chunks_merge_to_the_same_sums():
    frames = frames_with_counts(seed=2, n=30)
    rings = two_rings(frames.shape[1:])
    whole = RingHistograms.empty(rings, [10, 14], len(frames), "exact")
    whole.add(frames, 0, rings, None)
    part = RingHistograms.empty(rings, [10, 14], len(frames), "exact")
    part.add(frames[17:], 17, rings, None)
    other = RingHistograms.empty(rings, [10, 14], len(frames), "exact")
    for i in range(17):  # one frame per call
        other.add(frames[i], i, rings, None)
    part.merge(other)
    for name in ("counts", "sum_h", "sum_h2", "sum_cross", "moments", "trace", "n_used"):
        assert np.allclose(getattr(part, name), getattr(whole, name), atol=1e-12), name


def test_first_three_covariance_is_that_of_the_per_frame_histograms():
    frames = frames_with_counts(seed=3, n=25, mean=1.0)
    rings = one_ring(frames.shape[1:])
    h = RingHistograms.empty(rings, [20], len(frames), "exact")
    h.add(frames, 0, rings, None)
    per_frame = np.array([np.bincount(f.ravel(), minlength=3)[:3] / f.size for f in frames])
    mean, cov = h.first_three_cov(0)
    assert np.allclose(mean, per_frame.mean(axis=0), atol=1e-14)
    assert np.allclose(cov, np.cov(per_frame.T, ddof=0) / len(frames), atol=1e-14)


def test_frame_without_in_range_pixels_is_skipped_in_pyxsvs_mode():
    frames = np.zeros((3, 2, 2), dtype=np.uint16)
    frames[1] = 50
    rings = one_ring((2, 2))
    h = RingHistograms.empty(rings, [20], 3, "pyxsvs")
    h.add(frames, 0, rings, None)
    assert h.n_used[0] == 2
    assert h.histogram(0)[0][0] == pytest.approx(1.0)
    assert h.trace[0].tolist() == [0.0, 50.0, 0.0]


def test_wrong_shapes_and_modes_are_parameter_errors():
    rings = one_ring((4, 4))
    with pytest.raises(ParameterError):
        RingHistograms.empty(rings, [20], 5, "fancy")
    h = RingHistograms.empty(rings, [20], 5, "exact")
    with pytest.raises(ParameterError):
        h.add(np.zeros((3, 3)), 0, rings, None)
    with pytest.raises(ParameterError):
        h.add(np.zeros((2, 4, 4)), 4, rings, None)
