"""The pixel peeper (Ctrl+X, spec/viewer.md P3): a magnified block of pixels around the cursor
with their raw values, drawn in the bottom-right corner of the image view, as in Owl
(FXIhub/owl, views/view2d.py ``_paintPixelPeeper``).

Each cell is painted in the colour the pixel has in the view (the current colour table applied
to the rendered colour index), with the raw file value on top; masked pixels are hatched and
cells beyond the image edge are left dark and empty. The block size is odd, 3–11 (default 5).
The widget only paints: the block comes from :func:`owlx.core.pixel_block.pixel_block` on data
the window already holds, so hovering reads nothing from disk.
"""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from ..core.display import map_like
from ..core.pixel_block import PixelBlock, check_block_size, pixel_block
from .status import format_value

MAX_CELL_PX = 60
MIN_CELL_PX = 28
MARGIN_PX = 8


class PixelPeeper(QtWidgets.QWidget):
    """Overlay child of the image view; call :meth:`update_block` with the frame data."""

    def __init__(self, view: QtWidgets.QWidget, size: int = 5):
        super().__init__(view)
        self.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        self.setAttribute(QtCore.Qt.WA_NoSystemBackground)
        self._size = check_block_size(size)
        self.block: PixelBlock | None = None
        self._colours: np.ndarray | None = None  # (size, size, 3|4) uint8 cell colours
        view.installEventFilter(self)  # follow the view's size: stay in its corner
        self.hide()

    # -- configuration ------------------------------------------------------------------------------
    @property
    def block_size(self) -> int:
        return self._size

    def set_block_size(self, size: int) -> None:
        self._size = check_block_size(size)
        self.block = None
        self._place()
        self.update()

    # -- data -----------------------------------------------------------------------------------------
    def update_block(self, x: int, y: int, raw: np.ndarray | None, valid: np.ndarray | None,
                     index: np.ndarray | None, table: np.ndarray | None, rendered=None) -> None:
        """Show the block around column ``x``, row ``y`` of ``raw`` (the frame's file values),
        with ``valid`` (True = valid) and the rendered colour ``index`` image and its ``table``;
        (−1, −1) or no frame clears it. Without ``index`` (a big frame rendered as its preview
        alone) the block's colours are mapped from its values with ``rendered``'s levels."""
        if raw is None or x < 0 or y < 0 or y >= raw.shape[0] or x >= raw.shape[1]:
            self.block, self._colours = None, None
        else:
            self.block = pixel_block(raw, x, y, self._size, valid)
            self._colours = None
            idx = None
            if index is not None:
                idx = pixel_block(index, x, y, self._size).values
            elif rendered is not None and raw.ndim == 2:
                idx = map_like(self.block.values, rendered)
            if idx is not None:
                if idx.ndim == 3:  # RGB(A) frames carry their colours
                    self._colours = idx[..., :3]
                elif table is not None:
                    self._colours = np.asarray(table, np.uint8)[idx][..., :3]
        self._place()
        self.update()

    def cell_texts(self) -> list[list[str]]:
        """The text of every cell, row by row ("" outside the image): what the peeper shows."""
        b = self.block
        if b is None:
            return []
        return [[self._text(b.values[r, c]) if b.inside[r, c] else "" for c in range(self._size)]
                for r in range(self._size)]

    @staticmethod
    def _text(value) -> str:
        v = np.asarray(value)
        return format_value(tuple(v.tolist()) if v.ndim else v.item())

    # -- geometry and painting ----------------------------------------------------------------------
    def _cell_px(self) -> int:
        parent = self.parentWidget()
        room = min(parent.width(), parent.height()) * 0.4 if parent is not None else MAX_CELL_PX * self._size
        return int(max(MIN_CELL_PX, min(MAX_CELL_PX, room // self._size)))

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        side = self._cell_px() * self._size
        self.setGeometry(parent.width() - side - MARGIN_PX, parent.height() - side - MARGIN_PX, side, side)
        if self.isVisible():
            self.raise_()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.parentWidget() and event.type() == QtCore.QEvent.Resize:
            self._place()
        return False

    def showEvent(self, event) -> None:
        self._place()
        self.raise_()
        super().showEvent(event)

    def paintEvent(self, event) -> None:
        b = self.block
        if b is None:
            return
        cell = self._cell_px()
        p = QtGui.QPainter(self)
        font = QtGui.QFont("Monospace")
        font.setStyleHint(QtGui.QFont.TypeWriter)
        font.setPixelSize(max(9, cell // 5))
        p.setFont(font)
        metrics = p.fontMetrics()
        for r in range(self._size):
            for c in range(self._size):
                rect = QtCore.QRect(c * cell, r * cell, cell, cell)
                if not b.inside[r, c]:
                    p.fillRect(rect, QtGui.QColor(25, 25, 25, 220))
                    continue
                rgb = self._colours[r, c] if self._colours is not None else (60, 60, 60)
                p.fillRect(rect, QtGui.QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
                if not b.valid[r, c]:  # masked: hatched, so the value underneath stays readable
                    p.fillRect(rect, QtGui.QBrush(QtGui.QColor(255, 255, 255, 170), QtCore.Qt.BDiagPattern))
                text = metrics.elidedText(self._text(b.values[r, c]), QtCore.Qt.ElideRight, cell - 4)
                w, h = metrics.horizontalAdvance(text) + 6, metrics.height() + 2
                box = QtCore.QRect(rect.center().x() - w // 2, rect.center().y() - h // 2, w, h)
                p.fillRect(box, QtGui.QColor(40, 40, 40, 170))
                p.setPen(QtGui.QColor(240, 240, 240))
                p.drawText(box, QtCore.Qt.AlignCenter, text)
        p.setPen(QtGui.QPen(QtGui.QColor(120, 120, 120), 1))
        for k in range(self._size + 1):  # grid
            p.drawLine(k * cell, 0, k * cell, self._size * cell)
            p.drawLine(0, k * cell, self._size * cell, k * cell)
        half = self._size // 2
        p.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255), 2))
        p.drawRect(half * cell + 1, half * cell + 1, cell - 2, cell - 2)  # the pixel under the cursor
        p.end()
