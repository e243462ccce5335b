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
from PyQt5 import QtWidgets

from owlx.errors import OwlxError
from owlx.gui.panel_kit import (
    PanelJobs,
    connect_session,
    controls_over_plots,
    hbox,
    save_path,
)
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
        self.export_h5_button = QtWidgets.QPushButton("Export HDF5…")
        self.export_csv_button = QtWidgets.QPushButton("Export CSV…")
        for b in (self.export_h5_button, self.export_csv_button):
            b.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(True)
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)
        self.jobs = PanelJobs(ctx, self.info, self.progress, self.cancel_button)  # the correlation is the long job

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(hbox(self.fit_button, self.show_centre, self.preview_button))
        layout.addLayout(hbox(self.correlate_button, self.cancel_button, self.export_h5_button, self.export_csv_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.info)
        layout.addWidget(controls_over_plots(self.controls, self.plots), 1)

        self.controls.centre_edited.connect(self.draw_overlay)
        self.controls.band_edited.connect(self.draw_overlay)
        self.show_centre.toggled.connect(self.draw_overlay)
        self.fit_button.clicked.connect(self.fit_centre)
        self.preview_button.clicked.connect(self.compute_preview)
        self.correlate_button.clicked.connect(self.correlate)
        self.export_h5_button.clicked.connect(lambda: self._ask_export("hdf5"))
        self.export_csv_button.clicked.connect(lambda: self._ask_export("csv"))
        s = self.session
        connect_session(self, [(s.stack_changed, self._on_stack), (s.order_changed, self._refresh_frame_sets),
                               (s.tags_changed, self._refresh_frame_sets)])
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
        return self.jobs.attempt(FrameReader, self.session)

    def fit_centre(self) -> None:
        reader = self._reader()
        if reader is None:
            return
        x, y, r = self.controls.centre()
        job = centre_job(reader, self.session.frame_index, (x, y, r), self.controls.ring_width.value(),
                         self.controls.n_points.value())
        self.jobs.run(job, "ring fit", self._centre_done)

    def _centre_done(self, fit) -> None:
        self.controls.set_centre(fit.x, fit.y, fit.r)
        flags = f"; warning: {', '.join(fit.flags)}" if fit.flags else ""
        self.info.setText(f"ring fit: centre ({fit.x:.2f}, {fit.y:.2f}) px, radius {fit.r:.2f} px, "
                          f"{fit.n_used} points, rms {np.sqrt(fit.residual / fit.n_used):.2f} px{flags}")

    def compute_preview(self) -> None:
        reader = self._reader()
        if reader is None:
            return
        job = self.jobs.attempt(lambda: preview_job(reader, self.session.frame_index, self.controls.settings()))
        if job is not None:
            self.jobs.run(job, "polar image", self._preview_done)

    def _preview_done(self, p) -> None:
        self.preview = p
        self.plots.show_polar(p.polar, p.polar_mask, float(p.radii[0]))
        self.plots.show_radial(p.radii, p.radial)

    def correlate(self):
        """Start the correlation job of the chosen frame set; returns the job (None on error)."""
        reader = self._reader()
        if reader is None or self.jobs.busy:
            return None
        key = self.controls.frame_set.currentData() or "selection"

        def make():  # raises OwlxError for an empty frame set or bad settings
            frames = frame_set(self.session, key)
            return frames, correlation_job(reader, frames, self.controls.settings())

        got = self.jobs.attempt(make)
        if got is None:
            return None
        frames, job = got
        self.progress.setRange(0, len(frames) + 1)
        self.info.setText(f"correlating {len(frames)} frames…")
        return self.jobs.start(job, "correlation", self.show_result, button=self.correlate_button)

    def cancel(self) -> None:
        """Stop a running correlation (between frames)."""
        self.jobs.cancel()

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
        path = save_path(self, "Export correlation", fmt)
        if path:
            self.export_in_job(path, fmt)

    def export_in_job(self, path: str, fmt: str) -> bool:
        """Write the last result as a job (files are not written on the GUI thread); the
        status bar names the files written, errors go to ``ctx.error``."""
        if self.result is None:
            self.jobs.fail("nothing to export: run a correlation first")
            return False
        result = self.result

        def write(_ctx):
            return [export_hdf5(result, path)] if fmt == "hdf5" else export_csv(result, path)

        def done(written) -> None:
            self.ctx.status(f"wrote {', '.join(str(p) for p in written)}")

        self.jobs.run(Job(write, name="polar: export"), "export", done)
        return True
