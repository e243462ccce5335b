"""The polar panel's long work as :class:`owlx.jobs.Job` objects (no Qt; run inline in tests).

Every job reads its frames through a :class:`FrameReader` (:class:`owlx.stack_reader.StackReader`,
reads hold the session's ``io_lock``) that captures the session's stack,
mask dataset and mask settings when the job is made, so switching dataset while a job runs
cannot mix two stacks in one result. The algorithms are those of ``owlx.core``.

* :func:`centre_job` — ring-fit centre of one frame (``RingFit``).
* :func:`preview_job` — polar image, its mask and radial profile of one frame (``PolarPreview``).
* :func:`correlation_job` — :func:`owlx.core.polar_analysis.frame_rings` of every frame, then
  :func:`~owlx.core.polar_analysis.correlate_frames` (``PolarCorrelation``); progress counts
  frames, then pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.core.polar import radial_profile
from owlx.core.polar_analysis import (
    PolarSettings,
    correlate_frames,
    frame_rings,
    make_polar_map,
)
from owlx.core.ring_center import fit_ring_center
from owlx.errors import ParameterError
from owlx.jobs import Job
from owlx.stack_reader import StackReader as FrameReader

__all__ = ["FrameReader", "PolarPreview", "centre_job", "correlation_job", "preview_job"]


def centre_job(reader: FrameReader, index: int, start: tuple[float, float, float], ring_width: float,
               n_points: int) -> Job:
    """Fit the ring near ``start`` = (x, y, r) [px, absolute centre] on frame ``index``."""

    def work(ctx):
        ctx.progress(0, 1)
        fit = fit_ring_center(reader.frame(index), start, ring_width, n_points, mask=reader.mask(index))
        ctx.progress(1, 1)
        return fit

    return Job(work, name=f"polar: ring fit of frame {index}")


@dataclass
class PolarPreview:
    """One frame's polar image (n_r, n_phi) with its validity, radii [px] and radial profile."""

    index: int
    polar: np.ndarray
    polar_mask: np.ndarray
    radii: np.ndarray
    radial: np.ndarray


def preview_job(reader: FrameReader, index: int, settings: PolarSettings) -> Job:
    """Polar image and radial profile of frame ``index`` under ``settings``."""

    def work(ctx):
        ctx.progress(0, 1)
        pmap = make_polar_map(settings, reader.shape)
        polar, pmask = pmap.resample(reader.frame(index), reader.mask(index))
        ctx.progress(1, 1)
        return PolarPreview(int(index), polar, pmask, pmap.radii, radial_profile(polar, pmask))

    return Job(work, name=f"polar: polar image of frame {index}")


def correlation_job(reader: FrameReader, frames, settings: PolarSettings) -> Job:
    """The correlation chain over ``frames`` (frame indices, in the order given)."""
    frames = np.asarray(frames, dtype=np.int64)
    settings.validate()
    if frames.size == 0:
        raise ParameterError("the chosen frame set is empty")

    def work(ctx):
        n = int(frames.size)
        total = n + 1
        ctx.progress(0, total)
        pmap = make_polar_map(settings, reader.shape)
        per = []
        for done, index in enumerate(frames, start=1):
            ctx.check()
            per.append(frame_rings(reader.frame(index), reader.mask(index), pmap, settings))
            ctx.progress(done, total)
        ctx.check()
        result = correlate_frames(per, settings, frames=frames, cancel=ctx.token)
        ctx.progress(total, total)
        return result

    return Job(work, name=f"polar: correlation of {frames.size} frames")
