"""The "Beam centre" box of the XSVS panel (spec/xsvs.md §8).

"Find centre" runs :func:`owlx.xsvs_beam.centre_job` through ``ctx.run_job`` (progress in the
box, cancellable) on the static of the chosen exposure and shows the centre ± its uncertainty
(0-based (row, col) and the file values cenx/ceny); the found centre is marked on the image.
"Use this centre" is the separate, explicit step that copies it into the form's cenx (column)
and ceny (row) fields, converted with the form's centre convention; nothing is written to the
``.ini``. In pyxsvs-compatible mode the file's centre is used unchanged, so finding is disabled.
"""

from __future__ import annotations

from PyQt5 import QtWidgets

from owlx.errors import OwlxError
from owlx.io.xsvs_project import center_to_file
from owlx.xsvs_beam import CentreFinding, centre_job

LONGEST = "longest exposure"
COMPAT_NOTE = "pyxsvs-compatible mode: the centre of the file is used unchanged (no beam finding)"


class CentreFinder(QtWidgets.QGroupBox):
    """Find the beam centre as a job, show it, and put it into the form on request.
    ``finding`` is the last :class:`CentreFinding` (None before), ``last_outcome`` the status
    of the last job."""

    def __init__(self, ctx, panel, parent=None):
        super().__init__("Beam centre", parent)
        self.ctx, self.panel = ctx, panel
        self.finding: CentreFinding | None = None
        self.handle = None
        self.last_outcome: str | None = None
        self.exposure = QtWidgets.QComboBox()
        self.exposure.addItem(LONGEST)
        self.exposure.setToolTip("the exposure whose static (first 200 frames) the centre is found on; "
                                 "one with more counts gives a tighter centre")
        self.refine = QtWidgets.QCheckBox("sector refinement")
        self.refine.setToolTip("refine by the symmetry of four ±5° sectors at ±45°/±135° (log intensity, "
                               "radii 25–100 px)")
        self.find_button = QtWidgets.QPushButton("Find centre")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.use_button = QtWidgets.QPushButton("Use this centre")
        self.cancel_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.use_button.setToolTip("copy the found centre into cenx/ceny of the form (the .ini is not changed)")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.result = QtWidgets.QLabel("")
        self.result.setWordWrap(True)
        self.find_button.clicked.connect(self.find)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.use_centre)
        panel.form.compat.toggled.connect(self._compat_changed)
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        for w in (QtWidgets.QLabel("static of"), self.exposure, self.refine):
            row.addWidget(w)
        row.addStretch(1)
        buttons = QtWidgets.QHBoxLayout()
        for w in (self.find_button, self.cancel_button, self.use_button):
            buttons.addWidget(w)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        self._compat_changed(panel.form.compat.isChecked())

    def set_exposure_names(self, names) -> None:
        """The exposures to choose from (the form's table), keeping the current choice."""
        keep = self.exposure.currentText()
        self.exposure.blockSignals(True)
        self.exposure.clear()
        self.exposure.addItems([LONGEST, *names])
        index = self.exposure.findText(keep)
        self.exposure.setCurrentIndex(max(index, 0))
        self.exposure.blockSignals(False)

    def _compat_changed(self, on: bool) -> None:
        self.find_button.setEnabled(not on and self.handle is None)
        self.use_button.setEnabled(not on and self.finding is not None)
        self.find_button.setToolTip(COMPAT_NOTE if on else "find the beam centre on the static image (a job)")
        if on:
            self.result.setText(COMPAT_NOTE)
        elif self.result.text() == COMPAT_NOTE:
            self.result.setText(self.finding.describe() if self.finding is not None else "")

    def find(self) -> bool:
        """Start the centre job (errors go to the status bar, nothing modal)."""
        if self.panel.form.compat.isChecked():
            self.ctx.status(COMPAT_NOTE)
            return False
        if self.handle is not None:
            self.ctx.status("the beam centre is already being found; cancel it first")
            return False
        try:
            project = self.panel.build_project()
            settings = self.panel.form.settings()
        except OwlxError as err:
            self.ctx.error(str(err))
            return False
        choice = self.exposure.currentText()
        job = centre_job(project, settings, exposure=None if choice in ("", LONGEST) else choice,
                         refine_sectors=self.refine.isChecked())
        self.find_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.last_outcome = None
        self.result.setText("finding the beam centre…")
        self.handle = self.ctx.run_job(job, on_progress=self._on_progress, on_finished=self._on_finished)
        return True

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _on_finished(self, outcome) -> None:
        self.handle = None
        self.last_outcome = outcome.status
        self.cancel_button.setEnabled(False)
        self.find_button.setEnabled(not self.panel.form.compat.isChecked())
        if outcome.status == "done":
            self.finding = outcome.value
            est = self.finding.estimate
            self.result.setText(self.finding.describe())
            self.ctx.overlay("found centre").set_points([est.col0], [est.row0], color="m", size=14, symbol="x")
            self.use_button.setEnabled(not self.panel.form.compat.isChecked())
        elif outcome.status == "cancelled":
            self.result.setText("centre finding cancelled")
        else:
            self.result.setText("centre finding failed")
            self.ctx.error(str(outcome.error))

    def use_centre(self) -> bool:
        """Put the found centre into the form's cenx/ceny (in the form's convention, rounded to
        0.001 px); the rings are redrawn. The .ini is not written."""
        if self.finding is None or self.panel.form.compat.isChecked():
            return False
        est = self.finding.estimate
        convention = self.panel.form.convention.currentText()
        cenx, ceny = center_to_file(est.row0, est.col0, convention)
        self.panel.form.set_geometry(cenx=round(cenx, 3), ceny=round(ceny, 3))
        self.panel.form.changed.emit()
        self.ctx.status(f"centre set to cenx = {cenx:.3f}, ceny = {ceny:.3f} ({convention}); "
                        "the .ini file is unchanged")
        return True
