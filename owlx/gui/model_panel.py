"""The Model panel (Ctrl+M): experiment, per-frame sphere parameters, fit settings, overlay
options, the fit buttons and batch sizing's scope (spec/viewer.md Mo1–Mo3, Mo7, Mo8, B1, B2).

The panel is a form and nothing more: it shows values, reports edits and button clicks through
signals, and computes nothing (the window runs the fits as jobs, :mod:`owlx.gui.window_model`).
Values are in the units users know and under Owl's dataset names (formats.md §2.3):

* file-wide (:meth:`general_values`): ``photonWavelengthNM`` (with the photon energy in eV kept
  in step, E[eV] = hc/λ), ``detectorDistanceMM``, ``detectorPixelSizeUM``,
  ``detectorQuantumEfficiency``, ``detectorADUPhoton``, ``materialType``, ``_maximumShift``,
  ``_blurRadius``, ``_nrEval``, ``_doPhotonCounting`` and the four method names;
* per frame (:meth:`frame_values`): ``offCenterX``/``offCenterY`` (px, offset from the array
  middle ((W−1)/2, (H−1)/2)), ``diameterNM``, ``intensityMJUM2`` (mJ/µm²), ``maskRadius`` (px);
* batch (:meth:`batch_choice`): all frames in view order, the frames with a tag, or the selected
  frame; "skip frames already fitted";
* overlay (:meth:`overlay_options`): split (``_visibility`` × 100), minima grey level
  (``_modelMinimaAlpha`` × 100), model on the left, Poisson sampling, show mask.

Filling the fields from code (:meth:`set_general`, :meth:`set_frame`) never emits the edit signals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PyQt5 import QtCore, QtWidgets

from ..core.sphere import energy_eV_from_wavelength, wavelength_from_energy_eV
from ..core.sphere_records import OWL_MODEL_DEFAULTS, owl_standard_errors
from ..io.materials_data import preset_names

CENTER_METHODS = ("blurred", "quadrant", "none")
DIAMETER_METHODS = ("pearson", "pixelwise", "none")
INTENSITY_METHODS = ("nrphotons", "pixelwise")
MODEL_METHODS = ("fast", "refine")
FIT_BUTTONS = (("center", "Find centre"), ("diameter", "Fit diameter"), ("intensity", "Fit intensity"),
               ("model", "Fit model"), ("recipe", "Run recipe"))
#: batch scope (owlx.sizing.BATCH_SCOPES) -> the text the scope box shows
BATCH_SCOPE_TEXT = {"view": "All frames (view order)", "tag": "Frames with tag", "selected": "Selected frame"}
FRAME_NAMES = ("offCenterX", "offCenterY", "diameterNM", "intensityMJUM2", "maskRadius")
ERROR_NAMES = ("fitError", "fitErrorOffCenterX", "fitErrorOffCenterY", "fitErrorDiameterNM",
               "fitErrorIntensityMJUM2")


@dataclass(frozen=True)
class BatchChoice:
    """What "Fit batch" fits: ``scope`` (``view``, ``tag`` or ``selected``), the tag name for
    the tag scope (None when there is none), and whether already fitted frames are skipped."""

    scope: str = "view"
    tag: str | None = None
    skip_fitted: bool = False


@dataclass(frozen=True)
class OverlayOptions:
    """How the model overlay is drawn: ``split`` and ``minima`` are fractions 0–1."""

    show: bool = True
    split: float = 0.5
    model_on_left: bool = False
    minima: float = 0.5
    poisson: bool = False
    show_mask: bool = False


def _spin(lo: float, hi: float, decimals: int, step: float = 1.0, suffix: str = "") -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setKeyboardTracking(False)  # one signal when the user finishes typing, not per key
    if suffix:
        box.setSuffix(suffix)
    return box


def _int_spin(lo: int, hi: int) -> QtWidgets.QSpinBox:
    box = QtWidgets.QSpinBox()
    box.setRange(lo, hi)
    box.setKeyboardTracking(False)
    return box


def _combo(items) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    box.addItems(list(items))
    return box


class ModelPanel(QtWidgets.QWidget):
    """The Model panel. Signals:

    * ``general_edited(name, value)``: a file-wide parameter was changed by the user;
    * ``frame_edited(values)``: per-frame values ({Owl name: value}) were changed by the user;
    * ``overlay_changed()``: an overlay option changed;
    * ``fit_requested(step)``: ``center``, ``diameter``, ``intensity``, ``model`` or ``recipe``;
    * ``batch_requested()`` / ``cancel_requested()``: Fit batch (on :meth:`batch_choice`) / Cancel.
    """

    general_edited = QtCore.pyqtSignal(str, object)
    frame_edited = QtCore.pyqtSignal(dict)
    overlay_changed = QtCore.pyqtSignal()
    fit_requested = QtCore.pyqtSignal(str)
    batch_requested = QtCore.pyqtSignal()
    cancel_requested = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._filling = False
        self._batch_running = False
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        # What changes per frame and the buttons first; the file-wide experiment is set once.
        experiment = self._build_experiment()  # builds the widgets the settings group extends
        layout.addWidget(self._build_frame())
        layout.addWidget(self._build_buttons())
        layout.addWidget(self._build_overlay())
        layout.addWidget(self._build_settings())
        layout.addWidget(experiment)
        layout.addStretch(1)

    # -- construction ---------------------------------------------------------------------------
    def _build_experiment(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Experiment")
        form = QtWidgets.QFormLayout(box)
        self.energy = _spin(1000.0, 20000.0, 2, 10.0, " eV")
        self.wavelength = _spin(0.062, 1.24, 7, 0.001, " nm")
        self.distance = _spin(1.0, 100000.0, 2, 10.0, " mm")
        self.pixel_size = _spin(0.1, 10000.0, 3, 1.0, " µm")
        self.qe = _spin(0.001, 1.0, 3, 0.01)
        self.adu = _spin(0.0001, 1e6, 4, 1.0)
        self.material = _combo(preset_names())
        self.origin = {}
        self._general_widgets = {
            "photonWavelengthNM": self.wavelength, "detectorDistanceMM": self.distance,
            "detectorPixelSizeUM": self.pixel_size, "detectorQuantumEfficiency": self.qe,
            "detectorADUPhoton": self.adu, "materialType": self.material,
        }
        rows = (("Photon energy", self.energy, None), ("Wavelength", self.wavelength, "photonWavelengthNM"),
                ("Detector distance", self.distance, "detectorDistanceMM"),
                ("Pixel size", self.pixel_size, "detectorPixelSizeUM"),
                ("Quantum efficiency", self.qe, "detectorQuantumEfficiency"),
                ("ADU per photon", self.adu, "detectorADUPhoton"), ("Material", self.material, "materialType"))
        for label, widget, name in rows:
            if name is None:
                form.addRow(label, widget)
                continue
            origin = QtWidgets.QLabel()
            origin.setStyleSheet("color: gray")
            self.origin[name] = origin
            row = QtWidgets.QHBoxLayout()
            row.addWidget(widget, 1)
            row.addWidget(origin)
            form.addRow(label, row)
        self.energy.valueChanged.connect(self._energy_edited)
        self.wavelength.valueChanged.connect(self._wavelength_edited)
        for name, widget in self._general_widgets.items():
            if name != "photonWavelengthNM":
                self._connect(widget, lambda *_, n=name: self._general_changed(n))
        return box

    def _build_frame(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Sphere (selected frame)")
        form = QtWidgets.QFormLayout(box)
        self.center_x = _spin(-10000.0, 10000.0, 2, 0.5, " px")
        self.center_y = _spin(-10000.0, 10000.0, 2, 0.5, " px")
        self.diameter = _spin(0.1, 100000.0, 3, 1.0, " nm")
        self.intensity = _spin(0.0, 1e9, 5, 0.1, " mJ/µm²")
        self.mask_radius = _spin(1.0, 100000.0, 1, 10.0, " px")
        self._frame_widgets = dict(zip(FRAME_NAMES, (self.center_x, self.center_y, self.diameter,
                                                     self.intensity, self.mask_radius)))
        for label, (name, widget) in zip(("Centre x", "Centre y", "Diameter", "Intensity", "Mask radius"),
                                         self._frame_widgets.items()):
            widget.setValue(OWL_MODEL_DEFAULTS[name])
            form.addRow(label, widget)
            widget.valueChanged.connect(self._frame_changed)
        self.error_labels = {}
        for name, label in zip(ERROR_NAMES, ("Fit error", "σ centre x", "σ centre y",
                                             "σ diameter", "σ intensity")):
            self.error_labels[name] = QtWidgets.QLabel("–")
            self.error_labels[name].setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
            form.addRow(label, self.error_labels[name])
        return box

    def _build_settings(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Fit settings")
        form = QtWidgets.QFormLayout(box)
        self.max_shift = _int_spin(0, 1000)
        self.blur_radius = _int_spin(1, 100)
        self.n_eval = _int_spin(0, 10000)
        self.photon_counting = QtWidgets.QCheckBox()
        self.center_method = _combo(CENTER_METHODS)
        self.diameter_method = _combo(DIAMETER_METHODS)
        self.intensity_method = _combo(INTENSITY_METHODS)
        self.model_method = _combo(MODEL_METHODS)
        settings = {
            "_maximumShift": ("Maximum shift [px]", self.max_shift),
            "_blurRadius": ("Blur radius [px]", self.blur_radius),
            "_nrEval": ("Brute-force evaluations", self.n_eval),
            "_doPhotonCounting": ("Photon counting", self.photon_counting),
            "_findCenterMethod": ("Find centre method", self.center_method),
            "_fitDiameterMethod": ("Diameter method", self.diameter_method),
            "_fitIntensityMethod": ("Intensity method", self.intensity_method),
            "_fitModelMethod": ("Model method", self.model_method),
        }
        for name, (label, widget) in settings.items():
            form.addRow(label, widget)
            self._general_widgets[name] = widget
            self._connect(widget, lambda *_, n=name: self._general_changed(n))
        return box

    def _build_overlay(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Overlay")
        form = QtWidgets.QFormLayout(box)
        self.show_model = QtWidgets.QCheckBox("Show model")
        self.show_model.setChecked(True)
        self.split = _int_spin(0, 100)
        self.split.setSuffix(" %")
        self.split.setValue(50)
        self.split.setToolTip("The model replaces the data to the right of x = split × width (Owl's \"Model [%]\")")
        self.model_on_left = QtWidgets.QCheckBox("Model on left")
        self.minima = _int_spin(0, 100)
        self.minima.setSuffix(" %")
        self.minima.setValue(50)
        self.minima.setToolTip("Grey level of the dashed minima rings")
        self.poisson = QtWidgets.QCheckBox("Poisson sampling")
        self.show_mask = QtWidgets.QCheckBox("Show mask")
        form.addRow(self.show_model)
        form.addRow("Model [%]", self.split)
        form.addRow(self.model_on_left)
        form.addRow("Minima [%]", self.minima)
        form.addRow(self.poisson)
        form.addRow(self.show_mask)
        for widget in (self.show_model, self.split, self.model_on_left, self.minima, self.poisson, self.show_mask):
            self._connect(widget, self._overlay_edited)
        return box

    def _build_buttons(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        self.buttons = {}
        for k, (step, text) in enumerate(FIT_BUTTONS):
            button = QtWidgets.QPushButton(text)
            button.clicked.connect(lambda _=False, s=step: self.fit_requested.emit(s))
            self.buttons[step] = button
            grid.addWidget(button, k // 2, k % 2)
        # Batch sizing (B1, B2): scope, its tag, "skip fitted", then Fit batch / Cancel and the
        # live summary, kept to four short rows.
        row = len(FIT_BUTTONS) // 2 + 1
        self.batch_scope = QtWidgets.QComboBox()
        for scope, text in BATCH_SCOPE_TEXT.items():
            self.batch_scope.addItem(text, scope)
        self.batch_scope.setToolTip("Frames the batch fits: the display order (after sorting and filters), "
                                    "the frames of the display order carrying a tag, or the selected frame")
        self.batch_tag = QtWidgets.QComboBox()
        self.batch_tag.setToolTip("The tag whose frames the batch fits")
        self.batch_tag.setEnabled(False)
        self.batch_skip = QtWidgets.QCheckBox("Skip frames already fitted")
        self.batch_skip.setToolTip("Leave out frames with a finite fit error (failed frames are fitted again)")
        self.batch_scope.currentIndexChanged.connect(self._batch_scope_changed)
        grid.addWidget(self.batch_scope, row, 0)
        grid.addWidget(self.batch_tag, row, 1)
        grid.addWidget(self.batch_skip, row + 1, 0, 1, 2)
        self.batch_button = QtWidgets.QPushButton("Fit batch")
        self.batch_button.setToolTip("Run the recipe on every frame of the chosen scope, as a job (Cancel keeps "
                                     "the frames done)")
        self.batch_button.clicked.connect(self.batch_requested.emit)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        grid.addWidget(self.batch_button, row + 2, 0)
        grid.addWidget(self.cancel_button, row + 2, 1)
        self.batch_label = QtWidgets.QLabel("")
        self.batch_label.setWordWrap(True)
        self.batch_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        grid.addWidget(self.batch_label, row + 3, 0, 1, 2)
        return box

    @staticmethod
    def _connect(widget, slot) -> None:
        if isinstance(widget, QtWidgets.QComboBox):
            widget.currentTextChanged.connect(slot)
        elif isinstance(widget, QtWidgets.QCheckBox):
            widget.toggled.connect(slot)
        else:
            widget.valueChanged.connect(slot)

    # -- reading --------------------------------------------------------------------------------
    def general_values(self) -> dict:
        """File-wide parameters under Owl's names and units."""
        out = {}
        for name, w in self._general_widgets.items():
            if isinstance(w, QtWidgets.QComboBox):
                out[name] = w.currentText()
            elif isinstance(w, QtWidgets.QCheckBox):
                out[name] = int(w.isChecked())
            elif isinstance(w, QtWidgets.QSpinBox):
                out[name] = int(w.value())
            else:
                out[name] = float(w.value())
        return out

    def frame_values(self) -> dict:
        """Per-frame parameters: centre offsets [px], diameter [nm], intensity [mJ/µm²], mask radius [px]."""
        return {name: float(w.value()) for name, w in self._frame_widgets.items()}

    def start(self) -> tuple[float, float, float, float]:
        """(cx px, cy px, diameter nm, intensity mJ/µm²): where a fit starts."""
        v = self.frame_values()
        return v["offCenterX"], v["offCenterY"], v["diameterNM"], v["intensityMJUM2"]

    def batch_choice(self) -> BatchChoice:
        """The batch scope, tag and "skip frames already fitted" as chosen."""
        scope = self.batch_scope.currentData()
        tag = self.batch_tag.currentText() if scope == "tag" and self.batch_tag.count() else None
        return BatchChoice(scope, tag, self.batch_skip.isChecked())

    def set_batch_choice(self, choice: BatchChoice) -> None:
        """Show a batch choice (a tag not listed is ignored)."""
        self.batch_scope.setCurrentIndex(max(0, self.batch_scope.findData(choice.scope)))
        if choice.tag is not None and self.batch_tag.findText(choice.tag) >= 0:
            self.batch_tag.setCurrentText(choice.tag)
        self.batch_skip.setChecked(choice.skip_fitted)

    def set_tag_names(self, names) -> None:
        """The tags the tag scope offers; the chosen tag stays chosen while it exists, and a
        renamed one (same row) stays chosen under its new name."""
        names = list(names)
        box = self.batch_tag
        old, row = box.currentText(), box.currentIndex()
        if names == [box.itemText(k) for k in range(box.count())]:
            return
        box.blockSignals(True)
        box.clear()
        box.addItems(names)
        if old in names:
            box.setCurrentIndex(names.index(old))
        elif 0 <= row < len(names):
            box.setCurrentIndex(row)
        box.blockSignals(False)
        self._batch_scope_changed()

    def overlay_options(self) -> OverlayOptions:
        return OverlayOptions(self.show_model.isChecked(), self.split.value() / 100.0, self.model_on_left.isChecked(),
                              self.minima.value() / 100.0, self.poisson.isChecked(), self.show_mask.isChecked())

    # -- filling (no edit signals) --------------------------------------------------------------
    def set_general(self, values: dict, origin: dict | None = None) -> None:
        """Show file-wide values (Owl's names); ``origin`` maps names to "model", "file" or "seed"."""
        self._filling = True
        try:
            for name, value in values.items():
                w = self._general_widgets.get(name)
                if w is None:
                    continue
                if isinstance(w, QtWidgets.QComboBox):
                    text = str(value).strip().lower()
                    if w.findText(text) < 0:
                        w.addItem(text)  # a material or method this build does not list
                    w.setCurrentText(text)
                elif isinstance(w, QtWidgets.QCheckBox):
                    w.setChecked(bool(int(value)))
                elif isinstance(w, QtWidgets.QSpinBox):
                    w.setValue(round(float(value)))
                else:
                    w.setValue(float(value))
            self._sync_energy()
            for name, label in self.origin.items():
                where = (origin or {}).get(name, "")
                label.setText({"model": "saved", "file": "from file", "seed": "default"}.get(where, where))
        finally:
            self._filling = False

    def reset_frame(self) -> None:
        """Owl's defaults (centre 0, 0; 100 nm; 1 mJ/µm²; mask radius 300 px), no fit errors."""
        self.set_frame({**OWL_MODEL_DEFAULTS, **{name: math.nan for name in ERROR_NAMES}})

    def set_frame(self, values: dict) -> None:
        """Show a frame's values (Owl's names); missing fit errors show as "–"."""
        self._filling = True
        try:
            for name, w in self._frame_widgets.items():
                if name in values and math.isfinite(values[name]):
                    w.setValue(float(values[name]))
            # Owl stores variances in its own units; a person reads standard errors.
            sigma = owl_standard_errors(values)
            shown = {"fitError": (values.get("fitError", math.nan), ""),
                     "fitErrorOffCenterX": (sigma["centre_x"], " px"),
                     "fitErrorOffCenterY": (sigma["centre_y"], " px"),
                     "fitErrorDiameterNM": (sigma["diameter"], " nm"),
                     "fitErrorIntensityMJUM2": (sigma["intensity"], " mJ/µm²")}
            for name, label in self.error_labels.items():
                v, unit = shown[name]
                label.setText(f"{'' if name == 'fitError' else '± '}{v:.3g}{unit}" if math.isfinite(v) else "–")
        finally:
            self._filling = False

    def set_overlay_options(self, options: OverlayOptions) -> None:
        self._filling = True
        try:
            self.show_model.setChecked(options.show)
            self.split.setValue(round(options.split * 100))
            self.model_on_left.setChecked(options.model_on_left)
            self.minima.setValue(round(options.minima * 100))
            self.poisson.setChecked(options.poisson)
            self.show_mask.setChecked(options.show_mask)
        finally:
            self._filling = False

    def set_fitting(self, busy: bool) -> None:
        """Disable the fit buttons while a fit or a batch on this file runs (spec/sphere.md §5.3)."""
        for b in self.buttons.values():
            b.setEnabled(not busy)

    def set_batch_state(self, running: bool, text: str = "") -> None:
        """Buttons and scope while a batch runs (the scope is fixed for the run), and its summary."""
        self._batch_running = running
        self.batch_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.batch_scope.setEnabled(not running)
        self.batch_skip.setEnabled(not running)
        self._batch_scope_changed()
        self.batch_label.setText(text)
        self.set_fitting(running)

    def _batch_scope_changed(self, *_args) -> None:
        on = self.batch_scope.currentData() == "tag" and self.batch_tag.count() > 0
        self.batch_tag.setEnabled(on and not self._batch_running)

    # -- edits ----------------------------------------------------------------------------------
    def _sync_energy(self) -> None:
        self.energy.blockSignals(True)
        self.energy.setValue(energy_eV_from_wavelength(self.wavelength.value() * 1e-9))
        self.energy.blockSignals(False)

    def _energy_edited(self, value: float) -> None:
        self.wavelength.blockSignals(True)
        self.wavelength.setValue(wavelength_from_energy_eV(value) * 1e9)
        self.wavelength.blockSignals(False)
        if not self._filling:
            self._general_changed("photonWavelengthNM")

    def _wavelength_edited(self, _value: float) -> None:
        self._sync_energy()
        if not self._filling:
            self._general_changed("photonWavelengthNM")

    def _general_changed(self, name: str) -> None:
        if self._filling:
            return
        if name in self.origin:
            self.origin[name].setText("edited")
        self.general_edited.emit(name, self.general_values()[name])

    def _frame_changed(self, *_args) -> None:
        if not self._filling:
            self.frame_edited.emit(self.frame_values())

    def _overlay_edited(self, *_args) -> None:
        if not self._filling:
            self.overlay_changed.emit()
