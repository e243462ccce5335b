"""The "FIB-SEM registration" dock panel: parameters, a preview of matches on a frame pair,
registration of the shown stack as a job (progress and cancel), plots of shifts, scales and
metrics, CSV export. Every computation is a job; nothing heavy runs on the GUI thread.

* "Preview pair" matches the shown frame with the next one and draws the matches on the image
  (overlay ``matches``: inliers green; ``rejected``: red), with the residual histogram.
* "Register" runs :func:`owlx_fibsem.pipeline.registration_job` on the session's stack (threads
  from the form); with an output path it also writes the MRC stack and computes the metrics.
  Fitted pairs are plotted as they arrive; flagged pairs are red and listed.
* "Export CSV…" writes the reference's five tables and the metrics (:mod:`owlx_fibsem.export`);
  "Export XLSX…" writes them as one workbook with the reference's sheet names (disabled, with
  the install hint as tooltip, when openpyxl is missing).
* The form's cache folder makes a rerun, or a run started again after Cancel, reuse the ranges,
  keypoints and pair fits already computed (:mod:`owlx_fibsem.fit_stages`).
"""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtWidgets

from owlx.errors import OwlxError
from owlx.gui.panel_kit import PanelJobs, connect_session, controls_over_plots, hbox
from owlx.io.fibsem_record import XLSX_HINT, xlsx_available
from owlx.stack_reader import StackReader
from owlx_fibsem.controls import RegistrationControls
from owlx_fibsem.export import export_csv, export_xlsx
from owlx_fibsem.frames import MemoryFrames, source_info
from owlx_fibsem.pipeline import registration_job
from owlx_fibsem.plots import RegistrationPlots
from owlx_fibsem.preview import preview_job

__all__ = ["FibsemPanel"]


