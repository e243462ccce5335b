"""The Patterson view (Ctrl+A, spec/viewer.md A1, A2): the Patterson map of the selected frame
shown in place of the frame, with its own levels, and the Patterson panel.

The map is a separate :class:`FrameView` page of the window's view stack, so the frame's own
view, zoom and levels are untouched and come back when the map is switched off. Every map is a
job: it loads the saved parameters once (:meth:`PattersonResults.load`), reads the frame and
its mask unless the window already holds them, computes
:func:`owlx.core.patterson.patterson_map` and renders it with the map's levels; the view shows
a spinner meanwhile. Changing a parameter stores it for the selected frame (saved with Ctrl+S
in Owl's ``patterson/`` layout) and computes again. The map is never written to the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PyQt5 import QtCore, QtWidgets

from ..core.display import DisplaySettings, Rendered, render
from ..core.patterson import (
    PattersonParams,
    kernel_params,
    patterson_kernel,
    patterson_map,
)
from ..errors import OwlxError
from ..io.maskbits import valid_from_bits
from ..jobs import Job
from ..patterson_results import attach_patterson
from .image_view import FrameView
from .patterson_panel import DEFAULT_LEVELS, PattersonPanel
from .status import format_value


@dataclass
class PattersonAnswer:
    token: int
    frame: int
    params: PattersonParams
    map: np.ndarray  # float32 (ny, nx), zero offset at (ny//2, nx//2)
    rendered: Rendered


class PattersonController(QtCore.QObject):
    """Owns the map view, the panel and the jobs. ``map_shown(frame)`` after a map reached
    the view; ``computed`` counts the maps computed (tests)."""

    map_shown = QtCore.pyqtSignal(int)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        attach_patterson(self.session)
        self.view = FrameView(window)
        window.view_stack.addWidget(self.view)
        self.panel = PattersonPanel(self._stored_levels(), window)
        self.dock = window._dock("Patterson", "patterson_dock", self.panel, QtCore.Qt.RightDockWidgetArea)
        window.tabifyDockWidget(window.display_dock, self.dock)
        self.dock.hide()
        self.panel.set_editable(False)
        self.active = False
        self.answer: PattersonAnswer | None = None
        self.computed = 0
        self._token = 0
        self._job = None
        self._kernel_cache = None  # (mask array, kernel parameters, shape, kernel)
        self.panel.params_edited.connect(self._params_edited)
        self.panel.levels_edited.connect(self._levels_edited)
        self.panel.compute_clicked.connect(lambda: self.set_active(True))
        self.view.pixel_hovered.connect(self._hovered)
        window.view_stack.currentChanged.connect(self._page_changed)
        s = self.session
        s.frame_changed.connect(lambda *_: self._follow())
        s.stack_changed.connect(lambda *_: self._follow())
        s.mask_changed.connect(lambda *_: self._follow())
        s.display_changed.connect(lambda *_: self.view.set_colour_table(window._table))
        self._forward_view_keys()

    # -- switching --------------------------------------------------------------------------------------
    def set_active(self, on: bool) -> None:
        """Show the map of the selected frame in place of the frame (or go back)."""
        w = self.window
        on = bool(on) and self.session.stack is not None
        self.active = on
        if on:
            if w.gallery_mode:
                w.set_gallery_mode(False)
            w.view_stack.setCurrentWidget(self.view)
            self.dock.show()
            self.dock.raise_()
            self.view.setFocus()
            self.compute()
        else:
            self._token += 1
            if w.view_stack.currentWidget() is self.view:
                w.view_stack.setCurrentWidget(w.view)
                w.view.setFocus()
        if hasattr(w, "patterson_action"):
            w.patterson_action.setChecked(on)

    def _page_changed(self, _index: int) -> None:
        if self.active and self.window.view_stack.currentWidget() is not self.view:
            self.set_active(False)  # G or the gallery took the centre

    def _follow(self) -> None:
        s = self.session
        if self.active:
            if s.stack is None:
                self.set_active(False)
            else:
                self.compute()
            return
        results = s.patterson
        loaded = bool(s.stack is not None and results is not None and results.loaded)
        self.panel.set_editable(loaded)
        if loaded:  # the panel always shows the selected frame's parameters
            self.panel.set_params(results.params(s.frame_index))

    # -- computing ----------------------------------------------------------------------------------------
    def compute(self) -> None:
        """Compute and show the map of the selected frame (a job; older requests are dropped)."""
        s, w = self.session, self.window
        results = s.patterson
        if s.stack is None or results is None:
            return
        self._token += 1
        token, frame = self._token, s.frame_index
        results.request(frame)
        cur = w.current if w.current is not None and w.current.index == frame else None
        raw, valid = (cur.raw, cur.valid) if cur is not None else (None, None)
        stack, mask_stack, mask = s.stack, s.mask_stack, s.mask_settings
        levels, lock = self.panel.levels, s.io_lock

        def work(ctx) -> PattersonAnswer:
            with lock:  # a save may have the file closed or open for writing
                results.load()
            params = results.params(frame)
            image, good = raw, valid
            if image is None:
                with lock:
                    ctx.check()
                    image = stack[frame]
                    if mask_stack is not None and mask.enabled:
                        m = mask_stack[0 if len(mask_stack) == 1 else frame]
                        good = valid_from_bits(m, mask.out_bits, mask.invert)
            ctx.check()
            if image.ndim != 2:
                raise OwlxError("a Patterson map needs a 2-D frame (this one is RGB)")
            pmap = patterson_map(image, good, params, workers=2, kernel=self._kernel_for(good, image.shape, params))
            ctx.check()
            return PattersonAnswer(token, frame, params, pmap, render(pmap, None, levels))

        if self._job is not None:
            self._job.cancel()
        self._job = Job(work, name=f"Patterson map of frame {frame}")
        if self.answer is None or self.answer.frame != frame:
            self.view.show_placeholder("Patterson…")
        w.jobs.submit(self._job, on_finished=self._finished)

    def _kernel_for(self, valid, shape, params: PattersonParams) -> np.ndarray:
        """The window for this mask and these parameters (worker thread). A shared mask is the
        same array for every frame, so browsing with the map on smooths the mask once."""
        key = kernel_params(params)
        cached = self._kernel_cache
        if cached is not None and cached[0] is valid and cached[1] == key and cached[2] == shape:
            return cached[3]
        kernel = patterson_kernel(np.ones(shape, bool) if valid is None else valid, *key)
        self._kernel_cache = (valid, key, shape, kernel)  # keeps ``valid`` alive: ``is`` stays meaningful
        return kernel

    def _finished(self, outcome) -> None:
        if outcome.status == "failed":
            self.view.show_placeholder("no Patterson map", busy=False)
            self.window.show_message("error", f"Patterson map failed: {outcome.error}")
            return
        if not outcome.ok:
            return
        a: PattersonAnswer = outcome.value
        if a.token != self._token or not self.active:
            return
        self.answer = a
        self.computed += 1
        self.view.set_index_image(a.rendered.index, self.window._table)
        self.panel.set_params(a.params)
        self.panel.set_editable(True)
        self.panel.set_info(f"frame {a.frame}: map {a.map.shape[1]}×{a.map.shape[0]}, levels "
                            f"{a.rendered.lo:.4g}–{a.rendered.hi:.4g} (map / 10·median)")
        self.map_shown.emit(a.frame)

    # -- editing -------------------------------------------------------------------------------------------
    def _params_edited(self, params: PattersonParams) -> None:
        s = self.session
        if s.stack is None or s.patterson is None or not s.patterson.loaded:
            return  # never read on the GUI thread: the first map loads the saved values
        try:
            changed = s.patterson.set_params(s.frame_index, params)
        except OwlxError as exc:
            self.window.show_message("error", str(exc))
            return
        if changed:
            s.results_edited()
            if self.active:
                self.compute()

    def _levels_edited(self, levels: DisplaySettings) -> None:
        self.window.settings.set_dataclass("patterson/levels", levels)
        if self.active:
            self.compute()

    def _stored_levels(self) -> DisplaySettings:
        settings = self.window.settings
        if not settings.contains("patterson/levels/norm"):
            return DEFAULT_LEVELS
        try:
            return settings.get_dataclass("patterson/levels", DisplaySettings).validate()
        except (OwlxError, TypeError, ValueError):
            return DEFAULT_LEVELS

    # -- view -------------------------------------------------------------------------------------------------
    def _hovered(self, x: int, y: int) -> None:
        a = self.answer
        if a is None or x < 0 or y < 0 or y >= a.map.shape[0] or x >= a.map.shape[1]:
            self.window.readout_label.setText("")
            return
        cy, cx = a.map.shape[0] // 2, a.map.shape[1] // 2
        self.window.readout_label.setText(
            f"Patterson   offset x {x - cx}  y {y - cy}   value {format_value(float(a.map[y, x]))}")

    def _forward_view_keys(self) -> None:
        """The image view's own keys (arrows, Home/End, Space, digits…) work on the map too."""
        for sc in getattr(self.window, "_view_shortcuts", []):
            if sc.parentWidget() is self.window.view:
                twin = QtWidgets.QShortcut(sc.key(), self.view)
                twin.setContext(QtCore.Qt.WidgetWithChildrenShortcut)
                twin.setAutoRepeat(True)
                twin.activated.connect(sc.activated)
