"""The Patterson panel (spec/viewer.md A1, A2): Owl's parameters of the selected frame
(FXIhub/owl, ui/pattersonProperties.ui) and the map's own display levels.

The panel only edits values: ``params_edited(PattersonParams)`` when the user changes a
parameter, ``levels_edited(DisplaySettings)`` for the map's normalisation and percentile levels,
``compute_clicked()`` for the Patterson button. :meth:`set_params` shows a frame's values
without emitting.
"""

from __future__ import annotations

from dataclasses import replace

from PyQt5 import QtCore, QtWidgets

from ..core.display import DisplaySettings
from ..core.patterson import PattersonParams

#: the map's default levels: linear, 0.5–99.9 percentile (the centre peak is far above the rest)
DEFAULT_LEVELS = DisplaySettings(norm="linear", lo_unit="percentile", lo=0.5, hi_unit="percentile", hi=99.9)
LEVEL_NORMS = ("linear", "log", "sqrt")


def _spin(lo: float, hi: float, decimals: int, step: float, tip: str) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setKeyboardTracking(False)  # one edit per value typed, not one per digit
    box.setToolTip(tip)
    return box


class PattersonPanel(QtWidgets.QWidget):
    params_edited = QtCore.pyqtSignal(object)  # PattersonParams
    levels_edited = QtCore.pyqtSignal(object)  # DisplaySettings
    compute_clicked = QtCore.pyqtSignal()

    def __init__(self, levels: DisplaySettings = DEFAULT_LEVELS, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.image_threshold = _spin(-1e9, 1e9, 2, 1.0, "imageThreshold: subtracted from the frame; negative results "
                                                        "count as 0 (data units)")
        self.mask_smooth = _spin(0, 1000, 2, 0.5, "maskSmooth: σ of the Gaussian that smooths the good-pixel mask (px)")
        self.mask_threshold = _spin(0, 1, 3, 0.05, "maskThreshold: the smoothed mask is cut below this fraction "
                                                   "of its maximum")
        self.darkfield = QtWidgets.QCheckBox("Dark field")
        self.darkfield.setToolTip("Multiply the window by a Gaussian that selects part of the pattern")
        self.darkfield_x = _spin(-1e5, 1e5, 1, 1.0, "darkfieldX: centre of the dark-field Gaussian, px right of the "
                                                    "array middle")
        self.darkfield_y = _spin(-1e5, 1e5, 1, 1.0, "darkfieldY: centre, px below the array middle")
        self.darkfield_sigma = _spin(0.1, 1e5, 1, 5.0, "darkfieldSigma: σ of the dark-field Gaussian (px)")
        self.compute_button = QtWidgets.QPushButton("Patterson")
        self.compute_button.setToolTip("Compute the map of the selected frame (Ctrl+A shows it)")
        self.norm_combo = QtWidgets.QComboBox()
        self.norm_combo.addItems(LEVEL_NORMS)
        self.lo_spin = _spin(0, 100, 2, 0.5, "Lower level of the map, percentile")
        self.hi_spin = _spin(0, 100, 2, 0.1, "Upper level of the map, percentile")
        self.info_label = QtWidgets.QLabel("")
        self.info_label.setWordWrap(True)

        form = QtWidgets.QFormLayout()
        form.addRow("Image threshold", self.image_threshold)
        form.addRow("Mask smooth", self.mask_smooth)
        form.addRow("Mask threshold", self.mask_threshold)
        form.addRow(self.darkfield)
        form.addRow("Dark field x", self.darkfield_x)
        form.addRow("Dark field y", self.darkfield_y)
        form.addRow("Dark field σ", self.darkfield_sigma)
        levels_box = QtWidgets.QGroupBox("Map levels")
        lv = QtWidgets.QFormLayout(levels_box)
        lv.addRow("Normalisation", self.norm_combo)
        lv.addRow("Low (percentile)", self.lo_spin)
        lv.addRow("High (percentile)", self.hi_spin)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.compute_button)
        layout.addWidget(levels_box)
        layout.addWidget(self.info_label)
        layout.addStretch(1)

        self._levels = levels
        self._editable = True
        self.set_params(PattersonParams())
        self.set_levels(levels)
        for box in (self.image_threshold, self.mask_smooth, self.mask_threshold, self.darkfield_x,
                    self.darkfield_y, self.darkfield_sigma):
            box.valueChanged.connect(self._edited)
        self.darkfield.toggled.connect(self._edited)
        self.compute_button.clicked.connect(self.compute_clicked)
        self.norm_combo.currentIndexChanged.connect(self._levels_changed)
        self.lo_spin.valueChanged.connect(self._levels_changed)
        self.hi_spin.valueChanged.connect(self._levels_changed)

    # -- parameters ----------------------------------------------------------------------------------
    def params(self) -> PattersonParams:
        return PattersonParams(
            image_threshold=self.image_threshold.value(), mask_smooth=self.mask_smooth.value(),
            mask_threshold=self.mask_threshold.value(), darkfield=self.darkfield.isChecked(),
            darkfield_x=self.darkfield_x.value(), darkfield_y=self.darkfield_y.value(),
            darkfield_sigma=self.darkfield_sigma.value(),
        )

    def set_params(self, p: PattersonParams) -> None:
        """Show ``p`` (a frame's parameters) without emitting ``params_edited``."""
        pairs = ((self.image_threshold, p.image_threshold), (self.mask_smooth, p.mask_smooth),
                 (self.mask_threshold, p.mask_threshold), (self.darkfield_x, p.darkfield_x),
                 (self.darkfield_y, p.darkfield_y), (self.darkfield_sigma, p.darkfield_sigma))
        for box, value in pairs:
            box.blockSignals(True)
            box.setValue(float(value))
            box.blockSignals(False)
        self.darkfield.blockSignals(True)
        self.darkfield.setChecked(bool(p.darkfield))
        self.darkfield.blockSignals(False)
        self._enable_darkfield()

    def set_editable(self, on: bool) -> None:
        """Parameters can be edited once the frame's saved values are known (after the first
        map of a stack); until then the Patterson button is the way in."""
        for box in (self.image_threshold, self.mask_smooth, self.mask_threshold, self.darkfield):
            box.setEnabled(on)
        self._editable = on
        self._enable_darkfield()
        if not on:
            self.info_label.setText("Press Patterson (Ctrl+A) to compute the map of the selected frame.")

    def _enable_darkfield(self) -> None:
        on = self.darkfield.isChecked() and getattr(self, "_editable", True)
        for box in (self.darkfield_x, self.darkfield_y, self.darkfield_sigma):
            box.setEnabled(on)

    def _edited(self, *_):
        self._enable_darkfield()
        self.params_edited.emit(self.params())

    # -- levels ----------------------------------------------------------------------------------------
    @property
    def levels(self) -> DisplaySettings:
        return self._levels

    def set_levels(self, levels: DisplaySettings) -> None:
        self._levels = levels
        for w in (self.norm_combo, self.lo_spin, self.hi_spin):
            w.blockSignals(True)
        self.norm_combo.setCurrentIndex(max(0, self.norm_combo.findText(levels.norm)))
        self.lo_spin.setValue(levels.lo if levels.lo_unit == "percentile" else DEFAULT_LEVELS.lo)
        self.hi_spin.setValue(levels.hi if levels.hi_unit == "percentile" else DEFAULT_LEVELS.hi)
        for w in (self.norm_combo, self.lo_spin, self.hi_spin):
            w.blockSignals(False)

    def _levels_changed(self, *_):
        lo, hi = self.lo_spin.value(), self.hi_spin.value()
        if lo >= hi:  # refused: keep the last good levels on screen
            self.info_label.setText("the low level must be below the high one")
            return
        self._levels = replace(self._levels, norm=self.norm_combo.currentText(), lo_unit="percentile", lo=lo,
                               hi_unit="percentile", hi=hi)
        self.levels_edited.emit(self._levels)

    def set_info(self, text: str) -> None:
        self.info_label.setText(text)
