"""The range and pair-fit cache files of a FIB-SEM registration (spec/fibsem.md §1 stages 1 and
3): exact round trips, keys that capture every input, corrupt files reported, atomic writes."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from owlx.core.fibsem_transforms import FitSettings, PairFit
from owlx.io.fibsem_keypoints import CacheWarning
from owlx.io.fibsem_stage_cache import (
    load_pair,
    load_range,
    pair_file,
    pair_key,
    range_file,
    range_settings_key,
    read_pair,
    read_range,
    save_pair,
    save_range,
)


def a_fit(npts=40, status="ok", seed=0):
    rng = np.random.default_rng(seed)
    m = np.array([[1.0 + 1e-4 / 3, 2e-5, 1.2345678901234], [-3e-5, 0.9999, -0.7], [0.0, 0.0, 1.0]])
    return PairFit(7, m, npts + 9, npts, status, 0.1 / 3, 0.25, float("nan"),
                   rng.uniform(0, 500, (npts, 2)).astype(np.float32), rng.uniform(0, 500, (npts, 2)).astype(np.float32),
                   1234, 1201)


def same_fit(a: PairFit, b: PairFit) -> bool:
    scalars = ("index", "n_matches", "npts", "status", "n_src_keypoints", "n_dst_keypoints")
    return (all(getattr(a, k) == getattr(b, k) for k in scalars)
            and np.array_equal(a.matrix, b.matrix) and a.matrix.dtype == b.matrix.dtype
            and np.array_equal([a.error_abs_mean, a.fwhm_x, a.fwhm_y], [b.error_abs_mean, b.fwhm_x, b.fwhm_y],
                               equal_nan=True)
            and np.array_equal(a.src_inliers, b.src_inliers) and np.array_equal(a.dst_inliers, b.dst_inliers)
            and a.src_inliers.dtype == np.float32 == b.dst_inliers.dtype)


def test_range_round_trip_is_exact_and_keyed(tmp_path):
    path = range_file(tmp_path, "Merlin_000003_0-0-0")
    assert path.endswith("Merlin_000003_0-0-0.range.json")
    lo, hi = 1 / 3, 12345.678901234567
    save_range(path, lo, hi, "f1", "s1")
    assert load_range(path, "f1", "s1") == (lo, hi)  # bit for bit
    assert read_range(path, "f2", "s1") == (None, None) and read_range(path, "f1", "s2") == (None, None)
    assert read_range(range_file(tmp_path, "absent"), "f1", "s1") == (None, None)
    key = range_settings_key(1e-3, 1e-3, 256)
    assert key == range_settings_key(0.001, 0.001, 256)
    assert len({key, range_settings_key(2e-3, 1e-3, 256), range_settings_key(1e-3, 2e-3, 256),
                range_settings_key(1e-3, 1e-3, 128)}) == 4


def test_pair_round_trip_is_exact(tmp_path):
    path = pair_file(tmp_path, "frame_000007", "frame_000008")
    assert Path(path).name == "frame_000007--frame_000008.pair.npz"
    for fit in (a_fit(), PairFit(3, np.eye(3), 2, 0, "insufficient_matches")):
        save_pair(path, fit, "k1")
        got = load_pair(path, "k1")
        assert same_fit(got, fit) and got.ok == fit.ok and got.n_rejected == fit.n_rejected
    assert load_pair(path, "k2") is None and load_pair(pair_file(tmp_path, "a", "b"), "k1") is None
    assert not list(tmp_path.glob("*.tmp"))


def test_pair_key_captures_every_matching_and_fit_setting():
    fit = FitSettings()
    base = ("fa:ka", "fb:kb", "flann", 0.7, fit, 0, 5, "4.10")
    key = pair_key(*base)
    assert key == pair_key("fa:ka", "fb:kb", "flann", 0.7, FitSettings(max_iter=1000.0), 0, 5, "4.10")
    changed = [("fa:kX", "fb:kb"), ("fb:kb", "fa:ka")]  # another frame or settings; src/dst swapped
    others = [pair_key(*c, *base[2:]) for c in changed]
    others += [pair_key(*base[:2], "bf", *base[3:]), pair_key(*base[:3], 0.6, *base[4:]),
               pair_key(*base[:5], 1, *base[6:]), pair_key(*base[:6], 6, "4.10"), pair_key(*base[:7], "4.11")]
    for name, value in (("model", "Shift"), ("solver", "LinReg"), ("drmax", 1.0), ("max_iter", 999),
                        ("initial_fraction", 0.01), ("min_inliers", 11), ("remove_per_iter", 2),
                        ("l2_lambda", 1e-4), ("targ_vector", (1.0, 0.0, 0.0, 0.0, 1.0, 1e-9))):
        others.append(pair_key(*base[:4], replace(fit, **{name: value}), *base[5:]))
    assert len({key, *others}) == 1 + len(others) == 17


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing_array", "inconsistent"])
def test_corrupt_pair_files_are_reported(tmp_path, damage):
    path = pair_file(tmp_path, "frame_000001", "frame_000002")
    save_pair(path, a_fit(), "k1")
    raw = Path(path).read_bytes()
    if damage == "garbage":
        Path(path).write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        Path(path).write_bytes(raw[: len(raw) // 2])
    elif damage == "missing_array":
        np.savez(path, matrix=np.eye(3), pair_key=np.str_("k1"))
    else:  # 40 inliers claimed, 39 stored
        bad = a_fit()
        bad.src_inliers = bad.src_inliers[:-1]
        save_pair(path, bad, "k1")
    fit, problem = read_pair(path, "k1")
    assert fit is None and "frame_000001--frame_000002.pair.npz" in problem and "recomputing" in problem
    with pytest.warns(CacheWarning, match="frame_000001--frame_000002.pair.npz"):
        assert load_pair(path, "k1") is None
    save_pair(path, a_fit(), "k1")  # the recomputation overwrites it
    assert same_fit(load_pair(path, "k1"), a_fit())


@pytest.mark.parametrize("text", [b"{not json", b"[1, 2]", b'{"frame_key": "f1"}',
                                  b'{"frame_key": "f1", "settings_key": "s1", "min": "0", "max": 1}'])
def test_corrupt_range_files_are_reported(tmp_path, text):
    path = range_file(tmp_path, "frame_000004")
    Path(path).write_bytes(text)
    value, problem = read_range(path, "f1", "s1")
    assert value is None and "frame_000004.range.json" in problem
    with pytest.warns(CacheWarning, match="frame_000004.range.json"):
        assert load_range(path, "f1", "s1") is None


def test_unwritable_folder_is_a_warning_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the cache folder should be
    with pytest.warns(CacheWarning, match="cannot write"):
        save_pair(pair_file(blocker / "sub", "a", "b"), a_fit(), "k1")


def test_failed_cleanup_still_warns(tmp_path, monkeypatch):
    """The rename fails and so does removing the temporary file: still only a CacheWarning."""
    import owlx.io.fibsem_stage_cache as mod

    def refuse(*_args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mod.os, "replace", refuse)
    monkeypatch.setattr(mod.os, "remove", refuse)
    with pytest.warns(CacheWarning, match="Permission denied"):
        save_range(range_file(tmp_path, "frame_000001"), 1.0, 2.0, "f1", "s1")
    with pytest.warns(CacheWarning, match="Permission denied"):
        save_pair(pair_file(tmp_path, "a", "b"), a_fit(), "k1")
