"""Long work as jobs: progress, cancel and streamed results, independent of where it runs.

A :class:`Job` wraps a function ``work(ctx)`` that reports through its :class:`JobContext`:
``ctx.progress(done, total)``, ``ctx.emit(result)`` for each streamed result, and
``ctx.check()`` at safe points, which raises :class:`~owlx.errors.JobCancelled` once the job was
cancelled. :meth:`Job.map` builds the common case, a function applied to many items (frames).

The same job runs

* inline, in the calling thread: :func:`run_inline` (tests, scripts, the console);
* on a Python thread pool: :func:`run_in_thread` (scripts that want a handle);
* in a Qt worker thread with queued signals: :mod:`owlx.gui.qt_jobs` (the GUI).

Callbacks (``on_progress``, ``on_result``, ``on_finished``) are called in the thread that runs
the job; the Qt adapter re-emits them as queued signals so that widgets are touched only on the
GUI thread.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .errors import JobCancelled, OwlxError

ProgressCallback = Callable[[int, int], None]
ResultCallback = Callable[[Any], None]


class CancelToken:
    """A thread-safe flag checked cooperatively by running work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`JobCancelled` when cancelled (call at safe points)."""
        if self._event.is_set():
            raise JobCancelled("cancelled")


@dataclass
class JobOutcome:
    """How a job ended: ``status`` is "done", "cancelled" or "failed"."""

    status: str
    value: Any = None
    error: BaseException | None = None
    traceback: str = ""
    elapsed_s: float = 0.0
    n_results: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "done"


@dataclass
class JobContext:
    """What running work sees: report progress, stream results, honour cancel."""

    token: CancelToken
    on_progress: ProgressCallback | None = None
    on_result: ResultCallback | None = None
    n_results: int = 0
    _last_progress: tuple[int, int] = field(default=(0, 0))

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def check(self) -> None:
        self.token.check()

    def progress(self, done: int, total: int) -> None:
        self._last_progress = (done, total)
        if self.on_progress is not None:
            self.on_progress(done, total)

    def emit(self, result: Any) -> None:
        self.n_results += 1
        if self.on_result is not None:
            self.on_result(result)


class Job:
    """A unit of long work with a name, a cancel token and callbacks.

    ``work(ctx)`` returns the job's final value (or None). Exceptions other than
    :class:`JobCancelled` end the job as "failed"; the outcome carries the exception so the GUI
    can show it in the status bar without a modal box per error (spec/viewer.md W4).
    """

    def __init__(self, work: Callable[[JobContext], Any], name: str = "job"):
        self.work = work
        self.name = name
        self.token = CancelToken()
        self.outcome: JobOutcome | None = None

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @classmethod
    def map(
        cls,
        fn: Callable[[Any], Any],
        items: Sequence[Any] | Iterable[Any],
        name: str = "job",
        keep_going: bool = False,
    ) -> "Job":
        """A job applying ``fn(item)`` to each item, streaming ``(item, result)`` pairs.

        Progress is reported after every item and cancel is checked before every item. With
        ``keep_going`` an exception in one item is streamed as ``(item, exception)`` and the job
        continues (batch semantics); otherwise it fails the job.
        """
        items = list(items)

        def work(ctx: JobContext) -> int:
            total = len(items)
            ctx.progress(0, total)
            for done, item in enumerate(items, start=1):
                ctx.check()
                try:
                    result = fn(item)
                except JobCancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported per item
                    if not keep_going:
                        raise
                    result = exc
                ctx.emit((item, result))
                ctx.progress(done, total)
            return total

        return cls(work, name=name)

    def run(
        self,
        on_progress: ProgressCallback | None = None,
        on_result: ResultCallback | None = None,
    ) -> JobOutcome:
        """Run in the calling thread and return the outcome (never raises for job errors)."""
        ctx = JobContext(self.token, on_progress, on_result)
        t0 = time.perf_counter()
        try:
            value = self.work(ctx)
            outcome = JobOutcome("done", value=value)
        except JobCancelled:
            outcome = JobOutcome("cancelled")
        except Exception as exc:  # noqa: BLE001 - a job reports, it does not crash its runner
            outcome = JobOutcome("failed", error=exc, traceback=traceback.format_exc())
        if outcome.status == "done" and self.token.cancelled:
            # Work that finished its loop after a late cancel still counts as cancelled, so that
            # callers never mistake a partial run for a complete one.
            outcome.status = "cancelled"
        outcome.elapsed_s = time.perf_counter() - t0
        outcome.n_results = ctx.n_results
        self.outcome = outcome
        return outcome


def run_inline(
    job: Job,
    on_progress: ProgressCallback | None = None,
    on_result: ResultCallback | None = None,
    raise_errors: bool = True,
) -> JobOutcome:
    """Run ``job`` now in this thread. With ``raise_errors`` a failed job re-raises its error."""
    outcome = job.run(on_progress, on_result)
    if raise_errors and outcome.status == "failed" and outcome.error is not None:
        raise outcome.error
    return outcome


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def run_in_thread(
    job: Job,
    on_progress: ProgressCallback | None = None,
    on_result: ResultCallback | None = None,
) -> "Future[JobOutcome]":
    """Run ``job`` on a shared background thread pool; returns a Future of its outcome."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="owlx-job")
    return _pool.submit(job.run, on_progress, on_result)


