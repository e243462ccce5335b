"""The XSVS dock panel (spec/xsvs.md §12, §14).

A project comes from a pyxsvs ``.ini`` (:meth:`XsvsPanel.load_ini`) or is built over the EDF
series open in the viewer (:meth:`XsvsPanel.use_open_series`, exposures as file-number ranges).
Run analyses it with :func:`owlx.xsvs.xsvs_job` through ``ctx.run_job``: progress and cancel in
the panel and the status bar, rings drawn on the image as soon as they are known, plots updated
after every exposure. Save writes the HDF5 results and the CSV summary in a job. The "Beam
centre" box (:mod:`.centre_box`) finds the centre as a job and puts it into the form only when
asked. Everything heavier than reading the form runs in jobs; the panel only shows what they
return.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PyQt5 import QtCore, QtWidgets

from owlx.core.xsvs_analysis import ExposureResult
from owlx.core.xsvs_rings import ring_centres, ring_radii_px
from owlx.errors import OwlxError, ParameterError
from owlx.io.xsvs_project import (
    XsvsProject,
    center_to_internal,
    project_from_series,
    read_project,
)
from owlx.jobs import Job
from owlx.xsvs import XsvsSetup, write_outputs, xsvs_job

from .centre_box import CentreFinder
from .plot_tabs import XsvsPlots
from .project_form import ProjectForm


class XsvsPanel(QtWidgets.QWidget):
    """Project form, run controls and plots. ``last_outcome`` is the status of the last run."""

    project_loaded = QtCore.pyqtSignal(bool)  # a .ini was read (True) or could not be (False)

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project: XsvsProject | None = None  # as loaded from the .ini
        self.series: tuple[list[str], list[int]] | None = None  # (files, numbers) of the open series
        self.exposures: list[ExposureResult] = []
        self.run = None
        self.handle = None
        self.last_outcome: str | None = None

        self.source_label = QtWidgets.QLabel("no project: open a pyxsvs .ini or use the open EDF series")
        self.source_label.setWordWrap(True)
        open_ini = QtWidgets.QPushButton("Open .ini…")
        from_series = QtWidgets.QPushButton("Use open series")
        self.rings_button = QtWidgets.QPushButton("Show rings")
        self.run_button = QtWidgets.QPushButton("Run")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.save_button = QtWidgets.QPushButton("Save results…")
        self.cancel_button.setEnabled(False)
        self.save_button.setEnabled(False)
        open_ini.clicked.connect(self._choose_ini)
        from_series.clicked.connect(self.use_open_series)
        self.rings_button.clicked.connect(self.show_rings)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self._choose_output)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.progress_label = QtWidgets.QLabel("")

        self.form = ProjectForm()
        self.form.changed.connect(self.show_rings)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        self.plots = XsvsPlots()
        self.centre_finder = CentreFinder(ctx, self)
        split = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        split.addWidget(scroll)
        split.addWidget(self.plots)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        # The form scrolls; the plots are what the user came for: give them most of the height.
        scroll.setMinimumHeight(120)
        split.setSizes([250, 750])

        layout = QtWidgets.QVBoxLayout(self)
        bar = QtWidgets.QHBoxLayout()
        for w in (open_ini, from_series, self.rings_button):
            bar.addWidget(w)
        layout.addLayout(bar)
        layout.addWidget(self.source_label)
        run_bar = QtWidgets.QHBoxLayout()
        for w in (self.run_button, self.cancel_button, self.save_button):
            run_bar.addWidget(w)
        layout.addLayout(run_bar)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.centre_finder)
        layout.addWidget(split, 1)

    # -- project ------------------------------------------------------------------------------
    def load_ini(self, path: str) -> None:
        """Read a pyxsvs input file in a job (it checks that each of thousands of frame files
        exists, slow on a network disk) and show its project; ``project_loaded(ok)`` follows.
        Errors go to the status bar."""
        job = Job(lambda job_ctx: read_project(path), name="reading XSVS project")
        self.ctx.run_job(job, on_finished=lambda outcome, p=path: self._ini_read(p, outcome))

    def _ini_read(self, path: str, outcome) -> None:
        if not outcome.ok:
            if outcome.status == "failed":
                self.ctx.error(str(outcome.error))
            self.project_loaded.emit(False)
            return
        project = outcome.value
        self.project, self.series = project, None
        self.form.show_project(project)
        self.form.set_exposures_editable(False)
        missing = [e.name for e in project.exposures if e.status == "missing"]
        note = f"; missing: {', '.join(missing)}" if missing else ""
        self.source_label.setText(f"{os.path.basename(path)}: {len(project.exposures)} exposures{note}")
        for w in project.warnings:
            self.ctx.status(w)
        self.show_rings()
        self.project_loaded.emit(True)

    def use_open_series(self) -> bool:
        """Build the project over the numbered EDF series open in the viewer."""
        source = self.ctx.session.source
        files, numbers = getattr(source, "files", None), getattr(source, "numbers", None)
        if not files or not numbers or not getattr(source, "numbered", False):
            self.ctx.error("open a numbered EDF series first (e.g. sid1-1_40C_0001.edf.gz), then press "
                           "'Use open series'")
            return False
        self.series, self.project = (list(files), list(numbers)), None
        self.form.set_exposures_editable(True)
        if self.form.table.rowCount() == 0:
            self.form.add_exposure("Exp_1", int(numbers[0]), int(numbers[-1]), 1e-3)
        if not self.form.fields["q1"].text():
            self._default_geometry()
        self.form.convention.setCurrentText("zero_based")
        self.source_label.setText(f"open series: {len(files)} files {numbers[0]}…{numbers[-1]} in "
                                  f"{os.path.dirname(files[0])}")
        self.show_rings()
        return True

    def _default_geometry(self) -> None:
        session = self.ctx.session
        geo = session.geometry
        shape = session.stack.frame_shape if session.stack is not None else (256, 256)
        self.form.set_geometry(
            q1=0.002, q2=0.010, qs=0.001, dq=4e-4,
            wavelength_A=(geo.wavelength_m or 1.5e-10) * 1e10, pix_mm=(geo.pixel_size_m or 55e-6) * 1e3,
            sddist_mm=(geo.distance_m or 2.0) * 1e3, cenx=(shape[1] - 1) / 2, ceny=(shape[0] - 1) / 2)

    def build_project(self) -> XsvsProject:
        """The project the form describes (ParameterError for a form that does not parse)."""
        geo = self.form.geometry()
        flat = self.form.flat_path.text().strip() or None
        mask = self.form.mask_path.text().strip() or None
        if self.project is not None:
            return dataclasses.replace(self.project, **geo, center_convention=self.form.convention.currentText(),
                                       flat_field_path=flat, mask_path=mask, warnings=list(self.project.warnings))
        if self.series is not None:
            files, numbers = self.series
            return project_from_series(files, numbers, self.form.exposures(), **geo,
                                       center_convention=self.form.convention.currentText(),
                                       flat_field_path=flat, mask_path=mask)
        raise ParameterError("no project: open a pyxsvs .ini or use the open EDF series")

    # -- rings on the image ---------------------------------------------------------------------
    def show_rings(self) -> None:
        """Draw the ring boundaries q_j ± dq and the centre from the form's geometry."""
        try:
            self.centre_finder.set_exposure_names([e[0] for e in self.form.exposures()])
        except OwlxError:
            pass  # a half-edited exposure row: keep the previous names
        try:
            geo = self.form.geometry()
            q = ring_centres(geo["q1"], geo["q2"], geo["qs"])
            convention = "pyxsvs_1based" if self.form.compat.isChecked() else self.form.convention.currentText()
            row0, col0 = center_to_internal(geo["cenx"], geo["ceny"], convention)
            edges = np.concatenate([q - geo["dq"], q + geo["dq"]])
            radii = ring_radii_px(edges, geo["wavelength_A"], geo["pix_mm"], geo["sddist_mm"])
        except OwlxError:
            return  # an incomplete form draws nothing
        radii = radii[np.isfinite(radii) & (radii > 0)]
        overlay = self.ctx.overlay("rings")
        overlay.set_circles(np.full(radii.size, col0), np.full(radii.size, row0), radii, color="c", width=1.0)
        self.ctx.overlay("centre").set_points([col0], [row0], color="c", size=10, symbol="+")
        self.plots.set_q_values(q)
        self.plots.set_ring_geometry((row0, col0), q, geo["dq"], geo["wavelength_A"], geo["pix_mm"], geo["sddist_mm"])

    # -- running ------------------------------------------------------------------------------
    def start(self) -> bool:
        """Run the project as a job (progress and cancel in the panel and the status bar)."""
        if self.handle is not None:
            self.ctx.status("an XSVS run is already going; cancel it first")
            return False
        try:
            project = self.build_project()
            settings = self.form.settings()
        except OwlxError as err:
            self.ctx.error(str(err))
            return False
        self.exposures, self.run, self.last_outcome = [], None, None
        self.plots.set_exposures([])
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.progress_label.setText("starting…")
        job = xsvs_job(project, settings, max_frames=self.form.frames_limit())
        self.handle = self.ctx.run_job(job, on_result=self._on_result, on_progress=self._on_progress,
                                       on_finished=self._on_finished)
        return True

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _on_result(self, item) -> None:
        if isinstance(item, XsvsSetup):
            rings = item.rings
            self.plots.set_q_values(rings.q, reset=True)
            self.plots.valid = item.valid
            self.progress_label.setText(f"{rings.n_rings} rings, {int(rings.npix.sum())} pixels")
            self.show_rings()
        elif isinstance(item, ExposureResult):
            self.exposures.append(item)
            self.plots.set_exposures(self.exposures)
            what = f"{item.n_frames} frames" if item.rings else item.status
            self.progress_label.setText(f"{item.name} (t_e = {item.exp_time_s:g} s): {what}")

    def _on_finished(self, outcome) -> None:
        self.handle = None
        self.last_outcome = outcome.status
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if outcome.status == "done":
            self.run = outcome.value
            self.save_button.setEnabled(True)
            for w in self.run.warnings:
                self.ctx.status(w)
            n = sum(1 for e in self.exposures if e.rings)
            self.progress_label.setText(f"done: {n} exposures in {outcome.elapsed_s:.1f} s")
        elif outcome.status == "cancelled":
            self.progress_label.setText(f"cancelled after {len(self.exposures)} exposures")
        else:
            self.progress_label.setText("failed")
            self.ctx.error(str(outcome.error))

    # -- saving -------------------------------------------------------------------------------
    def save_results(self, path: str) -> bool:
        """Write the last run's HDF5 results and CSV summary (``<stem>_summary.csv``) in a job."""
        if self.run is None:
            self.ctx.error("nothing to save: run the analysis first")
            return False
        run = self.run

        def done(outcome) -> None:
            if outcome.ok:
                self.ctx.status(f"saved {outcome.value['h5']} and {outcome.value['csv']}")
            elif outcome.status == "failed":
                self.ctx.error(str(outcome.error))
            else:
                self.ctx.status("saving the XSVS results was cancelled")

        self.ctx.run_job(Job(lambda _ctx: write_outputs(run, path), name="save XSVS results"), on_finished=done)
        return True

    def _choose_ini(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a pyxsvs project", "",
                                                        "pyxsvs input (*.ini *.txt);;All files (*)")
        if path:
            self.load_ini(path)

    def _choose_output(self) -> None:
        default = self.run.project.default_output() if self.run is not None else "xsvs_results.h5"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save XSVS results", default, "HDF5 (*.h5)")
        if path:
            self.save_results(path)
