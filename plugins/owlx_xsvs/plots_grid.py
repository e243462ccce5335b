"""Grid view of P(K) for one exposure: one small panel per q ring (spec/xsvs.md §12, plot 1;
replaces pyxsvs's ``_hist_fits.png``).

Each panel shows, as the P(K) plot does, the ring's histogram versus K/⟨K⟩ (k = photon count,
⟨K⟩ = the ring's mean count) on a log y axis: filled markers for the bins the fit used, hollow
ones for the others, ±histStdDev error bars, and the fitted negative-binomial curve
P(k; K, M) evaluated on k = 0 … 100 in steps of 0.1 (``owlx.core.xsvs_fit.nb_pmf``; the only
computation here). The title gives q in 10⁻² Å⁻¹ and β. In pyqtgraph's log mode the view's y
coordinate is log10(P), so the error bars are set in those coordinates.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from owlx.core.xsvs_fit import nb_pmf

from .plots import _K_GRID, _log_bars

X_RANGE = (-1.0, 20.0)  # K/⟨K⟩, as the P(K) plot
Y_RANGE = (1e-4, 5.0)  # P


class _RingPanel:
    """The items of one ring's panel, created once and then only given new data."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        plot.setLogMode(x=False, y=True)
        plot.showGrid(x=True, y=True, alpha=0.2)
        self.bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.0)
        plot.addItem(self.bars)
        self.fitted = plot.plot([], [], pen=None, symbol="o", symbolSize=5, symbolPen="b", symbolBrush="b")
        self.hollow = plot.plot([], [], pen=None, symbol="o", symbolSize=5, symbolPen="b", symbolBrush=None)
        self.fit = plot.plot([], [], pen=pg.mkPen("r", width=1.5))

    def show(self, ring) -> None:
        K = ring.K
        self.plot.setTitle(f"q = {ring.q * 100:.3f}·10⁻² Å⁻¹, β = {ring.beta:.3f}", size="8pt")
        empty = np.zeros(0)
        if not K > 0:
            for item in (self.fitted, self.hollow, self.fit):
                item.setData(empty, empty)
            self.bars.setData(x=empty, y=empty, top=empty, bottom=empty)
            return
        x = ring.bins / K
        y, s = ring.histogram, ring.hist_std
        pos = y > 0
        used = pos & ring.fit_bins
        _log_bars(self.bars, x[pos], y[pos], s[pos], pg.mkPen("b"))
        self.fitted.setData(x[used], y[used])
        self.hollow.setData(x[pos & ~ring.fit_bins], y[pos & ~ring.fit_bins])
        if math.isfinite(ring.M) and ring.M > 0:
            p = nb_pmf(_K_GRID, K, ring.M)
            keep = p > 1e-12  # log axis: zeros and underflow would be −inf
            self.fit.setData(_K_GRID[keep] / K, p[keep])
        else:
            self.fit.setData(empty, empty)
        self.plot.setXRange(*X_RANGE, padding=0)
        self.plot.setYRange(math.log10(Y_RANGE[0]), math.log10(Y_RANGE[1]), padding=0)


PANEL_HEIGHT = 170  # px per row of ring panels: log axes with their labels stay legible


class HistogramGrid(pg.GraphicsLayoutWidget):
    """P(K) of every q ring of one exposure, a panel per ring in a near-square grid (rows
    filled left to right). ``panels[j]`` is ring j's :class:`pyqtgraph.PlotItem`, and
    ``fit_curves[j]`` its fitted-NB curve (data: x = k/K, y = P(k; K, M))."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self._panels: list[_RingPanel] = []
        self.exposure_name: str | None = None

    @property
    def panels(self) -> list[pg.PlotItem]:
        return [p.plot for p in self._panels]

    @property
    def fit_curves(self) -> list[pg.PlotDataItem]:
        return [p.fit for p in self._panels]

    def reset(self) -> None:
        """Forget the panels (new rings)."""
        self.clear()
        self._panels = []
        self.exposure_name = None

    def _layout(self, n: int) -> None:
        if len(self._panels) == n:
            return
        self.reset()
        cols = max(1, math.ceil(math.sqrt(n)))
        self.setMinimumHeight(PANEL_HEIGHT * math.ceil(n / cols) if n else 0)  # readable panels; the tab scrolls
        for j in range(n):
            plot = self.addPlot(row=j // cols, col=j % cols)
            if j // cols == (n - 1) // cols:
                plot.setLabel("bottom", "K/⟨K⟩")
            if j % cols == 0:
                plot.setLabel("left", "P(K)")
            self._panels.append(_RingPanel(plot))

    def show_exposure(self, exposure) -> None:
        """Show every ring of ``exposure`` (an ExposureResult; None or no rings: empty)."""
        rings = exposure.rings if exposure is not None else []
        if not rings:
            self.reset()
            return
        self._layout(len(rings))
        self.exposure_name = exposure.name
        for panel, ring in zip(self._panels, rings):
            panel.show(ring)
