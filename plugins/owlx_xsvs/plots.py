"""The plots of the XSVS panel (spec/xsvs.md §12), pyqtgraph only, no computation beyond
evaluating the fitted model on a grid (``owlx.core.xsvs_fit.nb_pmf``).

* :class:`HistogramPlot`: P(K) versus K/⟨K⟩, log y (1e-4 … 5), x from −1 to 20; for one q every
  exposure: markers with ±histStdDev error bars (hollow = bins not fitted), the fitted NB curve
  on k = 0 … 100 in steps of 0.1; the legend gives t_e in ms.
* :class:`BetaPlot`: β versus exposure time (log x) with β_stddev error bars, one curve per q
  (legend in 1e-2 Å⁻¹); options: offset 0.1·j per ring, R−1 overlay.
* :class:`TracePlot`: ring mean versus frame index for one exposure, one line per q.
* :class:`FitParamsPlot`: K, M and β versus q for one exposure.

The grid view of P(K) is in :mod:`.plots_grid`, the ring overlay in :mod:`.plots_rings`, the
tabs that hold them all in :mod:`.plot_tabs`.

In pyqtgraph's log mode the view coordinates are log10 of the data, so error bars are given in
those coordinates.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore

from owlx.core.xsvs_fit import nb_pmf

_K_GRID = np.arange(0.0, 100.0 + 1e-9, 0.1)


def _color(i: int, n: int):
    return pg.intColor(i, hues=max(n, 1), values=1, maxValue=230)


class _ReusingPlot(pg.PlotWidget):
    """A plot whose items are created once per key and then only get new data: creating
    pyqtgraph items costs milliseconds each, and the plots are refreshed after every exposure
    on the GUI thread."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.legend = self.addLegend(offset=(-10, 10))
        self._items: dict = {}
        self._used: set = set()

    def reset(self) -> None:
        """Forget every item (new run, other q values)."""
        self.clear()
        self.legend.clear()
        self._items = {}
        self._used = set()

    def _begin(self) -> None:
        self._used = set()

    def _curve(self, key, name: str | None = None) -> pg.PlotDataItem:
        item = self._items.get(key)
        if item is None:
            item = self.plot([], [], name=name)
            self._items[key] = item
        self._used.add(key)
        item.setVisible(True)
        return item

    def _bars(self, key) -> pg.ErrorBarItem:
        item = self._items.get(key)
        if item is None:
            item = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.0)
            self.addItem(item)
            self._items[key] = item
        self._used.add(key)
        item.setVisible(True)
        return item

    def _end(self) -> None:
        for key, item in self._items.items():
            if key not in self._used:
                item.setVisible(False)


def _log_bars(item: pg.ErrorBarItem, x, y, s, pen) -> None:
    """Error bars y ± s in a view whose y coordinate is log10(y)."""
    ly = np.log10(y)
    top = np.log10(y + s) - ly
    bottom = ly - np.log10(np.maximum(y - s, y * 1e-3))
    item.setData(x=x, y=ly, top=top, bottom=bottom, pen=pen)


