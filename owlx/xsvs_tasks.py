"""What dask workers run for an XSVS batch (spec/xsvs.md §14), and how the client adds it up.

The client (:mod:`owlx.xsvs_dask`) sends a :class:`Recipe` (the project without its file lists,
settings, frame shape) and :class:`FrameTask` descriptions (file names, frame ranges, bin edges),
never frames; each worker process rebuilds the rings, mask and flat field from the project's
files once per run (:func:`owlx.xsvs.prepare`) and reads its frames itself.

* :func:`head_task`: an exposure's static frames, read in order through
  :class:`~owlx.core.xsvs_analysis.ExposureAnalysis` as the inline run reads them, so the static
  image and the histogram bins are the inline ones; the frames histogrammed so far come back as
  a :class:`~owlx.core.xsvs_histogram.RingHistograms`.
* :func:`tail_task`: a chunk of later frames, histogrammed with the head's bins. Its integer
  sums (pooled counts, frames used) and traces come back summed; its float sums (Σh, Σh², cross
  sums, Σn, Σn²) per frame, (frames, rings, bins), a few hundred kB.
* :func:`merge_chunk` (client): adds a chunk to the head's sums, the float sums frame by frame.
  Added in frame order, every sum is formed by the same float operations in the same order as in
  the inline run, so histograms, fits and β are bit for bit the inline ones (an LM fit turns a
  1e-16 difference of the histogram into ~1e-8 in β).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .core.xsvs_analysis import ExposureAnalysis, XsvsSettings
from .core.xsvs_histogram import RingHistograms
from .errors import DatasetError, OwlxError
from .io.xsvs_project import XsvsExposure, XsvsProject, open_exposure
from .xsvs import XsvsSetup, prepare

__all__ = ["FLOAT_SUMS", "FrameTask", "PartialSums", "Recipe", "head_task", "merge_chunk", "tail_task"]

_SETUPS: dict[str, XsvsSetup] = {}  # per worker process: run token → setup, the last few runs


@dataclass(frozen=True)
class Recipe:
    """What a worker needs to rebuild the run's setup: the project without its file lists, the
    settings, the frame shape (rows, cols) and a token naming the run (the cache key)."""

    token: str
    project: XsvsProject
    settings: XsvsSettings
    shape: tuple[int, int]


@dataclass(frozen=True)
class FrameTask:
    """Frames ``start`` … ``stop``−1 of exposure number ``k``, which analyses ``n`` frames, to be
    histogrammed with ``edges`` bin edges per ring. A head has no edges: it reads from frame 0
    until the static is complete, and ``n`` is then the most frames to use (None: all)."""

    k: int
    exposure: XsvsExposure
    start: int = 0
    stop: int = 0
    n: int | None = None
    edges: tuple[int, ...] | None = None


@dataclass
class PartialSums:
    """A task's partial sums. ``n``: frames the exposure analyses; ``stop``: one past the last
    frame read; ``bad``: (frame, message) of frames that could not be decoded; ``per_frame``
    (chunks only): the float sums of each frame, arrays (stop − start, rings, …) in
    :data:`FLOAT_SUMS` order, which ``hist`` then leaves at zero."""

    k: int
    n: int
    start: int
    stop: int
    n_added: int
    hist: RingHistograms | None
    static_sum: np.ndarray | None = None
    n_static: int = 0
    bad: list = field(default_factory=list)
    per_frame: tuple = ()


FLOAT_SUMS = ("sum_h", "sum_h2", "sum_cross", "moments")


def _setup(recipe: Recipe) -> XsvsSetup:
    setup = _SETUPS.get(recipe.token)
    if setup is None:
        setup = prepare(recipe.project, recipe.settings, shape=recipe.shape)
        while len(_SETUPS) >= 4:
            _SETUPS.pop(next(iter(_SETUPS)))
        _SETUPS[recipe.token] = setup
    return setup


def _open(exposure: XsvsExposure, setup: XsvsSetup):
    source = open_exposure(exposure)
    stack = source.stack()
    if stack.frame_shape != setup.rings.shape:
        source.close()
        raise DatasetError(f"{exposure.name}: frames are {stack.frame_shape[0]}×{stack.frame_shape[1]} pixels, "
                           f"the mask/flat field {setup.rings.shape[0]}×{setup.rings.shape[1]}")
    return source, stack


def _read(stack, i: int, bad: list):
    try:
        return stack[i]
    except OwlxError as err:  # a broken file is skipped and reported, as in the inline run
        bad.append((i, str(err)))
        return None


def head_task(recipe: Recipe, task: FrameTask) -> PartialSums:
    """Worker side, round 1: frames from 0 until the static is complete (or the exposure ends),
    through :class:`ExposureAnalysis` as inline; returns the static sum and the histograms."""
    setup = _setup(recipe)
    source, stack = _open(task.exposure, setup)
    with source:
        n = len(stack) if task.n is None else min(len(stack), int(task.n))
        analysis = ExposureAnalysis(setup.rings, setup.flat, recipe.settings, n)
        bad: list = []
        i = 0
        while i < n and analysis.hist is None:
            frame = _read(stack, i, bad)
            if frame is not None:
                analysis.add(i, frame)
            i += 1
    if analysis.hist is None and analysis.n_added:
        analysis.start_histograms()  # fewer frames than static_frames: finish() would do this
    return PartialSums(task.k, n, 0, i, analysis.n_added, analysis.hist, analysis.static_sum, analysis.n_static, bad)


def tail_task(recipe: Recipe, task: FrameTask) -> PartialSums:
    """Worker side, round 2: histogram frames ``start`` … ``stop``−1 with the head's bins, one
    frame at a time into a fresh :class:`RingHistograms`, keeping its float sums per frame."""
    setup = _setup(recipe)
    rings, settings, n = setup.rings, recipe.settings, int(task.n)
    hist = RingHistograms.empty(rings, task.edges, n, settings.histogram_mode)
    per_frame = tuple(np.zeros((task.stop - task.start,) + getattr(hist, name).shape) for name in FLOAT_SUMS)
    # flat pixels of the rings are all valid (prepare removed the others), so this equals the
    # inline run's safe flat at the ring pixels
    flat_ring = setup.flat.ravel()[rings.idx] if setup.flat is not None and settings.use_flat_field else None
    bad: list = []
    n_added = 0
    source, stack = _open(task.exposure, setup)
    with source:
        for i in range(task.start, task.stop):
            frame = _read(stack, i, bad)
            if frame is None:
                continue
            one = RingHistograms.empty(rings, task.edges, n, settings.histogram_mode)
            if i > task.start:  # the previous ring means choose the kernel's loop, as inline
                one.trace[:, i - 1] = hist.trace[:, i - 1]
            one.add(frame, i, rings, flat_ring)
            for name, out in zip(FLOAT_SUMS, per_frame):
                out[i - task.start] = getattr(one, name)
            hist.counts += one.counts
            hist.n_used += one.n_used
            hist.trace[:, i] = one.trace[:, i]
            n_added += 1
    return PartialSums(task.k, n, task.start, task.stop, n_added, hist, bad=bad, per_frame=per_frame)


def merge_chunk(hist: RingHistograms, part: PartialSums) -> None:
    """Add a chunk to the exposure's sums, its float sums frame by frame (see the module doc)."""
    if not np.array_equal(hist.n_edges, part.hist.n_edges) or hist.trace.shape != part.hist.trace.shape:
        raise OwlxError("a frame chunk came back with other bins than its exposure's")
    hist.counts += part.hist.counts
    hist.n_used += part.hist.n_used
    hist.trace[:, part.start:part.stop] = part.hist.trace[:, part.start:part.stop]
    for f in range(part.stop - part.start):
        for name, frames in zip(FLOAT_SUMS, part.per_frame):
            getattr(hist, name)[...] += frames[f]
