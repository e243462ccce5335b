"""Batch sizing in the main window (spec/viewer.md B1, B2; spec/sphere.md §5.3) and the fitted
diameters on the gallery cells.

The scope comes from the panel (:meth:`ModelPanel.batch_choice`): all frames in view order (the
default, as in Owl), the frames of the view order carrying a tag, or the selected frame; "skip
frames already fitted" leaves out frames with a finite ``fitError``
(:func:`owlx.sizing.batch_frames`). While the batch runs the panel shows "n / M, ETA" and the
live summary (frames ok / failed, median diameter so far; :class:`owlx.sizing.BatchTally`).

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
from ..sizing import BatchPlan, BatchTally, batch_frames, sizing_job


def batch_threads() -> int:
    """Threads of a GUI batch: one per core, at most 4 (the frame loader keeps its own two)."""
    return max(1, min(4, os.cpu_count() or 1))


class ModelBatchMixin:
    """Batch sizing and gallery labels of :class:`~owlx.gui.window_model.ModelMixin`."""

    _model_batch_model: ModelResults | None
    _model_batch_tally: BatchTally | None
    _model_batch_abandoned: bool

    def fit_all_frames(self) -> bool:
        """Fit every frame of the display order (the scope as in Owl), fitted or not."""
        return self.run_batch("view", skip_fitted=False)

    def run_batch(self, scope: str | None = None, tag: str | None = None, skip_fitted: bool | None = None) -> bool:
        """Fit batch: the recipe on the frames of ``scope`` (``view``, ``tag`` or ``selected``;
        :func:`owlx.sizing.batch_frames`), as a job with progress, a live summary and Cancel
        (B1, B2). Arguments left None come from the panel. True when the job started."""
        s = self.session
        if s.stack is None:
            self.show_message("warning", "open a file first")
            return False
        if s.model is None:
            self.show_message("error", "sizing needs an HDF5 file: this source has no model/ group for results")
            return False
        busy = self._model_busy_message()
        if busy:
            self.show_message("warning", busy)
            return False
        choice = self.model_panel.batch_choice()
        scope = choice.scope if scope is None else scope
        if tag is None and scope == "tag":
            tag = self.model_panel.batch_tag.currentText() or None
        skip = choice.skip_fitted if skip_fitted is None else bool(skip_fitted)
        try:
            plan = batch_frames(s, scope, tag, skip)
        except OwlxError as exc:
            self.show_message("warning", f"cannot fit the batch: {exc}")
            return False
        if not plan.frames:
            self.show_message("info", plan.empty)
            return False
        got = self._model_settings()
        if got is None:
            return False
        settings, _ = got
        frames = list(plan.frames)
        try:
            # Frames are fitted on a pool of threads (the kernels release the GIL; records come
            # back to this job's thread, then to the GUI thread): 2.06× on 2 cores (bench_sphere).
            job = sizing_job(s, frames, settings, n_threads=batch_threads(), start=self.model_panel.start(),
                             apply=False)
        except OwlxError as exc:
            self.show_message("error", str(exc))
            return False
        model = s.model
        model.set_settings(settings)
        s.results_edited()
        self._model_failed.clear()
        self._model_batch_model = model
        self._model_batch_plan = plan
        self._model_batch_tally = BatchTally(len(frames))
        self._model_batch_abandoned = False
        self._model_batch_path = os.path.realpath(str(s.source.path))
        self._model_batch_stack = s.stack_path
        self._model_batch_t0 = time.monotonic()
        self.model_panel.set_batch_state(True, f"0 / {len(frames)}{self._model_batch_left_out(plan)}")
        self._model_batch_handle = self.jobs.submit(
            job, on_result=self._model_batch_result, on_progress=self._model_batch_progress,
            on_finished=self._model_batch_done)
        return True

    @staticmethod
    def _model_batch_left_out(plan: BatchPlan) -> str:
        notes = []
        if plan.n_skipped:
            notes.append(f"{plan.n_skipped} already fitted skipped")
        if plan.n_hidden:
            notes.append(f"{plan.n_hidden} tagged but hidden by filters")
        return f" ({'; '.join(notes)})" if notes else ""

    def cancel_sizing(self) -> None:
        if self._model_batch_handle is not None:
            self._model_batch_handle.cancel()

    def _model_batch_result(self, rec) -> None:
        """One frame's record, on the GUI thread: commit it (completed frames keep their results)."""
        m = self._model_batch_model
        if m is None:
            return
        m.apply(rec)
        if self._model_batch_tally is not None:
            self._model_batch_tally.add(rec)
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
        if self._model_batch_tally is not None:
            text += f": {self._model_batch_tally.text()}"
        if self._model_batch_plan is not None:
            text += self._model_batch_left_out(self._model_batch_plan)
        self.model_panel.set_batch_state(True, text)
        self.statusBar().showMessage(f"sizing {text}", 10000)

    def _model_batch_done(self, outcome) -> None:
        tally, plan = self._model_batch_tally, self._model_batch_plan
        self._model_batch_handle = None
        self._model_batch_model = None
        self._model_batch_path = None
        self._model_batch_stack = None
        summary = outcome.value
        if self._model_batch_abandoned and tally is not None:
            # Records that arrived after the switch were dropped: report what was stored.
            self._model_batch_abandoned = False
            text = (f"sizing cancelled (another dataset was selected): {tally.n_ok} ok, {tally.n_failed} failed "
                    f"of {tally.total} stored in {outcome.elapsed_s:.1f} s")
        elif summary is not None:
            how = "cancelled" if outcome.status == "cancelled" else "finished"
            median = tally.median_nm if tally is not None else math.nan
            text = (f"sizing {how}: {summary.n_ok} ok, {summary.n_failed} failed, {summary.n_not_run} not run "
                    f"in {outcome.elapsed_s:.1f} s" + (f", median {median:.1f} nm" if math.isfinite(median) else "")
                    + (self._model_batch_left_out(plan) if plan is not None else ""))
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
