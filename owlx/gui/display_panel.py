"""The Display panel: colormap, normalisation, levels, histogram and mask bits
(spec/viewer.md D1–D6, S5, M2–M4).

The panel edits two immutable settings objects and emits a new one on every user change:
``settings_changed(DisplaySettings)`` and ``mask_settings_changed(MaskSettings)``. It computes
nothing itself: the histogram and the current levels come in through :meth:`set_frame_info`
from the rendered frame. ``set_*`` methods update the widgets without emitting.
"""

from __future__ import annotations

import math
import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

from ..core.display import LEVEL_UNITS, NORMS, COMPLEX_MODES, DisplaySettings, MaskSettings
from ..errors import ParameterError
from ..io.maskbits import MASK_BITS
from .colormaps import COLORMAP_GROUPS

NORM_LABELS = {"linear": "Linear", "log": "Log", "sqrt": "Square root", "power": "Power",
               "arcsinh": "Arcsinh"}
UNIT_LABELS = {"value": "Value", "range": "% Range", "percentile": "Percentile"}
COMPLEX_LABELS = {"amplitude": "Amplitude", "phase": "Phase", "real": "Real part",
                  "imag": "Imaginary part"}
# What an end shows when its unit is switched to a relative one (the defaults of D3).
_RELATIVE_DEFAULTS = {("lo", "percentile"): 0.5, ("hi", "percentile"): 99.5,
                      ("lo", "range"): 0.0, ("hi", "range"): 100.0}
