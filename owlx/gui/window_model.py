"""The sphere model in the main window (spec/viewer.md §10 Mo1–Mo10, B1–B2; spec/sphere.md §5.3).

* **Ctrl+M** shows the Model panel (a dock) and the model overlay; again hides both.
* The panel's fields follow the selected frame: a frame with results shows them
  (``session.model``); otherwise the values stay as they are, a guess for the next fit. File-wide
  values come from ``model/`` > file geometry > the seed recipe (:meth:`ModelResults.setting_values`).
  Edits are stored in ``session.model`` (so Ctrl+S saves them in Owl's layout); Split and Minima
  are stored quietly (Mo10).
* Each fit button runs one :class:`~owlx.jobs.Job` on the window's runner; its result is stored on
  the GUI thread. **Fit batch** (scope: all frames in view order, frames with a tag, the selected
  frame; optionally skipping fitted frames) and the gallery's diameter labels live in
  :mod:`owlx.gui.model_panel_batch`. One batch per file; fits wait for it.
* The overlay image is computed in a quiet job after each displayed frame or field change
  (coalesced: at most one in flight), drawn with the data's levels and colour table.
"""

from __future__ import annotations

import math
import os

import numpy as np
from PyQt5 import QtCore, QtWidgets

from ..errors import OwlxError
from ..io.source import normalize_path
from ..jobs import Job
from ..model_results import ModelResults
from ..sizing import batch_running
from .model_overlay import ModelOverlay, model_index_image, params_from_panel
from .model_panel import ERROR_NAMES, ModelPanel, OverlayOptions
from .model_panel_batch import ModelBatchMixin
from .model_panel_jobs import fit_step_job, panel_settings, step_settings, stored_names


