"""Status-bar widgets: pixel readout, frame position, background-job indicator with Cancel, and
an error indicator whose click shows the details (spec/viewer.md W3, W4, P1)."""

from __future__ import annotations

import math

from PyQt5 import QtCore, QtWidgets

from .qt_jobs import QtJobRunner


def format_value(value) -> str:
    """A pixel value as a person reads it: integers plain, floats with 5 significant digits."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, complex):
        return f"{value.real:.5g}{value.imag:+.5g}j"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isfinite(f) and f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return f"{f:.5g}"


def format_readout(x: int, y: int, value, mask_names=(), q_per_m=None, d_m=None, angstrom=False) -> str:
    """``x 12  y 40  value 3.5  [hot]  q 0.1278 nm⁻¹ (0.01278 Å⁻¹)  d 49.18 nm`` (spec/viewer.md
    P1); ``angstrom`` gives d in Å."""
    parts = [f"x {x}", f"y {y}", f"value {format_value(value)}"]
    if mask_names:
        parts.append("[" + ", ".join(mask_names) + "]")
    if q_per_m is not None:
        # q in both units users quote (nm⁻¹ in FXI papers, Å⁻¹ at synchrotrons).
        parts.append(f"q {q_per_m * 1e-9:.4g} nm⁻¹ ({q_per_m * 1e-10:.4g} Å⁻¹)")
        if not math.isfinite(d_m):
            parts.append("d ∞")
        else:
            parts.append(f"d {d_m * 1e10:.4g} Å" if angstrom else f"d {d_m * 1e9:.4g} nm")
    return "   ".join(parts)


class JobIndicator(QtWidgets.QWidget):
    """Progress of the running background jobs with one Cancel button for all of them."""

    def __init__(self, runner: QtJobRunner, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.label = QtWidgets.QLabel(self)
        self.bar = QtWidgets.QProgressBar(self)
        self.bar.setMaximumWidth(140)
        self.bar.setMaximumHeight(14)
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.cancel_button.setFocusPolicy(QtCore.Qt.NoFocus)
        self.cancel_button.clicked.connect(runner.cancel_all)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        runner.jobs_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        active = self.runner.active
        self.setVisible(bool(active))
        if not active:
            return
        h = active[0]
        more = f" (+{len(active) - 1})" if len(active) > 1 else ""
        self.label.setText(f"{h.name}{more}")
        if h.total:
            self.bar.setRange(0, h.total)
            self.bar.setValue(h.done)
        else:
            self.bar.setRange(0, 0)  # busy indicator


class ErrorIndicator(QtWidgets.QToolButton):
    """Collects errors of background work; a click shows them (no modal box per error)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.errors: list[tuple[str, str]] = []
        self.setAutoRaise(True)
        self.setFocusPolicy(QtCore.Qt.NoFocus)
        self.setIcon(self.style().standardIcon(QtWidgets.QStyle.SP_MessageBoxWarning))
        self.clicked.connect(self.show_details)
        self.setVisible(False)

    def add(self, summary: str, details: str = "") -> None:
        self.errors.append((summary, details or summary))
        self.setText(str(len(self.errors)))
        self.setToolButtonStyle(QtCore.Qt.ToolButtonTextBesideIcon)
        self.setToolTip(summary)
        self.setVisible(True)

    def show_details(self) -> None:
        box = QtWidgets.QMessageBox(self.window())
        box.setIcon(QtWidgets.QMessageBox.Warning)
        box.setWindowTitle("owlx — problems")
        box.setText("\n".join(s for s, _ in self.errors[-10:]))
        box.setDetailedText("\n\n".join(d for _, d in self.errors))
        box.exec_()
        self.errors.clear()
        self.setVisible(False)
