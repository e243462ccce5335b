"""The project form of the XSVS panel: geometry, exposures and analysis settings.

It shows a project read from a pyxsvs ``.ini`` and edits one over an open EDF series. Units as
in pyxsvs files: q in Å⁻¹, λ in Å, pixel size and distance in mm, exposure time in s. The
centre fields are ``cenx`` (column) and ``ceny`` (row) in the convention shown beside them.
No computation or file access happens here.
"""

from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

from owlx.core.xsvs_analysis import XsvsSettings
from owlx.core.xsvs_fit import FIT_METHODS, R1_FORMS
from owlx.core.xsvs_histogram import HISTOGRAM_MODES
from owlx.errors import ParameterError
from owlx.io.xsvs_project import CENTER_CONVENTIONS, XsvsProject

GEOMETRY_FIELDS = (  # project attribute, label
    ("q1", "q1 [Å⁻¹]"), ("q2", "q2 [Å⁻¹]"), ("qs", "qs [Å⁻¹]"), ("dq", "dq (half-width) [Å⁻¹]"),
    ("wavelength_A", "λ [Å]"), ("pix_mm", "pixel [mm]"), ("sddist_mm", "distance [mm]"),
    ("cenx", "cenx (column)"), ("ceny", "ceny (row)"),
)
EXPOSURE_COLUMNS = ("name", "first file", "last file", "exp time [s]")


