"""The "test one pair" preview (the reference's ``SIFT_evaluation``): keypoints of two frames,
their matches, the model fit with its inliers and residuals, as a job."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.core.fibsem_features import detect_keypoints, match_keypoints
from owlx.core.fibsem_range import get_min_max_thresholds, to_uint8
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_transforms import PairFit, fit_pair
from owlx.jobs import Job, JobContext


@dataclass
class PairPreview:
    """Frames ``i`` → ``j``: keypoints (x, y) of each, matched points ``src``/``dst`` (x, y),
    the boolean ``inliers`` of the matches, the fit and the (x, y) residuals of the inliers."""

    i: int
    j: int
    keypoints_i: np.ndarray
    keypoints_j: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    inliers: np.ndarray
    fit: PairFit
    residuals: np.ndarray


def preview_pair(frames, i: int, j: int, settings: RegistrationSettings, ctx: JobContext | None = None) -> PairPreview:
    """Keypoints, matches and fit of frames ``i`` and ``j`` (8-bit ranges: each frame's own
    CDF thresholds, as the stack range would give for a short stack)."""
    kps = []
    for k in (i, j):
        if ctx is not None:
            ctx.check()
        frame = frames.frame(k)
        if frame.dtype != np.uint8:
            lo, hi = get_min_max_thresholds(frame, settings.thr_min, settings.thr_max, settings.nbins)
            frame = to_uint8(frame, lo, hi)
        box = settings.evaluation_box if any(settings.evaluation_box) else None
        kps.append(detect_keypoints(frame, settings.sift, box))
        if ctx is not None:
            ctx.progress(len(kps), 3)
    src, dst = match_keypoints(kps[0], kps[1], settings.matcher, settings.ratio)
    fit = fit_pair(i, src, dst, settings.fit, settings.seed)
    pairs = {(float(a), float(b), float(c), float(d)) for (a, b), (c, d) in zip(fit.src_inliers, fit.dst_inliers)}
    inliers = np.array([(float(a), float(b), float(c), float(d)) in pairs for (a, b), (c, d) in zip(src, dst)],
                       dtype=bool)
    m = fit.matrix
    residuals = (fit.src_inliers @ m[:2, :2].T + m[:2, 2] - fit.dst_inliers) if len(fit.src_inliers) else np.zeros((0, 2))
    if ctx is not None:
        ctx.progress(3, 3)
    return PairPreview(i, j, kps[0].xy, kps[1].xy, src, dst, inliers, fit, np.asarray(residuals))


def preview_job(frames, i: int, j: int, settings: RegistrationSettings) -> Job:
    """:func:`preview_pair` as a job (value: the :class:`PairPreview`)."""
    return Job(lambda ctx: preview_pair(frames, i, j, settings, ctx), name=f"FIB-SEM pair {i}→{j}")
