"""XSVS runs on dask.distributed: exposures and frame chunks on worker processes (spec/xsvs.md §14).

Workers read their frames themselves (the client sends file names and frame ranges, never
frames) and return partial sums (:mod:`owlx.xsvs_tasks`: pooled counts, Σh, Σh², cross sums, Σn,
Σn², traces, frames used); the client reduces them and fits every ring as the inline run does
(:func:`owlx.core.xsvs_analysis.analyse_ring`).

The histogram bins of an exposure follow from its static image (the first ``static_frames``
good frames), so a run has two rounds, both through :func:`owlx.jobs.run_on_dask`:

1. one *head* task per exposure: its static frames, read in order as the inline run reads them
   (so the static and the bins are the inline ones), histogrammed once the bins are known;
2. the frames after the static ones, in chunks of ``chunk_frames``, histogrammed with the bins
   the head found.

The reduction is bit for bit the inline run's: counts, float sums, fits and β
(:mod:`owlx.xsvs_tasks` says how). Progress counts frames and advances per finished task;
cancel cancels the pending futures. Exposures are emitted in project order, each once all of its
tasks are in.
"""

from __future__ import annotations

import dataclasses
import uuid
from functools import partial
from typing import Any

from .core.xsvs_analysis import ExposureResult, XsvsSettings, analyse_ring
from .errors import ParameterError
from .io.xsvs_project import XsvsExposure, XsvsProject
from .jobs import JobContext, dask_client, run_on_dask
from .xsvs import XsvsRun, _frames_to_read, prepare
from .xsvs_tasks import (
    FrameTask,
    PartialSums,
    Recipe,
    head_task,
    merge_chunk,
    tail_task,
)

__all__ = ["dask_client", "run_project_dask"]

DEFAULT_CHUNK_FRAMES = 80  # per-task overhead made 20–40 slower on the subset (2 workers)


class _Reducer:
    """Client side: collects the parts of every exposure, fits an exposure once all its parts
    are in, and emits the results (with their warnings) in project order."""

    def __init__(self, run: XsvsRun, ctx: JobContext | None, total: int, chunk_frames: int):
        self.run, self.ctx, self.total, self.chunk = run, ctx, total, chunk_frames
        n = len(run.project.exposures)
        self.heads: dict[int, PartialSums] = {}
        self.tails: dict[int, list[PartialSums]] = {k: [] for k in range(n)}
        self.expected: dict[int, int] = {}
        self.results: list[tuple[ExposureResult, list[str]] | None] = [None] * n
        self.next = 0
        self.done = 0

    def missing(self, k: int, e: XsvsExposure) -> None:
        warning = f"{e.name}: {len(e.missing)} of {len(e.files)} frame files missing; not analysed"
        result = ExposureResult(e.name, e.exp_time_s, e.first_file, e.last_file, 0, len(e.missing), "missing")
        self.results[k] = (result, [warning])

    def tail_tasks(self, k: int) -> list[FrameTask]:
        head = self.heads[k]
        if head.hist is None:
            return []
        edges = tuple(int(e) for e in head.hist.n_edges)
        exposure = self.run.project.exposures[k]
        return [FrameTask(k, exposure, a, min(a + self.chunk, head.n), head.n, edges)
                for a in range(head.stop, head.n, self.chunk)]

    def on_head(self, pair) -> None:
        part: PartialSums = pair[1]
        self.heads[part.k] = part
        self.expected[part.k] = len(self.tail_tasks(part.k))
        self._advance(part)

    def on_tail(self, pair) -> None:
        part: PartialSums = pair[1]
        self.tails[part.k].append(part)
        self._advance(part)

    def _advance(self, part: PartialSums) -> None:
        self.done += part.stop - part.start
        if len(self.tails[part.k]) == self.expected[part.k]:
            self.results[part.k] = self._finish(part.k)
        self.flush()

    def flush(self) -> None:
        """Emit the finished exposures that follow the ones already emitted, then progress."""
        while self.next < len(self.results) and self.results[self.next] is not None:
            result, warnings = self.results[self.next]
            self.run.warnings.extend(warnings)
            self.run.exposures.append(result)
            if self.ctx is not None:
                self.ctx.emit(result)
            self.next += 1
        if self.ctx is not None:
            self.ctx.progress(self.done, self.total)

    def _finish(self, k: int) -> tuple[ExposureResult, list[str]]:
        exposure, head = self.run.project.exposures[k], self.heads[k]
        tails = sorted(self.tails[k], key=lambda p: p.start)
        hist = head.hist
        for part in tails:  # in frame order, as inline
            merge_chunk(hist, part)
        n_missing = len(exposure.missing)
        warnings = []
        if n_missing:
            warnings.append(f"{exposure.name}: {n_missing} of {len(exposure.files)} frame files missing; "
                            "analysed with the frames present")
        bad = head.bad + [b for part in tails for b in part.bad]
        warnings.extend(f"{exposure.name}: frame {i} skipped ({msg})" for i, msg in bad)
        n_added = head.n_added + sum(part.n_added for part in tails)
        args = (exposure.name, exposure.exp_time_s, exposure.first_file, exposure.last_file)
        if n_added == 0:
            return ExposureResult(*args, 0, n_missing + len(bad), "missing"), warnings
        settings, rings = self.run.settings, self.run.setup.rings
        fits = [analyse_ring(hist, j, rings.q[j], settings) for j in range(rings.n_rings)]
        status = "partial" if (n_missing or bad) else "ok"
        static = head.static_sum / max(head.n_static, 1)
        return ExposureResult(*args, n_added, n_missing + len(bad), status, static, fits), warnings


