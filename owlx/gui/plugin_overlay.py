"""Overlay layers that plugins draw on the image view (the :class:`owlx.plugin.Overlay` contract).

Coordinates arrive as array indices (x = column, y = row, centre of pixel (0, 0) at (0, 0)).
The image item covers pixel (r, c) with the square [c, c+1] × [r, r+1], so a shape at index
(x, y) is drawn at scene position (x + 0.5, y + 0.5). All circles of a layer are one curve item
(NaN-separated polylines), so a thousand peaks cost one item, not a thousand.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore

_CIRCLE_SEGMENTS = 72
_OVERLAY_Z = 20  # above the image (0) and the mask (10)


def _pen(color, width: float, dashed: bool):
    pen = pg.mkPen(color, width=width)
    pen.setCosmetic(True)  # width in screen pixels whatever the zoom
    if dashed:
        pen.setStyle(QtCore.Qt.DashLine)
    return pen


def circle_polylines(x, y, radius) -> tuple[np.ndarray, np.ndarray]:
    """NaN-separated polylines approximating circles at (x, y) (array indices) with ``radius``
    (pixels, scalar or one per circle), in scene coordinates (+0.5)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    y = np.atleast_1d(np.asarray(y, dtype=float))
    r = np.broadcast_to(np.asarray(radius, dtype=float), x.shape)
    t = np.linspace(0.0, 2 * np.pi, _CIRCLE_SEGMENTS + 1)
    xs = x[:, None] + 0.5 + r[:, None] * np.cos(t)[None, :]
    ys = y[:, None] + 0.5 + r[:, None] * np.sin(t)[None, :]
    gap = np.full((len(x), 1), np.nan)
    return np.hstack([xs, gap]).ravel(), np.hstack([ys, gap]).ravel()


class ImageOverlay:
    """One named layer of circles, points and line segments on a :class:`FrameView`."""

    def __init__(self, view, name: str):
        self.name = name
        self._view_box = view.view_box
        self.circles = pg.PlotCurveItem(connect="finite")
        self.lines = pg.PlotCurveItem(connect="pairs")
        self.points = pg.ScatterPlotItem(pxMode=True)
        for item in (self.circles, self.lines, self.points):
            item.setZValue(_OVERLAY_Z)
            self._view_box.addItem(item, ignoreBounds=True)
        self._visible = True
        self.n_circles = 0
        self.n_points = 0
        self.n_lines = 0

    def set_circles(self, x, y, radius, color="r", width: float = 1.5, dashed: bool = False) -> None:
        self.n_circles = int(np.size(x))
        self.circles.setPen(_pen(color, width, dashed))
        if self.n_circles:
            self.circles.setData(*circle_polylines(x, y, radius))
        else:
            self.circles.setData([], [])

    def set_points(self, x, y, color="r", size: float = 8.0, symbol: str = "+") -> None:
        x = np.atleast_1d(np.asarray(x, dtype=float)) + 0.5
        y = np.atleast_1d(np.asarray(y, dtype=float)) + 0.5
        self.n_points = len(x)
        self.points.setData(x=x, y=y, symbol=symbol, size=size, pen=pg.mkPen(color), brush=pg.mkBrush(color))

    def set_lines(self, segments, color="r", width: float = 1.5, dashed: bool = False) -> None:
        """``segments``: array-like (n, 4) of (x0, y0, x1, y1) in array indices."""
        seg = np.asarray(segments, dtype=float).reshape(-1, 4) + 0.5
        self.n_lines = len(seg)
        self.lines.setPen(_pen(color, width, dashed))
        self.lines.setData(seg[:, [0, 2]].ravel(), seg[:, [1, 3]].ravel())

    def clear(self) -> None:
        self.circles.setData([], [])
        self.lines.setData([], [])
        self.points.setData([], [])
        self.n_circles = self.n_points = self.n_lines = 0

    def set_visible(self, visible: bool) -> None:
        self._visible = bool(visible)
        for item in (self.circles, self.lines, self.points):
            item.setVisible(self._visible)

    @property
    def visible(self) -> bool:
        return self._visible