class FibsemPanel(QtWidgets.QWidget):
    """See the module doc. ``run`` is the last :class:`RegistrationRun`, ``pair`` the last
    :class:`PairPreview`."""

    def __init__(self, ctx, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.run = None
        self.pair = None
        self.controls = RegistrationControls()
        self.plots = RegistrationPlots()
        self.plots.setMinimumHeight(240)
        self.preview_button = QtWidgets.QPushButton("Preview pair")
        self.preview_button.setToolTip("Match the shown frame with the next one and draw the matches")
        self.register_button = QtWidgets.QPushButton("Register")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.export_button = QtWidgets.QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.xlsx_button = QtWidgets.QPushButton("Export XLSX…")
        self.xlsx_button.setEnabled(False)
        self.xlsx_button.setToolTip("the reference's five sheets in one workbook" if xlsx_available() else XLSX_HINT)
        self.progress = QtWidgets.QProgressBar()
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.jobs = PanelJobs(ctx, self.info, self.progress, self.cancel_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(hbox(self.preview_button, self.register_button, self.cancel_button, self.export_button,
                              self.xlsx_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.info)
        layout.addWidget(controls_over_plots(self.controls, self.plots), 1)

        self.preview_button.clicked.connect(self.preview)
        self.register_button.clicked.connect(self.register)
        self.export_button.clicked.connect(self._ask_export)
        self.xlsx_button.clicked.connect(self._ask_export_xlsx)
        connect_session(self, [(self.session.stack_changed, self._on_stack),
                               (self.session.frame_changed, self._on_frame)])

    # -- session ------------------------------------------------------------------------------
    def _on_stack(self, *_):
        self.pair = None
        self._draw_pair()

    def _on_frame(self, index: int) -> None:
        self._draw_pair()

    def _frames(self):
        """The session's stack as it is now, as a frame reader (reads hold the session's I/O
        lock; a dataset switched while a job runs cannot mix two stacks into one run)."""
        s = self.session
        if s.stack is None or s.n_frames < 2:
            raise OwlxError("registration needs a stack of at least 2 frames: open one first")
        info = source_info(s.source) if s.source is not None else {}
        reader = StackReader(s)
        return MemoryFrames(reader.frame, n=len(reader), info=info, dtype=s.stack.dtype, shape=reader.shape)

    # -- preview ------------------------------------------------------------------------------
    def preview(self):
        """Match the shown frame with the next (the previous for the last frame); returns the job."""
        got = self.jobs.attempt(lambda: (self._frames(), self.controls.settings()))
        if got is None:
            return None
        frames, settings = got
        i = self.session.frame_index
        j = i + 1 if i + 1 < len(frames) else i - 1
        self.info.setText(f"matching frames {i} and {j}…")
        return self.jobs.run(preview_job(frames, i, j, settings), "pair preview", self._preview_done)

    def _preview_done(self, p) -> None:
        self.pair = p
        self.plots.show_residuals(p.residuals)
        self.plots.setCurrentWidget(self.plots.residual_plot)
        self._draw_pair()
        f = p.fit
        m = f.matrix
        self.info.setText(
            f"frames {p.i}→{p.j}: {len(p.keypoints_i)} / {len(p.keypoints_j)} keypoints, {f.n_matches} matches, "
            f"{f.npts} inliers ({f.status}); step ({m[0, 2]:.3f}, {m[1, 2]:.3f}) px, scales ({m[0, 0]:.5f}, "
            f"{m[1, 1]:.5f}), mean residual {f.error_abs_mean:.3f} px, FWHM ({f.fwhm_x:.3f}, {f.fwhm_y:.3f}) px")

    def _draw_pair(self) -> None:
        good, bad = self.ctx.overlay("matches"), self.ctx.overlay("rejected")
        p = self.pair
        shown = p is not None and self.session.stack is not None and self.session.frame_index == p.i
        for layer in (good, bad):
            layer.set_visible(shown)
        if not shown:
            return
        for layer, sel, color in ((good, p.inliers, "g"), (bad, ~p.inliers, "r")):
            src, dst = p.src[sel], p.dst[sel]
            layer.set_points(src[:, 0], src[:, 1], color=color, size=5, symbol="o")
            layer.set_lines(np.hstack([src, dst]), color=color, width=1.0)

    # -- registration ---------------------------------------------------------------------------
    def register(self):
        """Start the registration job of the shown stack; returns the job (None on error)."""
        if self.jobs.busy:
            return None
        got = self.jobs.attempt(self._registration)
        if got is None:
            return None
        frames, job = got
        self.plots.clear_steps()
        self.plots.setCurrentWidget(self.plots.shift_plot)
        self.info.setText(f"registering {len(frames)} frames…")
        return self.jobs.start(job, "registration", self.show_run, button=self.register_button, on_result=self._event)

    def _registration(self):
        """(frames, job) of a registration with the form's settings (raises OwlxError)."""
        frames = self._frames()
        output = self.controls.output.text().strip() or None
        source = self.session.source
        # never write over the input: every file of a series (checked in the job, off this thread)
        inputs = () if source is None or source.path is None else (getattr(source, "files", None) or source.path)
        c = self.controls
        return frames, registration_job(frames, c.settings(), output, threads=c.threads.value(), inputs=inputs,
                                        cache_dir=c.cache.text().strip() or None,
                                        xlsx=c.xlsx.isEnabled() and c.xlsx.isChecked())

    def _event(self, event) -> None:
        kind = event[0]
        if kind == "stage":
            self.info.setText(f"{event[1]}…")
        elif kind == "pair":
            fit = event[1]
            self.plots.add_step(fit.index, fit.matrix[0, 2], fit.matrix[1, 2], fit.ok)
        elif kind == "metrics":
            self.plots.add_metrics(event[1], event[2])  # drawn by the plots' coalescing timer

    def cancel(self) -> None:
        """Stop a running registration (between pairs)."""
        self.jobs.cancel()

    def show_run(self, run) -> None:
        self.run = run
        reg = run.registration
        self.plots.show_registration(reg.frames, reg.cumulative, reg.steps, reg.flagged)
        self.plots.show_metrics(run.metrics)  # the final curves at once, whatever the timer still held
        self.export_button.setEnabled(True)
        self.xlsx_button.setEnabled(xlsx_available())
        where = f", written to {run.output}" if run.output else ""
        self.info.setText(run.report() + where)
        self.ctx.status(f"registered {run.n_frames} frames ({len(run.flagged)} flagged pairs){where}")
        for text in run.warnings:  # the run is kept (plots, export); what is missing goes to the error indicator
            self.ctx.error(f"registration finished, but {text}")

    # -- export -------------------------------------------------------------------------------
    def export(self, stem: str) -> list:
        """Write the last run's tables as ``<stem>_<sheet>.csv`` and ``<stem>_metrics.csv``."""
        if self.run is None:
            raise OwlxError("nothing to export: register a stack first")
        return export_csv(self.run, stem)

    def _ask_export(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export registration tables", "", "CSV (*.csv)")
        if not path:
            return
        stem = path[:-4] if path.lower().endswith(".csv") else path
        written = self.jobs.attempt(self.export, stem)
        if written is None:
            return
        self.ctx.status(f"wrote {len(written)} CSV files next to {stem}")

    def export_xlsx(self, path: str) -> str:
        """Write the last run's five tables as the sheets of the workbook ``path``."""
        if self.run is None:
            raise OwlxError("nothing to export: register a stack first")
        return export_xlsx(self.run, path)

    def _ask_export_xlsx(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export registration workbook", "", "Excel (*.xlsx)")
        if not path:
            return
        path = path if path.lower().endswith(".xlsx") else path + ".xlsx"
        if self.jobs.attempt(self.export_xlsx, path) is not None:
            self.ctx.status(f"wrote {path}")