def run_project_dask(project: XsvsProject, settings: XsvsSettings | None = None, ctx: JobContext | None = None,
                     max_frames: int | None = None, *, client: Any = None, n_workers: int | None = None,
                     scheduler: str | None = None, chunk_frames: int | None = None) -> XsvsRun:
    """:func:`owlx.xsvs.run_project` on dask: same results, same streaming (the setup, then
    one :class:`ExposureResult` per exposure in project order), progress in frames per finished
    task, cancel between tasks. ``chunk_frames`` (default 80) frames per task after the static
    frames; ``client`` / ``scheduler`` / ``n_workers`` as in :func:`dask_client`."""
    settings = settings or XsvsSettings()
    chunk = DEFAULT_CHUNK_FRAMES if chunk_frames is None else int(chunk_frames)
    if chunk < 1 or (n_workers is not None and int(n_workers) < 1):
        raise ParameterError(f"chunk_frames = {chunk_frames} and n_workers = {n_workers} must be at least 1")
    run = XsvsRun(project, settings, prepare(project, settings), warnings=list(project.warnings))
    if ctx is not None:
        ctx.emit(run.setup)
    total = sum(_frames_to_read(e, max_frames) for e in project.exposures)
    reducer = _Reducer(run, ctx, total, chunk)
    light = dataclasses.replace(project, exposures=[], ini_text="", warnings=[])
    recipe = Recipe(uuid.uuid4().hex, light, settings, tuple(run.setup.rings.shape))
    heads = []
    for k, exposure in enumerate(project.exposures):
        if exposure.present_files:
            heads.append(FrameTask(k, exposure, n=max_frames))
        else:
            reducer.missing(k, exposure)
    reducer.flush()  # leading missing exposures at once; progress 0
    if not heads:
        return run
    cancel = ctx.token if ctx is not None else None
    with dask_client(client, n_workers, scheduler) as cl:
        run_on_dask(partial(head_task, recipe), heads, client=cl, on_result=reducer.on_head, cancel=cancel)
        tails = [t for k in sorted(reducer.heads) for t in reducer.tail_tasks(k)]
        if tails:
            run_on_dask(partial(tail_task, recipe), tails, client=cl, on_result=reducer.on_tail, cancel=cancel)
    return run
