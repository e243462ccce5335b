"""The per-item work of the registration pipeline (spec/fibsem.md §1 stages 1, 2, 3, 6, 7).

Each function is top level and pure given its arguments (frames come from a
:mod:`owlx_fibsem.frames` reader), so the same code runs inline, on threads or on
dask.distributed workers. Algorithms live in ``owlx.core``; these functions only read frames
and chain core calls. With a cache folder, stages 1–3 read and write their artefacts there
(:mod:`owlx.io.fibsem_keypoints`, :mod:`owlx.io.fibsem_stage_cache`).
"""

from __future__ import annotations

import numpy as np

from owlx.core.fibsem_features import Keypoints, detect_keypoints, match_keypoints
from owlx.core.fibsem_metrics import pair_metrics
from owlx.core.fibsem_range import get_min_max_thresholds, to_uint8
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_transforms import PairFit, fit_pair
from owlx.core.fibsem_warp import Canvas, bin_frames, to_output, warp_frame
from owlx.io.fibsem_keypoints import (
    cache_file,
    frame_key,
    keypoint_settings_key,
    load_keypoints,
    save_keypoints,
)
from owlx.io.fibsem_stage_cache import (
    load_pair,
    range_file,
    range_settings_key,
    read_pair,
    read_range,
    save_pair,
    save_range,
)


def limit_threads(n: int | None) -> None:
    """Cap OpenCV's internal threads (workers of a pool should not each spawn a full set)."""
    if n is not None:
        import cv2

        cv2.setNumThreads(int(n))


def range_task(frames, indices, settings: RegistrationSettings, cv_threads: int | None = None,
               cache_dir: str | None = None, compute: bool = True) -> list[tuple]:
    """(i, data_min, data_max, frame key, cached, problem) of each frame: the CDF thresholds
    (§2). With ``cache_dir`` the frame key is computed (it is reused by stages 2–3) and the range
    is read from ``<frame>.range.json`` when its keys match, else computed and written there;
    ``cached`` tells which, ``problem`` is the message of an unreadable cache file (for the
    client to report). ``compute=False`` (8-bit input, range 0…255) gives the keys only."""
    limit_threads(cv_threads)
    out = []
    settings_id = range_settings_key(settings.thr_min, settings.thr_max, settings.nbins)
    for i in indices:
        frame = frames.frame(i)
        frame_id = frame_key(frame) if cache_dir else None
        if not compute:
            out.append((int(i), 0.0, 255.0, frame_id, False, None))
            continue
        path = range_file(cache_dir, frames.frame_name(i)) if cache_dir else None
        cached, problem = read_range(path, frame_id, settings_id) if path else (None, None)
        if cached is None:
            lo, hi = get_min_max_thresholds(frame, settings.thr_min, settings.thr_max, settings.nbins)
            if path:
                save_range(path, lo, hi, frame_id, settings_id)
        else:
            lo, hi = cached
        out.append((int(i), lo, hi, frame_id, cached is not None, problem))
    return out


def keypoint_settings_id(settings: RegistrationSettings, lo: float, hi: float) -> str:
    """The keypoint settings key of a frame converted with (lo, hi) (:mod:`owlx.io.fibsem_keypoints`)."""
    import cv2

    box = settings.evaluation_box if any(settings.evaluation_box) else None
    return keypoint_settings_key(settings.sift, box, (lo, hi), cv2.__version__)


def keypoint_task(frames, i: int, lo: float, hi: float, settings: RegistrationSettings,
                  cv_threads: int | None = None, cache_dir: str | None = None,
                  frame_id: str | None = None) -> Keypoints:
    """SIFT keypoints of frame ``i`` after 8-bit conversion with (lo, hi) (§2–§3). With
    ``cache_dir`` they are read from ``<frame name>.kp.npz`` there when its frame and settings
    keys match (:mod:`owlx.io.fibsem_keypoints`), else computed and written there. ``frame_id``
    is the frame key when stage 1 computed it already: a cache hit then does not read the frame."""
    limit_threads(cv_threads)
    box = settings.evaluation_box if any(settings.evaluation_box) else None
    frame = None if frame_id else frames.frame(i)
    path = settings_id = None
    if cache_dir:
        path = cache_file(cache_dir, frames.frame_name(i))
        frame_id = frame_id or frame_key(frame)
        settings_id = keypoint_settings_id(settings, lo, hi)
        cached = load_keypoints(path, frame_id, settings_id)
        if cached is not None:
            return cached
    if frame is None:
        frame = frames.frame(i)
    u8 = frame if frame.dtype == np.uint8 else to_uint8(frame, lo, hi)
    kp = detect_keypoints(u8, settings.sift, box)
    if path is not None:
        save_keypoints(path, kp, frame_id, settings_id)
    return kp


