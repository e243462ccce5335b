"""Batch sphere sizing as a job (spec/sphere.md §5.3): records stream into ``session.model``.

:func:`sizing_job` returns an :class:`owlx.jobs.Job` that fits frames with
:func:`owlx.core.sphere_recipe.fit_batch` (in the job's thread, optionally on a thread pool) or
on dask.distributed (:func:`owlx.jobs.run_on_dask`; workers read their frames themselves through
:func:`fit_frames_from_file`). Each record is committed to the session's
:class:`~owlx.model_results.ModelResults` as it arrives; with ``write`` (the batch default) the
session is saved — into the data file or its sidecar — at least every ``flush_frames`` frames or
``flush_seconds`` seconds, and at the end, also after a cancel (completed frames are kept).

In the GUI the records must reach the model on the GUI thread (a save closes and reopens the file
and emits session events that widgets observe): ``apply=False`` makes the job only stream them
(``ctx.emit``), and the window applies them and leaves saving to Ctrl+S. Only one batch runs per
data file at a time in a process (:func:`batch_running`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from owlx.core.sphere_recipe import BatchSummary, fit_batch
from owlx.core.sphere_records import FitSettings, SphereFitResult
from owlx.errors import JobCancelled, OwlxError
from owlx.jobs import Job, JobContext, run_on_dask

__all__ = ["batch_running", "fit_frames_from_file", "sizing_job"]

_running: set[str] = set()  # data files (real paths) with a batch in progress
_running_lock = threading.Lock()


def _batch_key(session) -> str:
    return os.path.realpath(str(session.source.path))


def batch_running(session) -> bool:
    """True while a sizing batch runs on the file of ``session`` (spec/sphere.md §5.3)."""
    if session.source is None:
        return False
    with _running_lock:
        return _batch_key(session) in _running


def _claim(key: str) -> None:
    with _running_lock:
        if key in _running:
            raise OwlxError(f"a sizing batch is already running on '{os.path.basename(key)}': "
                            "wait for it or cancel it")
        _running.add(key)


def _release(key: str) -> None:
    with _running_lock:
        _running.discard(key)


def fit_frames_from_file(path: str, dataset: str, frames: Sequence[int], settings: FitSettings,
                         mask: tuple | None = None, start=None) -> list[SphereFitResult]:
    """Open ``path`` read-only, fit ``frames`` of ``dataset`` and return their records.

    The task a dask worker runs (picklable, top level): it gets a description of the work,
    never arrays. ``mask`` is ``(out_bits, invert)`` to apply the dataset's own mask, or
    ``(out_bits, invert, mask_path)`` for the mask dataset at ``mask_path`` (the one the session
    uses), as :meth:`Session.valid_mask` does; None for no mask.
    """
    from owlx.io.maskbits import valid_from_bits
    from owlx.io.open import open_source

    records: list[SphereFitResult] = []
    with open_source(path) as source:
        stack = source.set_image(dataset)
        mstack = source.mask_stack(dataset) if mask is not None else None
        if mask is not None and len(mask) > 2 and mask[2] and (mstack is None or mstack.path != mask[2]):
            mstack = source.stack(mask[2])  # another mask dataset chosen in the session

        def load(i: int):
            img = np.array(stack[i], copy=True)
            valid = None
            if mstack is not None:
                raw = mstack[0 if len(mstack) == 1 else i]
                valid = np.asarray(valid_from_bits(raw, int(mask[0]), bool(mask[1])), dtype=bool)
            return img, valid

        fit_batch(list(frames), load, settings, on_result=records.append, start=start)
    return records


def _chunks(frames: list[int], size: int) -> list[tuple[int, ...]]:
    return [tuple(frames[k:k + size]) for k in range(0, len(frames), size)]


def sizing_job(
    session_or_path: Any,
    frames: Sequence[int] | None = None,
    settings: FitSettings | None = None,
    n_threads: int = 1,
    *,
    dataset: str | None = None,
    write: bool = True,
    flush_frames: int = 100,
    flush_seconds: float = 5.0,
    client: Any = None,
    n_workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    start=None,
    apply: bool = True,
) -> Job:
    """A job sizing ``frames`` (default: all) of a session's current stack (or of a file path,
    opened with :func:`owlx.open` and ``dataset``), streaming records into ``session.model``.

    ``settings`` default to ``session.model.fit_settings()`` (model/ > file geometry > seed) and
    are recorded as Owl's general parameters. Inline (the default) runs :func:`fit_batch` with
    ``n_threads``; ``client``, ``scheduler`` or ``n_workers`` run chunks of ``chunk_size`` frames
    on dask (a LocalCluster of ``n_workers`` processes unless a client or scheduler address is
    given). The job's ``on_result`` gets every :class:`SphereFitResult`, its value is a
    :class:`~owlx.core.sphere_recipe.BatchSummary`; ``job.session`` is the session used and
    ``job.saves`` the :class:`~owlx.io.save.SaveReport` of every flush.

    With ``apply=False`` the job neither touches the model nor saves (``write`` is ignored): it
    only streams the records, and the caller commits them on its own thread (the GUI). A second
    batch on the same data file fails with :class:`~owlx.errors.OwlxError` while one runs.
    """
    if isinstance(session_or_path, (str, os.PathLike)):
        import owlx

        session = owlx.open(os.fspath(session_or_path), dataset=dataset)
    else:
        session = session_or_path
    if session.stack is None:
        raise OwlxError("no stack is open")
    model = session.model
    if model is None:
        raise OwlxError("sizing needs an HDF5 source: this one has no model/ group to hold results")
    frames = list(range(session.n_frames)) if frames is None else [int(i) for i in frames]
    bad = [i for i in frames if not 0 <= i < session.n_frames]
    if bad:
        raise OwlxError(f"frame {bad[0]} does not exist: the stack has {session.n_frames} frames")
    if settings is None:
        settings = model.fit_settings()
    use_dask = client is not None or scheduler is not None or n_workers is not None
    if use_dask:
        _dask_mask(session)  # an in-memory mask is refused now, not after the job started

    job: Job

    write = write and apply
    key = _batch_key(session)

    def work(ctx: JobContext) -> BatchSummary:
        _claim(key)
        try:
            return run(ctx)
        finally:
            _release(key)

    def run(ctx: JobContext) -> BatchSummary:
        if apply:
            model.set_settings(settings)
            session.results_edited()
        state = {"since": 0, "t": time.monotonic()}

        def flush(final: bool = False) -> None:
            state["since"], state["t"] = 0, time.monotonic()
            if not write or not model.dirty:
                return
            # dask workers hold the data file open while they run, which refuses a write into it:
            # intermediate flushes then wait for the end rather than moving every later save to
            # the sidecar for good.
            fallback = final or not use_dask
            try:
                job.saves.append(session.save(fallback=fallback))
            except OwlxError as err:
                if final:
                    raise
                if not state.get("warned"):
                    state["warned"] = True
                    job.warnings.append(f"saving the sizing results failed: {err}; they are kept in memory "
                                        "and saved at the end")

        def take(rec: SphereFitResult) -> None:
            if not apply:
                ctx.emit(rec)
                return
            model.apply(rec)
            ctx.emit(rec)
            state["since"] += 1
            if state["since"] >= flush_frames or time.monotonic() - state["t"] >= flush_seconds:
                flush()
            session.results_edited()

        try:
            if use_dask:
                summary = _run_dask(session, frames, settings, ctx, take, client, n_workers, scheduler,
                                    chunk_size, start)
            else:
                summary = fit_batch(frames, _loader(session), settings, on_result=take,
                                    on_progress=ctx.progress, cancel=ctx.token, n_threads=n_threads,
                                    start=start)
        finally:
            flush(final=True)
        return summary

    job = Job(work, name="sphere sizing")
    job.session = session
    job.saves = []
    job.warnings = []
    return job


def _loader(session):
    def load(i: int):
        with session.io_lock:  # a flush may close and reopen the file between frames
            img = np.array(session.stack[i], copy=True)
            valid = session.valid_mask(i)
        return img, None if valid is None else np.array(valid, dtype=bool)

    return load


def _dask_mask(session) -> tuple | None:
    """The session's mask as dask workers can apply it: ``(out_bits, invert, mask dataset)``,
    or None without a mask. An in-memory mask cannot reach worker processes: OwlxError."""
    from owlx.io.source import ArrayStack

    ms, mstack = session.mask_settings, session.mask_stack
    if not ms.enabled or mstack is None:
        return None
    if isinstance(mstack, ArrayStack) or not getattr(mstack, "path", None):
        raise OwlxError("the mask is held in memory and cannot be sent to dask workers: fit without "
                        "--workers/--scheduler, or choose a mask dataset of the file")
    return int(ms.out_bits), bool(ms.invert), str(mstack.path)


def _run_dask(session, frames, settings, ctx, take, client, n_workers, scheduler, chunk_size,
              start) -> BatchSummary:
    from functools import partial

    t0 = time.perf_counter()
    summary = BatchSummary(total=len(frames))
    path = os.path.abspath(str(session.source.path))
    mask = _dask_mask(session)
    workers = int(n_workers or 2)
    size = int(chunk_size or max(1, min(8, -(-len(frames) // (4 * workers)))))
    fn = partial(fit_frames_from_file, path, session.stack_path, settings=settings, mask=mask,
                 start=start)

    def on_chunk(pair) -> None:
        for rec in pair[1]:
            if rec.status == "ok":
                summary.n_ok += 1
            else:
                summary.n_failed += 1
            take(rec)
        ctx.progress(summary.n_ok + summary.n_failed, summary.total)

    try:
        run_on_dask(fn, _chunks(frames, size), client=client, n_workers=workers, scheduler=scheduler,
                    on_result=on_chunk, cancel=ctx.token)
    except JobCancelled:
        summary.cancelled = True
    summary.n_not_run = summary.total - summary.n_ok - summary.n_failed
    summary.elapsed_s = time.perf_counter() - t0
    return summary
