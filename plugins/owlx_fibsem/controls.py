"""The FIB-SEM panel's parameter form: preset, matching, model, solver, post-processing, output.

:meth:`RegistrationControls.settings` builds the :class:`RegistrationSettings` the jobs use;
:meth:`set_settings` shows one. Choosing a preset resets the keypoint settings to it
(``fast``: 2 × 2-binned SIFT with 5000 features, the default; ``reference``: full resolution).
The evaluation box [top, height, left, width] (0 = to the end) is also the start of the sliding
box when "Sliding" is checked; the stop box is the second row. Run options beside the settings:
threads, the output file, the XLSX record (disabled, with the install hint, without openpyxl)
and the cache folder of stages 1–3.
"""

from __future__ import annotations

import os

from PyQt5 import QtCore, QtWidgets

from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_transforms import MODELS
from owlx.gui.panel_kit import combo, row_widget, spin
from owlx.io.fibsem_record import XLSX_HINT, xlsx_available

__all__ = ["RegistrationControls"]


class RegistrationControls(QtWidgets.QWidget):
    """Parameter widgets grouped as in spec/fibsem.md (keypoints, fit, post-processing, output)."""

    changed = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        d = RegistrationSettings.preset("fast")
        self.preset = combo(("fast", "reference"), "fast")
        self.preset.setToolTip("fast: SIFT on the 2×2-binned frame, 5000 features; reference: full resolution")
        self.matcher = combo(("flann", "bf"), d.matcher)
        self.matcher.setToolTip("bf (brute force) is bit-reproducible")
        self.ratio = spin(0.1, 1.0, d.ratio, step=0.05, decimals=2)
        self.model = combo(MODELS, d.fit.model)
        self.solver = combo(("RANSAC", "LinReg"), d.fit.solver)
        self.drmax = spin(0.1, 50.0, d.fit.drmax, step=0.1, decimals=2, suffix=" px")
        self.max_iter = spin(1, 100000, d.fit.max_iter, step=100)
        self.min_inliers = spin(1, 100000, d.fit.min_inliers)
        self.on_failure = combo(("identity", "neighbour_mean", "exclude_frame"), d.post.on_failure)
        self.preserve_scales = QtWidgets.QCheckBox("Preserve scales")
        self.preserve_scales.setChecked(d.post.preserve_scales)
        self.drift_x = QtWidgets.QCheckBox("x")
        self.drift_y = QtWidgets.QCheckBox("y")
        for box in (self.drift_x, self.drift_y):
            box.setChecked(True)
        self.box = [spin(0, 100000, 0) for _ in range(4)]
        for edge, tip in zip(self.box, ("top", "height (0 = to the end)", "left", "width (0 = to the end)")):
            edge.setToolTip(f"evaluation box {tip}, px")
        self.sliding = QtWidgets.QCheckBox("Sliding")
        self.sliding.setToolTip("metrics box moves linearly from the box above (first slice) to this box (last slice)")
        self.stop_box = [spin(0, 100000, 0) for _ in range(4)]
        for edge, tip in zip(self.stop_box, ("top", "height (0 = to the end)", "left", "width (0 = to the end)")):
            edge.setToolTip(f"stop box of the sliding evaluation box: {tip}, px")
            edge.setEnabled(False)
        self.sliding.toggled.connect(lambda on: [edge.setEnabled(on) for edge in self.stop_box])
        self.zbin = spin(1, 1000, d.zbin)
        self.order = combo(("0", "1", "3"), str(d.int_order))
        self.dtype = combo(("int16", "uint16", "float32", "uint8"), d.dtype)
        self.pad = QtWidgets.QCheckBox("Pad edges")
        self.pad.setChecked(d.pad_edges)
        self.threads = spin(1, 64, min(os.cpu_count() or 1, 64))
        self.threads.setToolTip("worker threads (keypoints and matching run in parallel)")
        self.output = QtWidgets.QLineEdit()
        self.output.setPlaceholderText("registered stack .mrc (empty: transforms only)")
        self.browse = QtWidgets.QPushButton("…")
        self.browse.setMaximumWidth(30)
        self.xlsx = QtWidgets.QCheckBox("XLSX record")
        self.xlsx.setToolTip("also write <output>_registration.xlsx with the reference's sheets")
        if not xlsx_available():
            self.xlsx.setEnabled(False)
            self.xlsx.setToolTip(XLSX_HINT)
        self.cache = QtWidgets.QLineEdit()
        self.cache.setPlaceholderText("cache folder (empty: none)")
        self.cache.setToolTip("per-frame ranges and keypoints, per-pair fits: a rerun or a run resumed after Cancel "
                              "recomputes only what changed frames or settings touch")
        self.browse_cache = QtWidgets.QPushButton("…")
        self.browse_cache.setMaximumWidth(30)

        form = QtWidgets.QFormLayout(self)
        form.addRow("Preset", self.preset)
        form.addRow("Matcher / ratio", row_widget(self.matcher, self.ratio))
        form.addRow("Model", self.model)
        form.addRow("Solver / drmax", row_widget(self.solver, self.drmax))
        form.addRow("Trials / min inliers", row_widget(self.max_iter, self.min_inliers))
        form.addRow("On failure", self.on_failure)
        form.addRow("Drift removal", row_widget(self.preserve_scales, self.drift_x, self.drift_y))
        form.addRow("Box (T H L W)", row_widget(*self.box))
        form.addRow("Stop box", row_widget(self.sliding, *self.stop_box))
        form.addRow("Z-bin / order", row_widget(self.zbin, self.order))
        form.addRow("Output dtype", row_widget(self.dtype, self.pad))
        form.addRow("Threads", self.threads)
        form.addRow("Output", row_widget(self.output, self.browse, self.xlsx))
        form.addRow("Cache folder", row_widget(self.cache, self.browse_cache))
        for w in (self.preset, self.matcher, self.model, self.solver, self.on_failure, self.order, self.dtype):
            w.currentTextChanged.connect(self.changed)
        self.browse.clicked.connect(self._browse)
        self.browse_cache.clicked.connect(self._browse_cache)

    def settings(self) -> RegistrationSettings:
        """The settings shown (raises ParameterError for inconsistent values)."""
        box = tuple(s.value() for s in self.box)
        return RegistrationSettings.preset(
            self.preset.currentText(), matcher=self.matcher.currentText(), ratio=self.ratio.value(),
            model=self.model.currentText(), solver=self.solver.currentText(), drmax=self.drmax.value(),
            max_iter=self.max_iter.value(), min_inliers=self.min_inliers.value(),
            on_failure=self.on_failure.currentText(), preserve_scales=self.preserve_scales.isChecked(),
            subtract_linear_fit=(self.drift_x.isChecked(), self.drift_y.isChecked()),
            evaluation_box=box, sliding_evaluation_box=self.sliding.isChecked(), start_evaluation_box=box,
            stop_evaluation_box=tuple(s.value() for s in self.stop_box) if self.sliding.isChecked() else box,
            zbin=self.zbin.value(),
            int_order=int(self.order.currentText()), dtype=self.dtype.currentText(), pad_edges=self.pad.isChecked(),
        )

    def set_settings(self, s: RegistrationSettings) -> None:
        self.preset.setCurrentText(s.sift.preset)
        self.matcher.setCurrentText(s.matcher)
        self.ratio.setValue(s.ratio)
        self.model.setCurrentText(s.fit.model)
        self.solver.setCurrentText(s.fit.solver)
        self.drmax.setValue(s.fit.drmax)
        self.max_iter.setValue(s.fit.max_iter)
        self.min_inliers.setValue(s.fit.min_inliers)
        self.on_failure.setCurrentText(s.post.on_failure)
        self.preserve_scales.setChecked(s.post.preserve_scales)
        self.drift_x.setChecked(bool(s.post.subtract_linear_fit[0]))
        self.drift_y.setChecked(bool(s.post.subtract_linear_fit[1]))
        for edge, v in zip(self.box, s.start_evaluation_box if s.sliding_evaluation_box else s.evaluation_box):
            edge.setValue(int(v))
        self.sliding.setChecked(s.sliding_evaluation_box)
        for edge, v in zip(self.stop_box, s.stop_evaluation_box):
            edge.setValue(int(v))
        self.zbin.setValue(s.zbin)
        self.order.setCurrentText(str(s.int_order))
        self.dtype.setCurrentText(s.dtype)
        self.pad.setChecked(s.pad_edges)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Registered stack", self.output.text(), "MRC (*.mrc)")
        if path:
            self.output.setText(path)

    def _browse_cache(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Cache folder", self.cache.text())
        if path:
            self.cache.setText(path)