def match_task(kp_src: Keypoints, kp_dst: Keypoints, pair_index: int, settings: RegistrationSettings,
               cv_threads: int | None = None, pair_path: str | None = None, pair_id: str | None = None) -> PairFit:
    """Match two frames' keypoints and fit the model (§4–§6). ``pair_index`` seeds RANSAC. With
    ``pair_path`` the fit is written there with its key ``pair_id`` (:mod:`owlx.io.fibsem_stage_cache`)."""
    limit_threads(cv_threads)
    src, dst = match_keypoints(kp_src, kp_dst, settings.matcher, settings.ratio)
    fit = fit_pair(pair_index, src, dst, settings.fit, settings.seed)
    fit.n_src_keypoints, fit.n_dst_keypoints = len(kp_src), len(kp_dst)
    if pair_path:
        save_pair(pair_path, fit, pair_id)
    return fit


def pair_lookup_task(items) -> list[tuple]:
    """(j, cached PairFit or None, problem message or None) for each (j, pair file, pair key)."""
    return [(int(j), *read_pair(path, key)) for j, path, key in items]


def rematch_task(frames, i: int, j: int, ranges: tuple, pair_index: int, settings: RegistrationSettings,
                 cv_threads: int | None = None, cache_dir: str | None = None, frame_ids=(None, None),
                 pair=(None, None)) -> PairFit:
    """The fit of frames i and j (re-matching around a removed frame, §8): read from ``pair`` =
    (pair file, pair key) when cached there, else from both frames' keypoints (from the cache
    when given) and written to it."""
    path, key = pair
    if path:
        cached = load_pair(path, key)
        if cached is not None:
            return cached
    (lo_i, hi_i), (lo_j, hi_j) = ranges
    a = keypoint_task(frames, i, lo_i, hi_i, settings, cv_threads, cache_dir, frame_ids[0])
    b = keypoint_task(frames, j, lo_j, hi_j, settings, cv_threads, cache_dir, frame_ids[1])
    return match_task(a, b, pair_index, settings, cv_threads, path, key)


def warp_task(frames, slice_index: int, frame_indices, matrices, canvas: Canvas, settings: RegistrationSettings,
              data_range: tuple[float, float], cv_threads: int | None = None) -> tuple[int, np.ndarray, int]:
    """Output slice ``slice_index``: the frames warped with their cumulative matrices, fused
    with channel B when asked, z-binned and converted (§9). Returns (index, slice, clipped)."""
    limit_threads(cv_threads)
    warped = []
    f = settings.imgb_fraction
    for i, m in zip(frame_indices, matrices):
        image = np.asarray(frames.frame(i), dtype=np.float32)
        if f > 0:
            b = frames.frame_b(i)
            if b is not None:
                image = image * (1.0 - f) + np.asarray(b, dtype=np.float32) * f
        warped.append(warp_frame(image, m, canvas, settings.int_order))
    out, clipped = to_output(bin_frames(warped), settings.dtype, data_range, settings.invert, settings.flip_y)
    return int(slice_index), out, clipped


def metrics_task(out_path: str, slice_index: int, box, settings: RegistrationSettings) -> tuple[int, dict]:
    """Metrics of output slices (s − 1, s) of the written MRC file inside ``box`` (§10–§11)."""
    import mrcfile

    with mrcfile.mmap(out_path, mode="r", permissive=True) as mrc:
        data = mrc.data
        a = np.array(data[slice_index - 1], dtype=np.float64)
        b = np.array(data[slice_index], dtype=np.float64)
    if settings.dtype == "uint8":  # stored as unsigned bytes in mode 0
        a, b = a % 256, b % 256
    return int(slice_index), pair_metrics(a, b, box, settings.invert, settings.nmi_bins, settings.with_frc)
