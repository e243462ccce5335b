"""The polar panel's plots (pyqtgraph): polar image, radial profile, correlation map C(r, Δφ)
and the mean correlation against cos ψ. Display only: every array arrives computed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

__all__ = ["PolarPlots"]

_CMAP = "viridis"


def _image_plot(x_label: str, y_label: str):
    plot = pg.PlotWidget()
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    image = pg.ImageItem(axisOrder="row-major")
    image.setColorMap(pg.colormap.get(_CMAP))
    plot.addItem(image)
    return plot, image


def _levels(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(lo) + 0.5)


class PolarPlots(QtWidgets.QTabWidget):
    """Four tabs; the ``show_*`` methods replace what a tab shows."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.polar_plot, self.polar_image = _image_plot("φ (deg)", "r (px)")
        self.radial_plot = pg.PlotWidget()
        self.radial_plot.setLabel("bottom", "r (px)")
        self.radial_plot.setLabel("left", "mean intensity")
        self.radial_plot.addLegend(offset=(-10, 10))
        self.radial_frame = self.radial_plot.plot([], [], pen=pg.mkPen("w"), name="frame")
        self.radial_mean = self.radial_plot.plot([], [], pen=pg.mkPen("c"), name="mean of correlated frames")
        self.band_region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 200, 0, 40))
        self.radial_plot.addItem(self.band_region)
        self.corr_plot, self.corr_image = _image_plot("Δφ (deg)", "r (px)")
        self.cos_plot = pg.PlotWidget()
        self.cos_plot.setLabel("left", "mean C")
        self.cos_curve = self.cos_plot.plot([], [], pen=pg.mkPen("y"), symbol="o", symbolSize=4)
        for plot, title in ((self.polar_plot, "Polar image"), (self.radial_plot, "Radial profile"),
                            (self.corr_plot, "C(r, Δφ)"), (self.cos_plot, "C vs cos ψ")):
            self.addTab(plot, title)

    def show_polar(self, polar: np.ndarray, polar_mask: np.ndarray, r_min: float) -> None:
        shown = np.where(polar_mask, polar, np.nan).astype(np.float32)
        lo, hi = _levels(shown)
        self.polar_image.setImage(np.nan_to_num(shown, nan=lo), levels=(lo, hi))
        n_r = polar.shape[0]
        self.polar_image.setRect(QtCore.QRectF(0.0, r_min, 360.0, n_r))
        self.polar_plot.autoRange()

    def show_radial(self, radii: np.ndarray, radial: np.ndarray, mean: bool = False) -> None:
        curve = self.radial_mean if mean else self.radial_frame
        ok = np.isfinite(radial)
        curve.setData(np.asarray(radii)[ok], np.asarray(radial)[ok])

    def show_band(self, lo: float, hi: float) -> None:
        self.band_region.setRegion((lo, hi))

    def show_correlation(self, corr: np.ndarray, radii: np.ndarray, n_phi: int) -> None:
        lo, hi = _levels(corr[:, 1:] if corr.shape[1] > 1 else corr)  # C(0) (the variance) dwarfs the rest
        self.corr_image.setImage(np.nan_to_num(corr, nan=lo).astype(np.float32), levels=(lo, hi))
        self.corr_image.setRect(QtCore.QRectF(0.0, float(radii[0]), 360.0, float(len(radii))))
        self.corr_plot.autoRange()

    def show_cos_psi(self, x: np.ndarray, y: np.ndarray, axis_label: str) -> None:
        ok = np.isfinite(x) & np.isfinite(y)
        self.cos_plot.setLabel("bottom", axis_label)
        self.cos_curve.setData(np.asarray(x)[ok], np.asarray(y)[ok])
        self.cos_plot.autoRange()
