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

Which frames a batch fits (spec/viewer.md B1) is :func:`batch_frames`: the display order, the
frames of the display order carrying a tag, or the selected frame, optionally without the frames
already fitted (finite ``fitError``). :class:`BatchTally` keeps the live summary of a running
batch (frames ok / failed, median diameter so far).
"""

from __future__ import annotations

import bisect
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from owlx.core.sphere_recipe import BatchSummary, fit_batch
from owlx.core.sphere_records import FitSettings, SphereFitResult
from owlx.errors import JobCancelled, OwlxError, ParameterError
from owlx.jobs import Job, JobContext, run_on_dask

__all__ = ["BATCH_SCOPES", "BatchPlan", "BatchTally", "batch_frames", "batch_running", "fit_frames_from_file",
           "sizing_job"]

#: Batch scopes (spec/viewer.md B1): the display order, its frames carrying a tag, the selected frame.
BATCH_SCOPES = ("view", "tag", "selected")

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


@dataclass(frozen=True)
class BatchPlan:
    """The frames a batch fits, in the order it fits them, and what was left out.

    ``n_scope`` frames were in the scope; ``n_skipped`` of them were already fitted and skipped;
    ``n_hidden`` (tag scope) carry the tag but are hidden by the filters, so they are not fitted.
    ``empty`` says why there is nothing to fit (a sentence), or is "".
    """

    frames: tuple[int, ...]
    scope: str
    tag: str | None = None
    n_scope: int = 0
    n_skipped: int = 0
    n_hidden: int = 0

    @property
    def empty(self) -> str:
        if self.frames:
            return ""
        if self.n_scope:
            return f"nothing to fit: the {self.n_scope} frame(s) of the scope are already fitted"
        if self.scope == "tag":
            hidden = f" ({self.n_hidden} are hidden by the filters)" if self.n_hidden else ""
            return f"no frame in the view order carries tag '{self.tag}'{hidden}"
        return "no frames in the view order"


def batch_frames(session, scope: str = "view", tag: str | int | None = None,
                 skip_fitted: bool = False) -> BatchPlan:
    """Frames of ``session`` a batch fits (spec/viewer.md B1), as a :class:`BatchPlan`.

    ``scope``: ``view`` — the display order (``session.order``, after sort and filters);
    ``tag`` — the frames of the display order that carry ``tag`` (a name or row), in display
    order; ``selected`` — ``session.frame_index``. With ``skip_fitted`` frames whose ``fitError``
    in ``session.model`` is finite are left out (a failed fit has NaN and is fitted again).
    Raises :class:`~owlx.errors.ParameterError` for an unknown scope or tag.
    """
    scope = str(scope).strip().lower()
    if scope not in BATCH_SCOPES:
        raise ParameterError(f"unknown batch scope {scope!r}: use {', '.join(BATCH_SCOPES)}")
    if session.stack is None:
        raise OwlxError("no stack is open")
    order = np.asarray(session.order, dtype=np.int64)
    n_hidden, name = 0, None
    if scope == "view":
        frames = order
    elif scope == "selected":
        frames = np.array([int(session.frame_index)], dtype=np.int64)
    else:
        tags = session.tags
        if tag is None or (isinstance(tag, str) and not tag):
            raise ParameterError("choose a tag for the batch" if len(tags) else
                                 "the stack has no tags: create one in the tag editor, or choose another scope")
        try:
            row = tags.index(tag)
        except OwlxError as err:
            raise ParameterError(str(err)) from None
        name = tags.names[row]
        members = np.asarray(tags.members[row], dtype=bool)
        frames = order[members[order]]
        n_hidden = int(np.count_nonzero(members)) - int(frames.size)
    n_scope = int(frames.size)
    if skip_fitted and session.model is not None:
        fitted = session.model.fitted
        frames = frames[~fitted[frames]]
    return BatchPlan(tuple(int(i) for i in frames), scope, name, n_scope, n_scope - int(frames.size), n_hidden)


@dataclass
class BatchTally:
    """Live summary of a running batch: frames ``n_ok`` / ``n_failed`` out of ``total`` and the
    median fitted diameter so far [nm] (over the ``ok`` records with a finite diameter)."""

    total: int
    n_ok: int = 0
    n_failed: int = 0
    _diameters: list = field(default_factory=list)  # sorted, so the median is a lookup

    def add(self, record: SphereFitResult) -> None:
        if record.status == "ok":
            self.n_ok += 1
            d = float(record.diameter_nm)
            if math.isfinite(d):
                bisect.insort(self._diameters, d)
        else:
            self.n_failed += 1

    @property
    def done(self) -> int:
        return self.n_ok + self.n_failed

    @property
    def median_nm(self) -> float:
        """Median diameter of the frames fitted so far [nm]; NaN before the first."""
        d, n = self._diameters, len(self._diameters)
        if not n:
            return math.nan
        return d[n // 2] if n % 2 else 0.5 * (d[n // 2 - 1] + d[n // 2])

    def text(self) -> str:
        """``4 ok, 1 failed, median 45.3 nm`` (the median only once a frame was fitted)."""
        med = self.median_nm
        return f"{self.n_ok} ok, {self.n_failed} failed" + (f", median {med:.1f} nm" if math.isfinite(med) else "")


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
                    # e.g. the file is open elsewhere (SaveBusy): say that the fits are not on disk
                    from owlx.io.save import SaveBusy, SaveError

                    n = len(model.pending_frames)
                    kind = SaveBusy if isinstance(err, SaveBusy) else SaveError
                    raise kind(f"the sizing results of {n} frame(s) were not saved: {err}") from err
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
