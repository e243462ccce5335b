"""Drawing of gallery cells with QPainter: thumbnails, mask, placeholders, tag squares, info box
(spec/viewer.md G1, G2, G6, S3, T4, W6).

Thumbnails are uint8 colour-index images shown as ``QImage.Format_Indexed8`` with the colour
table of :func:`owlx.gui.colormaps.colour_table`: changing the colormap recolours every cell
without touching its pixels.
"""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtGui

from ..core.thumbnail import block_of
from .gallery_loader import Thumbnail

BACKGROUND = QtGui.QColor(24, 24, 24)
CELL_BACKGROUND = QtGui.QColor(40, 40, 40)
SELECTION = QtGui.QColor(255, 255, 255)


def qt_colour_table(table: np.ndarray) -> list[int]:
    """A (256, 3|4) uint8 RGB(A) table as Qt's list of 0xAARRGGBB ints."""
    t = np.asarray(table, np.uint32)
    alpha = t[:, 3] if t.shape[1] == 4 else np.full(t.shape[0], 255, np.uint32)
    return ((alpha << 24) | (t[:, 0] << 16) | (t[:, 1] << 8) | t[:, 2]).tolist()


def _qimage(array: np.ndarray, fmt) -> QtGui.QImage:
    h, w = array.shape[:2]
    # The QImage borrows the numpy buffer; the cell keeps the array alive alongside it.
    return QtGui.QImage(array.data, w, h, array.strides[0], fmt)


class CellImage:
    """One cell's picture: the thumbnail's colour indices (or RGB) as a QImage, its masked
    blocks, and both composed over the cell background, once per colour table.

    Painting draws only the composed, opaque RGB32 image: the raster engine would otherwise
    convert every Indexed8 thumbnail to ARGB on every repaint (about 1 ms for a screenful).
    """

    def __init__(self, key: tuple, thumb: Thumbnail, table: list[int], mask_table: list[int]):
        self.key = key
        self.thumb = thumb
        index = np.ascontiguousarray(thumb.index)
        self._arrays = [index]
        if index.ndim == 3:
            fmt = QtGui.QImage.Format_RGB888 if index.shape[2] == 3 else QtGui.QImage.Format_RGBA8888
            self.image = _qimage(index, fmt)
        else:
            self.image = _qimage(index, QtGui.QImage.Format_Indexed8)
            self.image.setColorTable(table)
        self.mask_image = None
        masked = thumb.base.masked
        if masked is not None:
            m = np.ascontiguousarray(masked.view(np.uint8))
            self._arrays.append(m)
            self.mask_image = _qimage(m, QtGui.QImage.Format_Indexed8)
            self.mask_image.setColorTable(mask_table)
        self._composed: QtGui.QImage | None = None

    def recolour(self, table: list[int] | None = None, mask_table: list[int] | None = None) -> None:
        if table is not None and self.image.format() == QtGui.QImage.Format_Indexed8:
            self.image.setColorTable(table)
            self._composed = None
        if mask_table is not None and self.mask_image is not None:
            self.mask_image.setColorTable(mask_table)
            self._composed = None

    def composed(self) -> QtGui.QImage:
        """Background, thumbnail and mask overlay in one opaque image at the thumbnail's size."""
        if self._composed is None:
            out = QtGui.QImage(self.image.width(), self.image.height(), QtGui.QImage.Format_RGB32)
            out.fill(CELL_BACKGROUND)  # behind transparent (NaN, out-of-range) colours
            p = QtGui.QPainter(out)
            p.drawImage(0, 0, self.image)
            if self.mask_image is not None:
                p.drawImage(0, 0, self.mask_image)
            p.end()
            self._composed = out
        return self._composed


def mask_table(colour, opacity: float) -> list[int]:
    """Colour table of a masked-blocks image: 0 transparent, 1 the mask colour (M4)."""
    alpha = round(255 * min(max(float(opacity), 0.0), 1.0))
    r, g, b = (int(c) for c in colour[:3])
    return [0, (alpha << 24) | (r << 16) | (g << 8) | b]


def draw_cell(p: QtGui.QPainter, rect: QtCore.QRect, cell: CellImage) -> None:
    """The thumbnail scaled to the cell (1:1 when it was made at the cell's size); nearest
    neighbour, so a lone bright block stays one sharp block."""
    p.drawImage(QtCore.QRectF(rect), cell.composed())


