"""The tool tabs of the peak panel (Qt): azimuthal average, symmetrisation, stack alignment and
the mask from frames. Each tab belongs to a :class:`~owlx_peaks.panel.PeaksPanel` (``owner``),
whose centre, frame reader and error reporting it uses; the work runs as jobs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from owlx.errors import OwlxError

from .export import export_aligned, export_azimuthal
from .peak_jobs import align_stack_job, azimuthal_job, mask_job, symmetrise_job

__all__ = ["AlignTab", "AzimuthalTab", "MaskTab", "SymmetriseTab"]


def _spin(lo: float, hi: float, value: float, suffix: str = "", decimals: int = 1) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    return box


def _ask_path(parent, title: str, fmt: str) -> str:
    filt = {"hdf5": "HDF5 (*.h5 *.hdf5)", "csv": "CSV (*.csv)", "tiff": "TIFF (*.tif *.tiff)"}[fmt]
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, "", filt)
    return path


class AzimuthalTab(QtWidgets.QWidget):
    """Azimuthal average of the shown frame about the panel's centre, plotted, exportable."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.result = None  # (radius, average, count, centre, frame)
        self.sector = QtWidgets.QCheckBox("sector only")
        self.phi1 = _spin(-360, 360, 0.0, "°")
        self.phi2 = _spin(-360, 360, 90.0, "°")
        self.sector.setToolTip("φ counter-clockwise on screen from +col (→); wraps through 0° when φ1 > φ2")
        self.button = QtWidgets.QPushButton("Azimuthal average")
        self.export_csv = QtWidgets.QPushButton("Export CSV…")
        self.export_h5 = QtWidgets.QPushButton("Export HDF5…")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "radius (px)")
        self.plot.setLabel("left", "mean intensity")
        self.curve = self.plot.plot([], [], pen=pg.mkPen("y"))
        row = QtWidgets.QHBoxLayout()
        for w in (self.sector, self.phi1, self.phi2):
            row.addWidget(w)
        buttons = QtWidgets.QHBoxLayout()
        for w in (self.button, self.export_csv, self.export_h5):
            buttons.addWidget(w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.plot, 1)
        self.button.clicked.connect(self.compute)
        self.export_csv.clicked.connect(lambda: self._ask_export("csv"))
        self.export_h5.clicked.connect(lambda: self._ask_export("hdf5"))

    def compute(self) -> None:
        reader, centre = self.owner.reader(), self.owner.centre_or_default()
        if reader is None or centre is None:
            return
        bounds = (self.phi1.value(), self.phi2.value()) if self.sector.isChecked() else None
        frame = self.owner.session.frame_index
        job = azimuthal_job(reader, frame, centre, bounds)
        self.owner.ctx.run_job(job, on_progress=lambda d, t: None,
                               on_finished=lambda outcome: self._done(outcome, centre, frame))

    def _done(self, outcome, centre, frame) -> None:
        if self.owner.failed(outcome, "azimuthal average"):
            return
        radius, average, count = outcome.value
        self.result = (radius, average, count, centre, frame)
        self.curve.setData(radius.astype(float), average)
        self.owner.info.setText(f"azimuthal average of frame {frame}: {len(radius)} radii")

    def export(self, path: str, fmt: str | None = None):
        if self.result is None:
            raise OwlxError("nothing to export: compute an azimuthal average first")
        radius, average, count, centre, frame = self.result
        return export_azimuthal(radius, average, count, centre, frame, path, fmt)

    def _ask_export(self, fmt: str) -> None:
        path = _ask_path(self, "Export azimuthal average", fmt)
        if path:
            try:
                self.owner.ctx.status(f"wrote {self.export(path, fmt)}")
            except (OwlxError, OSError) as err:
                self.owner.fail(str(err))