class ProjectForm(QtWidgets.QWidget):
    """Geometry, exposures table and settings; :meth:`settings` and :meth:`geometry` read them."""

    changed = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        geo = QtWidgets.QFormLayout()
        self.fields: dict[str, QtWidgets.QLineEdit] = {}
        for name, label in GEOMETRY_FIELDS:
            edit = QtWidgets.QLineEdit()
            edit.editingFinished.connect(self.changed)
            self.fields[name] = edit
            geo.addRow(label, edit)
        self.convention = QtWidgets.QComboBox()
        self.convention.addItems(CENTER_CONVENTIONS)
        self.convention.setToolTip("how cenx/ceny are read: pyxsvs_1based (pyxsvs .ini files) or zero_based")
        self.convention.currentIndexChanged.connect(self.changed)
        geo.addRow("centre convention", self.convention)
        self.flat_path = QtWidgets.QLineEdit()
        self.mask_path = QtWidgets.QLineEdit()
        self.mask_path.setToolTip("pyxsvs mask file: 1 = excluded")
        geo.addRow("flat field", self.flat_path)
        geo.addRow("mask (1 = excluded)", self.mask_path)
        layout.addLayout(geo)

        self.table = QtWidgets.QTableWidget(0, len(EXPOSURE_COLUMNS))
        self.table.setHorizontalHeaderLabels(EXPOSURE_COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(110)
        rows = QtWidgets.QHBoxLayout()
        add, remove = QtWidgets.QPushButton("Add exposure"), QtWidgets.QPushButton("Remove")
        self.add_button, self.remove_button = add, remove
        add.clicked.connect(lambda: self.add_exposure(f"Exp_{self.table.rowCount() + 1}", 1, 1, 1e-3))
        remove.clicked.connect(self._remove_selected)
        rows.addWidget(add)
        rows.addWidget(remove)
        rows.addStretch(1)
        layout.addWidget(self.table)
        layout.addLayout(rows)

        opts = QtWidgets.QFormLayout()
        self.compat = QtWidgets.QCheckBox("pyxsvs-compatible (reproduces pyxsvs numbers)")
        self.fit_method = _combo(FIT_METHODS, "fit of M: lsq = least squares on log P (pyxsvs), mle = maximum likelihood")
        self.histogram_mode = _combo(HISTOGRAM_MODES, "exact: P(k) over all ring pixels; pyxsvs: numpy density")
        self.r1_form = _combo(R1_FORMS, "exact: 2P0P2/P1² − 1; pyxsvs: 2P2(1 − P1)/P1² − 1")
        self.use_flat = QtWidgets.QCheckBox("divide by the flat field")
        self.use_flat.setChecked(True)
        self.max_frames = QtWidgets.QSpinBox()
        self.max_frames.setRange(0, 10**7)
        self.max_frames.setSpecialValueText("all")
        self.max_frames.setToolTip("frames used per exposure (0 = all), for a quick look")
        self.compat.toggled.connect(self._compat_toggled)
        opts.addRow(self.compat)
        opts.addRow("fit", self.fit_method)
        opts.addRow("histogram", self.histogram_mode)
        opts.addRow("R−1", self.r1_form)
        opts.addRow(self.use_flat)
        opts.addRow("frames per exposure", self.max_frames)
        layout.addLayout(opts)

    # -- values ---------------------------------------------------------------------------------
    def show_project(self, project: XsvsProject) -> None:
        for name, _ in GEOMETRY_FIELDS:
            self.fields[name].setText(repr(float(getattr(project, name))))
        self.convention.setCurrentText(project.center_convention)
        self.flat_path.setText(project.flat_field_path or "")
        self.mask_path.setText(project.mask_path or "")
        self.table.setRowCount(0)
        for e in project.exposures:
            self.add_exposure(e.name, e.first_file, e.last_file, e.exp_time_s)

    def set_geometry(self, **values: float) -> None:
        for name, value in values.items():
            self.fields[name].setText(repr(float(value)))

    def geometry(self) -> dict:
        """The geometry fields as floats (ParameterError names a field that is not a number)."""
        out = {}
        for name, label in GEOMETRY_FIELDS:
            text = self.fields[name].text().strip()
            try:
                out[name] = float(text)
            except ValueError:
                raise ParameterError(f"{label}: '{text}' is not a number") from None
        return out

    def set_exposures_editable(self, editable: bool) -> None:
        """Exposures of an .ini project come from the file (read-only); over a series they are edited."""
        triggers = QtWidgets.QAbstractItemView.AllEditTriggers if editable else QtWidgets.QAbstractItemView.NoEditTriggers
        self.table.setEditTriggers(triggers)
        self.add_button.setEnabled(editable)
        self.remove_button.setEnabled(editable)

    def add_exposure(self, name: str, first: int, last: int, exp_time: float) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, value in enumerate((name, str(first), str(last), f"{exp_time:g}")):
            self.table.setItem(row, col, QtWidgets.QTableWidgetItem(value))

    def exposures(self) -> list[tuple[str, int, int, float]]:
        """(name, first file number, last file number, exposure time [s]) of every row."""
        out = []
        for row in range(self.table.rowCount()):
            cells = [(self.table.item(row, c).text().strip() if self.table.item(row, c) else "")
                     for c in range(len(EXPOSURE_COLUMNS))]
            try:
                out.append((cells[0] or f"Exp_{row + 1}", int(cells[1]), int(cells[2]), float(cells[3])))
            except ValueError:
                raise ParameterError(f"exposure row {row + 1}: first/last must be file numbers and the "
                                     "exposure time a number of seconds") from None
        return out

    def settings(self) -> XsvsSettings:
        if self.compat.isChecked():
            return XsvsSettings.compat(use_flat_field=self.use_flat.isChecked())
        return XsvsSettings(fit_method=self.fit_method.currentText(), histogram_mode=self.histogram_mode.currentText(),
                            r1_form=self.r1_form.currentText(), use_flat_field=self.use_flat.isChecked())

    def frames_limit(self) -> int | None:
        return self.max_frames.value() or None

    def _compat_toggled(self, on: bool) -> None:
        for w in (self.fit_method, self.histogram_mode, self.r1_form):
            w.setEnabled(not on)
        if on:
            self.convention.setCurrentText("pyxsvs_1based")

    def _remove_selected(self) -> None:
        for row in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)


def _combo(items, tip: str) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    box.addItems(items)
    box.setToolTip(tip)
    return box
