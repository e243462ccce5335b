"""Live follow in the window (spec/viewer.md V1–V3): poll a file opened in SWMR read mode, grow
the stack, jump to the newest frame.

Every ``interval_s`` (2 s by default, 0.5–60 s) a poll job runs :func:`owlx.session_live.poll_live`
on a worker; its result is applied on the GUI thread with :func:`~owlx.session_live.apply_live`,
which only adopts sizes and values already read, so the GUI thread never waits for the file.
A poll starts only when the previous one has finished.

Auto-last (Ctrl+L): when N grows and the selected frame was the newest shown frame (or the last
in display order), the view jumps to the newest frame of the display order. When the user has
navigated elsewhere, auto-last is paused ("Live (paused)") until they return to the end (End),
as in Hummingbird (FXIhub/hummingbird, interface/ui/image_window.py).

Polling starts by itself whenever a file is opened in SWMR mode (``--live``, File › Live) and
stops when the file is closed or reopened normally. Saving while live goes to the sidecar
(:meth:`Session.save`, V3).
"""

from __future__ import annotations

from PyQt5 import QtCore

from ..jobs import Job
from ..session_live import apply_live, newest_shown, poll_live, probe_session

DEFAULT_INTERVAL_S = 2.0
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.5, 60.0


class LiveFollower(QtCore.QObject):
    """Signals: ``grew(n_new)`` after new frames were adopted; ``state_changed(text)`` with the
    status-bar text ("" when not live)."""

    grew = QtCore.pyqtSignal(int)
    state_changed = QtCore.pyqtSignal(str)

    def __init__(self, window, interval_s: float = DEFAULT_INTERVAL_S):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.poll)
        self.set_interval(interval_s)
        self.auto_last = False
        self.polls = 0  # polls finished (tests, status)
        self._job = None
        s = self.session
        s.source_changed.connect(lambda *_: self._source_changed())
        s.source_reopened.connect(lambda *_: self._source_changed())
        s.frame_changed.connect(lambda *_: self._announce())

    # -- configuration -------------------------------------------------------------------------------
    @property
    def interval_s(self) -> float:
        return self.timer.interval() / 1000

    def set_interval(self, seconds: float) -> None:
        seconds = min(max(float(seconds), MIN_INTERVAL_S), MAX_INTERVAL_S)
        self.timer.setInterval(round(seconds * 1000))

    @property
    def active(self) -> bool:
        return self.timer.isActive()

    def start(self) -> None:
        s = self.session
        if s.source is None or not getattr(s.source, "swmr", False):
            return
        self.timer.start()
        self._announce()

    def stop(self) -> None:
        self.timer.stop()
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self._announce()

    def _source_changed(self) -> None:
        s = self.session
        if s.source is not None and getattr(s.source, "swmr", False):
            self.start()
        else:
            self.stop()

    # -- auto-last --------------------------------------------------------------------------------------
    def set_auto_last(self, on: bool) -> None:
        self.auto_last = bool(on)
        if self.auto_last:
            self.goto_newest()
        self._announce()

    def at_end(self) -> bool:
        """True when the selected frame is the newest shown frame or the last in display order."""
        s = self.session
        order = s.order
        if s.stack is None or not order.size:
            return True
        pos = s.view_position
        return s.frame_index == newest_shown(order) or (pos is not None and pos == order.size - 1)

    def goto_newest(self) -> None:
        newest = newest_shown(self.session.order)
        if newest is not None and newest != self.session.frame_index:
            self.session.frame_index = newest

    @property
    def paused(self) -> bool:
        return self.auto_last and not self.at_end()

    # -- polling -----------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Start one poll unless one is running (the timer calls this)."""
        if self._job is not None:
            return
        probe = probe_session(self.session)
        if probe is None:
            self.stop()
            return
        self._job = Job(lambda ctx: poll_live(probe), name="live poll")
        self.window.jobs.submit(self._job, quiet=True, on_finished=self._polled)

    def _polled(self, outcome) -> None:
        self._job = None
        self.polls += 1
        if outcome.status == "failed":
            self.window.show_message("warning", f"live poll failed: {outcome.error}")
            return
        if not outcome.ok:
            return
        follow = self.auto_last and self.at_end()  # decided before the order changes
        added = apply_live(self.session, outcome.value)
        if added:
            if follow:
                self.goto_newest()
            self.grew.emit(added)
        self._announce()

    def status_text(self) -> str:
        """``Live · 20 frames``, ``Live (paused) · 20 frames`` or ""."""
        if not self.active:
            return ""
        return f"Live{' (paused)' if self.paused else ''} · {self.session.n_frames} frames"

    def _announce(self) -> None:
        self.state_changed.emit(self.status_text())