_KNOWN_BITS = sum(b.value for b in MASK_BITS)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class _GammaSpin(QtWidgets.QDoubleSpinBox):
    """γ in −10…10 that never takes the value 0 (steps jump over it, typing 0 is undone)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRange(-10.0, 10.0)
        self.setDecimals(3)
        self.setSingleStep(0.05)
        self.setKeyboardTracking(False)
        self._last = 0.25

    def stepBy(self, steps: int) -> None:
        new = round(self.value() + steps * self.singleStep(), self.decimals())
        if new == 0:
            new = math.copysign(self.singleStep(), steps)
        self.setValue(new)

    def accept_value(self) -> bool:
        """Undo a typed 0; True when the value is usable."""
        if self.value() == 0:
            self.setValue(self._last)
            return False
        self._last = self.value()
        return True


class _LevelEnd(QtWidgets.QWidget):
    """Unit combo + value field of one end of the display range."""

    changed = QtCore.pyqtSignal()
    unit_changed = QtCore.pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.unit = QtWidgets.QComboBox()
        for unit in LEVEL_UNITS:
            self.unit.addItem(UNIT_LABELS[unit], unit)
        self.edit = QtWidgets.QLineEdit()
        validator = QtGui.QDoubleValidator(self)
        validator.setNotation(QtGui.QDoubleValidator.ScientificNotation)
        self.edit.setValidator(validator)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.unit)
        layout.addWidget(self.edit, 1)
        self._shown = ("", math.nan)
        self.edit.editingFinished.connect(self.changed)
        self.unit.currentIndexChanged.connect(lambda i: self.unit_changed.emit(self.unit.itemData(i)))

    def set(self, unit: str, value: float) -> None:
        blockers = (QtCore.QSignalBlocker(self.unit), QtCore.QSignalBlocker(self.edit))
        self.unit.setCurrentIndex(LEVEL_UNITS.index(unit))
        self._shown = (_fmt(value), float(value))  # the field rounds; keep the exact value
        self.edit.setText(self._shown[0])
        del blockers

    def get(self) -> tuple[str, float]:
        text = self.edit.text().strip()
        if text == self._shown[0]:
            return self.unit.currentData(), self._shown[1]
        try:
            value = float(text)
        except ValueError:
            value = math.nan  # rejected by DisplaySettings.validate with a message
        return self.unit.currentData(), value


class _MaskSection(QtWidgets.QGroupBox):
    """One checkbox per CXI mask bit, custom bits, polarity, no mask, colour and opacity."""

    changed = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__("Mask", parent)
        grid = QtWidgets.QGridLayout(self)
        self.bit_boxes: dict[int, QtWidgets.QCheckBox] = {}
        for i, bit in enumerate(MASK_BITS):
            # Bits Owl never named get a short label from their CXI meaning (0x10000).
            name = bit.owl_name or bit.cxi_meaning.split(" ")[0].replace("CXI_PIXEL_", "").replace("_", " ").lower()
            box = QtWidgets.QCheckBox(f"{name}")
            box.setToolTip(f"0x{bit.value:04X} ({bit.value}): {bit.cxi_meaning}")
            box.toggled.connect(self.changed)
            grid.addWidget(box, i // 2, i % 2)
            self.bit_boxes[bit.value] = box
        row = (len(MASK_BITS) + 1) // 2
        form = QtWidgets.QFormLayout()
        self.custom = QtWidgets.QLineEdit()
        self.custom.setValidator(QtGui.QRegularExpressionValidator(
            QtCore.QRegularExpression(r"(0[xX])?[0-9a-fA-F]{0,16}"), self))
        self.custom.setToolTip("Further bits to mask, in hexadecimal (for bits without a name)")
        self.custom.editingFinished.connect(self.changed)
        form.addRow("Custom bits (hex)", self.custom)
        self.invert = QtWidgets.QCheckBox("Invert polarity (non-zero = good)")
        self.invert.toggled.connect(self.changed)
        self.no_mask = QtWidgets.QCheckBox("No mask")
        self.no_mask.toggled.connect(self.changed)
        form.addRow(self.invert)
        form.addRow(self.no_mask)
        self.colour_button = QtWidgets.QPushButton()
        self.colour_button.setToolTip("Colour of masked pixels")
        self.colour_button.clicked.connect(self._pick_colour)
        form.addRow("Colour", self.colour_button)
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity_label = QtWidgets.QLabel()
        opacity_row = QtWidgets.QHBoxLayout()
        opacity_row.addWidget(self.opacity, 1)
        opacity_row.addWidget(self.opacity_label)
        form.addRow("Opacity", opacity_row)
        # Emit when a drag ends (a changed mask style re-renders nothing, but observers such as
        # the settings store need not see every intermediate value).
        self.opacity.valueChanged.connect(self._opacity_moved)
        self.opacity.sliderReleased.connect(self.changed)
        self.bits_label = QtWidgets.QLabel()
        self.bits_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        form.addRow(self.bits_label)
        grid.addLayout(form, row, 0, 1, 2)
        self._colour = (0, 0, 0)

    def _opacity_moved(self, value: int) -> None:
        self.opacity_label.setText(f"{value / 100:.2f}")
        if not self.opacity.isSliderDown():
            self.changed.emit()

    def _pick_colour(self) -> None:
        colour = QtWidgets.QColorDialog.getColor(QtGui.QColor(*self._colour), self, "Mask colour")
        if colour.isValid():
            self.set_colour((colour.red(), colour.green(), colour.blue()))
            self.changed.emit()

    def set_colour(self, colour) -> None:
        self._colour = tuple(int(c) for c in colour[:3])
        pixmap = QtGui.QPixmap(28, 14)
        pixmap.fill(QtGui.QColor(*self._colour))
        self.colour_button.setIcon(QtGui.QIcon(pixmap))
        self.colour_button.setText("#%02x%02x%02x" % self._colour)

    def out_bits(self) -> int:
        named = sum(v for v, box in self.bit_boxes.items() if box.isChecked())
        text = self.custom.text().strip().lower().removeprefix("0x")
        return named | (int(text, 16) if text else 0)

    def settings(self) -> MaskSettings:
        return MaskSettings(out_bits=self.out_bits(), invert=self.invert.isChecked(),
                            enabled=not self.no_mask.isChecked(), colour=self._colour,
                            opacity=self.opacity.value() / 100.0)

    def set_settings(self, m: MaskSettings) -> None:
        widgets = [*self.bit_boxes.values(), self.custom, self.invert, self.no_mask, self.opacity]
        blockers = [QtCore.QSignalBlocker(w) for w in widgets]
        for value, box in self.bit_boxes.items():
            box.setChecked(bool(m.out_bits & value))
        custom = m.out_bits & ~_KNOWN_BITS
        self.custom.setText(f"0x{custom:X}" if custom else "")
        self.invert.setChecked(m.invert)
        self.no_mask.setChecked(not m.enabled)
        self.opacity.setValue(int(round(m.opacity * 100)))
        self.opacity_label.setText(f"{m.opacity:.2f}")
        self.set_colour(m.colour)
        del blockers
        self.show_bits(m.out_bits)

    def show_bits(self, bits: int) -> None:
        self.bits_label.setText(f"maskOutBits = {bits} (0x{bits:X})")
        for box in self.bit_boxes.values():
            box.setEnabled(not self.no_mask.isChecked())


class DisplayPanel(QtWidgets.QWidget):
    """Editor of :class:`DisplaySettings` and :class:`MaskSettings` (see module docstring)."""

    settings_changed = QtCore.pyqtSignal(object)  # DisplaySettings
    mask_settings_changed = QtCore.pyqtSignal(object)  # MaskSettings

    def __init__(self, settings: DisplaySettings | None = None, mask: MaskSettings | None = None,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._settings = settings or DisplaySettings()
        self._mask = mask or MaskSettings()
        self._frame_levels: tuple[float, float] | None = None
        self._syncing = False
        self._build()
        self.set_settings(self._settings)
        self.set_mask_settings(self._mask)
        self.set_complex(False)

    # -- construction -----------------------------------------------------------------------------
    def _build(self) -> None:
        form = QtWidgets.QFormLayout()
        self.colormap = QtWidgets.QComboBox()
        self._fill_colormaps()
        self.colormap.activated.connect(self._edited)
        cmap_row = QtWidgets.QHBoxLayout()
        cmap_row.addWidget(self.colormap, 1)
        self.more_maps = QtWidgets.QToolButton()
        self.more_maps.setText("All…")
        self.more_maps.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        self.more_maps.setVisible("All" in COLORMAP_GROUPS)
        if "All" in COLORMAP_GROUPS:
            menu = QtWidgets.QMenu(self.more_maps)
            sub = menu.addMenu("All")
            for name in COLORMAP_GROUPS["All"]:
                sub.addAction(name, lambda n=name: self._choose_colormap(n))
            self.more_maps.setMenu(menu)
        cmap_row.addWidget(self.more_maps)
        form.addRow("Colormap", cmap_row)
        self.invert = QtWidgets.QCheckBox("Invert colormap")
        self.invert.toggled.connect(self._edited)
        form.addRow(self.invert)

        self.norm = QtWidgets.QComboBox()
        for n in NORMS:
            self.norm.addItem(NORM_LABELS[n], n)
        self.norm.currentIndexChanged.connect(self._edited)
        self.gamma = _GammaSpin()
        self.gamma.setToolTip("Exponent γ of the power normalisation (−10…10, not 0)")
        self.gamma.valueChanged.connect(self._gamma_edited)
        norm_row = QtWidgets.QHBoxLayout()
        norm_row.addWidget(self.norm, 1)
        norm_row.addWidget(QtWidgets.QLabel("γ"))
        norm_row.addWidget(self.gamma)
        form.addRow("Normalisation", norm_row)

        self.lo_end, self.hi_end = _LevelEnd(), _LevelEnd()
        for name, end in (("lo", self.lo_end), ("hi", self.hi_end)):
            end.changed.connect(self._edited)
            end.unit_changed.connect(lambda unit, n=name: self._unit_switched(n, unit))
        form.addRow("Lower level", self.lo_end)
        form.addRow("Upper level", self.hi_end)
        self.clamp = QtWidgets.QCheckBox("Clamp (values outside the levels get the end colours)")
        self.clamp.toggled.connect(self._edited)
        form.addRow(self.clamp)
        self.complex_label = QtWidgets.QLabel("Complex data")
        self.complex_mode = QtWidgets.QComboBox()
        for mode in COMPLEX_MODES:
            self.complex_mode.addItem(COMPLEX_LABELS[mode], mode)
        self.complex_mode.currentIndexChanged.connect(self._edited)
        form.addRow(self.complex_label, self.complex_mode)

        self.histogram = pg.PlotWidget()
        self.histogram.setFixedHeight(120)
        self.histogram.setMenuEnabled(False)
        self.histogram.setMouseEnabled(x=False, y=False)
        self.histogram.hideButtons()
        self.histogram.setLabel("left", "log₁₀(n+1)")
        self.hist_curve = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(120, 120, 200, 120),
                                          pen=(160, 160, 230))
        self.histogram.addItem(self.hist_curve)
        self.region = pg.LinearRegionItem(values=(0, 1), swapMode="block")
        self.region.setZValue(10)
        self.region.sigRegionChangeFinished.connect(self._region_dragged)
        self.histogram.addItem(self.region)
        self.levels_label = QtWidgets.QLabel("levels: –")
        self.levels_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.autoscale = QtWidgets.QPushButton("Autoscale now")
        self.autoscale.setToolTip("Fix the current frame's levels as values")
        self.autoscale.clicked.connect(self._autoscale_now)
        levels_row = QtWidgets.QHBoxLayout()
        levels_row.addWidget(self.levels_label, 1)
        levels_row.addWidget(self.autoscale)
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d04040")
        self.error_label.hide()

        self.mask_box = _MaskSection()
        self.mask_box.changed.connect(self._mask_edited)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.histogram)
        layout.addLayout(levels_row)
        layout.addWidget(self.error_label)
        layout.addWidget(self.mask_box)
        layout.addStretch(1)

    def _fill_colormaps(self) -> None:
        """Grouped entries: a disabled bold header per group, then its maps."""
        model = QtGui.QStandardItemModel(self.colormap)
        for group, names in COLORMAP_GROUPS.items():
            if group == "All":
                continue  # in the "All…" menu: too long for the combo
            header = QtGui.QStandardItem(group)
            header.setFlags(QtCore.Qt.NoItemFlags)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            model.appendRow(header)
            for name in names:
                item = QtGui.QStandardItem("  " + name)
                item.setData(name, QtCore.Qt.UserRole)
                model.appendRow(item)
        self.colormap.setModel(model)

    def _colormap_index(self, name: str) -> int:
        i = self.colormap.findData(name)
        if i < 0:  # a map from "All" (or a saved one) not in the groups: append it
            self.colormap.addItem("  " + name, name)
            i = self.colormap.count() - 1
        return i

    def _choose_colormap(self, name: str) -> None:
        self.colormap.setCurrentIndex(self._colormap_index(name))
        self._edited()

    # -- reading and writing the widgets ---------------------------------------------------------
    def settings(self) -> DisplaySettings:
        """The settings the widgets show (not validated)."""
        lo_unit, lo = self.lo_end.get()
        hi_unit, hi = self.hi_end.get()
        return DisplaySettings(
            colormap=self.colormap.currentData() or self._settings.colormap,
            invert_colormap=self.invert.isChecked(), norm=self.norm.currentData(),
            gamma=self.gamma.value(), lo_unit=lo_unit, lo=lo, hi_unit=hi_unit, hi=hi,
            clamp=self.clamp.isChecked(), complex_mode=self.complex_mode.currentData())

    def mask_settings(self) -> MaskSettings:
        return self.mask_box.settings()

    def set_settings(self, s: DisplaySettings) -> None:
        """Show ``s`` without emitting."""
        self._syncing = True
        try:
            self._settings = s
            self.colormap.setCurrentIndex(self._colormap_index(s.colormap))
            self.invert.setChecked(s.invert_colormap)
            self.norm.setCurrentIndex(NORMS.index(s.norm))
            self.gamma.setValue(s.gamma)
            self.gamma.accept_value()
            self.gamma.setEnabled(s.norm == "power")
            self.lo_end.set(s.lo_unit, s.lo)
            self.hi_end.set(s.hi_unit, s.hi)
            self.clamp.setChecked(s.clamp)
            self.complex_mode.setCurrentIndex(COMPLEX_MODES.index(s.complex_mode))
            self._show_error(None)
        finally:
            self._syncing = False

    def set_mask_settings(self, m: MaskSettings) -> None:
        """Show ``m`` without emitting."""
        self._mask = m
        self.mask_box.set_settings(m)

    def set_complex(self, is_complex: bool) -> None:
        """Show the complex-mode selector only for complex data (S5)."""
        self.complex_label.setVisible(is_complex)
        self.complex_mode.setVisible(is_complex)

    def set_frame_info(self, lo: float, hi: float, counts=None, edges=None) -> None:
        """Show the current frame's levels (data units) and histogram (raw counts per bin,
        ``len(edges) == len(counts) + 1``; plotted as log10(count + 1)). Emits nothing."""
        self._frame_levels = (float(lo), float(hi))
        self.levels_label.setText(f"levels: {_fmt(lo)} … {_fmt(hi)}")
        if counts is not None and edges is not None and len(edges) == len(counts) + 1:
            self.hist_curve.setData(np.asarray(edges, float), np.log10(np.asarray(counts, float) + 1.0))
        else:
            self.hist_curve.setData([], [])
        self._syncing = True
        try:
            self.region.setRegion((lo, hi))
        finally:
            self._syncing = False

    # -- user edits -----------------------------------------------------------------------------
    def _show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def _emit(self, s: DisplaySettings) -> None:
        try:
            s.validate()
        except ParameterError as err:
            self._show_error(str(err))
            return
        self._show_error(None)
        if s != self._settings:
            self._settings = s
            self.settings_changed.emit(s)

    def _edited(self, *_args) -> None:
        if self._syncing:
            return
        s = self.settings()
        self.gamma.setEnabled(s.norm == "power")
        self._emit(s)

    def _gamma_edited(self, _value: float) -> None:
        if not self._syncing and self.gamma.accept_value():
            self._edited()

    def _unit_switched(self, end: str, unit: str) -> None:
        """A new unit for one end gets a sensible value: the current level when switching to
        Value, the default percentile or range end otherwise."""
        if self._syncing:
            return
        widget = self.lo_end if end == "lo" else self.hi_end
        if unit == "value":
            if self._frame_levels is not None:
                value = self._frame_levels[0 if end == "lo" else 1]
            else:
                value = widget.get()[1]
        else:
            value = _RELATIVE_DEFAULTS[(end, unit)]
        widget.set(unit, value)
        self._edited()

    def _region_dragged(self, _region=None) -> None:
        """Dragging the histogram region sets both levels as values (D5)."""
        if self._syncing:
            return
        lo, hi = self.region.getRegion()
        if not lo < hi:
            return
        self._set_values(lo, hi)

    def _autoscale_now(self) -> None:
        """Fix the current frame's levels as values (D3)."""
        if self._frame_levels is not None:
            self._set_values(*self._frame_levels)

    def _set_values(self, lo: float, hi: float) -> None:
        self.lo_end.set("value", float(lo))
        self.hi_end.set("value", float(hi))
        self._edited()

    def _mask_edited(self) -> None:
        m = self.mask_box.settings()
        self.mask_box.show_bits(m.out_bits)
        try:
            m.validate()
        except ParameterError as err:
            self._show_error(str(err))
            return
        if m != self._mask:
            self._mask = m
            self.mask_settings_changed.emit(m)
        self.mask_box.set_settings(m)  # moves named bits typed as custom onto their checkboxes
