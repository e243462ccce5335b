"""The restartable range and pair-fit caches of a FIB-SEM registration (spec/fibsem.md §1,
stages 1 and 3), beside the keypoint files of :mod:`owlx.io.fibsem_keypoints` in the same folder.

* Stage 1, ``<frame>.range.json``: the frame's CDF data range ``min``/``max`` (§2, before the
  stack smoothing), with ``frame_key`` (:func:`~owlx.io.fibsem_keypoints.frame_key`, the
  BLAKE2b of the pixels, computed once per run and reused by the keypoint cache) and
  ``settings_key`` (:func:`range_settings_key`: thr_min, thr_max, nbins). Floats are written
  with ``repr``, so they read back bit for bit.
* Stage 3, ``<frame j>--<frame k>.pair.npz``: one :class:`~owlx.core.fibsem_transforms.PairFit`
  (3 × 3 matrix in (x, y), inlier points src/dst float32 (N, 2) in (x, y) px, match and inlier
  counts, mean residual and FWHMs in px, status, keypoint counts) with ``pair_key``
  (:func:`pair_key`: both frames' keypoint identities — pixels and keypoint settings — and every
  matching and fit setting, the seed and the pair index that seeds RANSAC).

Keys that differ mean "stale": the loaders return None and the caller recomputes and
overwrites. A file that cannot be read (truncated, garbage, arrays missing or inconsistent) is
reported — :func:`read_range` / :func:`read_pair` return the message so a worker can hand it
to the client, :func:`load_range` / :func:`load_pair` issue it as a
:class:`~owlx.io.fibsem_keypoints.CacheWarning` — and recomputed, never fatal. Writes go to a
unique temporary name, then ``os.replace``, so a cancelled or killed run leaves whole files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
import warnings
from dataclasses import asdict

import numpy as np

from owlx.core.fibsem_transforms import PairFit
from owlx.io.fibsem_keypoints import CacheWarning

__all__ = ["load_pair", "load_range", "pair_file", "pair_key", "range_file", "range_settings_key", "read_pair",
           "read_range", "save_pair", "save_range"]

CACHE_VERSION = 1
RANGE_SUFFIX = ".range.json"
PAIR_SUFFIX = ".pair.npz"
STATUSES = ("ok", "insufficient_matches", "low_inliers")
_PAIR_FIELDS = ("matrix", "src_inliers", "dst_inliers", "counts", "errors", "status", "pair_key")


def _safe(name: str) -> str:
    return str(name).replace(os.sep, "_").replace("/", "_")


def _digest(record: dict) -> str:
    return hashlib.blake2b(json.dumps(record, sort_keys=True).encode(), digest_size=16).hexdigest()


def _write_atomic(path: str, write, what: str) -> None:
    """``write(file)`` into a unique temporary file beside ``path``, then rename it to ``path``;
    an OSError (full disk, read-only folder) is a :class:`CacheWarning`, not a failed run."""
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):  # cleanup must not replace the warning by another error
            os.remove(tmp)
        warnings.warn(f"cannot write the {what} cache file '{os.path.basename(path)}': {err}", CacheWarning,
                      stacklevel=3)


def _unreadable(path: str, err: Exception, what: str) -> str:
    return (f"{what} cache file '{os.path.basename(path)}' is unreadable ({type(err).__name__}: {err}); "
            f"recomputing it")


# -- stage 1: per-frame data range -----------------------------------------------------------
def range_file(cache_dir: str | os.PathLike, name: str) -> str:
    """``<cache_dir>/<name>.range.json`` (path separators in ``name`` are replaced by ``_``)."""
    return os.path.join(os.fspath(cache_dir), _safe(name) + RANGE_SUFFIX)


def range_settings_key(thr_min: float, thr_max: float, nbins: int) -> str:
    """Hex BLAKE2b-128 of the settings of the per-frame CDF range (§2)."""
    return _digest({"version": CACHE_VERSION, "thr_min": repr(float(thr_min)), "thr_max": repr(float(thr_max)),
                    "nbins": int(nbins)})


def save_range(path: str, data_min: float, data_max: float, frame_id: str, settings_id: str) -> None:
    """Write one frame's (data_min, data_max) and its keys to ``path`` atomically."""
    text = json.dumps({"version": CACHE_VERSION, "frame_key": frame_id, "settings_key": settings_id,
                       "min": float(data_min), "max": float(data_max)})
    _write_atomic(path, lambda f: f.write(text.encode()), "data range")


