"""The per-item work of the registration pipeline (spec/fibsem.md §1 stages 1, 2, 3, 6, 7).

Each function is top level and pure given its arguments (frames come from a
:mod:`owlx_fibsem.frames` reader), so the same code runs inline, on threads or on
dask.distributed workers. Algorithms live in ``owlx.core``; these functions only read frames
and chain core calls.
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


def limit_threads(n: int | None) -> None:
    """Cap OpenCV's internal threads (workers of a pool should not each spawn a full set)."""
    if n is not None:
        import cv2

        cv2.setNumThreads(int(n))


def range_task(frames, indices, settings: RegistrationSettings, cv_threads: int | None = None) -> list[tuple]:
    """(i, data_min, data_max) of each frame by the CDF thresholds (§2)."""
    limit_threads(cv_threads)
    out = []
    for i in indices:
        lo, hi = get_min_max_thresholds(frames.frame(i), settings.thr_min, settings.thr_max, settings.nbins)
        out.append((int(i), lo, hi))
    return out


def keypoint_task(frames, i: int, lo: float, hi: float, settings: RegistrationSettings,
                  cv_threads: int | None = None, cache_dir: str | None = None) -> Keypoints:
    """SIFT keypoints of frame ``i`` after 8-bit conversion with (lo, hi) (§2–§3). With
    ``cache_dir`` they are read from ``<frame name>.kp.npz`` there when its frame and settings
    keys match (:mod:`owlx.io.fibsem_keypoints`), else computed and written there."""
    limit_threads(cv_threads)
    frame = frames.frame(i)
    box = settings.evaluation_box if any(settings.evaluation_box) else None
    path = frame_id = settings_id = None
    if cache_dir:
        import cv2

        path = cache_file(cache_dir, frames.frame_name(i))
        frame_id = frame_key(frame)
        settings_id = keypoint_settings_key(settings.sift, box, (lo, hi), cv2.__version__)
        cached = load_keypoints(path, frame_id, settings_id)
        if cached is not None:
            return cached
    u8 = frame if frame.dtype == np.uint8 else to_uint8(frame, lo, hi)
    kp = detect_keypoints(u8, settings.sift, box)
    if path is not None:
        save_keypoints(path, kp, frame_id, settings_id)
    return kp


def match_task(kp_src: Keypoints, kp_dst: Keypoints, pair_index: int, settings: RegistrationSettings,
               cv_threads: int | None = None) -> PairFit:
    """Match two frames' keypoints and fit the model (§4–§6). ``pair_index`` seeds RANSAC."""
    limit_threads(cv_threads)
    src, dst = match_keypoints(kp_src, kp_dst, settings.matcher, settings.ratio)
    fit = fit_pair(pair_index, src, dst, settings.fit, settings.seed)
    fit.n_src_keypoints, fit.n_dst_keypoints = len(kp_src), len(kp_dst)
    return fit


def rematch_task(frames, i: int, j: int, ranges: tuple, pair_index: int, settings: RegistrationSettings,
                 cv_threads: int | None = None, cache_dir: str | None = None) -> PairFit:
    """Keypoints of frames i and j (from the cache when given) and their fit (re-matching
    around a removed frame, §8)."""
    (lo_i, hi_i), (lo_j, hi_j) = ranges
    a = keypoint_task(frames, i, lo_i, hi_i, settings, cv_threads, cache_dir)
    b = keypoint_task(frames, j, lo_j, hi_j, settings, cv_threads, cache_dir)
    return match_task(a, b, pair_index, settings, cv_threads)


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