class SymmetriseTab(QtWidgets.QWidget):
    """n-fold symmetrisation of the shown frame about the panel's centre, shown in the tab."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.image = None
        self.mod = QtWidgets.QSpinBox()
        self.mod.setRange(1, 64)
        self.mod.setValue(6)
        self.mod.setPrefix("n = ")
        self.button = QtWidgets.QPushButton("Symmetrise")
        self.view = pg.ImageView()
        self.view.ui.roiBtn.hide()
        self.view.ui.menuBtn.hide()
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.mod)
        row.addWidget(self.button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        self.button.clicked.connect(self.compute)

    def compute(self) -> None:
        reader, centre = self.owner.reader(), self.owner.centre_or_default()
        if reader is None or centre is None:
            return
        job = symmetrise_job(reader, self.owner.session.frame_index, self.mod.value(), centre)
        self.owner.ctx.run_job(job, on_progress=lambda d, t: None, on_finished=self._done)

    def _done(self, outcome) -> None:
        if self.owner.failed(outcome, "symmetrisation"):
            return
        self.image = outcome.value
        self.view.setImage(self.image.T.astype(np.float32), autoLevels=True)  # ImageView is (x, y)
        self.owner.info.setText(f"{self.mod.value()}-fold symmetrised")


class AlignTab(QtWidgets.QWidget):
    """Align the frames in view order onto the shown frame; save the aligned stack."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.result = None
        self._job = None
        self.refine = QtWidgets.QComboBox()
        self.refine.addItems(["parabolic", "lk", "none"])
        self.refine.setToolTip("sub-pixel refinement: parabola through the NCC peak, Lucas–Kanade, or integer")
        self.max_shift = _spin(0, 1e4, 0.0, " px", 0)
        self.max_shift.setSpecialValueText("unbounded")
        self.button = QtWidgets.QPushButton("Align stack")
        self.button.setToolTip("Align every frame in view order onto the shown frame")
        self.cancel = QtWidgets.QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.save_h5 = QtWidgets.QPushButton("Save HDF5…")
        self.save_tif = QtWidgets.QPushButton("Save TIFF…")
        for b in (self.save_h5, self.save_tif):
            b.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "shift (px)")
        self.plot.addLegend()
        self.row_curve = self.plot.plot([], [], pen=pg.mkPen("c"), name="row")
        self.col_curve = self.plot.plot([], [], pen=pg.mkPen("m"), name="col")
        form = QtWidgets.QFormLayout()
        form.addRow("refine", self.refine)
        form.addRow("max. shift", self.max_shift)
        buttons = QtWidgets.QHBoxLayout()
        for w in (self.button, self.cancel, self.save_h5, self.save_tif):
            buttons.addWidget(w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, 1)
        self.button.clicked.connect(self.run)
        self.cancel.clicked.connect(lambda: self._job is not None and self._job.cancel())
        self.save_h5.clicked.connect(lambda: self._ask_save("hdf5"))
        self.save_tif.clicked.connect(lambda: self._ask_save("tiff"))

    def run(self) -> None:
        reader = self.owner.reader()
        if reader is None:
            return
        session = self.owner.session
        try:
            job = align_stack_job(reader, session.order, session.frame_index, self.refine.currentText(),
                                  self.max_shift.value() or None)
        except OwlxError as err:
            self.owner.fail(str(err))
            return
        self._job = job
        self.button.setEnabled(False)
        self.cancel.setEnabled(True)
        self.owner.ctx.run_job(job, on_progress=self._progress, on_finished=self._done)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _done(self, outcome) -> None:
        self._job = None
        self.button.setEnabled(True)
        self.cancel.setEnabled(False)
        if self.owner.failed(outcome, "alignment"):
            return
        self.result = outcome.value
        self.row_curve.setData(self.result.frames.astype(float), self.result.shifts[:, 0])
        self.col_curve.setData(self.result.frames.astype(float), self.result.shifts[:, 1])
        for b in (self.save_h5, self.save_tif):
            b.setEnabled(True)
        self.owner.info.setText(f"{len(self.result.frames)} frames aligned onto frame {self.result.reference}")

    def save(self, path: str, fmt: str | None = None):
        if self.result is None:
            raise OwlxError("nothing to save: align the stack first")
        return export_aligned(self.result, path, fmt)

    def _ask_save(self, fmt: str) -> None:
        path = _ask_path(self, "Save aligned stack", fmt)
        if path:
            try:
                self.owner.ctx.status(f"wrote {', '.join(str(p) for p in self.save(path, fmt))}")
            except (OwlxError, OSError) as err:
                self.owner.fail(str(err))


class MaskTab(QtWidgets.QWidget):
    """A validity mask from the frames in view order (value range, fluctuation), usable as the
    session mask."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.valid = None
        self.low = _spin(-1e12, 1e12, 0.0, "", 2)
        self.high = _spin(-1e12, 1e12, 3e4, "", 2)
        self.std = _spin(0, 1e12, 0.0, "", 3)
        self.std.setSpecialValueText("off")
        self.std.setToolTip("invalid where a pixel's running standard deviation exceeds this")
        self.button = QtWidgets.QPushButton("Mask from frames")
        self.use = QtWidgets.QPushButton("Use as session mask")
        self.use.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.summary = QtWidgets.QLabel("")
        form = QtWidgets.QFormLayout()
        form.addRow("lowest valid value", self.low)
        form.addRow("highest valid value", self.high)
        form.addRow("max. std", self.std)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.button)
        buttons.addWidget(self.use)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self.button.clicked.connect(self.run)
        self.use.clicked.connect(self.apply)

    def run(self) -> None:
        reader = self.owner.reader()
        if reader is None:
            return
        try:
            job = mask_job(reader, self.owner.session.order, (self.low.value(), self.high.value()),
                           self.std.value() or None)
        except OwlxError as err:
            self.owner.fail(str(err))
            return
        self.button.setEnabled(False)
        self.owner.ctx.run_job(job, on_progress=self._progress, on_finished=self._done)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _done(self, outcome) -> None:
        self.button.setEnabled(True)
        if self.owner.failed(outcome, "mask from frames"):
            return
        self.valid = outcome.value
        bad = int((~self.valid).sum())
        self.summary.setText(f"{bad} invalid of {self.valid.size} pixels")
        self.use.setEnabled(True)

    def apply(self) -> None:
        if self.valid is None:
            return
        try:
            self.owner.session.set_mask_array(self.valid)
        except OwlxError as err:
            self.owner.fail(str(err))
            return
        self.owner.ctx.status("the mask from frames is now the session mask")
