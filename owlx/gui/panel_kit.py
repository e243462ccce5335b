"""Small building blocks for plugin panels (Qt), usable by any plugin, including third-party ones.

* :class:`PanelJobs` runs a panel's jobs through its :class:`owlx.plugin.PanelContext`
  (``ctx.run_job``): it reports a job that did not finish (cancelled: on the panel's info label;
  failed: there and through ``ctx.error``), and for a *long* job keeps the running job, drives a
  progress bar, enables a Cancel button while it runs and disables the button that started it.
* :func:`connect_session` connects session signals to a widget's slots and disconnects them when
  the widget is destroyed (the session outlives panels and must never call into a deleted one).
* Form helpers: :func:`spin`, :func:`combo`, :func:`hbox`, :func:`row_widget`,
  :func:`controls_over_plots`, :func:`save_path`.

Only Qt widgets and the context are used here, never the main window, so a panel written with
this module keeps working when the window changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PyQt5 import QtCore, QtWidgets

from ..errors import OwlxError

__all__ = ["PanelJobs", "combo", "connect_session", "controls_over_plots", "hbox", "row_widget", "save_path", "spin"]

_FILTERS = {"hdf5": "HDF5 (*.h5 *.hdf5)", "csv": "CSV (*.csv)", "tiff": "TIFF (*.tif *.tiff)", "mrc": "MRC (*.mrc)"}


class PanelJobs:
    """Runs one panel's jobs and reports how they end.

    ``info``: the label that shows "<what> cancelled" / "<what> failed: …" (failures also go to
    ``ctx.error``). ``progress`` and ``cancel_button`` (both optional) serve the long job started
    with :meth:`start`; the Cancel button is connected to :meth:`cancel` here.
    """

    def __init__(self, ctx, info: QtWidgets.QLabel, progress: QtWidgets.QProgressBar | None = None,
                 cancel_button: QtWidgets.QAbstractButton | None = None):
        self.ctx = ctx
        self.info = info
        self.progress = progress
        self.cancel_button = cancel_button
        self.job = None  # the running long job; Cancel goes to the job itself, not to its handle
        if cancel_button is not None:
            cancel_button.setEnabled(False)
            cancel_button.clicked.connect(self.cancel)

    @property
    def busy(self) -> bool:
        """True while a long job started with :meth:`start` runs."""
        return self.job is not None

    # -- reporting ----------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        """Show ``message`` on the info label and report it through ``ctx.error``."""
        self.info.setText(message)
        self.ctx.error(message)

    def failed(self, outcome, what: str) -> bool:
        """Report a job that did not finish ("<what> cancelled" / "<what> failed: …"); True when
        it did not."""
        if outcome.status == "done":
            return False
        if outcome.status == "cancelled":
            self.info.setText(f"{what} cancelled")
        else:
            self.fail(f"{what} failed: {outcome.error}")
        return True

    def attempt(self, make: Callable[..., Any], *args, **kwargs) -> Any:
        """``make(*args, **kwargs)``, or None after reporting its :class:`OwlxError` (a user
        error such as a bad parameter or no open stack) with :meth:`fail`."""
        try:
            return make(*args, **kwargs)
        except OwlxError as err:
            self.fail(str(err))
            return None

    # -- running ------------------------------------------------------------------------------
    def run(self, job, what: str, on_done: Callable[[Any], None],
            button: QtWidgets.QAbstractButton | None = None) -> Any:
        """Run a short ``job``: ``on_done(value)`` when it finished, else it is reported with
        ``what``. ``button`` (the one that started it) is disabled meanwhile. Returns the job."""
        if button is not None:
            button.setEnabled(False)

        def finished(outcome) -> None:
            if button is not None:
                button.setEnabled(True)
            if not self.failed(outcome, what):
                on_done(outcome.value)

        self.ctx.run_job(job, on_progress=lambda done, total: None, on_finished=finished)
        return job

    def start(self, job, what: str, on_done: Callable[[Any], None], button: QtWidgets.QAbstractButton | None = None,
              on_result: Callable[[Any], None] | None = None) -> Any:
        """Run a long ``job`` (one at a time: check :attr:`busy` first): kept as :attr:`job`
        for :meth:`cancel`, progress on the bar, Cancel enabled and ``button`` disabled until it
        ends; ``on_result`` gets what it emits, ``on_done(value)`` its value when it finished
        (else it is reported with ``what``). Returns the job."""
        self.job = job
        if button is not None:
            button.setEnabled(False)
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(True)
        if self.progress is not None:
            self.progress.setValue(0)

        def finished(outcome) -> None:
            self.job = None
            if button is not None:
                button.setEnabled(True)
            if self.cancel_button is not None:
                self.cancel_button.setEnabled(False)
            if not self.failed(outcome, what):
                on_done(outcome.value)

        self.ctx.run_job(job, on_result=on_result, on_progress=self.show_progress, on_finished=finished)
        return job

    def show_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def cancel(self) -> None:
        """Ask the running long job to stop (it stops at its next check)."""
        if self.job is not None:
            self.job.cancel()


def connect_session(widget: QtWidgets.QWidget, pairs: Iterable[tuple[Any, Callable]]) -> None:
    """Connect each (psygnal signal, slot) of ``pairs`` now and disconnect them all when
    ``widget`` is destroyed, so the session never calls into a deleted widget."""
    pairs = list(pairs)
    for signal, slot in pairs:
        signal.connect(slot)

    def detach(*_args) -> None:
        for signal, slot in pairs:
            try:
                signal.disconnect(slot)
            except (ValueError, RuntimeError):
                pass

    widget.destroyed.connect(detach)


# -- form helpers ---------------------------------------------------------------------------------
def spin(lo: float, hi: float, value: float, decimals: int | None = None, step: float = 1, suffix: str = "",
         tip: str = "", special: str | None = None) -> QtWidgets.QAbstractSpinBox:
    """A QSpinBox (``decimals`` None) or a QDoubleSpinBox with ``decimals`` decimals, range
    [lo, hi], single step ``step``, value ``value``; ``special`` is shown at the minimum."""
    box = QtWidgets.QSpinBox() if decimals is None else QtWidgets.QDoubleSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)  # before the range and value, which it would round
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    if tip:
        box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)
    return box


def combo(items: Iterable[str], current: str | None = None, tip: str = "") -> QtWidgets.QComboBox:
    """A QComboBox of ``items`` showing ``current`` (default: the first)."""
    box = QtWidgets.QComboBox()
    box.addItems(list(items))
    if current is not None:
        box.setCurrentText(current)
    if tip:
        box.setToolTip(tip)
    return box


def hbox(*widgets: QtWidgets.QWidget) -> QtWidgets.QHBoxLayout:
    """A horizontal layout of ``widgets``, left to right."""
    layout = QtWidgets.QHBoxLayout()
    for w in widgets:
        layout.addWidget(w)
    return layout


def row_widget(*widgets: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """``widgets`` side by side in one widget without margins (one row of a QFormLayout)."""
    holder = QtWidgets.QWidget()
    layout = QtWidgets.QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w)
    return holder


def controls_over_plots(controls: QtWidgets.QWidget, plots: QtWidgets.QWidget) -> QtWidgets.QSplitter:
    """A vertical splitter: the (scrollable) parameter form ``controls`` above ``plots``."""
    scroll = QtWidgets.QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(controls)
    splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
    splitter.addWidget(scroll)
    splitter.addWidget(plots)
    return splitter


def save_path(parent: QtWidgets.QWidget, title: str, fmt: str) -> str:
    """Ask where to save a ``fmt`` file ("hdf5", "csv", "tiff", "mrc"); "" when cancelled."""
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, title, "", _FILTERS[fmt])
    return path
