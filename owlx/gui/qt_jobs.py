"""Run :class:`owlx.jobs.Job` objects in Qt worker threads.

The job's callbacks fire in the worker thread; :class:`JobHandle` re-emits them as Qt signals.
Because the handle lives in the GUI thread, Qt delivers those signals queued, so slots always
run on the GUI thread and may touch widgets. Nothing long ever runs on the GUI thread.
"""

from __future__ import annotations

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

    def __init__(self, job: Job, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.job = job
        self.done = 0
        self.total = 0
        self.outcome: JobOutcome | None = None
        self.progress.connect(self._remember_progress)

    @property
    def name(self) -> str:
        return self.job.name

    def cancel(self) -> None:
        self.job.cancel()

    def _remember_progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class _Runnable(QtCore.QRunnable):
    def __init__(self, handle: JobHandle):
        super().__init__()
        self.handle = handle
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        h = self.handle
        outcome = h.job.run(on_progress=h.progress.emit, on_result=h.result.emit)
        h.finished.emit(outcome)
        h.released.emit()


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
        """Block until the pool is idle (tests and shutdown)."""
        return self.pool.waitForDone(msecs)