class ModelMixin(ModelBatchMixin):
    """Part of :class:`MainWindow`."""

    def _build_model(self) -> None:
        self.model_panel = p = ModelPanel(self)
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(p.minimumSizeHint().width() + 20)
        scroll.setWidget(p)
        self.model_dock = self._dock("Model", "model_dock", scroll, QtCore.Qt.RightDockWidgetArea)
        self.tabifyDockWidget(self.display_dock, self.model_dock)
        self.model_dock.hide()  # Ctrl+M shows it
        self.display_dock.raise_()
        self.model_overlay = ModelOverlay(self.view)
        self._model_on = False
        self._model_fit_handle = None
        self._model_batch_handle = None
        self._model_batch_model: ModelResults | None = None
        self._model_batch_path: str | None = None
        self._model_batch_stack: str | None = None
        self._model_batch_t0 = 0.0
        self._model_batch_tally = None
        self._model_batch_abandoned = False  # cancelled by a dataset change: its late records dropped
        self._model_batch_plan = None
        self._model_failed: set[int] = set()
        self._overlay_busy = False
        self._overlay_again = False
        self._overlay_timer = QtCore.QTimer(self)
        self._overlay_timer.setSingleShot(True)
        self._overlay_timer.setInterval(10)  # coalesces a burst of edits into one computation
        self._overlay_timer.timeout.connect(self._model_compute_overlay)
        get = self.settings.get
        p.set_overlay_options(OverlayOptions(
            model_on_left=bool(get("model/modelOnLeft", False)), poisson=bool(get("model/poisson", False)),
            show_mask=bool(get("model/showMask", False))))
        self._overlay_options = p.overlay_options()
        p.general_edited.connect(self._model_general_edited)
        p.frame_edited.connect(self._model_frame_edited)
        p.overlay_changed.connect(self._model_overlay_edited)
        p.fit_requested.connect(self.model_fit)
        p.batch_requested.connect(lambda: self.run_batch())
        p.cancel_requested.connect(self.cancel_sizing)
        s = self.session
        s.stack_changed.connect(lambda *_: self._model_on_stack())
        s.source_changed.connect(self._model_on_source)
        s.frame_changed.connect(lambda *_: self._model_on_frame())
        s.tags_changed.connect(lambda *_: p.set_tag_names(s.tags.names))
        s.display_changed.connect(lambda *_: self.model_overlay.set_colour_table(self._table))
        self.frame_displayed.connect(lambda *_: self._model_schedule())
        self.gallery.set_labels(self._model_label)
        self._build_model_actions()
        self._model_on_stack()

    def _build_model_actions(self) -> None:
        mb = self.menuBar()
        menus = {a.text(): a for a in mb.actions() if a.menu() is not None}
        view = menus.get("&View")
        am = menus["&Analysis"].menu() if "&Analysis" in menus else None
        if am is None:
            am = QtWidgets.QMenu("&Analysis", self)
            help_action = menus.get("&Help")
            mb.insertMenu(help_action, am) if help_action is not None else mb.addMenu(am)
        self.model_action = self._action(view.menu() if view is not None else am, "&Model panel and overlay",
                                         self.toggle_model, "Ctrl+M")
        self._action(am, "&Batch sizing (scope chosen in the Model panel)", self._model_batch_from_menu)
        self._action(am, "&Fit all frames in view order", lambda: self.fit_all_frames())
        self._action(am, "&Cancel sizing", self.cancel_sizing)

    def _model_batch_from_menu(self) -> None:
        """Analysis › Batch sizing: show the Model panel (where the scope is chosen) and run."""
        self.model_dock.show()
        self.model_dock.raise_()
        self.run_batch()

    # -- showing -------------------------------------------------------------------------------------
    def toggle_model(self) -> None:
        """Ctrl+M: show the Model panel and the overlay; hide both when the panel is showing."""
        self.set_model_visible(not (self._model_on and self.model_dock.isVisible()))

    def set_model_visible(self, on: bool) -> None:
        self._model_on = bool(on)
        if on:
            self.model_dock.show()
            self.model_dock.raise_()
            self._model_update_lines()
            self._model_schedule()
        else:
            self.model_dock.hide()
            self.model_overlay.hide()

    def _overlay_wanted(self) -> bool:
        cur = self.current
        return (self._model_on and self.model_panel.show_model.isChecked() and cur is not None
                and cur.raw.ndim == 2)

    # -- session events ------------------------------------------------------------------------------
    def _model_on_source(self, source) -> None:
        if source is None:
            self.model_overlay.clear()
            self.model_overlay.hide()
        path = os.path.realpath(str(source.path)) if source is not None else None
        if self._model_batch_handle is not None and path != self._model_batch_path:
            self._model_batch_abandon()  # another file: its frames are not ours to fit

    def _may_switch_dataset(self, path: str) -> bool:
        """Before another dataset of the file is shown: a sphere batch running on the shown one
        stops with the switch, so ask first (:meth:`ask_stop_batch`). True: go ahead (the batch
        is then cancelled by :meth:`_model_on_stack`, keeping the frames already fitted)."""
        s, tally = self.session, self._model_batch_tally
        if (self._model_batch_handle is None or self._model_batch_abandoned or s.stack_path is None
                or self._model_batch_stack != s.stack_path or normalize_path(path) == normalize_path(s.stack_path)):
            return True
        done, total = (tally.done, tally.total) if tally is not None else (0, 0)
        return bool(self.ask_stop_batch(
            f"A sphere fit batch is running on this dataset ({done} / {total} done). "
            "Switch and stop it? Results so far are kept."))

    def ask_stop_batch(self, text: str) -> bool:
        """Switching datasets would stop the running batch: True to switch (tests replace this)."""
        answer = QtWidgets.QMessageBox.question(
            self, "owlx — stop the sphere fit batch?", text,
            QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.Cancel, QtWidgets.QMessageBox.Cancel,
        )
        return answer == QtWidgets.QMessageBox.Yes

    def _model_batch_abandon(self) -> None:
        """Cancel the batch and drop the records still in flight: the job reads the session's
        current stack, so frames loaded after a dataset change are not the batch's frames."""
        self._model_batch_handle.cancel()
        self._model_batch_model = None
        self._model_batch_abandoned = True

    def _model_on_stack(self) -> None:
        s, p = self.session, self.model_panel
        if self._model_batch_handle is not None and s.stack_path != self._model_batch_stack:
            self._model_batch_abandon()
        self._model_failed.clear()
        m = s.model
        info = m if m is not None else ModelResults("/", 0, geometry=s.geometry)
        p.set_general(*info.setting_values())
        p.set_tag_names(s.tags.names)
        general = info.general
        p.set_overlay_options(OverlayOptions(
            show=p.show_model.isChecked(), split=float(general.get("_visibility", 0.5)),
            model_on_left=p.model_on_left.isChecked(), minima=float(general.get("_modelMinimaAlpha", 0.5)),
            poisson=p.poisson.isChecked(), show_mask=p.show_mask.isChecked()))
        self._overlay_options = p.overlay_options()
        self.model_overlay.clear()
        self.gallery.refresh_labels()
        p.reset_frame()
        if s.stack is not None:
            self._model_on_frame()

    def _model_on_frame(self) -> None:
        s, m = self.session, self.session.model
        if s.stack is None:
            return
        i = s.frame_index
        if m is not None and i < m.n_frames and m.has_results(i):
            self.model_panel.set_frame(m.frame_values(i))
        else:  # keep the values as a guess for this frame; it has no fit errors
            self.model_panel.set_frame({name: math.nan for name in ERROR_NAMES})
        self._model_update_lines()
        self._model_schedule()

    # -- panel edits ---------------------------------------------------------------------------------
    def _model_general_edited(self, name: str, value) -> None:
        m = self.session.model
        if m is not None:
            m.set_general(name, value)
            self.session.results_edited()
        self._model_update_lines()
        self._model_schedule()

    def _model_frame_edited(self, values: dict) -> None:
        s, m = self.session, self.session.model
        if m is not None and s.stack is not None and s.frame_index < m.n_frames:
            m.set_frame_values(s.frame_index, values)
            s.results_edited()
            self.gallery.refresh_labels([s.frame_index])
        self._model_update_lines()
        self._model_schedule()

    def _model_overlay_edited(self) -> None:
        old, new = self._overlay_options, self.model_panel.overlay_options()
        self._overlay_options = new
        m = self.session.model
        if m is not None:  # written with the next save, without a prompt on quit (Mo10)
            m.set_general("_visibility", new.split, quiet=True)
            m.set_general("_modelMinimaAlpha", new.minima, quiet=True)
        self.settings.set("model/modelOnLeft", new.model_on_left)
        self.settings.set("model/poisson", new.poisson)
        self.settings.set("model/showMask", new.show_mask)
        ov = self.model_overlay
        ov.set_split(new.split, new.model_on_left)
        ov.set_show_mask(new.show_mask)
        if new.minima != old.minima:
            self._model_update_lines()
        if new.show != old.show or new.poisson != old.poisson:
            self._model_schedule()

    # -- overlay -------------------------------------------------------------------------------------
    def _model_params(self):
        p = self.model_panel
        try:
            return params_from_panel(p.general_values(), p.frame_values())
        except OwlxError as exc:
            self.show_message("warning", f"model overlay: {exc}")
            return None

    def _model_update_lines(self) -> None:
        """Rings and mask circle (cheap, on the GUI thread) for the shown frame's shape."""
        cur = self.current
        if not self._overlay_wanted() or cur is None:
            return
        params = self._model_params()
        if params is not None:
            self.model_overlay.set_geometry(params, cur.raw.shape[:2], self._overlay_options.minima)

    def _model_schedule(self) -> None:
        self._overlay_timer.start()

    def _model_compute_overlay(self) -> None:
        ov, cur = self.model_overlay, self.current
        if not self._overlay_wanted():
            ov.hide()
            return
        if cur.index != self.session.frame_index:
            return  # the frame is still loading; frame_displayed brings us back
        if self._overlay_busy:
            self._overlay_again = True
            return
        params = self._model_params()
        if params is None:
            ov.hide()
            return
        opts, d, r = self._overlay_options, self.session.display, cur.rendered
        shape = cur.raw.shape[:2]
        seed = cur.index if opts.poisson else None
        ov.set_geometry(params, shape, opts.minima)
        job = Job(lambda ctx: model_index_image(shape, params, r.lo, r.hi, d.norm, d.gamma, d.clamp, seed),
                  name="model overlay")
        self._overlay_busy = True
        self.jobs.submit(job, quiet=True, priority=5,
                         on_finished=lambda o, i=cur.index, sh=shape: self._model_overlay_ready(o, i, sh))

    def _model_overlay_ready(self, outcome, index: int, shape) -> None:
        self._overlay_busy = False
        if self._overlay_again:
            self._overlay_again = False
            self._model_schedule()
        if outcome.status == "failed":
            self.show_message("warning", f"model overlay: {outcome.error}")
            return
        cur = self.current
        if outcome.status != "done" or cur is None or cur.index != index or cur.raw.shape[:2] != shape:
            return
        if not self._overlay_wanted():
            self.model_overlay.hide()
            return
        ov, opts = self.model_overlay, self._overlay_options
        ov.set_model_image(outcome.value, self._table)
        ov.set_split(opts.split, opts.model_on_left)
        ov.set_show_mask(opts.show_mask)
        ov.show_model()

    # -- fits ----------------------------------------------------------------------------------------
    def _model_busy_message(self) -> str | None:
        if self._model_batch_handle is not None or (self.session.source is not None and batch_running(self.session)):
            return "a sizing batch is running on this file: wait for it or cancel it"
        if self._model_fit_handle is not None:
            return "a fit is running: wait for it to finish"
        return None

    def _model_settings(self):
        """(FitSettings of the panel, the panel's general values), or None after a message."""
        p = self.model_panel
        general = p.general_values()
        try:
            settings, warns = panel_settings(general, p.mask_radius.value())
        except OwlxError as exc:
            self.show_message("error", f"cannot fit: {exc}")
            return None
        for w in warns:
            self.show_message("warning", w)
        return settings, general

    def _model_loader(self):
        s, cur = self.session, self.current

        def load(i: int):
            if cur is not None and cur.index == i and cur.raw.ndim == 2:
                return np.array(cur.raw, copy=True), cur.valid
            with s.io_lock:  # a save may close and reopen the file meanwhile
                return np.array(s.stack[i], copy=True), s.valid_mask(i)

        return load

    def model_fit(self, step: str) -> None:
        """One fit button on the selected frame (Find centre, Fit diameter, …, Run recipe)."""
        s = self.session
        if s.stack is None:
            self.show_message("warning", "open a file first")
            return
        busy = self._model_busy_message()
        if busy:
            self.show_message("warning", busy)
            return
        got = self._model_settings()
        if got is None:
            return
        base, general = got
        try:
            settings = step_settings(step, base, general["_fitModelMethod"])
        except OwlxError as exc:
            self.show_message("error", f"cannot fit: {exc}")
            return
        frame, model = s.frame_index, s.model
        job = fit_step_job(self._model_loader(), settings, self.model_panel.start(), frame, step)
        self.model_panel.set_fitting(True)
        self._model_fit_handle = self.jobs.submit(
            job, on_finished=lambda o: self._model_fit_done(o, step, base, frame, model))

    def _model_fit_done(self, outcome, step, base, frame: int, model) -> None:
        self._model_fit_handle = None
        self.model_panel.set_fitting(self._model_batch_handle is not None)
        if outcome.status == "failed":
            self.statusBar().showMessage(f"fit failed: {outcome.error}", 30000)  # details: error indicator
            return
        if outcome.status != "done":
            return
        rec = outcome.value
        s = self.session
        if model is not None and model is s.model:
            model.apply(rec, stored_names(step))
            model.set_settings(base)
            s.results_edited()
            self.gallery.refresh_labels([frame])
        if frame == s.frame_index and s.stack is not None:
            if model is not None and model is s.model:
                self.model_panel.set_frame(model.frame_values(frame))
            else:
                from ..core.sphere_records import owl_model_values

                self.model_panel.set_frame(owl_model_values(rec))
            self._model_update_lines()
            self._model_schedule()
        self.show_message("info", f"frame {frame}: centre ({rec.center_x:.2f}, {rec.center_y:.2f}) px, "
                                  f"diameter {rec.diameter_nm:.2f} nm, intensity {rec.fluence_mJ_um2:.4g} mJ/µm² "
                                  f"({rec.elapsed_s * 1e3:.0f} ms)")
