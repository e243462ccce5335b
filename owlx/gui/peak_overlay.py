"""The Cheetah peak overlay (Ctrl+K, spec/viewer.md K1): white 1-px circles of radius 10 px
(settable) at the peaks of the selected frame, read from the file's ``entry_1/result_<k>`` peak
list (:mod:`owlx.io.cheetah_peaks`).

The first peak-list group with ``peakNPixels`` is chosen when the overlay is switched on; raw or
assembled positions follow the (link-resolved) image path, ``detector…`` = raw and ``image…`` =
assembled, unless the user overrides the choice. Every read runs in a job on a short-lived
read-only handle, under the session's ``io_lock`` (a save may have the file closed); a newer
request makes older answers obsolete, so fast browsing never shows another frame's peaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt5 import QtCore

from ..io.cheetah_peaks import (
    FramePeaks,
    PeakList,
    choose_peak_list,
    find_peak_lists,
    read_frame_peaks,
    resolve_kind,
)
from ..io.results import data_file, open_read, result_group
from ..jobs import Job
from .plugin_overlay import ImageOverlay

OVERRIDES = ("auto", "raw", "assembled")


@dataclass
class _Answer:
    token: int
    frame: int
    peak_list: PeakList | None
    kind: str
    note: str
    peaks: FramePeaks | None


class PeakOverlay(QtCore.QObject):
    """Draws the peaks of the selected frame on ``window.view``; ``count_changed(n or None)``
    after each frame (None: overlay off or no peak list)."""

    count_changed = QtCore.pyqtSignal(object)

    def __init__(self, window, radius: float = 10.0):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.overlay = ImageOverlay(window.view, "cheetah peaks")
        self.overlay.set_visible(False)
        self.radius = float(radius)
        self.override = "auto"
        self.enabled = False
        self.peak_list: PeakList | None = None
        self.kind = ""
        self.note = ""
        self.peaks: FramePeaks | None = None
        self._discovered = False
        self._token = 0
        self.session.stack_changed.connect(lambda *_: self._forget())
        self.session.source_reopened.connect(lambda *_: self._forget())
        self.session.frame_changed.connect(lambda *_: self.request())

    # -- switches -----------------------------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.overlay.set_visible(self.enabled)
        if self.enabled:
            self.request()
        else:
            self._token += 1
            self.overlay.clear()
            self.count_changed.emit(None)

    def set_override(self, kind: str) -> None:
        """"auto" (from the image path), "raw" or "assembled"."""
        if kind not in OVERRIDES:
            raise ValueError(f"peak positions must be one of {', '.join(OVERRIDES)}, not {kind!r}")
        self.override = kind
        self._forget()

    def set_radius(self, radius: float) -> None:
        self.radius = max(1.0, float(radius))
        self._draw()

    def _forget(self) -> None:
        self._discovered = False
        self.peak_list = None
        self.peaks = None
        if self.enabled:
            self.request()

    # -- reading (worker) and drawing -------------------------------------------------------------------
    def request(self) -> None:
        """Read the peaks of the selected frame (and find the peak list first if needed)."""
        s = self.session
        if not self.enabled:
            return
        self._token += 1
        if s.source is None or s.stack is None:
            self.overlay.clear()
            self.count_changed.emit(None)
            return
        path = data_file(s.source)
        if path is None:
            self.note = "peak lists are read from CXI/HDF5 files only"
            self._show(None)
            return
        token, frame, source, stack_path = self._token, s.frame_index, s.source, s.stack.path
        known = self.peak_list if self._discovered else None
        discovered, override, swmr, lock = self._discovered, self.override, bool(source.swmr), s.io_lock
        known_kind, known_note = self.kind, self.note

        def work(ctx) -> _Answer:
            with lock:
                ctx.check()
                with open_read(path, swmr=swmr) as f:
                    peak_list, kind, note = known, known_kind, known_note
                    if not discovered:
                        group = result_group(source, stack_path)  # soft links resolved (§1.2)
                        entry = "/" + group.strip("/").split("/")[0] if group.strip("/") else None
                        peak_list = choose_peak_list(find_peak_lists(f, entry))
                        kind, note = resolve_kind(peak_list, group, override) if peak_list else ("", "no peak list")
                    peaks = read_frame_peaks(f, peak_list, frame, kind) if peak_list is not None else None
            return _Answer(token, frame, peak_list, kind, note, peaks)

        self.window.jobs.submit(Job(work, name=f"peaks of frame {frame}"), quiet=True,
                                on_finished=self._finished)

    def _finished(self, outcome) -> None:
        if not outcome.ok:
            if outcome.status == "failed":
                self.window.show_message("warning", f"peak list could not be read: {outcome.error}")
            return
        a: _Answer = outcome.value
        if a.token != self._token or not self.enabled:
            return
        first = not self._discovered  # the fallback note once per discovery, not on every frame step
        self._discovered = True
        self.peak_list, self.kind, self.note = a.peak_list, a.kind, a.note
        if first and a.note and a.peak_list is not None:
            self.window.show_message("info", a.note)
        self._show(a.peaks)

    def _show(self, peaks: FramePeaks | None) -> None:
        self.peaks = peaks
        self._draw()
        self.count_changed.emit(len(peaks) if peaks is not None else None)

    def _draw(self) -> None:
        p = self.peaks
        if p is None or len(p) == 0:
            self.overlay.clear()
            return
        # Positions are array coordinates (pixel (0, 0) centred at (0, 0)), as the overlay takes.
        self.overlay.set_circles(p.x, p.y, self.radius, color="w", width=1.0)

    def status_text(self) -> str:
        """``12 peaks (result_2, raw)`` for the status bar; "" when off."""
        if not self.enabled:
            return ""
        if self.peak_list is None:
            return f"peaks: {self.note}" if self.note else "peaks: …"
        n = len(self.peaks) if self.peaks is not None else 0
        return f"{n} peak{'s' if n != 1 else ''} ({self.peak_list.name}, {self.kind})"
