"""The "Peak finding" dock panel (Qt): centre, Bragg peaks and the pattern tools.

The top row finds the pattern centre of the shown frame (``autocenter``) and draws it on the
image; the tabs hold the peak finder (autocorrelation/Laplacian or persistence, drawn as circles,
listed in a table with CSV/HDF5 export), the tools of :mod:`owlx_peaks.tool_tabs` (azimuthal
average, symmetrisation, stack alignment streamed to a file, mask from frames) and the wavelet
baseline removal of :mod:`owlx_peaks.baseline_tab`. Everything runs as jobs through
``ctx.run_job``; this module only moves numbers between widgets and jobs.
"""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtWidgets

from owlx.errors import OwlxError
from owlx.gui.panel_kit import PanelJobs, combo, connect_session, hbox, save_path, spin

from .baseline_tab import BaselineTab
from .export import export_peaks
from .peak_jobs import FrameReader, PeakResult, centre_job, peaks_job
from .tool_tabs import AlignTab, AzimuthalTab, MaskTab, SymmetriseTab

__all__ = ["PeaksPanel"]

_COLUMNS = ("row", "col", "intensity", "prominence")


class PeaksPanel(QtWidgets.QWidget):
    """See the module doc. ``centre`` is the last centre (row, col) or None, ``result`` the last
    :class:`PeakResult`."""

    def __init__(self, ctx, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session
        self.centre: np.ndarray | None = None
        self.result: PeakResult | None = None
        self.centre_button = QtWidgets.QPushButton("Find centre")
        self.centre_button.setToolTip("Centre of the shown frame by its point symmetry (sub-pixel)")
        self.normalize_bg = QtWidgets.QCheckBox("Flatten background")
        self.normalize_bg.setChecked(True)
        self.normalize_bg.setToolTip("Divide the coarse search image by a heavy blur (Ewald walk-off, gradients)")
        self.centre_label = QtWidgets.QLabel("centre: —")
        self.show_overlay = QtWidgets.QCheckBox("Show on image")
        self.show_overlay.setChecked(True)
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)
        self.jobs = PanelJobs(ctx, self.info)  # the tabs report through it too
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self._peaks_tab(), "Peaks")
        self.azimuthal = AzimuthalTab(self)
        self.symmetrise = SymmetriseTab(self)
        self.align = AlignTab(self)
        self.mask = MaskTab(self)
        self.baseline = BaselineTab(self)
        for tab, title in ((self.azimuthal, "Azimuthal"), (self.symmetrise, "Symmetrise"), (self.align, "Align stack"),
                           (self.mask, "Mask"), (self.baseline, "Baseline")):
            self.tabs.addTab(tab, title)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(hbox(self.centre_button, self.normalize_bg, self.show_overlay))
        layout.addWidget(self.centre_label)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.info)

        self.centre_button.clicked.connect(self.find_centre)
        self.show_overlay.toggled.connect(self.draw_overlay)
        connect_session(self, [(self.session.stack_changed, self._on_stack),
                               (self.session.frame_changed, self._on_frame)])

    def _peaks_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget()
        self.method = combo(["autocorrelation", "persistence"],
                            tip="autocorrelation/Laplacian (single crystals) or topological persistence")
        self.prominence = spin(0.0, 1e12, 0.0, decimals=3,
                               tip="persistence: keep peaks whose prominence (persistence) exceeds this")
        self.min_dist = spin(0.0, 1e4, 0.0, decimals=2, suffix=" px", special="auto",
                             tip="drop peaks closer than this to a stronger one (auto: min(shape)/100, or none)")
        self.radius = spin(1.0, 200.0, 5.0, decimals=2, suffix=" px")
        self.find_button = QtWidgets.QPushButton("Find peaks")
        self.table = QtWidgets.QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(_COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.export_csv_button = QtWidgets.QPushButton("Export CSV…")
        self.export_h5_button = QtWidgets.QPushButton("Export HDF5…")
        for b in (self.export_csv_button, self.export_h5_button):
            b.setEnabled(False)
        form = QtWidgets.QFormLayout()
        form.addRow("method", self.method)
        form.addRow("prominence", self.prominence)
        form.addRow("min. distance", self.min_dist)
        form.addRow("circle radius", self.radius)
        layout = QtWidgets.QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addLayout(hbox(self.find_button, self.export_csv_button, self.export_h5_button))
        layout.addWidget(self.table, 1)
        self.find_button.clicked.connect(self.find_peaks)
        self.radius.valueChanged.connect(self.draw_overlay)
        self.export_csv_button.clicked.connect(lambda: self._ask_export("csv"))
        self.export_h5_button.clicked.connect(lambda: self._ask_export("hdf5"))
        return tab

    # -- helpers used by the tabs -------------------------------------------------------------
    def reader(self) -> FrameReader | None:
        """A reader of the session's stack, or None (reported) when none is open."""
        return self.jobs.attempt(FrameReader, self.session)

    def centre_or_default(self) -> np.ndarray | None:
        """The found centre, else the geometric centre of the frame (None without a stack)."""
        if self.centre is not None:
            return self.centre
        if self.session.stack is None:
            return None
        return (np.array(self.session.stack.frame_shape, dtype=float) - 1) / 2

    # -- session ------------------------------------------------------------------------------
    def _on_stack(self, *_):
        self.centre = None
        self.result = None
        self.centre_label.setText("centre: —")
        self._fill_table()
        self.draw_overlay()

    def _on_frame(self, *_):
        # the peaks of another frame would mislead: hidden away from their frame, back on return
        if self.result is not None:
            self.draw_overlay()

    # -- centre -------------------------------------------------------------------------------
    def find_centre(self) -> None:
        reader = self.reader()
        if reader is None:
            return
        self.info.setText("finding the centre…")
        job = centre_job(reader, self.session.frame_index, self.normalize_bg.isChecked())
        self.jobs.run(job, "centre", self._centre_done)

    def _centre_done(self, value) -> None:
        centre, quality = value
        self.set_centre(centre)
        self.info.setText(f"centre quality (peak NCC) {quality:.3f}")

    def set_centre(self, centre) -> None:
        self.centre = np.asarray(centre, dtype=float)
        self.centre_label.setText(f"centre: row {self.centre[0]:.2f}, col {self.centre[1]:.2f}")
        self.draw_overlay()

    # -- peaks --------------------------------------------------------------------------------
    def find_peaks(self) -> None:
        reader = self.reader()
        if reader is None:
            return
        method = self.method.currentText()
        min_dist = self.min_dist.value() or None
        self.info.setText(f"finding peaks ({method})…")
        job = peaks_job(reader, self.session.frame_index, method, self.centre, self.prominence.value(), min_dist)
        self.jobs.run(job, "peak finding", self._peaks_done, button=self.find_button)

    def _peaks_done(self, res: PeakResult) -> None:
        self.result = res
        if self.centre is None:
            self.set_centre(res.centre)
        self._fill_table()
        self.draw_overlay()
        self.info.setText(f"{len(res.peaks)} peaks on frame {res.index} ({res.method})")
        self.ctx.status(f"{len(res.peaks)} peaks found")

    def _fill_table(self) -> None:
        res = self.result
        n = 0 if res is None else len(res.peaks)
        self.table.setRowCount(n)
        for i in range(n):
            values = (res.peaks[i, 0], res.peaks[i, 1], res.intensity[i], res.prominence[i])
            for j, v in enumerate(values):
                text = "" if not np.isfinite(v) else f"{v:.2f}" if j < 2 else f"{v:.6g}"
                self.table.setItem(i, j, QtWidgets.QTableWidgetItem(text))
        for b in (self.export_csv_button, self.export_h5_button):
            b.setEnabled(n > 0)

    def draw_overlay(self, *_):
        centre_layer, peak_layer = self.ctx.overlay("centre"), self.ctx.overlay("peaks")
        visible = self.show_overlay.isChecked() and self.session.stack is not None
        for layer in (centre_layer, peak_layer):
            layer.set_visible(visible)
        if self.centre is None:
            centre_layer.clear()
        else:
            centre_layer.set_points([self.centre[1]], [self.centre[0]], color="c", size=16, symbol="+")
        res = self.result
        if res is None or not len(res.peaks) or res.index != self.session.frame_index:
            peak_layer.clear()
        else:
            peak_layer.set_circles(res.peaks[:, 1], res.peaks[:, 0], self.radius.value(), color="y")

    # -- export -------------------------------------------------------------------------------
    def export_peaks(self, path: str, fmt: str | None = None):
        if self.result is None:
            raise OwlxError("nothing to export: find peaks first")
        return export_peaks(self.result, path, fmt)

    def _ask_export(self, fmt: str) -> None:
        path = save_path(self, "Export peaks", fmt)
        if not path:
            return
        try:
            written = self.export_peaks(path, fmt)
        except (OwlxError, OSError) as err:
            self.jobs.fail(str(err))
            return
        self.ctx.status(f"wrote {written}")

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(420, 600)