@contextmanager
def dask_client(client: Any = None, n_workers: int | None = None, scheduler: str | None = None):
    """The ``distributed.Client`` a dask run uses: ``client`` itself (left open); else one
    connected to ``scheduler``; else a ``LocalCluster`` of ``n_workers`` (default 2) worker
    processes with one thread each. Clients and clusters made here are closed on exit. The
    local cluster's dashboard takes a free port (the default 8787 may be held by another
    cluster). An unreachable or malformed scheduler address is an :class:`OwlxError` with a
    one-line message."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        try:
            own = Client(scheduler)
        except (OSError, ValueError, TimeoutError) as err:
            raise OwlxError(f"cannot reach the dask scheduler at '{scheduler}' ({err}); start it with "
                            "`dask scheduler` or check the address") from None
    else:
        cluster = LocalCluster(n_workers=int(n_workers or 2), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
        own = Client(cluster)
    try:
        yield own
    finally:
        own.close()
        if cluster is not None:
            cluster.close()


def run_on_dask(
    fn: Callable[[Any], Any],
    items: Sequence[Any] | Iterable[Any],
    client: Any = None,
    n_workers: int = 2,
    scheduler: str | None = None,
    on_result: ResultCallback | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Any = None,
) -> int:
    """Apply ``fn(item)`` to every item on dask.distributed, streaming ``(item, result)`` pairs.

    Where it runs: ``client`` (a ``distributed.Client``) when given; else ``Client(scheduler)``
    for a running cluster at that address; else a ``LocalCluster`` of ``n_workers`` worker
    processes with one thread each (``processes=True``), closed at the end. ``fn`` and the
    items are pickled, so ``fn`` must be a top-level function and items should be small
    descriptions of the work (file path, dataset, frame indices), not arrays.

    Results arrive in completion order (``as_completed``): ``on_result((item, result))`` then
    ``on_progress(done, total)``, in the calling thread. ``cancel`` (a :class:`CancelToken` or
    anything with ``cancelled``) is polled while waiting; once set, the pending futures are
    cancelled and :class:`JobCancelled` is raised after the results already received were
    delivered. An exception raised by ``fn`` cancels the rest and is re-raised. Returns the
    number of items done.
    """
    items = list(items)
    with dask_client(client, n_workers, scheduler) as used:
        return _map_on_dask(fn, items, used, on_result, on_progress, cancel)


def _map_on_dask(fn, items: list, client: Any, on_result, on_progress, cancel) -> int:
    from distributed import as_completed

    total = len(items)
    is_cancelled = (lambda: bool(getattr(cancel, "cancelled", False))) if cancel is not None else (lambda: False)
    done = 0
    stop = threading.Event()
    if on_progress is not None:
        on_progress(0, total)
    futures = client.map(fn, items, pure=False)
    item_of = {f.key: item for f, item in zip(futures, items)}

    def watch() -> None:  # turns a cancel into cancelled futures, which as_completed yields
        while not stop.wait(0.05):
            if is_cancelled():
                client.cancel(futures)
                return

    watcher = threading.Thread(target=watch, name="owlx-dask-cancel", daemon=True)
    watcher.start()
    try:
        for fut in as_completed(futures):
            if fut.status == "cancelled" or is_cancelled():
                break
            try:
                result = fut.result()
            except Exception:
                client.cancel(futures)
                raise
            done += 1
            if on_result is not None:
                on_result((item_of[fut.key], result))
            if on_progress is not None:
                on_progress(done, total)
    finally:
        stop.set()
        watcher.join()
    if is_cancelled():
        raise JobCancelled("cancelled")
    return done
