"""The tool tabs of the peak panel (Qt): azimuthal average, symmetrisation, stack alignment and
the mask from frames. Each tab belongs to a :class:`~owlx_peaks.panel.PeaksPanel` (``owner``),
whose centre, frame reader and error reporting it uses; the work runs as jobs."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt5 import QtWidgets

from owlx.errors import OwlxError
from owlx.gui.panel_kit import PanelJobs, hbox, row_widget, save_path, spin

from .export import export_azimuthal
from .peak_jobs import align_stack_job, azimuthal_job, mask_job, symmetrise_job

__all__ = ["AlignTab", "AzimuthalTab", "MaskTab", "SymmetriseTab"]


class AzimuthalTab(QtWidgets.QWidget):
    """Azimuthal average of the shown frame about the panel's centre, plotted, exportable."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.result = None  # (radius, average, count, centre, frame)
        self.sector = QtWidgets.QCheckBox("sector only")
        self.phi1 = spin(-360, 360, 0.0, decimals=1, suffix="°")
        self.phi2 = spin(-360, 360, 90.0, decimals=1, suffix="°")
        self.sector.setToolTip("φ counter-clockwise on screen from +col (→); wraps through 0° when φ1 > φ2")
        self.button = QtWidgets.QPushButton("Azimuthal average")
        self.export_csv = QtWidgets.QPushButton("Export CSV…")
        self.export_h5 = QtWidgets.QPushButton("Export HDF5…")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "radius (px)")
        self.plot.setLabel("left", "mean intensity")
        self.curve = self.plot.plot([], [], pen=pg.mkPen("y"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(hbox(self.sector, self.phi1, self.phi2))
        layout.addLayout(hbox(self.button, self.export_csv, self.export_h5))
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
        self.owner.jobs.run(job, "azimuthal average", lambda value: self._done(value, centre, frame))

    def _done(self, value, centre, frame) -> None:
        radius, average, count = value
        self.result = (radius, average, count, centre, frame)
        self.curve.setData(radius.astype(float), average)
        self.owner.info.setText(f"azimuthal average of frame {frame}: {len(radius)} radii")

    def export(self, path: str, fmt: str | None = None):
        if self.result is None:
            raise OwlxError("nothing to export: compute an azimuthal average first")
        radius, average, count, centre, frame = self.result
        return export_azimuthal(radius, average, count, centre, frame, path, fmt)

    def _ask_export(self, fmt: str) -> None:
        path = save_path(self, "Export azimuthal average", fmt)
        if path:
            try:
                self.owner.ctx.status(f"wrote {self.export(path, fmt)}")
            except (OwlxError, OSError) as err:
                self.owner.jobs.fail(str(err))


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
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(hbox(self.mod, self.button))
        layout.addWidget(self.view, 1)
        self.button.clicked.connect(self.compute)

    def compute(self) -> None:
        reader, centre = self.owner.reader(), self.owner.centre_or_default()
        if reader is None or centre is None:
            return
        job = symmetrise_job(reader, self.owner.session.frame_index, self.mod.value(), centre)
        self.owner.jobs.run(job, "symmetrisation", self._done)

    def _done(self, value) -> None:
        # the job made the float32 (x, y) image and its levels: no full-frame work on the GUI thread
        self.image = value.image
        self.view.setImage(value.shown.image, autoLevels=False, levels=value.shown.levels)
        self.owner.info.setText(f"{self.mod.value()}-fold symmetrised")


class AlignTab(QtWidgets.QWidget):
    """Align the frames in view order onto the shown frame, streaming the aligned stack to the
    output file (HDF5 or TIFF by its suffix; it appears only when the run completes). Without an
    output file only the shifts are computed and plotted."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.result = None
        self.refine = QtWidgets.QComboBox()
        self.refine.addItems(["parabolic", "lk", "none"])
        self.refine.setToolTip("sub-pixel refinement: parabola through the NCC peak, Lucas–Kanade, or integer")
        self.max_shift = spin(0, 1e4, 0.0, decimals=0, suffix=" px", special="unbounded")
        self.output = QtWidgets.QLineEdit()
        self.output.setPlaceholderText("output file (.h5 or .tif); empty: shifts only")
        self.output.setToolTip("The aligned frames are written here one by one (a new file; replaced only "
                               "when the run completes)")
        self.browse_h5 = QtWidgets.QPushButton("HDF5…")
        self.browse_tif = QtWidgets.QPushButton("TIFF…")
        self.button = QtWidgets.QPushButton("Align stack")
        self.button.setToolTip("Align every frame in view order onto the shown frame")
        self.cancel = QtWidgets.QPushButton("Cancel")
        self.progress = QtWidgets.QProgressBar()
        self.jobs = PanelJobs(owner.ctx, owner.info, self.progress, self.cancel)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "shift (px)")
        self.plot.addLegend()
        self.row_curve = self.plot.plot([], [], pen=pg.mkPen("c"), name="row")
        self.col_curve = self.plot.plot([], [], pen=pg.mkPen("m"), name="col")
        form = QtWidgets.QFormLayout()
        form.addRow("refine", self.refine)
        form.addRow("max. shift", self.max_shift)
        form.addRow("output", row_widget(self.output, self.browse_h5, self.browse_tif))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(hbox(self.button, self.cancel))
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, 1)
        self.button.clicked.connect(lambda: self.run())
        self.browse_h5.clicked.connect(lambda: self._ask_output("hdf5"))
        self.browse_tif.clicked.connect(lambda: self._ask_output("tiff"))

    def run(self, output: str | None = None) -> None:
        """Start the alignment; ``output`` (default: the output field) is the file to stream to."""
        reader = self.owner.reader()
        if reader is None:
            return
        if output is not None:
            self.output.setText(output)
        path = self.output.text().strip() or None
        session = self.owner.session
        job = self.jobs.attempt(align_stack_job, reader, session.order, session.frame_index,
                                self.refine.currentText(), self.max_shift.value() or None, output=path)
        if job is not None:
            self.result = None
            self.jobs.start(job, "alignment", self._done, button=self.button)

    def _done(self, aligned) -> None:
        self.result = aligned
        self.row_curve.setData(self.result.frames.astype(float), self.result.shifts[:, 0])
        self.col_curve.setData(self.result.frames.astype(float), self.result.shifts[:, 1])
        text = f"{len(self.result.frames)} frames aligned onto frame {self.result.reference}"
        if self.result.files:
            text += f"; wrote {', '.join(str(p) for p in self.result.files)}"
            self.owner.ctx.status(f"wrote {self.result.files[0]}")
        self.owner.info.setText(text)

    def _ask_output(self, fmt: str) -> None:
        path = save_path(self, "Write the aligned stack to", fmt)
        if path:
            self.output.setText(path)


class MaskTab(QtWidgets.QWidget):
    """A validity mask from the frames in view order (value range, fluctuation), usable as the
    session mask."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.valid = None
        self.low = spin(-1e12, 1e12, 0.0, decimals=2)
        self.high = spin(-1e12, 1e12, 3e4, decimals=2)
        self.std = spin(0, 1e12, 0.0, decimals=3, special="off",
                        tip="invalid where a pixel's running standard deviation exceeds this")
        self.button = QtWidgets.QPushButton("Mask from frames")
        self.use = QtWidgets.QPushButton("Use as session mask")
        self.use.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.jobs = PanelJobs(owner.ctx, owner.info, self.progress)
        self.summary = QtWidgets.QLabel("")
        form = QtWidgets.QFormLayout()
        form.addRow("lowest valid value", self.low)
        form.addRow("highest valid value", self.high)
        form.addRow("max. std", self.std)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(hbox(self.button, self.use))
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self.button.clicked.connect(self.run)
        self.use.clicked.connect(self.apply)

    def run(self) -> None:
        reader = self.owner.reader()
        if reader is None:
            return
        job = self.jobs.attempt(mask_job, reader, self.owner.session.order, (self.low.value(), self.high.value()),
                                self.std.value() or None)
        if job is not None:
            self.jobs.start(job, "mask from frames", self._done, button=self.button)

    def _done(self, valid) -> None:
        self.valid = valid
        bad = int((~self.valid).sum())
        self.summary.setText(f"{bad} invalid of {self.valid.size} pixels")
        self.use.setEnabled(True)

    def apply(self) -> None:
        if self.valid is None:
            return
        try:
            self.owner.session.set_mask_array(self.valid)
        except OwlxError as err:
            self.jobs.fail(str(err))
            return
        self.owner.ctx.status("the mask from frames is now the session mask")
