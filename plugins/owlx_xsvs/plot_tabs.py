"""The tabs that hold the XSVS plots (spec/xsvs.md §12), with the selectors each needs, and PNG
export of any of them.

Tabs, in order: P(K) for one q (all exposures), β(t_e), trace, fit parameters, the P(K) grid
(one panel per q for one exposure) and the ring overlay (static, mask and ring boundaries).
Only the visible tab is redrawn when results arrive; the others when they are shown.

The ring overlay's image (log static, percentile levels, RGBA mask: ~200 ms at 2048²) is rebuilt
only when the static shown or the mask changes; a form edit that moves the rings (centre, q, dq,
geometry) only moves the boundary circles.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # registers pg.exporters
from PyQt5 import QtWidgets

from owlx.errors import ParameterError

from .plots import BetaPlot, FitParamsPlot, HistogramPlot, TracePlot
from .plots_grid import HistogramGrid
from .plots_rings import RingOverlayPlot

TAB_TITLES = ("P(K)", "β(t_e)", "Trace", "Fit parameters", "P(K) grid", "Rings")


def export_png(widget, path: str, width: int | None = None) -> str:
    """Write a plot widget (PlotWidget or GraphicsLayoutWidget) as a PNG (optionally ``width``
    pixels wide), as pyqtgraph's own "Export…" menu does. Returns the path."""
    item = widget.plotItem if isinstance(widget, pg.PlotWidget) else widget.ci
    exporter = pg.exporters.ImageExporter(item)
    if width:
        exporter.parameters()["width"] = int(width)
    exporter.export(os.fspath(path))
    return os.fspath(path)