def read_range(path: str, frame_id: str, settings_id: str) -> tuple[tuple[float, float] | None, str | None]:
    """((data_min, data_max) or None, problem message or None): None without a message when the
    file is absent or stale, None with a message when it is unreadable."""
    if not os.path.exists(path):
        return None, None
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read().decode())
        if not isinstance(record, dict) or not {"frame_key", "settings_key", "min", "max"} <= set(record):
            raise ValueError("fields missing")
        if record["frame_key"] != frame_id or record["settings_key"] != settings_id:
            return None, None
        lo, hi = record["min"], record["max"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            raise ValueError("min/max are not numbers")
        return (float(lo), float(hi)), None
    except Exception as err:  # noqa: BLE001 - any unreadable cache file is recomputed, never fatal
        return None, _unreadable(path, err, "data range")


def load_range(path: str, frame_id: str, settings_id: str) -> tuple[float, float] | None:
    """:func:`read_range`, with an unreadable file reported as a :class:`CacheWarning`."""
    value, problem = read_range(path, frame_id, settings_id)
    if problem:
        warnings.warn(problem, CacheWarning, stacklevel=2)
    return value


# -- stage 3: per-pair fit ---------------------------------------------------------------------
def pair_file(cache_dir: str | os.PathLike, name_src: str, name_dst: str) -> str:
    """``<cache_dir>/<src name>--<dst name>.pair.npz``: named by both frames, so a pair re-matched
    around a removed frame (i, i+2) has its own file."""
    return os.path.join(os.fspath(cache_dir), f"{_safe(name_src)}--{_safe(name_dst)}{PAIR_SUFFIX}")


def pair_key(src_keypoints_id: str, dst_keypoints_id: str, matcher: str, ratio: float, fit_settings, seed: int,
             pair_index: int, cv_version: str = "") -> str:
    """Hex BLAKE2b-128 of everything a pair fit depends on: the identities of both frames'
    keypoints (frame key + keypoint settings key, in src → dst order), the matcher and Lowe
    ratio, every :class:`~owlx.core.fibsem_transforms.FitSettings` field (model, solver, drmax,
    max_iter, initial_fraction, min_inliers, remove_per_iter, λ, target vector), the base seed
    and the pair index (RANSAC is seeded by both), and the OpenCV version (FLANN)."""
    fit = {k: _canonical(v) for k, v in asdict(fit_settings).items()}
    return _digest({"version": CACHE_VERSION, "src": str(src_keypoints_id), "dst": str(dst_keypoints_id),
                    "matcher": str(matcher), "ratio": repr(float(ratio)), "fit": fit, "seed": int(seed),
                    "index": int(pair_index), "opencv": str(cv_version)})


def _canonical(value):
    """Numbers as ``repr(float)`` (so 1 and 1.0 give one key), sequences element-wise."""
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return repr(float(value))
    return value


def save_pair(path: str, fit: PairFit, pair_id: str) -> None:
    """Write ``fit`` and its key to ``path`` atomically."""
    counts = np.array([fit.index, fit.n_matches, fit.npts, fit.n_src_keypoints, fit.n_dst_keypoints], np.int64)
    errors = np.array([fit.error_abs_mean, fit.fwhm_x, fit.fwhm_y], np.float64)

    def write(f):
        np.savez(f, matrix=np.asarray(fit.matrix, np.float64), src_inliers=np.asarray(fit.src_inliers, np.float32),
                 dst_inliers=np.asarray(fit.dst_inliers, np.float32), counts=counts, errors=errors,
                 status=np.str_(fit.status), pair_key=np.str_(pair_id))

    _write_atomic(path, write, "pair fit")


def read_pair(path: str, pair_id: str) -> tuple[PairFit | None, str | None]:
    """(the cached fit or None, problem message or None), as :func:`read_range`."""
    if not os.path.exists(path):
        return None, None
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _PAIR_FIELDS if k not in z.files]
            if missing:
                raise ValueError(f"arrays missing: {', '.join(missing)}")
            if str(z["pair_key"]) != pair_id:
                return None, None
            matrix = np.asarray(z["matrix"], np.float64)
            src, dst = np.asarray(z["src_inliers"], np.float32), np.asarray(z["dst_inliers"], np.float32)
            counts, errors, status = np.asarray(z["counts"]), np.asarray(z["errors"], np.float64), str(z["status"])
        if matrix.shape != (3, 3) or counts.shape != (5,) or errors.shape != (3,) or status not in STATUSES:
            raise ValueError("matrix, counts, errors or status malformed")
        index, n_matches, npts, n_src, n_dst = (int(v) for v in counts)
        if src.shape != (npts, 2) or dst.shape != (npts, 2) or not 0 <= npts <= n_matches:
            raise ValueError("inlier arrays do not match the inlier count")
        fit = PairFit(index, matrix, n_matches, npts, status, float(errors[0]), float(errors[1]), float(errors[2]),
                      src, dst, n_src, n_dst)
        return fit, None
    except Exception as err:  # noqa: BLE001 - any unreadable cache file is recomputed, never fatal
        return None, _unreadable(path, err, "pair fit")


def load_pair(path: str, pair_id: str) -> PairFit | None:
    """:func:`read_pair`, with an unreadable file reported as a :class:`CacheWarning`."""
    fit, problem = read_pair(path, pair_id)
    if problem:
        warnings.warn(problem, CacheWarning, stacklevel=2)
    return fit
