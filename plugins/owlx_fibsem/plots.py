"""The FIB-SEM panel's plots (pyqtgraph): per-pair steps and cumulative shifts, scales, the
quality metrics per output slice, and the residuals of a previewed pair. Display only: every
array arrives computed; flagged pairs are drawn in red.

Metrics streamed during a run (:meth:`RegistrationPlots.add_metrics`) go into per-metric numpy
buffers indexed by output slice and are drawn at most every :data:`REDRAW_MS` by a single-shot
timer: redrawing four curves of all rows on every event would be O(n²) GUI work over a long run."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

__all__ = ["RegistrationPlots"]

REDRAW_MS = 200  # coalescing interval of the streamed metrics curves
METRICS = (("ncc", "NCC", "y"), ("nsad", "NSAD", "c"), ("nmi", "NMI", "m"), ("frc_bandwidth", "FRC bandwidth", "w"))


def _plot(x_label: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.addLegend(offset=(-10, 10))
    plot.showGrid(x=True, y=True, alpha=0.2)
    return plot


class RegistrationPlots(QtWidgets.QTabWidget):
    """Tabs "Shifts", "Scales", "Metrics", "Residuals"; ``show_*`` replace what a tab shows."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.shift_plot = _plot("frame", "shift (px)")
        self.shift_x = self.shift_plot.plot([], [], pen=pg.mkPen("c"), name="x (cumulative)")
        self.shift_y = self.shift_plot.plot([], [], pen=pg.mkPen("y"), name="y (cumulative)")
        self.step_x = self.shift_plot.plot([], [], pen=None, symbol="o", symbolSize=4, symbolBrush="c", name="x step")
        self.step_y = self.shift_plot.plot([], [], pen=None, symbol="o", symbolSize=4, symbolBrush="y", name="y step")
        self.flagged = self.shift_plot.plot([], [], pen=None, symbol="x", symbolSize=10, symbolBrush="r",
                                            symbolPen="r", name="flagged pair")
        self.scale_plot = _plot("frame", "cumulative matrix entry")
        self.scale_sxx = self.scale_plot.plot([], [], pen=pg.mkPen("c"), name="Sxx")
        self.scale_syy = self.scale_plot.plot([], [], pen=pg.mkPen("y"), name="Syy")
        self.scale_sxy = self.scale_plot.plot([], [], pen=pg.mkPen("m", style=2), name="1 + Sxy")
        self.scale_syx = self.scale_plot.plot([], [], pen=pg.mkPen("g", style=2), name="1 + Syx")
        self.metric_plot = _plot("output slice", "metric")
        self.metric_curves = {key: self.metric_plot.plot([], [], pen=pg.mkPen(color), symbol="o", symbolSize=4,
                                                         symbolBrush=color, name=label)
                              for key, label, color in METRICS}
        self.residual_plot = _plot("residual (px)", "inliers")
        self.residual_x = pg.PlotDataItem([], [], stepMode="center", pen=pg.mkPen("c"), name="x")
        self.residual_y = pg.PlotDataItem([], [], stepMode="center", pen=pg.mkPen("y"), name="y")
        self.residual_plot.addItem(self.residual_x)
        self.residual_plot.addItem(self.residual_y)
        for plot, title in ((self.shift_plot, "Shifts"), (self.scale_plot, "Scales"), (self.metric_plot, "Metrics"),
                            (self.residual_plot, "Residuals")):
            self.addTab(plot, title)
        self._steps: dict[int, tuple[float, float, bool]] = {}
        self._metric_values = np.full((0, len(METRICS)), np.nan)  # row = output slice, column = METRICS entry
        self._metric_seen = np.zeros(0, dtype=bool)
        self.metric_redraws = 0  # how often the metrics curves were set (tests check the coalescing)
        self._metric_timer = QtCore.QTimer(self)
        self._metric_timer.setSingleShot(True)
        self._metric_timer.setInterval(REDRAW_MS)
        self._metric_timer.timeout.connect(self.redraw_metrics)

    def clear_steps(self) -> None:
        self._steps.clear()
        for item in (self.shift_x, self.shift_y, self.step_x, self.step_y, self.flagged):
            item.setData([], [])
        self._metric_timer.stop()
        self._metric_values = np.full((0, len(METRICS)), np.nan)
        self._metric_seen = np.zeros(0, dtype=bool)
        for curve in self.metric_curves.values():
            curve.setData([], [])

    def add_step(self, index: int, tx: float, ty: float, ok: bool) -> None:
        """One fitted pair as it arrives (before cumulation): its step translation (px)."""
        self._steps[int(index)] = (float(tx), float(ty), bool(ok))
        keys = sorted(self._steps)
        x = np.array(keys, dtype=float) + 0.5
        self.step_x.setData(x, [self._steps[k][0] for k in keys])
        self.step_y.setData(x, [self._steps[k][1] for k in keys])
        bad = [k for k in keys if not self._steps[k][2]]
        self.flagged.setData(np.array(bad, dtype=float) + 0.5, [0.0] * len(bad))

    def show_registration(self, frames, cumulative: np.ndarray, steps: np.ndarray, flagged) -> None:
        """Cumulative shifts and scales per kept frame, step shifts per pair (at the pair's
        midpoint), flagged pairs as red crosses on the x axis."""
        f = np.asarray(frames, dtype=float)
        cum = np.asarray(cumulative)
        self.shift_x.setData(f, cum[:, 0, 2])
        self.shift_y.setData(f, cum[:, 1, 2])
        mid = (f[:-1] + f[1:]) / 2
        self.step_x.setData(mid, steps[:, 0, 2])
        self.step_y.setData(mid, steps[:, 1, 2])
        bad = [mid[i] for i in flagged]
        self.flagged.setData(bad, [0.0] * len(bad))
        self.scale_sxx.setData(f, cum[:, 0, 0])
        self.scale_syy.setData(f, cum[:, 1, 1])
        self.scale_sxy.setData(f, 1 + cum[:, 0, 1])
        self.scale_syx.setData(f, 1 + cum[:, 1, 0])

    def add_metrics(self, index: int, values: dict) -> None:
        """One output slice's metrics as they arrive (any order): stored at row ``index`` of the
        buffers; the curves are redrawn by the coalescing timer, not here."""
        i = int(index)
        if i >= len(self._metric_seen):  # grow geometrically: amortised O(1) per slice
            size = max(i + 1, 2 * len(self._metric_seen), 64)
            values_ = np.full((size, len(METRICS)), np.nan)
            values_[:len(self._metric_values)] = self._metric_values
            seen = np.zeros(size, dtype=bool)
            seen[:len(self._metric_seen)] = self._metric_seen
            self._metric_values, self._metric_seen = values_, seen
        self._metric_values[i] = [values.get(key, np.nan) for key, _, _ in METRICS]
        self._metric_seen[i] = True
        if not self._metric_timer.isActive():
            self._metric_timer.start()

    def redraw_metrics(self) -> None:
        """Set the metrics curves from the buffers, in slice order (also the timer's slot)."""
        self._metric_timer.stop()
        self.metric_redraws += 1
        rows = np.flatnonzero(self._metric_seen)
        for k, (key, _, _) in enumerate(METRICS):
            self.metric_curves[key].setData(rows.astype(float), self._metric_values[rows, k])

    def show_metrics(self, rows: list[dict]) -> None:
        """Replace the metrics by ``rows`` ({"slice": s, metric: value…}, e.g. a finished run's) and
        draw them now."""
        self._metric_values = np.full((0, len(METRICS)), np.nan)
        self._metric_seen = np.zeros(0, dtype=bool)
        for r in rows:
            self.add_metrics(r["slice"], r)
        self.redraw_metrics()

    def show_residuals(self, residuals: np.ndarray) -> None:
        r = np.asarray(residuals, dtype=float).reshape(-1, 2)
        if not len(r):
            self.residual_x.setData([], [])
            self.residual_y.setData([], [])
            return
        edges = np.linspace(-max(np.abs(r).max(), 1e-3), max(np.abs(r).max(), 1e-3), 65)
        self.residual_x.setData(edges, np.histogram(r[:, 0], edges)[0])
        self.residual_y.setData(edges, np.histogram(r[:, 1], edges)[0])
