"""Run :class:`owlx.jobs.Job` objects in Qt worker threads.

The job's callbacks fire in the worker thread; :class:`JobHandle` re-emits them as Qt signals.
Because the handle lives in the GUI thread, Qt delivers those signals queued, so slots always
run on the GUI thread and may touch widgets. Nothing long ever runs on the GUI thread.

At shutdown (:meth:`QtJobRunner.shutdown`, the window closing) every job is cancelled and
*detached*: a job that does not stop in time runs on, but nothing it reports reaches a Qt object
or a callback any more, so a closed window is never touched by a late result.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PyQt5 import QtCore

from ..jobs import Job, JobOutcome


class JobHandle(QtCore.QObject):
    """GUI-thread view of one running job."""

    progress = QtCore.pyqtSignal(int, int)
    result = QtCore.pyqtSignal(object)
    finished = QtCore.pyqtSignal(object)  # JobOutcome
    # Emitted by the worker after ``finished``: queued events from one thread arrive in order,
    # so when this one is handled every slot of ``finished`` has run and the handle can go.
    # (Deleting the handle from a slot of ``finished`` could drop the events still being
    # posted for slots connected later, and a frame request would never be answered.)
    released = QtCore.pyqtSignal()
    # What the worker emits (queued to the GUI thread); the relays re-emit the public signals
    # above unless the handle was detached meanwhile, which drops events already in the queue.
    _progress_posted = QtCore.pyqtSignal(int, int)
    _result_posted = QtCore.pyqtSignal(object)
    _finished_posted = QtCore.pyqtSignal(object)
    _released_posted = QtCore.pyqtSignal()

    def __init__(self, job: Job, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.job = job
        self.done = 0
        self.total = 0
        self.outcome: JobOutcome | None = None
        #: True once :meth:`detach` ran: nothing from the worker reaches a slot any more
        self.detached = False
        # Held by the worker while it posts, and by detach(): once detach() returns, the worker
        # never touches this QObject again (it may be deleted with its window).
        self._gate = threading.Lock()
        self.progress.connect(self._remember_progress)
        self._progress_posted.connect(self._relay_progress)
        self._result_posted.connect(self._relay_result)
        self._finished_posted.connect(self._relay_finished)
        self._released_posted.connect(self._relay_released)

    @property
    def name(self) -> str:
        return self.job.name

    def cancel(self) -> None:
        self.job.cancel()

    def detach(self) -> None:
        """Cancel the job and cut it off (GUI thread): it may run on, but neither its signals
        nor its callbacks fire any more, including those already queued."""
        self.job.cancel()
        with self._gate:
            self.detached = True

    def _post(self, signal_name: str, *args: Any) -> None:  # worker thread
        with self._gate:
            if not self.detached:
                getattr(self, signal_name).emit(*args)

    # Relays (GUI thread: the handle is the receiver, so Qt queues these from the worker).
    def _relay_progress(self, done: int, total: int) -> None:
        if not self.detached:
            self.progress.emit(done, total)

    def _relay_result(self, value: Any) -> None:
        if not self.detached:
            self.result.emit(value)

    def _relay_finished(self, outcome: Any) -> None:
        if not self.detached:
            self.finished.emit(outcome)

    def _relay_released(self) -> None:
        if not self.detached:
            self.released.emit()

    def _remember_progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class _Runnable(QtCore.QRunnable):
    def __init__(self, handle: JobHandle):
        super().__init__()
        self.handle = handle
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        h = self.handle
        outcome = h.job.run(on_progress=lambda done, total: h._post("_progress_posted", done, total),
                            on_result=lambda value: h._post("_result_posted", value))
        h._post("_finished_posted", outcome)
        h._post("_released_posted")


class QtJobRunner(QtCore.QObject):
    """Submits jobs to a thread pool and tracks the ones running (for the status-bar indicator).

    ``quiet`` jobs (frame loads) do not appear in the indicator: they are short and frequent.
    """

    jobs_changed = QtCore.pyqtSignal()
    job_failed = QtCore.pyqtSignal(str, object)  # name, JobOutcome

    def __init__(self, max_threads: int = 2, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.pool = QtCore.QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.active: list[JobHandle] = []
        self._running: set[JobHandle] = set()  # every job not finished yet, quiet ones too

    def submit(
        self,
        job: Job,
        quiet: bool = False,
        priority: int = 0,
        on_finished: Callable[[JobOutcome], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> JobHandle:
        """Start ``job`` on the pool; higher ``priority`` jobs leave the queue first.

        Pass the callbacks here rather than connecting to the returned handle's signals: they
        are connected before the job starts, whereas a fast job may finish before a connection
        made after ``submit`` returns, and its signal would reach nobody.
        """
        handle = JobHandle(job, self)
        self._running.add(handle)
        handle.finished.connect(lambda outcome, h=handle: self._finished(h, outcome, quiet))
        handle.released.connect(handle.deleteLater)
        for signal, slot in ((handle.finished, on_finished), (handle.result, on_result), (handle.progress, on_progress)):
            if slot is not None:
                signal.connect(slot)
        if not quiet:
            self.active.append(handle)
            handle.progress.connect(lambda *_: self.jobs_changed.emit())
            self.jobs_changed.emit()
        self.pool.start(_Runnable(handle), priority)
        return handle

    def _finished(self, handle: JobHandle, outcome: Any, quiet: bool) -> None:
        handle.outcome = outcome
        self._running.discard(handle)
        if quiet:
            return
        if handle in self.active:
            self.active.remove(handle)
        if outcome.status == "failed":
            self.job_failed.emit(handle.name, outcome)
        self.jobs_changed.emit()

    def cancel_all(self) -> None:
        for h in list(self.active):
            h.cancel()

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the pool is idle (tests)."""
        return self.pool.waitForDone(msecs)

    def shutdown(self, msecs: int = 500) -> bool:
        """Closing: drop queued jobs, cancel and :meth:`~JobHandle.detach` every job (quiet ones
        too), then wait at most ``msecs`` ms. Returns True when all stopped in time; the others
        end by themselves at their next cancel check (or with the process), unheard. Jobs
        submitted afterwards run normally."""
        self.pool.clear()  # not started yet: never start
        for h in list(self._running):
            h.detach()
        self._running.clear()
        if self.active:
            self.active.clear()
            self.jobs_changed.emit()
        return self.pool.waitForDone(msecs)
