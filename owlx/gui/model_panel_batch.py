"""Batch sizing in the main window: "Fit all frames in view order" (spec/viewer.md B1, B2;
spec/sphere.md §5.3) and the fitted diameters on the gallery cells.

The batch is :func:`owlx.sizing.sizing_job` with ``apply=False`` on the window's job runner:
records stream back through ``on_result`` and are committed to ``session.model`` here, on the
GUI thread, one frame at a time, so a cancel keeps every completed frame; saving is left to
Ctrl+S. One batch runs per file, and the fit buttons wait for it. Part of
:class:`~owlx.gui.window_model.ModelMixin`.
"""

from __future__ import annotations

import math
import os
import time

from ..errors import OwlxError
from ..model_results import ModelResults
from ..sizing import sizing_job


class ModelBatchMixin:
    """Batch sizing and gallery labels of :class:`~owlx.gui.window_model.ModelMixin`."""

    _model_batch_model: ModelResults | None

    def fit_all_frames(self) -> None:
        """Analysis › Fit all frames in view order: the recipe on every frame of the display order,
        as a job with progress and Cancel (B1, B2)."""
        s = self.session
        if s.stack is None:
            self.show_message("warning", "open a file first")
            return
        if s.model is None:
            self.show_message("error", "sizing needs an HDF5 file: this source has no model/ group for results")
            return
        busy = self._model_busy_message()
        if busy:
            self.show_message("warning", busy)
            return
        got = self._model_settings()
        if got is None:
            return
        settings, _ = got
        frames = [int(i) for i in s.order]
        if not frames:
            self.show_message("warning", "no frames in the view order")
            return
        try:
            job = sizing_job(s, frames, settings, n_threads=1, start=self.model_panel.start(), apply=False)
        except OwlxError as exc:
            self.show_message("error", str(exc))
            return
        model = s.model
        model.set_settings(settings)
        s.results_edited()
        self._model_failed.clear()
        self._model_batch_model = model
        self._model_batch_path = os.path.realpath(str(s.source.path))
        self._model_batch_stack = s.stack_path
        self._model_batch_t0 = time.monotonic()
        self.model_panel.set_batch_state(True, f"0 / {len(frames)}")
        self._model_batch_handle = self.jobs.submit(
            job, on_result=self._model_batch_result, on_progress=self._model_batch_progress,
            on_finished=self._model_batch_done)

    def cancel_sizing(self) -> None:
        if self._model_batch_handle is not None:
            self._model_batch_handle.cancel()

    def _model_batch_result(self, rec) -> None:
        """One frame's record, on the GUI thread: commit it (completed frames keep their results)."""
        m = self._model_batch_model
        if m is None:
            return
        m.apply(rec)
        if rec.status == "ok":
            self._model_failed.discard(rec.frame)
        else:
            self._model_failed.add(rec.frame)
        s = self.session
        s.results_edited()
        if m is s.model:
            self.gallery.refresh_labels([rec.frame])
            if rec.frame == s.frame_index:
                self.model_panel.set_frame(m.frame_values(rec.frame))
                self._model_update_lines()
                self._model_schedule()

    def _model_batch_progress(self, done: int, total: int) -> None:
        if self._model_batch_handle is None:
            return
        elapsed = time.monotonic() - self._model_batch_t0
        eta = elapsed / done * (total - done) if done else math.nan
        text = f"{done} / {total}" + (f", ETA {eta:.0f} s" if math.isfinite(eta) else "")
        self.model_panel.set_batch_state(True, text)

    def _model_batch_done(self, outcome) -> None:
        self._model_batch_handle = None
        self._model_batch_model = None
        self._model_batch_path = None
        self._model_batch_stack = None
        summary = outcome.value
        if summary is not None:
            how = "cancelled" if outcome.status == "cancelled" else "finished"
            text = (f"sizing {how}: {summary.n_ok} ok, {summary.n_failed} failed, {summary.n_not_run} not run "
                    f"in {outcome.elapsed_s:.1f} s")
        else:
            text = f"sizing {outcome.status}" + (f": {outcome.error}" if outcome.error else "")
        self.model_panel.set_batch_state(False, text)
        self.model_panel.set_fitting(self._model_fit_handle is not None)
        self.statusBar().showMessage(text, 30000)

    # -- gallery -------------------------------------------------------------------------------------
    def _model_label(self, frame: int) -> str | None:
        m = self.session.model
        if m is None or not 0 <= frame < m.n_frames:
            return None
        if frame in self._model_failed:
            return "fit failed"
        if math.isfinite(m.values["fitError"][frame]):
            return f"{m.values['diameterNM'][frame]:.1f} nm"
        return None