def draw_placeholder(p: QtGui.QPainter, rect: QtCore.QRect, angle: int, text: str = "", busy: bool = True) -> None:
    """A grey cell with a turning arc while it loads (W6), or a static message."""
    p.fillRect(rect, CELL_BACKGROUND)
    p.setPen(QtGui.QPen(QtGui.QColor(90, 90, 90), 1))
    p.drawRect(rect.adjusted(0, 0, -1, -1))
    side = max(8, min(32, min(rect.width(), rect.height()) // 5))
    c = rect.center()
    if busy:
        p.save()
        p.setRenderHint(QtGui.QPainter.Antialiasing)
        p.setPen(QtGui.QPen(QtGui.QColor(170, 170, 170), max(2, side // 8)))
        p.drawArc(QtCore.QRectF(c.x() - side / 2, c.y() - side / 2, side, side), -angle * 16, 270 * 16)
        p.restore()
    if text:
        p.setPen(QtGui.QColor(200, 200, 200))
        p.drawText(rect.adjusted(4, 4, -4, -4), QtCore.Qt.AlignCenter | QtCore.Qt.TextWordWrap, text)


def draw_tags(p: QtGui.QPainter, boxes, flags, colours) -> None:
    """Tag squares (T4) in the given integer rectangles: filled when the tag is set, outlined
    when not, in the tag's colour."""
    p.save()
    p.setBrush(QtCore.Qt.NoBrush)
    for box, on, (r, g, b) in zip(boxes, flags, colours):
        colour = QtGui.QColor(int(r), int(g), int(b))
        if on:
            p.fillRect(box, colour)
        else:
            p.setPen(QtGui.QPen(colour, 0))  # cosmetic 1 px line on the box's edge pixels
            p.drawRect(box.adjusted(0, 0, -1, -1))
    p.restore()


def draw_label(p: QtGui.QPainter, rect: QtCore.QRect, text: str) -> None:
    """A short text (e.g. a fitted diameter) on a translucent box at the cell's top right (the
    top left holds the tag squares, the bottom left the info box), clipped to the cell."""
    p.save()
    p.setClipRect(rect)
    font = QtGui.QFont(p.font())
    font.setPixelSize(max(9, min(14, rect.width() // 12)))
    p.setFont(font)
    metrics = QtGui.QFontMetrics(font)
    pad = max(2, rect.width() // 80)
    w, h = metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + 2 * pad
    box = QtCore.QRect(rect.right() - pad - w + 1, rect.top() + pad, w, h)
    p.fillRect(box, QtGui.QColor(25, 25, 25, 190))
    p.setPen(QtGui.QColor(250, 250, 250))
    p.drawText(box, QtCore.Qt.AlignCenter, text)
    p.restore()


def draw_selection(p: QtGui.QPainter, rect: QtCore.QRect) -> None:
    """The white border of the selected cell (G2): 2 px in the gap around it, pixel-exact."""
    x, y, w, h, b = rect.x(), rect.y(), rect.width(), rect.height(), 2
    for strip in ((x - b, y - b, w + 2 * b, b), (x - b, y + h, w + 2 * b, b), (x - b, y, b, h), (x + w, y, b, h)):
        p.fillRect(QtCore.QRect(*strip), SELECTION)


def draw_info(p: QtGui.QPainter, rect: QtCore.QRect, lines: list[str]) -> None:
    """The info overlay (S3): a translucent box with one line per item at the cell's bottom
    left (the top left holds the tag squares), clipped to the cell."""
    if not lines:
        return
    p.save()
    p.setClipRect(rect)
    font = QtGui.QFont(p.font())
    font.setPixelSize(max(9, min(13, rect.width() // 18)))
    p.setFont(font)
    metrics = QtGui.QFontMetrics(font)
    pad = max(3, rect.width() // 60)
    w = max(metrics.horizontalAdvance(line) for line in lines) + 2 * pad
    h = metrics.height() * len(lines) + 2 * pad
    box = QtCore.QRect(rect.left() + pad, rect.bottom() - pad - h, w, h)
    p.fillRect(box, QtGui.QColor(25, 25, 25, 205))
    p.setPen(QtGui.QColor(230, 230, 230))
    y = box.top() + pad + metrics.ascent()
    for line in lines:
        p.drawText(box.left() + pad, y, line)
        y += metrics.height()
    p.restore()


def info_lines(frame: int, position: int | None, thumb: Thumbnail | None, x: int = -1, y: int = -1,
               raw: np.ndarray | None = None, tag_names=()) -> list[str]:
    """Text of the info overlay (S3): frame index, view position, and once the thumbnail is
    there the pixel under the cursor (when x ≥ 0) and the full frame's statistics.

    The value under the cursor comes from ``raw``, the full-resolution frame, when it is given;
    otherwise it is the thumbnail's block maximum and says so ("block max"), unless the
    thumbnail is at full resolution.
    """
    lines = [f"frame {frame}", f"view position {position}"]
    if thumb is not None:
        base = thumb.base
        if x >= 0:
            lines.append(f"pixel ({x}, {y})")
            if raw is not None and raw.shape[:2] == base.frame_shape:
                lines.append(f"value {_fmt(raw[y, x])}")
            else:
                ny, nx = base.frame_shape
                th, tw = base.values.shape[:2]
                label = "value" if (th, tw) == (ny, nx) else "block max"
                lines.append(f"{label} {_fmt(base.values[block_of(y, ny, th), block_of(x, nx, tw)])}")
        s = base.stats
        lines += [f"mean {s.mean:.4g}", f"std {s.std:.4g}", f"sum {s.sum:.4g}", f"max {s.max:.4g}", f"min {s.min:.4g}"]
    if tag_names:
        lines.append("tags: " + ", ".join(tag_names))
    return lines


def _fmt(v) -> str:
    """A pixel value as the readout shows it: 6 significant digits, RGB as a tuple."""
    if np.ndim(v):
        return str(tuple(np.asarray(v).tolist()))
    v = v.item() if hasattr(v, "item") else v
    return f"{v:.6g}" if isinstance(v, float) else str(v)