class HistogramPlot(_ReusingPlot):
    """P(K) versus K/⟨K⟩ for one q ring, all exposures overlaid."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLogMode(x=False, y=True)
        self.setLabel("bottom", "K/⟨K⟩")
        self.setLabel("left", "P(K)")
        self.n_curves = 0

    def show_ring(self, exposures, j: int) -> None:
        """``exposures``: ExposureResults; ring ``j`` of each analysed one."""
        done = [e for e in exposures if len(e.rings) > j]
        self._begin()
        self.n_curves = 0
        for i, exp in enumerate(done):
            ring = exp.rings[j]
            color = _color(i, max(len(done), 6))
            K = ring.K
            if not K > 0:
                continue
            x = ring.bins / K
            y, s = ring.histogram, ring.hist_std
            pos = y > 0
            fitted = pos & ring.fit_bins
            hollow = pos & ~ring.fit_bins
            _log_bars(self._bars((exp.name, "bars")), x[pos], y[pos], s[pos], pg.mkPen(color))
            self._curve((exp.name, "fitted"), f"{exp.exp_time_s * 1e3:g} ms").setData(
                x[fitted], y[fitted], pen=None, symbol="o", symbolSize=6, symbolPen=color, symbolBrush=color)
            self._curve((exp.name, "hollow")).setData(x[hollow], y[hollow], pen=None, symbol="o", symbolSize=6,
                                                      symbolPen=color, symbolBrush=None)
            if np.isfinite(ring.M) and ring.M > 0:
                p = nb_pmf(_K_GRID, K, ring.M)
                keep = p > 1e-12
                self._curve((exp.name, "fit")).setData(_K_GRID[keep] / K, p[keep], pen=pg.mkPen(color, width=1.5))
                self.n_curves += 1
        self._end()
        self.setXRange(-1, 20, padding=0)
        self.setYRange(-4, np.log10(5.0), padding=0)


class BetaPlot(_ReusingPlot):
    """β versus exposure time, one curve per q."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLogMode(x=True, y=False)
        self.setLabel("bottom", "exposure time t_e", units="s")
        self.setLabel("left", "contrast β")
        self.offset = False
        self.show_r1 = False
        self.points: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def show_results(self, exposures) -> None:
        self.points = {}
        done = [e for e in exposures if e.rings]
        self._begin()
        nq = len(done[0].rings) if done else 0
        t = np.array([e.exp_time_s for e in done])
        for j in range(nq):
            color = _color(j, nq)
            beta = np.array([e.rings[j].beta for e in done])
            err = np.array([e.rings[j].beta_stddev for e in done])
            shift = 0.1 * j if self.offset else 0.0
            ok = np.isfinite(beta)
            q = done[0].rings[j].q
            self.points[q] = (t[ok], beta[ok])
            errs = np.where(np.isfinite(err), err, 0.0)[ok]
            self._bars((j, "bars")).setData(x=np.log10(t[ok]), y=beta[ok] + shift, top=errs, bottom=errs,
                                            pen=pg.mkPen(color))
            self._curve((j, "beta"), f"{q * 100:.2f}").setData(t[ok], beta[ok] + shift, pen=pg.mkPen(color),
                                                                 symbol="o", symbolSize=6, symbolBrush=color,
                                                                 symbolPen=color)
            if self.show_r1:
                r1 = np.array([e.rings[j].r1 for e in done])
                good = np.isfinite(r1)
                self._curve((j, "r1")).setData(t[good], r1[good] + shift,
                                               pen=pg.mkPen(color, style=QtCore.Qt.DashLine), symbol="t",
                                               symbolSize=6, symbolBrush=None, symbolPen=color)
        self._end()


class TracePlot(_ReusingPlot):
    """Ring mean (counts per pixel) versus frame index for one exposure."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLabel("bottom", "frame")
        self.setLabel("left", "ring mean", units="counts/px")

    def show_exposure(self, exposure) -> None:
        self._begin()
        rings = exposure.rings if exposure is not None else []
        for j, ring in enumerate(rings):
            self._curve(j, f"{ring.q * 100:.2f}").setData(np.arange(ring.trace.size), ring.trace,
                                                          pen=pg.mkPen(_color(j, len(rings))))
        self._end()


class FitParamsPlot(_ReusingPlot):
    """K, M and β versus q for one exposure (log y)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLabel("bottom", "q", units="Å⁻¹")
        self.setLogMode(x=False, y=True)
        self.setLabel("left", "K, M, β")

    def show_exposure(self, exposure) -> None:
        self._begin()
        rings = exposure.rings if exposure is not None else []
        q = np.array([r.q for r in rings])
        for name, attr, color, symbol in (("β", "beta", "b", "o"), ("M", "M", "r", "t"), ("K", "K", "g", "s")):
            v = np.array([getattr(r, attr) for r in rings], dtype=float)
            ok = np.isfinite(v) & (v > 0)
            self._curve(name, name).setData(q[ok], v[ok], pen=pg.mkPen(color), symbol=symbol, symbolBrush=color,
                                            symbolPen=color)
        self._end()
