"""The FIB-SEM registration pipeline as a job (spec/fibsem.md §1): data range → keypoints →
matching and fit → cumulation and post-processing → bad frames → warp, bin, write MRC →
quality metrics.

:func:`register_stack` runs the stages on a pool (:mod:`owlx_fibsem.executor`: inline,
threads, or dask.distributed); :func:`registration_job` wraps it in an :class:`owlx.jobs.Job`
(progress over all stages, cancel, streamed events). Keypoints are computed per frame and
matched per consecutive pair as soon as both frames' keypoints exist; a frame's keypoints are
dropped once both its pairs are fitted, so memory stays bounded on long stacks. On dask the
keypoints travel worker to worker, never through the client. With a keypoint cache folder
(``cache_dir``) each frame's keypoints are also written as ``<frame>.kp.npz`` and read back by a
later run with the same frame and keypoint settings (:mod:`owlx.io.fibsem_keypoints`), so a rerun
or a run started again after a cancel skips SIFT for the frames already done. Stages 6–7 live in
:mod:`owlx_fibsem.output_stages`.

Events streamed with ``ctx.emit``: ``("stage", name)``, ``("pair", PairFit)``,
``("slice", index)``, ``("metrics", index, dict)``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from owlx.core.fibsem_range import fov_trend, stack_range, z_step_from_wd
from owlx.core.fibsem_register import Registration, nomatch_frames, postprocess
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_transforms import PairFit
from owlx.core.fibsem_warp import Canvas, canvas_for
from owlx.errors import DatasetError, ParameterError
from owlx.jobs import Job, JobContext
from owlx_fibsem import tasks
from owlx_fibsem.executor import InlinePool, make_pool, run_map
from owlx_fibsem.frames import FileFrames, MemoryFrames
from owlx_fibsem.output_stages import quality, refuse_input_as_output, write_output


@dataclass
class RegistrationRun:
    """Everything a run produced. Frame indices are those of the input stack."""

    settings: RegistrationSettings
    n_frames: int
    ranges: np.ndarray  # (n, 2) per-frame 8-bit conversion range (lo, hi)
    data_range: tuple[float, float]
    n_keypoints: np.ndarray  # (n,) keypoints per frame (−1 where not computed)
    registration: Registration | None = None
    canvas: Canvas | None = None
    output: str | None = None
    voxel_size_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    z_step_nm: float = 0.0
    pixel_size_nm: float = 0.0
    clipped: int = 0
    metrics: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    evaluation_boxes: np.ndarray | None = None  # (n_slices, 4) [top, height, left, width] on the canvas
    keypoint_cache: str | None = None  # folder of the <frame>.kp.npz files, when one was used
    timings: dict = field(default_factory=dict)

    @property
    def fits(self) -> list[PairFit]:
        return self.registration.fits if self.registration else []

    @property
    def flagged(self) -> list[PairFit]:
        """The pairs whose step is a fallback (status other than "ok")."""
        return [f for f in self.fits if not f.ok]

    @property
    def removed(self) -> list[int]:
        return self.registration.removed if self.registration else []

    def report(self) -> str:
        """A short human summary: frames, flagged pairs, removed frames, metrics means."""
        reg = self.registration
        lines = [f"{self.n_frames} frames, {len(reg.frames) if reg else 0} kept"
                 + (f", removed {self.removed}" if self.removed else "")]
        for f in self.flagged:
            lines.append(f"pair {f.index}: {f.status} ({f.n_matches} matches, {f.npts} inliers) — step follows "
                         f"on_failure={self.settings.post.on_failure}")
        for key, (mean, spread) in self.summary.items():
            lines.append(f"{key}: mean {mean:.4g}, spread {spread:.3g}")
        return "\n".join(lines)


def _pairs_fitted(pool, frames, n, ranges, settings, ctx, progress, cache_dir=None) -> dict[tuple[int, int], PairFit]:
    """Keypoints of every frame (from ``cache_dir`` when cached there) and the fit of every
    consecutive pair, on the pool."""
    window = max(4, 2 * pool.n_workers + 2)
    kp: dict[int, Any] = {}
    kp_ready: set[int] = set()
    pairs_done: set[int] = set()
    owner: dict[Any, tuple[str, int]] = {}
    fits: dict[tuple[int, int], PairFit] = {}
    next_frame = 0
    try:
        while len(pairs_done) < n - 1:
            while next_frame < n and len(kp) < window:
                f = pool.submit(tasks.keypoint_task, frames, next_frame, ranges[next_frame, 0],
                                ranges[next_frame, 1], settings, pool.cv_threads, cache_dir)
                kp[next_frame] = f
                owner[f] = ("kp", next_frame)
                next_frame += 1
            for f in pool.wait_any(list(owner), ctx.check):
                kind, i = owner.pop(f)
                if kind == "kp":
                    pool.raise_if_failed(f)  # the keypoints themselves stay on the pool
                    kp_ready.add(i)
                    progress(1)
                    for j in (i - 1, i):
                        if 0 <= j < n - 1 and j in kp_ready and j + 1 in kp_ready:
                            g = pool.submit(tasks.match_task, kp[j], kp[j + 1], j, settings, pool.cv_threads)
                            owner[g] = ("pair", j)
                    continue
                fit = pool.result(f)
                fits[(i, i + 1)] = fit
                pairs_done.add(i)
                progress(1)
                ctx.emit(("pair", fit))
                for j in (i, i + 1):  # keypoints no pair needs any more
                    if (j == 0 or j - 1 in pairs_done) and (j == n - 1 or j in pairs_done):
                        kp.pop(j, None)
    finally:
        pool.cancel(list(owner))
    return fits


def _remove_bad_frames(pool, frames, fits, n, ranges, settings, ctx, cache_dir=None) -> tuple[list[int], list[int]]:
    """§8 and ``on_failure="exclude_frame"``: drop frames, re-match their new neighbours.
    Returns (kept frames, removed frames); ``fits`` gains the new pairs.

    A frame is dropped when it matches neither neighbour (``check_nomatch``), or, with
    ``exclude_frame``, when the pair leading to it failed (once per original pair: a re-matched
    pair that fails again stays, flagged)."""
    kept = list(range(n))
    removed: list[int] = []
    for _ in range(n):
        pairs = list(pairwise(kept))
        drop: set[int] = set()
        if settings.check_nomatch:
            drop |= {kept[k] for k in nomatch_frames([fits[p].npts for p in pairs], settings.thr_npt)}
        if settings.post.on_failure == "exclude_frame":
            drop |= {b for a, b in pairs if not fits[(a, b)].ok and b - a == 1 and b not in removed}
        if not drop or len(kept) - len(drop) < 2:
            break
        removed.extend(sorted(drop))
        kept = [k for k in kept if k not in drop]
        new = [(a, b) for a, b in pairwise(kept) if (a, b) not in fits]
        futures = {pool.submit(tasks.rematch_task, frames, a, b, (tuple(ranges[a]), tuple(ranges[b])), a, settings,
                               pool.cv_threads, cache_dir): (a, b) for a, b in new}
        try:
            while futures:
                for f in pool.wait_any(list(futures), ctx.check):
                    fits[futures.pop(f)] = pool.result(f)
        finally:
            pool.cancel(list(futures))
    return kept, sorted(removed)


def register_stack(frames, settings: RegistrationSettings | None = None, output: str | None = None, pool=None,
                   ctx: JobContext | None = None, metrics: bool = True, cache_dir: str | None = None) -> RegistrationRun:
    """Register ``frames`` (a :mod:`owlx_fibsem.frames` reader) and, with ``output``, write the
    registered stack as MRC and compute the quality metrics. ``pool`` defaults to inline. With
    ``cache_dir`` each frame's keypoints are kept there as ``<frame>.kp.npz`` and reused by a
    later run (or a run resumed after a cancel) with the same frame and keypoint settings."""
    from owlx.jobs import CancelToken

    s = settings or RegistrationSettings()
    ctx = ctx or JobContext(CancelToken())
    pool = pool or InlinePool()
    n = len(frames)
    if n < 2:
        raise DatasetError(f"registration needs at least 2 frames; the stack has {n}")
    info = frames.info()
    eight_bit = np.dtype(frames.dtype()) == np.uint8
    nz = -(-n // int(s.zbin))
    total = (0 if eight_bit else n) + n + (n - 1) + (nz + max(nz - 1, 0) if output else 0)
    state = {"done": 0}

    def progress(k: int) -> None:
        state["done"] += k
        ctx.progress(min(state["done"], total), total)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx.progress(0, total)
    # 1. data range
    ctx.emit(("stage", "data range"))
    if eight_bit:
        mins, maxs = np.zeros(n), np.full(n, 255.0)
        ranges = np.stack([mins, maxs], axis=1)
        data_range = (0.0, 255.0)
    else:
        mins, maxs = np.zeros(n), np.zeros(n)

        def take_range(rows):
            for i, lo, hi in rows:
                mins[i], maxs[i] = lo, hi
            progress(len(rows))

        chunk = max(1, min(16, n // (4 * pool.n_workers) or 1))
        items = [(frames, list(range(a, min(n, a + chunk))), s, pool.cv_threads) for a in range(0, n, chunk)]
        run_map(pool, tasks.range_task, items, ctx, take_range, 2 * pool.n_workers + 1)
        lo, hi = stack_range(mins, maxs, s.sliding_minmax, s.fit_window, s.thr_min, s.thr_max, s.nbins)
        ranges = np.stack([lo, hi], axis=1)
        glo, ghi = stack_range(mins, maxs, False, None, s.thr_min, s.thr_max, s.nbins)
        data_range = (float(glo[0]), float(ghi[0]))
    timings["data range"] = time.perf_counter() - t0
    # 2–3. keypoints, matching, fit
    t1 = time.perf_counter()
    ctx.emit(("stage", "keypoints and matching"))
    if cache_dir:
        cache_dir = os.path.abspath(os.fspath(cache_dir))
        try:
            os.makedirs(cache_dir, exist_ok=True)
        except OSError as err:
            raise ParameterError(f"cannot use the keypoint cache folder {cache_dir}: {err.strerror or err}") from err
    fits = _pairs_fitted(pool, frames, n, ranges, s, ctx, progress, cache_dir)
    kept, removed = _remove_bad_frames(pool, frames, fits, n, ranges, s, ctx, cache_dir)
    timings["keypoints and matching"] = time.perf_counter() - t1
    # 4–5. cumulation and post-processing
    trend = None
    if "first_pixel" in info:
        fp = np.asarray(info["first_pixel"], dtype=np.float64)[kept]
        rx, ry = info["resolution"]
        trend = np.stack([fov_trend(fp[:, 0], rx), fov_trend(fp[:, 1], ry)], axis=1)
    pair_list = [fits[(a, b)] for a, b in pairwise(kept)]
    reg = postprocess(kept, pair_list, s.post, trend)
    reg.removed = removed
    n_kp = np.full(n, -1, dtype=np.int64)
    for (a, b), fit in fits.items():
        n_kp[a], n_kp[b] = fit.n_src_keypoints, fit.n_dst_keypoints
    run = RegistrationRun(settings=s, n_frames=n, ranges=ranges, data_range=data_range, n_keypoints=n_kp,
                          registration=reg, timings=timings, keypoint_cache=cache_dir or None)
    run.pixel_size_nm = float(s.pixel_size_nm if s.pixel_size_nm is not None else info.get("pixel_size_nm", 0.0))
    if s.z_step_nm is not None:
        run.z_step_nm = float(s.z_step_nm)
    elif "z_step_nm" in info:
        run.z_step_nm = float(info["z_step_nm"])
    elif "wd_mm" in info:
        run.z_step_nm = z_step_from_wd(np.asarray(info["wd_mm"])[kept])
    run.canvas = canvas_for(reg.cumulative, frames.frame_shape(), s.pad_edges)
    if output:
        write_output(run, frames, pool, ctx, progress, output)
        if metrics:
            quality(run, frames, pool, ctx, progress)
    run.timings["total"] = time.perf_counter() - t0
    return run


def registration_job(frames, settings: RegistrationSettings | None = None, output: str | None = None, *,
                     threads: int = 1, n_workers: int | None = None, scheduler: str | None = None,
                     client: Any = None, metrics: bool = True, record: bool = True, inputs=(),
                     cache_dir: str | None = None, xlsx: bool = False) -> Job:
    """A job registering ``frames`` (a reader, or a path/folder/list opened as :class:`FileFrames`)
    inline, on ``threads`` threads, or on dask (``n_workers`` local processes, ``scheduler``
    address or ``client``). Its value is the :class:`RegistrationRun`; with ``output`` and
    ``record`` the run's record and CSV tables are written next to the MRC file. ``output`` must
    not be an input file: the files of a :class:`FileFrames` and ``inputs`` (the files behind
    :class:`MemoryFrames`) are checked. ``cache_dir``: the keypoint cache folder
    (:func:`register_stack`); ``xlsx``: also write the record as ``<output stem>_registration.xlsx``
    (needs openpyxl; checked here, before any work)."""
    s = settings or RegistrationSettings()
    if isinstance(frames, (str, os.PathLike, list, tuple)):
        frames = FileFrames.of(frames, channel=s.channel, fuse=s.imgb_fraction > 0)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(frames, FileFrames):
        # A folder source is checked file by file: an output named like one of its slices would
        # overwrite that slice while it is still to be read.
        inputs = [*inputs, *frames.files()]
    refuse_input_as_output(output, inputs)
    if xlsx and output and record:
        from owlx.io.fibsem_record import require_openpyxl

        require_openpyxl()
    use_dask = client is not None or scheduler is not None or n_workers is not None
    if use_dask and isinstance(frames, MemoryFrames):
        raise DatasetError("a dask run reads frames in its workers: give a file path, not frames in memory")

    def work(ctx: JobContext) -> RegistrationRun:
        pool = make_pool(threads, n_workers, scheduler, client)
        try:
            run = register_stack(frames, s, output, pool, ctx, metrics, cache_dir)
        finally:
            pool.close()
        if output and record:
            from owlx_fibsem.export import write_run_record

            write_run_record(run, xlsx=xlsx)
        return run

    return Job(work, name="FIB-SEM registration")
