"""Ring overlay: the static image (log scale) with the mask and the q-ring boundaries
(spec/xsvs.md §12, plot 4; pyxsvs's ``_q_mask.png``).

Coordinates: the view's x is the column and y the row of the image, 0-based, with pixel centres
at integers (the image item is shifted by −½ px so pixel (row, col) covers [col−½, col+½) ×
[row−½, row+½)); y points down as on the detector view. The boundaries of ring j are circles of
radius r(q_j − dq) and r(q_j + dq) px about the centre (row0, col0), r from
``owlx.core.xsvs_rings.ring_radii_px`` (the inverse of the q map). Masked pixels (valid False)
are drawn in translucent red over the image.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore

from owlx.core.xsvs_rings import ring_radii_px

N_CIRCLE = 361  # points per boundary circle (closed: the last repeats the first)
MASK_RGBA = (255, 0, 0, 110)


class RingOverlayPlot(pg.PlotWidget):
    """The static with mask and ring boundaries. ``radii`` (n_boundaries,) [px] are the radii
    drawn, inner then outer boundary of each ring (rings beyond the backscattering limit are
    left out); ``boundaries`` the matching curve items; ``centre`` = (row0, col0)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAspectLocked(True)
        self.invertY(True)
        self.setLabel("bottom", "column", units="px")
        self.setLabel("left", "row", units="px")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.mask_image = pg.ImageItem(axisOrder="row-major")
        self.addItem(self.image)
        self.addItem(self.mask_image)
        self.centre_marker = pg.ScatterPlotItem(symbol="+", size=12, pen=pg.mkPen("c", width=1.5), brush=None)
        self.addItem(self.centre_marker)
        self.boundaries: list[pg.PlotDataItem] = []
        self.radii = np.zeros(0)
        self.centre: tuple[float, float] | None = None
        self.exposure_name: str | None = None

    def show_image(self, static: np.ndarray | None, valid: np.ndarray | None, exposure_name: str | None = None) -> None:
        """Static (rows, cols) on a log10 scale (values ≤ 0 shown as the smallest positive
        one) and the mask (True = valid). None clears the image."""
        self.exposure_name = exposure_name
        if static is None:
            self.image.clear()
            self.mask_image.clear()
            return
        img = np.asarray(static, dtype=np.float64)
        ok = np.isfinite(img) & (img > 0)
        floor = img[ok].min() if ok.any() else 1.0
        log_img = np.log10(np.where(ok, img, floor))
        shown = log_img[valid] if valid is not None and np.any(valid) else log_img
        lo, hi = np.percentile(shown, [0.5, 99.5]) if shown.size else (0.0, 1.0)
        self.image.setImage(log_img, levels=(lo, max(hi, lo + 1e-6)))
        rect = QtCore.QRectF(-0.5, -0.5, img.shape[1], img.shape[0])
        self.image.setRect(rect)
        if valid is None:
            self.mask_image.clear()
        else:
            rgba = np.zeros((*img.shape, 4), dtype=np.ubyte)
            rgba[~np.asarray(valid, dtype=bool)] = MASK_RGBA
            self.mask_image.setImage(rgba, levels=(0, 255))
            self.mask_image.setRect(rect)

    def show_rings(self, centre: tuple[float, float], q: np.ndarray, dq: float, wavelength_A: float, pix_mm: float,
                   sddist_mm: float) -> None:
        """Boundaries q ± dq [Å⁻¹] of every ring about ``centre`` = (row0, col0) [px]."""
        q = np.asarray(q, dtype=np.float64)
        edges = np.column_stack([q - dq, q + dq]).ravel()  # inner, outer of ring 0, then ring 1, …
        radii = ring_radii_px(np.maximum(edges, 0.0), wavelength_A, pix_mm, sddist_mm)
        self.radii = radii[np.isfinite(radii)]
        self.centre = (float(centre[0]), float(centre[1]))
        row0, col0 = self.centre
        t = np.linspace(0.0, 2.0 * np.pi, N_CIRCLE)
        while len(self.boundaries) < self.radii.size:
            self.boundaries.append(self.plot([], [], pen=pg.mkPen("c", width=1)))
        for item in self.boundaries[self.radii.size:]:
            item.setData([], [])
            item.setVisible(False)
        for item, r in zip(self.boundaries, self.radii):
            item.setData(col0 + r * np.cos(t), row0 + r * np.sin(t))  # x = column, y = row
            item.setVisible(True)
        self.centre_marker.setData([col0], [row0])

    def fit_image(self) -> None:
        """Zoom to the image (the outer rings may reach beyond the detector)."""
        if self.image.image is not None:
            h, w = self.image.image.shape[:2]
            self.setRange(QtCore.QRectF(-0.5, -0.5, w, h), padding=0.02)

    def reset(self) -> None:
        self.show_image(None, None)
        for item in self.boundaries:
            item.setData([], [])
            item.setVisible(False)
        self.radii = np.zeros(0)
        self.centre = None
        self.centre_marker.setData([], [])