class XsvsPlots(QtWidgets.QTabWidget):
    """The six plots in tabs, with the selectors each needs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.exposures: list = []
        self.q_values = np.zeros(0)
        self.ring_geometry: dict | None = None
        self._valid: np.ndarray | None = None
        self._ring_image_key: tuple | None = None  # (static, valid) objects behind the overlay image
        self.histogram = HistogramPlot()
        self.beta = BetaPlot()
        self.trace = TracePlot()
        self.params = FitParamsPlot()
        self.grid = HistogramGrid()
        self.rings = RingOverlayPlot()
        self.q_choice = QtWidgets.QComboBox()
        self.exp_choice = QtWidgets.QComboBox()
        self.exp_choice_params = QtWidgets.QComboBox()
        self.exp_choice_grid = QtWidgets.QComboBox()
        self.exp_choice_rings = QtWidgets.QComboBox()
        self.offset_box = QtWidgets.QCheckBox("offset 0.1·j")
        self.r1_box = QtWidgets.QCheckBox("R−1")
        self.plots = (self.histogram, self.beta, self.trace, self.params, self.grid, self.rings)
        bars = ((QtWidgets.QLabel("q"), self.q_choice), (self.offset_box, self.r1_box),
                (QtWidgets.QLabel("exposure"), self.exp_choice), (QtWidgets.QLabel("exposure"), self.exp_choice_params),
                (QtWidgets.QLabel("exposure"), self.exp_choice_grid),
                (QtWidgets.QLabel("static of"), self.exp_choice_rings))
        for plot, bar, title in zip(self.plots, bars, TAB_TITLES):
            shown = plot
            if plot is self.grid:  # one panel per ring: scroll rather than squeeze them
                shown = QtWidgets.QScrollArea()
                shown.setWidgetResizable(True)
                shown.setWidget(plot)
            self.addTab(self._with_bar(shown, *bar), title)
        self._redraws = (self._redraw_histogram, self._redraw_beta, self._redraw_trace, self._redraw_params,
                         self._redraw_grid, self._redraw_rings)
        self.q_choice.currentIndexChanged.connect(self._redraw_histogram)
        self.exp_choice.currentIndexChanged.connect(self._redraw_trace)
        self.exp_choice_params.currentIndexChanged.connect(self._redraw_params)
        self.exp_choice_grid.currentIndexChanged.connect(self._redraw_grid)
        self.exp_choice_rings.currentIndexChanged.connect(self._redraw_rings)
        self.offset_box.toggled.connect(self._redraw_beta)
        self.r1_box.toggled.connect(self._redraw_beta)
        self._stale: set[int] = set()
        self.setCurrentIndex(1)  # β(t_e), the result of the analysis
        self.currentChanged.connect(self._redraw_visible)

    @staticmethod
    def _with_bar(plot, *widgets) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QtWidgets.QHBoxLayout()
        for w in widgets:
            bar.addWidget(w)
        bar.addStretch(1)
        layout.addLayout(bar)
        layout.addWidget(plot, 1)
        return box

    def set_q_values(self, q: np.ndarray, reset: bool = False) -> None:
        """New rings: the plots start afresh. The same rings again (a form edit that does not
        move them) keep what is shown, unless ``reset`` (a new run)."""
        q = np.asarray(q, dtype=np.float64)
        if not reset and np.array_equal(q, self.q_values):
            return
        self.q_values = q
        self.q_choice.blockSignals(True)
        self.q_choice.clear()
        self.q_choice.addItems([f"{v:.4g} Å⁻¹" for v in q])
        self.q_choice.setCurrentIndex(min(1, len(q) - 1))
        self.q_choice.blockSignals(False)
        for plot in (self.histogram, self.beta, self.trace, self.params, self.grid):
            plot.reset()

    @property
    def valid(self) -> np.ndarray | None:
        """The run's mask (rows, cols), True = valid, drawn on the ring overlay; None = unknown."""
        return self._valid

    @valid.setter
    def valid(self, valid) -> None:
        # the same mask again (every form edit may pass it) keeps the old object, so the overlay
        # sees no change and does not rebuild its image
        new = None if valid is None else np.asarray(valid, dtype=bool)
        old = self._valid
        if new is old or (new is not None and old is not None and new.shape == old.shape
                          and np.array_equal(new, old)):
            return
        self._valid = new
        self._stale.add(5)

    def set_ring_geometry(self, centre: tuple[float, float], q: np.ndarray, dq: float, wavelength_A: float,
                          pix_mm: float, sddist_mm: float, valid: np.ndarray | None = None) -> None:
        """Rings for the overlay tab: centre (row0, col0) [px, 0-based], ring centres q and
        half-width dq [Å⁻¹], geometry (Å, mm); ``valid`` the run's mask (True = valid) when known."""
        self.ring_geometry = {"centre": (float(centre[0]), float(centre[1])), "q": np.asarray(q, dtype=np.float64),
                              "dq": float(dq), "wavelength_A": wavelength_A, "pix_mm": pix_mm,
                              "sddist_mm": sddist_mm}
        if valid is not None:
            self.valid = valid
        self._stale.add(5)
        self._redraw_visible()

    def set_exposures(self, exposures) -> None:
        """Show these ExposureResults (called as each exposure finishes). Only the visible tab
        is redrawn now; the others when they are shown."""
        self.exposures = list(exposures)
        names = [e.name for e in self.exposures if e.rings]
        for combo in (self.exp_choice, self.exp_choice_params, self.exp_choice_grid, self.exp_choice_rings):
            keep = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(names.index(keep) if keep in names else max(len(names) - 1, 0))
            combo.blockSignals(False)
        self._stale = set(range(len(self.plots)))
        self._redraw_visible()

    def redraw(self) -> None:
        """Redraw every tab now."""
        self._stale = set(range(len(self.plots)))
        for index in range(len(self.plots)):
            self._redraw_tab(index)

    def export_png(self, path: str, index: int | None = None, width: int | None = None) -> str:
        """Write tab ``index`` (default: the one shown), redrawn first, as a PNG."""
        index = self.currentIndex() if index is None else int(index)
        if not 0 <= index < len(self.plots):
            raise ParameterError(f"no plot tab {index}: the tabs are 0 … {len(self.plots) - 1}")
        self._redraw_tab(index)
        return export_png(self.plots[index], path, width)

    def _redraw_visible(self, *_):
        self._redraw_tab(self.currentIndex())

    def _redraw_tab(self, index: int) -> None:
        if index not in self._stale:
            return
        self._stale.discard(index)
        self._redraws[index]()

    def _redraw_histogram(self, *_):
        self.histogram.show_ring(self.exposures, max(self.q_choice.currentIndex(), 0))

    def _redraw_beta(self, *_):
        self.beta.offset = self.offset_box.isChecked()
        self.beta.show_r1 = self.r1_box.isChecked()
        self.beta.show_results(self.exposures)

    def _exposure(self, name: str):
        return next((e for e in self.exposures if e.name == name), None)

    def _redraw_trace(self, *_):
        self.trace.show_exposure(self._exposure(self.exp_choice.currentText()))

    def _redraw_params(self, *_):
        self.params.show_exposure(self._exposure(self.exp_choice_params.currentText()))

    def _redraw_grid(self, *_):
        self.grid.show_exposure(self._exposure(self.exp_choice_grid.currentText()))

    def _redraw_rings(self, *_):
        exposure = self._exposure(self.exp_choice_rings.currentText())
        static = exposure.static if exposure is not None else None
        valid = self.valid if static is not None else None
        key = (static, valid)
        # compared by identity: the statics of finished exposures never change, and the valid
        # setter keeps the same object for the same mask
        if self._ring_image_key is None or any(a is not b for a, b in zip(key, self._ring_image_key)):
            self.rings.show_image(static, valid, exposure.name if exposure is not None else None)
            self._ring_image_key = key
            self.rings.fit_image()  # a new image: show all of it (not on a ring move: keep the user's zoom)
        if self.ring_geometry is not None:
            self.rings.show_rings(**self.ring_geometry)
