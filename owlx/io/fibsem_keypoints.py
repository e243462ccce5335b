"""The restartable keypoint cache of a FIB-SEM registration (spec/fibsem.md §1, stage 2).

One file per frame, ``<cache dir>/<frame name>.kp.npz``, holding the frame's SIFT keypoints in
full-resolution (x, y) = (col, row) pixel coordinates: arrays ``x``, ``y``, ``size`` (px),
``angle`` (degrees, OpenCV convention), ``response``, ``octave`` (OpenCV's packed int) and
``descriptors`` (N × 128; stored as uint8 when every value is an integer in 0…255, which is what
OpenCV's SIFT produces, else float32), plus the strings ``frame_key`` and ``settings_key``.

* ``frame_key`` identifies the frame's content: BLAKE2b (128 bit) of its shape, dtype and pixel
  bytes (≈ 2 ms per MB), so a renamed or re-exported stack still hits and a changed frame misses.
* ``settings_key`` identifies everything else that changes the keypoints (the SIFT settings, the
  evaluation box, the 8-bit conversion range of this frame, the OpenCV version): see
  :func:`keypoint_settings_key`.

:func:`load_keypoints` returns None (recompute) when the file is absent or its keys differ, and
also, with a :class:`CacheWarning`, when it cannot be read (truncated, not an npz, arrays
missing or inconsistent): a bad cache never stops a run. :func:`save_keypoints` writes through a
temporary file and renames it, so a cancelled or killed run leaves whole files or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings

import numpy as np

from owlx.core.fibsem_features import Keypoints

__all__ = ["CacheWarning", "cache_file", "frame_key", "keypoint_settings_key", "load_keypoints", "save_keypoints"]

CACHE_VERSION = 1
SUFFIX = ".kp.npz"
_FIELDS = ("x", "y", "size", "angle", "response", "octave", "descriptors", "frame_key", "settings_key")


class CacheWarning(UserWarning):
    """A cache file of the registration (keypoints, data range, pair fit) could not be read or
    written; its content is recomputed (:mod:`owlx.io.fibsem_stage_cache` uses it too)."""


def cache_file(cache_dir: str | os.PathLike, name: str) -> str:
    """``<cache_dir>/<name>.kp.npz`` (path separators in ``name`` are replaced by ``_``)."""
    safe = str(name).replace(os.sep, "_").replace("/", "_")
    return os.path.join(os.fspath(cache_dir), safe + SUFFIX)


def frame_key(frame: np.ndarray) -> str:
    """Hex BLAKE2b-128 of the frame's shape, dtype and pixel values (its identity)."""
    a = np.ascontiguousarray(frame)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.shape}|{a.dtype.str}|".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def keypoint_settings_key(sift_settings, box, data_range: tuple[float, float], cv_version: str = "") -> str:
    """Hex BLAKE2b-128 of what changes a frame's keypoints besides its pixels: the
    :class:`~owlx.core.fibsem_features.SiftSettings` fields, the evaluation box [top, height,
    left, width] (None = full frame), the 8-bit conversion range (lo, hi) — which carries the
    range settings (thresholds, bins, sliding window) — and the OpenCV version."""
    from dataclasses import asdict

    record = {"version": CACHE_VERSION, "sift": asdict(sift_settings),
              "box": None if box is None else [int(v) for v in box],
              "range": [repr(float(v)) for v in data_range], "opencv": str(cv_version)}
    text = json.dumps(record, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def save_keypoints(path: str, kp: Keypoints, frame_id: str, settings_id: str) -> None:
    """Write ``kp`` and its keys to ``path`` atomically (temporary file, then rename)."""
    desc = np.asarray(kp.descriptors, dtype=np.float32)
    as_u8 = desc.astype(np.uint8)
    if desc.size and np.array_equal(as_u8, desc):  # OpenCV SIFT values are whole numbers 0…255
        desc = as_u8
    tmp = f"{path}.{os.getpid()}.{id(kp):x}.tmp"
    try:
        # inside the try: a cache folder that cannot be made (its parent is a file, no permission)
        # is a CacheWarning like any other write failure, never an error of the run
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, x=kp.xy[:, 0], y=kp.xy[:, 1], size=kp.size, angle=kp.angle, response=kp.response,
                     octave=kp.octave, descriptors=desc, frame_key=np.str_(frame_id),
                     settings_key=np.str_(settings_id))
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):  # cleanup must not replace the warning by another error
            os.remove(tmp)
        warnings.warn(f"cannot write the keypoint cache file '{os.path.basename(path)}': {err}", CacheWarning,
                      stacklevel=2)


def load_keypoints(path: str, frame_id: str, settings_id: str) -> Keypoints | None:
    """The cached keypoints of ``path`` when its keys equal ``frame_id`` and ``settings_id``;
    None when absent, stale (keys differ) or unreadable (then with a :class:`CacheWarning`)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _FIELDS if k not in z.files]
            if missing:
                raise ValueError(f"arrays missing: {', '.join(missing)}")
            if str(z["frame_key"]) != frame_id or str(z["settings_key"]) != settings_id:
                return None
            x, y = np.asarray(z["x"], np.float32), np.asarray(z["y"], np.float32)
            kp = Keypoints(xy=np.stack([x, y], axis=1).reshape(-1, 2), size=np.asarray(z["size"], np.float32),
                           angle=np.asarray(z["angle"], np.float32), response=np.asarray(z["response"], np.float32),
                           octave=np.asarray(z["octave"], np.int32),
                           descriptors=np.asarray(z["descriptors"], np.float32))
        n = len(kp.xy)
        if any(len(a) != n for a in (kp.size, kp.angle, kp.response, kp.octave, kp.descriptors)) or (
                kp.descriptors.ndim != 2 or (n and kp.descriptors.shape[1] != 128)):
            raise ValueError("arrays of different lengths")
        if n == 0:
            kp.descriptors = kp.descriptors.reshape(0, 128)
        return kp
    except Exception as err:  # noqa: BLE001 - any unreadable cache file is recomputed, never fatal
        warnings.warn(f"keypoint cache file '{os.path.basename(path)}' is unreadable ({type(err).__name__}: "
                      f"{err}); recomputing its keypoints", CacheWarning, stacklevel=2)
        return None
