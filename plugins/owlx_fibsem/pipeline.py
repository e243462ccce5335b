"""The FIB-SEM registration pipeline as a job (spec/fibsem.md §1): data range → keypoints →
matching and fit → cumulation and post-processing → bad frames → warp, bin, write MRC →
quality metrics.

:func:`register_stack` runs the stages on a pool (:mod:`owlx_fibsem.executor`: inline,
threads, or dask.distributed); :func:`registration_job` wraps it in an :class:`owlx.jobs.Job`
(progress over all stages, cancel, streamed events). Keypoints are computed per frame and
matched per consecutive pair as soon as both frames' keypoints exist; a frame's keypoints are
dropped once both its pairs are fitted, so memory stays bounded on long stacks. On dask the
keypoints travel worker to worker, never through the client. With a cache folder
(``cache_dir``) stages 1–3 are restartable: per-frame ranges, per-frame keypoints and per-pair
fits are kept there and read back by a later run whose keys match (:mod:`owlx_fibsem.fit_stages`),
so a rerun with only post-processing or output settings changed does no SIFT and no matching,
and a run started again after a cancel resumes where it stopped. Stages 6–7 live in
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

from owlx.core.fibsem_range import fov_trend, z_step_from_wd
from owlx.core.fibsem_register import Registration, postprocess
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_transforms import PairFit
from owlx.core.fibsem_warp import Canvas, canvas_for
from owlx.errors import DatasetError, ParameterError
from owlx.jobs import Job, JobContext
from owlx_fibsem.executor import InlinePool, make_pool
from owlx_fibsem.fit_stages import (
    StageCache,
    data_range_stage,
    fit_pairs_stage,
    remove_bad_frames,
)
from owlx_fibsem.frames import FileFrames, MemoryFrames
from owlx_fibsem.output_stages import (
    check_output_folder,
    quality,
    refuse_input_as_output,
    write_output,
)


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
    keypoint_cache: str | None = None  # the cache folder (ranges, keypoints, pair fits), when one was used
    cache_reused: dict = field(default_factory=dict)  # {"ranges": k, "pairs": m} read from the cache folder
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # problems after the registration finished (record files)

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
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def register_stack(frames, settings: RegistrationSettings | None = None, output: str | None = None, pool=None,
                   ctx: JobContext | None = None, metrics: bool = True, cache_dir: str | None = None) -> RegistrationRun:
    """Register ``frames`` (a :mod:`owlx_fibsem.frames` reader) and, with ``output``, write the
    registered stack as MRC and compute the quality metrics. ``pool`` defaults to inline. With
    ``cache_dir`` the artefacts of stages 1–3 (per-frame ranges and keypoints, per-pair fits)
    are kept there and reused by a later run (or a run resumed after a cancel) whose frames and
    settings give the same keys (:mod:`owlx_fibsem.fit_stages`)."""
    from owlx.jobs import CancelToken

    s = settings or RegistrationSettings()
    ctx = ctx or JobContext(CancelToken())
    pool = pool or InlinePool()
    n = len(frames)
    if n < 2:
        raise DatasetError(f"registration needs at least 2 frames; the stack has {n}")
    s.check_boxes(frames.frame_shape())  # before stage 1: a box off the frame fails only in SIFT, later
    info = frames.info()
    eight_bit = np.dtype(frames.dtype()) == np.uint8
    nz = -(-n // int(s.zbin))
    # the metrics' nz − 1 steps only when they run: the bar must reach its total to end its line
    total = (0 if eight_bit and not cache_dir else n) + n + (n - 1) + ((nz + (max(nz - 1, 0) if metrics else 0))
                                                                         if output else 0)
    state = {"done": 0}

    def progress(k: int) -> None:
        state["done"] += k
        ctx.progress(min(state["done"], total), total)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ctx.progress(0, total)
    # 1. data range
    ctx.emit(("stage", "data range"))
    cache = None
    if cache_dir:
        cache_dir = os.path.abspath(os.fspath(cache_dir))
        try:
            os.makedirs(cache_dir, exist_ok=True)
        except OSError as err:
            raise ParameterError(f"cannot use the cache folder {cache_dir}: {err.strerror or err}") from err
        cache = StageCache.of(cache_dir, frames)
    ranges, data_range = data_range_stage(pool, frames, n, s, ctx, progress, cache, eight_bit)
    timings["data range"] = time.perf_counter() - t0
    # 2–3. keypoints, matching, fit
    t1 = time.perf_counter()
    ctx.emit(("stage", "keypoints and matching"))
    fits = fit_pairs_stage(pool, frames, n, ranges, s, ctx, progress, cache)
    kept, removed = remove_bad_frames(pool, frames, fits, n, ranges, s, ctx, cache)
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
                          registration=reg, timings=timings, keypoint_cache=cache_dir or None,
                          cache_reused=dict(cache.reused) if cache else {})
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
    :class:`MemoryFrames`) are checked: one path here, a series in the job (its error is then the
    failed job's). The output folder must exist and be writable (checked here, by a temporary
    file). A record that cannot be written is a warning in ``run.warnings``, not a failed job
    (:func:`write_record`). ``cache_dir``: the cache folder of stages 1–3
    (:func:`register_stack`); ``xlsx``: also write the record as ``<output stem>_registration.xlsx``
    (needs openpyxl; checked here, before any work)."""
    s = settings or RegistrationSettings()
    if isinstance(frames, (str, os.PathLike, list, tuple)):
        frames = FileFrames.of(frames, channel=s.channel, fuse=s.imgb_fraction > 0)
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs or ())
    # One path costs one realpath: checked now, so the caller sees the error at once. A series
    # (a file list, a folder's members: thousands of files, maybe on a network disk) is checked
    # in the job, off the GUI thread; its error arrives as the failed job's error.
    check_inputs_in_job = isinstance(frames, FileFrames) or len(inputs) > 1
    if not check_inputs_in_job:
        refuse_input_as_output(output, inputs)
    check_output_folder(output)
    if xlsx and output and record:
        from owlx.io.fibsem_record import require_openpyxl

        require_openpyxl()
    use_dask = client is not None or scheduler is not None or n_workers is not None
    if use_dask and isinstance(frames, MemoryFrames):
        raise DatasetError("a dask run reads frames in its workers: give a file path, not frames in memory")

    def work(ctx: JobContext) -> RegistrationRun:
        if check_inputs_in_job:
            # a folder source is checked file by file: an output named like one of its slices
            # would overwrite that slice while it is still to be read
            refuse_input_as_output(output, [*inputs, *(frames.files() if isinstance(frames, FileFrames) else ())])
        pool = make_pool(threads, n_workers, scheduler, client)
        try:
            run = register_stack(frames, s, output, pool, ctx, metrics, cache_dir)
        finally:
            pool.close()
        if output and record:
            write_record(run, xlsx)
        return run

    return Job(work, name="FIB-SEM registration")


def write_record(run: RegistrationRun, xlsx: bool = False) -> None:
    """Write the run's record files (CSV tables, ``_registration.h5``, with ``xlsx`` the
    workbook). The MRC stack is written by then: a record that cannot be written (a folder in
    the way, a full disk) goes to ``run.warnings`` instead of failing the job and losing the
    finished registration."""
    from owlx_fibsem.export import write_run_record

    try:
        write_run_record(run, xlsx=xlsx)
    except Exception as err:  # noqa: BLE001 - whatever broke the record, the MRC and the run stay valid
        run.warnings.append(f"the registration record next to {run.output} was not written: "
                            f"{type(err).__name__}: {err}")
