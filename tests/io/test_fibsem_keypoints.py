"""The keypoint cache files ``<frame>.kp.npz`` (spec/fibsem.md §1 stage 2): round trip, keys,
corrupt files recovered with a warning."""

from pathlib import Path

import numpy as np
import pytest

from owlx.core.fibsem_features import Keypoints, SiftSettings
from owlx.io.fibsem_keypoints import (
    CacheWarning,
    cache_file,
    frame_key,
    keypoint_settings_key,
    load_keypoints,
    save_keypoints,
)


def keypoints(n=5, whole=True, seed=0):
    rng = np.random.default_rng(seed)
    desc = rng.integers(0, 256, (n, 128)).astype(np.float32)
    if not whole:
        desc += 0.25
    return Keypoints(xy=rng.uniform(0, 100, (n, 2)).astype(np.float32), size=rng.uniform(1, 9, n).astype(np.float32),
                     angle=rng.uniform(0, 360, n).astype(np.float32), response=rng.uniform(0, 1, n).astype(np.float32),
                     octave=rng.integers(-1, 5 << 16, n).astype(np.int32), descriptors=desc)


def same(a: Keypoints, b: Keypoints) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) and getattr(a, k).dtype == getattr(b, k).dtype
               for k in ("xy", "size", "angle", "response", "octave", "descriptors"))


@pytest.mark.parametrize("whole", [True, False])
def test_round_trip_is_exact(tmp_path, whole):
    kp = keypoints(whole=whole)
    path = cache_file(tmp_path, "Merlin_000003_0-0-0")
    assert path.endswith("Merlin_000003_0-0-0.kp.npz")
    save_keypoints(path, kp, "f1", "s1")
    with np.load(path) as z:
        assert z["descriptors"].dtype == (np.uint8 if whole else np.float32)  # 4× smaller when exact
        assert set(z.files) >= {"x", "y", "size", "angle", "response", "octave", "descriptors"}
    assert same(load_keypoints(path, "f1", "s1"), kp)
    empty = Keypoints.empty()
    save_keypoints(path, empty, "f1", "s1")
    got = load_keypoints(path, "f1", "s1")
    assert len(got) == 0 and got.descriptors.shape == (0, 128)


def test_keys_decide_reuse(tmp_path):
    path = cache_file(tmp_path, "frame_000000")
    save_keypoints(path, keypoints(), "f1", "s1")
    assert load_keypoints(path, "f2", "s1") is None and load_keypoints(path, "f1", "s2") is None
    assert load_keypoints(cache_file(tmp_path, "absent"), "f1", "s1") is None
    frame = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert frame_key(frame) == frame_key(frame.copy())
    assert frame_key(frame) != frame_key(frame.astype(np.int16))  # same bytes, another dtype
    changed = frame.copy()
    changed[1, 1] += 1
    assert frame_key(changed) != frame_key(frame) and frame_key(frame.reshape(4, 3)) != frame_key(frame)
    s = SiftSettings(preset="fast")
    key = keypoint_settings_key(s, None, (1.0, 2.0), "4.10")
    assert key == keypoint_settings_key(SiftSettings(preset="fast"), None, (1.0, 2.0), "4.10")
    others = [keypoint_settings_key(SiftSettings(preset="reference"), None, (1.0, 2.0), "4.10"),
              keypoint_settings_key(SiftSettings(contrast_threshold=0.05), None, (1.0, 2.0), "4.10"),
              keypoint_settings_key(s, (0, 10, 0, 10), (1.0, 2.0), "4.10"),
              keypoint_settings_key(s, None, (1.0, 2.0 + 1e-12), "4.10"),
              keypoint_settings_key(s, None, (1.0, 2.0), "4.11")]
    assert len({key, *others}) == 6


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing_array"])
def test_corrupt_files_warn_and_return_none(tmp_path, damage):
    path = cache_file(tmp_path, "frame_000001")
    save_keypoints(path, keypoints(50), "f1", "s1")
    raw = Path(path).read_bytes()
    if damage == "garbage":
        Path(path).write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        Path(path).write_bytes(raw[: len(raw) // 2])
    else:
        kp = keypoints(50)
        np.savez(path, x=kp.xy[:, 0], frame_key=np.str_("f1"), settings_key=np.str_("s1"))
    with pytest.warns(CacheWarning, match="frame_000001.kp.npz"):
        assert load_keypoints(path, "f1", "s1") is None
    save_keypoints(path, keypoints(50), "f1", "s1")  # overwritten by the recomputation
    assert same(load_keypoints(path, "f1", "s1"), keypoints(50))
    assert not list(tmp_path.glob("*.tmp"))


def test_cache_folder_under_a_file_is_a_warning(tmp_path):
    """A cache path whose parent is a file: makedirs fails, and that is a CacheWarning, not an OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = cache_file(blocker / "kp", "frame_000001")
    with pytest.warns(CacheWarning, match="cannot write the keypoint cache file 'frame_000001.kp.npz'"):
        save_keypoints(path, keypoints(), "f1", "s1")
    assert blocker.read_text() == "x" and not Path(path).exists()


def test_failed_cleanup_still_warns(tmp_path, monkeypatch):
    """The rename fails and so does removing the temporary file: still only a CacheWarning."""
    import owlx.io.fibsem_keypoints as mod

    def refuse(*_args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mod.os, "replace", refuse)
    monkeypatch.setattr(mod.os, "remove", refuse)
    with pytest.warns(CacheWarning, match="Permission denied"):
        save_keypoints(cache_file(tmp_path, "frame_000002"), keypoints(), "f1", "s1")
    assert len(list(tmp_path.glob("*.kp.npz"))) == 0
