"""The "Baseline" tab of the peak panel (Qt): wavelet baseline removal (spec/peaks.md §11) of the
shown frame or of its azimuthal profile, computed as a job (:mod:`owlx_peaks.baseline_job`).

The frame result is shown baseline-subtracted in the tab's image view; the profile result is
plotted (profile, baseline, subtracted) against the radius in px. Without PyWavelets the tab is
disabled and says how to install it.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt5 import QtWidgets

from owlx.gui.panel_kit import combo, hbox, spin

from . import baseline_job as bj

__all__ = ["BaselineTab"]

WAVELETS = ("sym6", "sym8", "db4", "db8", "coif3", "haar")


class BaselineTab(QtWidgets.QWidget):
    """Baseline removal of the shown frame (2-D) or its azimuthal profile (about the panel's
    centre). ``result`` is the last :class:`~owlx_peaks.baseline_job.BaselineResult`."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.result: bj.BaselineResult | None = None
        self.kind = combo(bj.KINDS, tip="frame: 2-D baseline of the shown frame; profile: of its azimuthal average")
        self.max_iter = spin(1, 10000, 50, tip="iterations (each one wavelet decomposition and reconstruction)")
        self.level = spin(0, 30, 0, special="max",
                          tip="decomposition level: higher = smoother baseline (clipped to the maximum)")
        self.wavelet = combo(WAVELETS, tip="PyWavelets discrete wavelet")
        self.button = QtWidgets.QPushButton("Remove baseline")
        self.hint = QtWidgets.QLabel("")
        self.hint.setWordWrap(True)
        self.view = pg.ImageView()
        self.view.ui.roiBtn.hide()
        self.view.ui.menuBtn.hide()
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "radius (px)")
        self.plot.setLabel("left", "mean intensity")
        self.plot.addLegend()
        self.curves = [self.plot.plot([], [], pen=pg.mkPen(c), name=n)
                       for c, n in (("w", "profile"), ("r", "baseline"), ("y", "subtracted"))]
        self.views = QtWidgets.QStackedWidget()
        self.views.addWidget(self.view)
        self.views.addWidget(self.plot)
        form = QtWidgets.QFormLayout()
        form.addRow("on", self.kind)
        form.addRow("iterations", self.max_iter)
        form.addRow("level", self.level)
        form.addRow("wavelet", self.wavelet)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(hbox(self.button))
        layout.addWidget(self.hint)
        layout.addWidget(self.views, 1)
        self.button.clicked.connect(self.compute)
        self.kind.currentTextChanged.connect(lambda kind: self.views.setCurrentIndex(bj.KINDS.index(kind)))
        if not bj.AVAILABLE:
            for w in (self.button, self.kind, self.max_iter, self.level, self.wavelet):
                w.setEnabled(False)
            self.button.setToolTip(f"needs PyWavelets: {bj.HINT}")
            self.hint.setText(f"Baseline removal needs PyWavelets: {bj.HINT}")

    def compute(self) -> None:
        if not bj.AVAILABLE:
            self.owner.jobs.fail(f"baseline removal needs PyWavelets: {bj.HINT}")
            return
        reader = self.owner.reader()
        if reader is None:
            return
        kind = self.kind.currentText()
        centre = self.owner.centre_or_default() if kind == "profile" else None
        job = self.owner.jobs.attempt(bj.baseline_job, reader, self.owner.session.frame_index, kind, centre,
                                      self.max_iter.value(), self.level.value() or None, self.wavelet.currentText())
        if job is not None:
            self.owner.info.setText(f"removing the baseline of the {kind}…")
            self.owner.jobs.run(job, "baseline removal", self._done, button=self.button)

    def _done(self, res: bj.BaselineResult) -> None:
        """Show a result. A frame arrives ready for display (float32, (x, y), levels: made by the
        job) so nothing here touches the full-size float64 arrays; a profile is one short row."""
        self.result = res
        if res.kind == "frame":
            self.view.setImage(res.shown.image, autoLevels=False, levels=res.shown.levels)
        else:
            x = res.radius.astype(float)
            for curve, y in zip(self.curves, (res.data, res.baseline, res.subtracted)):
                curve.setData(x, y)
        self.views.setCurrentIndex(bj.KINDS.index(res.kind))
        self.owner.info.setText(f"baseline of the {res.kind} of frame {res.index} removed (level {res.level}); "
                                f"mean baseline {res.mean_baseline:.4g}")
