"""The "Polar correlation" dock panel: parameters, buttons, plots; every computation is a job.

* The centre (x, y) and ring radius are drawn on the image (overlay ``centre``, cyan) with the
  correlated band (overlay ``band``, dashed yellow); editing the numbers moves the drawing, and
  "Fit ring" replaces them by the ring fit of the shown frame.
* "Polar image" resamples the shown frame; "Correlate" runs the chain over the chosen frame set
  (selection, a tag or all frames, in view order) with progress in the status bar and here;
  "Cancel" stops it between frames.
* "Export HDF5…" / "Export CSV…" write the last result in a job (:mod:`owlx_polar.export`).
"""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtWidgets

from owlx.errors import OwlxError
from owlx.jobs import Job
from owlx_polar.controls import PolarControls
from owlx_polar.export import export_csv, export_hdf5
from owlx_polar.frame_sets import frame_set, frame_set_choices
from owlx_polar.plots import PolarPlots
from owlx_polar.polar_jobs import FrameReader, centre_job, correlation_job, preview_job

__all__ = ["PolarPanel"]


class PolarPanel(QtWidgets.QWidget):
    """See the module doc. ``result`` is the last :class:`PolarCorrelation` (or None),
    ``preview`` the last :class:`PolarPreview`."""

    def __init__(self, ctx, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.result = None
        self.preview = None
        self._job = None  # the running correlation job (cancel goes to the job, not the handle)
        self.controls = PolarControls()
        self.plots = PolarPlots()
        self.plots.setMinimumHeight(240)
        self.fit_button = QtWidgets.QPushButton("Fit ring")
        self.fit_button.setToolTip("Fit the ring near (x, y, radius) on the shown frame and use its centre")
        self.show_centre = QtWidgets.QCheckBox("Show on image")
        self.show_centre.setChecked(True)
        self.preview_button = QtWidgets.QPushButton("Polar image")
        self.correlate_button = QtWidgets.QPushButton("Correlate")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.export_h5_button = QtWidgets.QPushButton("Export HDF5…")
        self.export_csv_button = QtWidgets.QPushButton("Export CSV…")
        for b in (self.export_h5_button, self.export_csv_button):
            b.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)

        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.controls)
        row1 = QtWidgets.QHBoxLayout()
        for w in (self.fit_button, self.show_centre, self.preview_button):
            row1.addWidget(w)
        row2 = QtWidgets.QHBoxLayout()
        for w in (self.correlate_button, self.cancel_button, self.export_h5_button, self.export_csv_button):
            row2.addWidget(w)
        splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(self.plots)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.progress)
        layout.addWidget(self.info)
        layout.addWidget(splitter, 1)

        self.controls.centre_edited.connect(self.draw_overlay)
        self.controls.band_edited.connect(self.draw_overlay)
        self.show_centre.toggled.connect(self.draw_overlay)
        self.fit_button.clicked.connect(self.fit_centre)
        self.preview_button.clicked.connect(self.compute_preview)
        self.correlate_button.clicked.connect(self.correlate)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_h5_button.clicked.connect(lambda: self._ask_export("hdf5"))
        self.export_csv_button.clicked.connect(lambda: self._ask_export("csv"))
        s = self.session
        pairs = [(s.stack_changed, self._on_stack), (s.order_changed, self._refresh_frame_sets),
                 (s.tags_changed, self._refresh_frame_sets)]
        for signal, slot in pairs:
            signal.connect(slot)

        def detach(*_args, pairs=pairs):  # the session must never call into a deleted widget
            for signal, slot in pairs:
                try:
                    signal.disconnect(slot)
                except (ValueError, RuntimeError):
                    pass

        self.destroyed.connect(detach)
        self._on_stack()

    # -- session ------------------------------------------------------------------------------
    def _on_stack(self, *_):
        s = self.session
        if s.stack is not None:
            self.controls.set_image_defaults(tuple(s.stack.frame_shape), s.geometry)
        self._refresh_frame_sets()
        self.draw_overlay()

    def _refresh_frame_sets(self, *_):
        self.controls.set_frame_sets(frame_set_choices(self.session))

    # -- overlay ------------------------------------------------------------------------------
    def draw_overlay(self, *_):
        centre, band = self.ctx.overlay("centre"), self.ctx.overlay("band")
        visible = self.show_centre.isChecked() and self.session.stack is not None
        centre.set_visible(visible)
        band.set_visible(visible)
        if not visible:
            return
        x, y, r = self.controls.centre()
        centre.set_points([x], [y], color="c", size=14, symbol="+")
        centre.set_circles([x], [y], [r], color="c")
        lo, hi = self.controls.band_lo.value(), self.controls.band_hi.value()
        band.set_circles([x, x], [y, y], [lo, hi], color="y", dashed=True)
        self.plots.show_band(lo, hi)

    # -- jobs ---------------------------------------------------------------------------------
    def _reader(self):
        try:
            return FrameReader(self.session)
        except OwlxError as err:
            self._fail(str(err))
            return None

    def _fail(self, message: str) -> None:
        self.info.setText(message)
        self.ctx.error(message)

    def _failed(self, outcome, what: str) -> bool:
        """Report a job that did not finish; True when it did not."""
        if outcome.status == "done":
            return False
        if outcome.status == "cancelled":
            self.info.setText(f"{what} cancelled")
        else:
            self._fail(f"{what} failed: {outcome.error}")
        return True

    def fit_centre(self) -> None:
        reader = self._reader()
        if reader is None:
            return
        x, y, r = self.controls.centre()
        job = centre_job(reader, self.session.frame_index, (x, y, r), self.controls.ring_width.value(),
                         self.controls.n_points.value())
        self.ctx.run_job(job, on_progress=lambda d, t: None, on_finished=self._centre_done)

    def _centre_done(self, outcome) -> None:
        if self._failed(outcome, "ring fit"):
            return
        fit = outcome.value
        self.controls.set_centre(fit.x, fit.y, fit.r)
        flags = f"; warning: {', '.join(fit.flags)}" if fit.flags else ""
        self.info.setText(f"ring fit: centre ({fit.x:.2f}, {fit.y:.2f}) px, radius {fit.r:.2f} px, "
                          f"{fit.n_used} points, rms {np.sqrt(fit.residual / fit.n_used):.2f} px{flags}")

    def compute_preview(self) -> None:
        reader = self._reader()
        if reader is None:
            return
        try:
            job = preview_job(reader, self.session.frame_index, self.controls.settings())
        except OwlxError as err:
            self._fail(str(err))
            return
        self.ctx.run_job(job, on_progress=lambda d, t: None, on_finished=self._preview_done)

    def _preview_done(self, outcome) -> None:
        if self._failed(outcome, "polar image"):
            return
        p = outcome.value
        self.preview = p
        self.plots.show_polar(p.polar, p.polar_mask, float(p.radii[0]))
        self.plots.show_radial(p.radii, p.radial)

    def correlate(self):
        """Start the correlation job of the chosen frame set; returns the job (None on error)."""
        reader = self._reader()
        if reader is None or self._job is not None:
            return None
        key = self.controls.frame_set.currentData() or "selection"
        try:
            frames = frame_set(self.session, key)
            job = correlation_job(reader, frames, self.controls.settings())
        except OwlxError as err:
            self._fail(str(err))
            return None
        self._job = job
        self.correlate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, len(frames) + 1)
        self.progress.setValue(0)
        self.info.setText(f"correlating {len(frames)} frames…")
        self.ctx.run_job(job, on_progress=self._progress, on_finished=self._correlation_done)
        return job

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _correlation_done(self, outcome) -> None:
        self._job = None
        self.correlate_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._failed(outcome, "correlation"):
            return
        self.show_result(outcome.value)

    def show_result(self, res) -> None:
        self.result = res
        self.plots.show_correlation(res.corr, res.radii, res.corr.shape[1])
        self.plots.show_radial(res.polar_radii, res.mean_radial, mean=True)
        if res.cos_axis is not None:
            self.plots.show_cos_psi(res.cos_axis, res.cos_mean, "cos ψ")
        else:  # without geometry: the ring average against the lag angle
            finite = np.isfinite(res.corr)
            n = finite.sum(axis=0)
            mean = np.where(finite, res.corr, 0.0).sum(axis=0) / np.maximum(n, 1)
            self.plots.show_cos_psi(np.degrees(res.dphi), np.where(n > 0, mean, np.nan),
                                    "Δφ (deg) (geometry unknown)")
        for b in (self.export_h5_button, self.export_csv_button):
            b.setEnabled(True)
        notes = f" ({'; '.join(res.notes)})" if res.notes else ""
        self.info.setText(f"C(r, Δφ) of {len(res.radii)} rings from {len(res.pairs)} differences of "
                          f"{len(res.frames)} frames{notes}")
        self.ctx.status(f"correlation of {len(res.frames)} frames done")

    # -- export -------------------------------------------------------------------------------
    def export(self, path: str, fmt: str) -> list:
        """Write the last result to ``path`` as "hdf5" or "csv"; returns the files written."""
        if self.result is None:
            raise OwlxError("nothing to export: run a correlation first")
        return [export_hdf5(self.result, path)] if fmt == "hdf5" else export_csv(self.result, path)

    def _ask_export(self, fmt: str) -> None:
        filt = "HDF5 (*.h5 *.hdf5)" if fmt == "hdf5" else "CSV (*.csv)"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export correlation", "", filt)
        if path:
            self.export_in_job(path, fmt)

    def export_in_job(self, path: str, fmt: str) -> bool:
        """Write the last result as a job (files are not written on the GUI thread); the
        status bar names the files written, errors go to ``ctx.error``."""
        if self.result is None:
            self._fail("nothing to export: run a correlation first")
            return False
        result = self.result

        def write(_ctx):
            return [export_hdf5(result, path)] if fmt == "hdf5" else export_csv(result, path)

        def done(outcome) -> None:
            if not self._failed(outcome, "export"):
                self.ctx.status(f"wrote {', '.join(str(p) for p in outcome.value)}")

        self.ctx.run_job(Job(write, name="polar: export"), on_finished=done)
        return True
