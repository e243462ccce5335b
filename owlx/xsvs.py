"""XSVS runs: a project (``.ini`` or built from a series) analysed exposure by exposure as a job
(spec/xsvs.md §1, §14).

:func:`xsvs_job` returns an :class:`owlx.jobs.Job`; run it inline (CLI, scripts) or through
the GUI's ``run_job``. It streams an :class:`XsvsSetup` (rings and mask, to draw the rings at
once) and then one :class:`~owlx.core.xsvs_analysis.ExposureResult` per exposure, reports
progress in frames over the whole project and honours cancel between frames. Frames are decoded
(gzip + EDF) on a small thread pool, because zlib releases the GIL, while this thread
histograms them with the numba kernel; with ``n_workers``, ``scheduler`` or ``client`` the
exposures and frame chunks run on dask.distributed instead (:mod:`owlx.xsvs_dask`). Exposures
without any file on disk are reported as ``missing``; the run goes on.

Scripts::

    from owlx.io.xsvs_project import read_project
    from owlx.xsvs import xsvs_job, XsvsSettings
    from owlx.jobs import run_inline
    run = run_inline(xsvs_job(read_project("xsvs_input.txt"), XsvsSettings.compat(), output="res.h5")).value
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .core.xsvs_analysis import (
    ExposureAnalysis,
    ExposureResult,
    XsvsSettings,
    flat_field_valid,
)
from .core.xsvs_rings import Rings, make_rings, q_map, ring_centres
from .errors import DatasetError, OwlxError
from .io.xsvs_project import (
    XsvsExposure,
    XsvsProject,
    center_to_internal,
    load_flat_field,
    load_mask,
    open_exposure,
)
from .io.xsvs_results import (
    load_results,
    write_histogram_csv,
    write_results_h5,
    write_summary_csv,
)
from .jobs import Job, JobContext

__all__ = ["XsvsRun", "XsvsSettings", "XsvsSetup", "load_results", "prepare", "run_project", "write_outputs",
           "xsvs_job"]


@dataclass
class XsvsSetup:
    """What a run analyses: rings, valid mask (True = valid), flat field (or None), centre
    ``(row0, col0)`` (0-based pixel centres) and the convention the file's cenx/ceny were read
    with (compat mode reads them 1-based whatever the project says)."""

    rings: Rings
    valid: np.ndarray
    flat: np.ndarray | None
    center: tuple[float, float]
    center_convention: str = "pyxsvs_1based"


@dataclass
class XsvsRun:
    """A finished (or cancelled) run: the setup, one result per exposure, warnings, outputs."""

    project: XsvsProject
    settings: XsvsSettings
    setup: XsvsSetup
    exposures: list[ExposureResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def prepare(project: XsvsProject, settings: XsvsSettings, shape: tuple[int, int] | None = None) -> XsvsSetup:
    """Read flat field and mask, build the q rings (spec §3–§5). Shapes of mask, flat field and
    frames must agree. ``shape`` (rows, cols) is the frame size when neither a flat field nor a
    mask gives it (default: read from the first frame on disk)."""
    flat = load_flat_field(project.flat_field_path) if project.flat_field_path and settings.use_flat_field else None
    valid = load_mask(project.mask_path) if project.mask_path else None
    fallback, shape = shape, None
    for name, image in (("flat field", flat), ("mask", valid)):
        if image is not None:
            if shape is not None and image.shape != shape:
                raise DatasetError(f"the {name} is {image.shape[0]}×{image.shape[1]} pixels but the other "
                                   f"images are {shape[0]}×{shape[1]}")
            shape = image.shape
    if shape is None:
        shape = tuple(fallback) if fallback is not None else _first_frame_shape(project)
    if valid is None:
        valid = np.ones(shape, dtype=bool)
    if flat is not None:
        valid = valid & flat_field_valid(flat)
    convention = "pyxsvs_1based" if settings.pyxsvs_compat else project.center_convention
    row0, col0 = center_to_internal(project.cenx, project.ceny, convention)
    qmap = q_map(shape, row0, col0, project.wavelength_A, project.pix_mm, project.sddist_mm)
    rings = make_rings(qmap, valid, ring_centres(project.q1, project.q2, project.qs), project.dq)
    return XsvsSetup(rings, valid, flat, (row0, col0), convention)


def _first_frame_shape(project: XsvsProject) -> tuple[int, int]:
    for exp in project.exposures:
        if exp.present_files:
            with open_exposure(exp) as source:
                return source.stack().frame_shape
    raise DatasetError("no exposure has a frame file on disk, and neither flat field nor mask gives the image size")


def _frames_in_order(stack, n: int, pool: ThreadPoolExecutor, ahead: int):
    """(index, frame or exception) for frames 0 … n−1, decoded ``ahead`` frames in advance."""
    pending: deque = deque()
    nxt = 0

    def read(i):
        try:
            return stack[i]
        except OwlxError as err:  # a broken file is skipped and reported, like a missing one
            return err

    while nxt < n and len(pending) < ahead:
        pending.append((nxt, pool.submit(read, nxt)))
        nxt += 1
    while pending:
        i, fut = pending.popleft()
        if nxt < n:
            pending.append((nxt, pool.submit(read, nxt)))
            nxt += 1
        yield i, fut.result()


def analyse_exposure(exposure: XsvsExposure, setup: XsvsSetup, settings: XsvsSettings, ctx: JobContext | None = None,
                     max_frames: int | None = None, n_threads: int = 2, done_before: int = 0, total: int = 0,
                     warnings: list[str] | None = None) -> ExposureResult:
    """Histogram and fit one exposure (its files present on disk, at most ``max_frames``)."""
    warnings = warnings if warnings is not None else []
    n_missing = len(exposure.missing)
    if not exposure.present_files:
        warnings.append(f"{exposure.name}: {n_missing} of {len(exposure.files)} frame files missing; not analysed")
        return ExposureResult(exposure.name, exposure.exp_time_s, exposure.first_file, exposure.last_file, 0,
                              n_missing, "missing")
    if n_missing:
        warnings.append(f"{exposure.name}: {n_missing} of {len(exposure.files)} frame files missing; "
                        "analysed with the frames present")
    with open_exposure(exposure) as source:
        stack = source.stack()
        if stack.frame_shape != setup.rings.shape:
            raise DatasetError(f"{exposure.name}: frames are {stack.frame_shape[0]}×{stack.frame_shape[1]} pixels, "
                               f"the mask/flat field {setup.rings.shape[0]}×{setup.rings.shape[1]}")
        n = len(stack) if max_frames is None else min(len(stack), int(max_frames))
        analysis = ExposureAnalysis(setup.rings, setup.flat, settings, n)
        n_bad = 0
        with ThreadPoolExecutor(max_workers=max(1, n_threads), thread_name_prefix="owlx-xsvs-read") as pool:
            try:
                for i, frame in _frames_in_order(stack, n, pool, ahead=4 * max(1, n_threads)):
                    if ctx is not None:
                        ctx.check()
                    if isinstance(frame, Exception):
                        n_bad += 1
                        warnings.append(f"{exposure.name}: frame {i} skipped ({frame})")
                    else:
                        analysis.add(i, frame)
                    if ctx is not None and (i % 8 == 7 or i == n - 1):
                        ctx.progress(done_before + i + 1, total)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    if analysis.n_added == 0:
        return ExposureResult(exposure.name, exposure.exp_time_s, exposure.first_file, exposure.last_file, 0,
                              n_missing + n_bad, "missing")
    rings = analysis.finish()
    status = "partial" if (n_missing or n_bad) else "ok"
    return ExposureResult(exposure.name, exposure.exp_time_s, exposure.first_file, exposure.last_file,
                          analysis.n_added, n_missing + n_bad, status, analysis.static, rings)


def _frames_to_read(exposure: XsvsExposure, max_frames: int | None) -> int:
    n = len(exposure.present_files)
    return n if max_frames is None else min(n, int(max_frames))


def run_project(project: XsvsProject, settings: XsvsSettings | None = None, ctx: JobContext | None = None,
                max_frames: int | None = None, n_threads: int = 2, *, client: Any = None,
                n_workers: int | None = None, scheduler: str | None = None,
                chunk_frames: int | None = None) -> XsvsRun:
    """Analyse every exposure of ``project`` in order. ``max_frames`` limits the frames per
    exposure (quick looks, tests); None uses them all. With a ``ctx`` the setup and each
    exposure are streamed with ``ctx.emit`` and progress counts frames (of single-frame files).

    Inline (``n_threads`` decoding threads) unless ``client``, ``scheduler`` or ``n_workers``
    is given: then on dask.distributed (:func:`owlx.xsvs_dask.run_project_dask`, frame chunks of
    ``chunk_frames``), with the same results."""
    if client is not None or scheduler is not None or n_workers is not None:
        from .xsvs_dask import run_project_dask

        return run_project_dask(project, settings, ctx, max_frames, client=client, n_workers=n_workers,
                                scheduler=scheduler, chunk_frames=chunk_frames)
    settings = settings or XsvsSettings()
    run = XsvsRun(project, settings, prepare(project, settings), warnings=list(project.warnings))
    if ctx is not None:
        ctx.emit(run.setup)
    total = sum(_frames_to_read(e, max_frames) for e in project.exposures)
    done = 0
    if ctx is not None:
        ctx.progress(0, total)
    for exposure in project.exposures:
        if ctx is not None:
            ctx.check()
        result = analyse_exposure(exposure, run.setup, settings, ctx, max_frames, n_threads, done, total, run.warnings)
        done += _frames_to_read(exposure, max_frames)
        run.exposures.append(result)
        if ctx is not None:
            ctx.emit(result)
            ctx.progress(done, total)
    return run


def write_outputs(run: XsvsRun, h5_path: str, csv_path: str | None = None, histogram_csv: str | None = None) -> dict:
    """Write the HDF5 results and the CSV summary (default: ``<h5 stem>_summary.csv`` beside
    it), and optionally the long histogram CSV. Returns {"h5": …, "csv": …[, "histogram_csv": …]}."""
    setup = run.setup
    out = {"h5": write_results_h5(h5_path, run.project, run.settings, setup.rings, setup.valid, run.exposures,
                                  center=setup.center, center_convention=setup.center_convention)}
    csv_path = csv_path or os.path.splitext(os.fspath(h5_path))[0] + "_summary.csv"
    out["csv"] = write_summary_csv(csv_path, run.exposures)
    if histogram_csv:
        out["histogram_csv"] = write_histogram_csv(histogram_csv, run.exposures)
    run.outputs.update(out)
    return out


def xsvs_job(project: XsvsProject, settings: XsvsSettings | None = None, output: str | None = None,
             csv_path: str | None = None, histogram_csv: str | None = None, max_frames: int | None = None,
             n_threads: int = 2, *, client: Any = None, n_workers: int | None = None, scheduler: str | None = None,
             chunk_frames: int | None = None) -> Job:
    """The whole project as a :class:`Job` whose value is the :class:`XsvsRun`. With ``output``
    the results are written when every exposure is done (never after a cancel). ``client``,
    ``n_workers``, ``scheduler``, ``chunk_frames``: run on dask (see :func:`run_project`)."""

    def work(ctx: JobContext) -> XsvsRun:
        run = run_project(project, settings, ctx, max_frames=max_frames, n_threads=n_threads, client=client,
                          n_workers=n_workers, scheduler=scheduler, chunk_frames=chunk_frames)
        ctx.check()
        if output:
            write_outputs(run, output, csv_path, histogram_csv)
        return run

    return Job(work, name=f"XSVS {project.sample_name or os.path.basename(project.ini_path or 'project')}".strip())
