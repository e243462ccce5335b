"""The single-frame image view (spec/viewer.md S1, S4, M4, W6).

The view shows a colour-index image (uint8, layout in :mod:`owlx.core.colorindex`) through a
256-entry colour table, which pyqtgraph hands to Qt as an Indexed8 image: showing a 4096² frame
or recolouring it costs well under a millisecond. All mapping from data to indices happens on a
worker (:func:`owlx.core.display.render`).

Conventions: images are row-major ``(ny, nx)``; pixel ``(x, y)`` = (column, row) covers the
view rectangle [x, x+1) × [y, y+1); row 0 is at the top and column 0 at the left (the CXI
default detector basis, where the first array axis runs along −y); 1 data pixel = 1 × 1 view
units at 1:1 aspect.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets


class _Placeholder(QtWidgets.QWidget):
    """A translucent box with a turning arc and a line of text, drawn over the view while a
    frame loads. Mouse events pass through, so pan and zoom keep working."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        self.setAttribute(QtCore.Qt.WA_NoSystemBackground)
        self.text = ""
        self.angle = 0
        self.busy = True  # False: a static message (e.g. a frame that could not be read)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._turn)

    def _turn(self) -> None:
        self.angle = (self.angle + 30) % 360
        self.update()

    def showEvent(self, event) -> None:
        if self.busy:
            self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing)
        metrics = p.fontMetrics()
        w = max(160, metrics.horizontalAdvance(self.text) + 80)
        h = 56
        box = QtCore.QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        p.setPen(QtCore.Qt.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0, 170))
        p.drawRoundedRect(box, 8, 8)
        arc = QtCore.QRectF(box.left() + 16, box.center().y() - 12, 24, 24)
        p.setPen(QtGui.QPen(QtGui.QColor(230, 230, 230), 3))
        if self.busy:
            p.drawArc(arc, -self.angle * 16, 270 * 16)  # Qt angles are 1/16 degree
        p.drawText(QtCore.QRectF(arc.right() + 12, box.top(), box.right() - arc.right() - 20, h),
                   QtCore.Qt.AlignVCenter | QtCore.Qt.AlignLeft, self.text)


class FrameView(QtWidgets.QWidget):
    """Pan/zoom view of one frame plus its mask overlay.

    Signals: ``pixel_hovered(x, y)`` with the column and row under the cursor, (−1, −1) outside
    the image (emitted on change only); ``pixel_clicked(x, y)`` on a left click on the image.
    The widget takes keyboard focus but handles no keys: they go on to the main window.
    """

    pixel_hovered = QtCore.pyqtSignal(int, int)
    # The zoom went past the preview of an image whose full-resolution indices were not made
    # (only the preview was rendered): the owner should supply them with set_full_index().
    full_image_wanted = QtCore.pyqtSignal()
    # The zoom crossed the preview threshold: True when it now needs full resolution.
    full_resolution_changed = QtCore.pyqtSignal(bool)
    pixel_clicked = QtCore.pyqtSignal(int, int)
    tag_square_clicked = QtCore.pyqtSignal(int, bool)  # tag index, Shift held

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(QtCore.Qt.StrongFocus)
        self.graphics = pg.GraphicsLayoutWidget()
        # Clicks on the graphics go up to this widget's focus, so keys reach the main window.
        self.graphics.setFocusPolicy(QtCore.Qt.NoFocus)
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.view_box = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view_box.disableAutoRange()
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item.setZValue(10)
        self.mask_item.hide()
        self.view_box.addItem(self.image_item)
        self.view_box.addItem(self.mask_item)
        self.placeholder = _Placeholder()
        self.placeholder.hide()
        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 0, 0)
        layout.addWidget(self.placeholder, 0, 0)  # same cell: drawn on top
        self._shape: tuple[int, int] | None = None
        self._hovered = (-1, -1)
        self._mask_source: np.ndarray | None = None  # the valid array behind mask_item
        self._tag_squares: list[QtWidgets.QGraphicsRectItem] = []
        self._tag_state: tuple[list[bool], list] = ([], [])
        self._tag_squares_visible = True
        # (full index or None, preview or None, preview step, (ny, nx))
        self._images: tuple | None = None
        self._wants_preview = True  # the zoom's last verdict, to signal only its changes
        self._lut: np.ndarray | None = None
        self._rgba: np.ndarray | None = None  # the shown image through _lut, when the loader made it
        self._shown_preview = False
        self._mask_images: tuple | None = None  # (full "masked" uint8, preview or None)
        self._mask_shown_preview: bool | None = None
        self._mask_lut = np.zeros((2, 4), np.uint8)
        self.view_box.sigRangeChanged.connect(self._on_range_changed)
        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._mouse_moved)
        scene.sigMouseClicked.connect(self._mouse_clicked)

    # -- images ---------------------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int] | None:
        """(ny, nx) of the image shown, or None."""
        return self._shape

    def set_index_image(self, index: np.ndarray | None, colour_table: np.ndarray | None,
                        preview: np.ndarray | None = None, preview_step: int = 1,
                        rgba: np.ndarray | None = None, shape: tuple[int, int] | None = None) -> None:
        """Show a uint8 colour-index image (ny, nx) with a (256, 3|4) uint8 colour table; an
        RGB(A) uint8 image (ny, nx, 3|4) is shown as it is and the table is ignored.

        ``preview`` is the same image reduced by ``preview_step`` (owlx.core.preview): shown
        instead of ``index`` while the zoom puts at least ``preview_step`` data pixels on a
        screen pixel, so a zoomed-out 4096² frame paints 1 M pixels instead of 16 M. Scene
        coordinates stay those of the full image either way. ``index`` may be None when a
        preview is given, with the full image's ``shape`` (ny, nx): zooming in past the preview
        then shows it enlarged and emits :attr:`full_image_wanted` until :meth:`set_full_index`
        brings the full image. ``rgba`` is the preview (or, without one, ``index``) already
        through ``colour_table`` as (h, w, 4) uint8: painted directly, about twice as fast as an
        indexed image, until the colour table changes."""
        use_preview = preview is not None and preview_step > 1
        if index is None:
            if not use_preview or shape is None:
                raise ValueError("an image without its full-resolution indices needs a preview and its shape")
            shape = (int(shape[0]), int(shape[1]))
        else:
            index = np.asarray(index)
            if index.ndim == 3:
                self._images = self._rgba = None
                self.set_rgb_image(index)
                return
            if index.dtype != np.uint8 or index.ndim != 2:
                raise ValueError(f"a colour-index image must be 2-D uint8, not {index.dtype} {index.shape}")
            shape = index.shape
        self._images = (index, preview if use_preview else None, int(preview_step) if use_preview else 1, shape)
        self._lut = np.asarray(colour_table, np.uint8)
        made_from = preview if use_preview else index
        self._rgba = rgba if rgba is not None and rgba.shape[:2] == made_from.shape else None
        self._shown(shape)  # fits a new geometry first: the resolution depends on the zoom
        self._show_resolution(force=True)

    def set_full_index(self, index: np.ndarray) -> None:
        """Supply the full-resolution indices of the image shown (made after its preview)."""
        if self._images is None or self._images[0] is not None:
            return
        _, preview, step, shape = self._images
        if np.shape(index) != shape:
            return
        self._images = (np.asarray(index), preview, step, shape)
        self._show_resolution(force=True)

    def set_rgb_image(self, rgb: np.ndarray) -> None:
        """Show an (ny, nx, 3|4) uint8 RGB(A) image directly."""
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
            raise ValueError(f"an RGB(A) image must be (ny, nx, 3|4) uint8, not {rgb.dtype} {rgb.shape}")
        self.image_item.setImage(rgb, levels=None, lut=None, autoLevels=False)
        self._shown_preview = False
        self.image_item.setRect(QtCore.QRectF(0, 0, rgb.shape[1], rgb.shape[0]))
        self._shown(rgb.shape[:2])

    def set_colour_table(self, colour_table: np.ndarray) -> None:
        """Recolour the current index image without re-mapping it."""
        if self._images is not None:  # an index image (not an RGB frame) is shown
            self._lut = np.asarray(colour_table, np.uint8)
            if self._rgba is not None:  # made with the old table: back to the indexed image
                self._rgba = None
                self._show_resolution(force=True)
            else:
                self.image_item.setLookupTable(self._lut)

    @property
    def showing_preview(self) -> bool:
        """True while the reduced image is on screen (zoomed out on a big frame)."""
        return self._shown_preview

    def _data_pixels_per_device_pixel(self) -> float:
        sx, sy = self.view_box.viewPixelSize()  # data units per logical screen pixel
        return min(abs(sx), abs(sy)) / max(self.devicePixelRatioF(), 1.0)

    def _show_resolution(self, force: bool = False) -> None:
        """Put the preview or the full image on screen, whichever the zoom needs."""
        if self._images is None:
            return
        index, preview, step, shape = self._images
        want_preview = preview is not None and self._data_pixels_per_device_pixel() >= step
        if want_preview != self._wants_preview and preview is not None:
            self._wants_preview = want_preview
            self.full_resolution_changed.emit(not want_preview)
        if index is None and not want_preview:
            self.full_image_wanted.emit()
            want_preview = True  # enlarged until the full image arrives
        if not force and want_preview == self._shown_preview:
            return
        image = preview if want_preview else index
        if self._rgba is not None and (want_preview or preview is None):
            self.image_item.setImage(self._rgba, levels=None, lut=None, autoLevels=False)
        else:
            # levels (0, 255) with a 256-row uint8 table and uint8 data: Qt's Indexed8 path.
            self.image_item.setImage(image, levels=(0, 255), lut=self._lut, autoLevels=False)
        self.image_item.setRect(QtCore.QRectF(0, 0, shape[1], shape[0]))
        self._shown_preview = want_preview
        self._show_mask_resolution()

    def _on_range_changed(self, *args) -> None:
        self._show_resolution()

    def _shown(self, shape) -> None:
        shape = (int(shape[0]), int(shape[1]))
        if shape != self._shape:  # a new geometry: fit; the same one keeps the zoom (S4)
            self._shape = shape
            self.fit()
            if self._mask_source is not None and self._mask_source.shape != shape:
                self.set_mask_overlay(None)
        self.hide_placeholder()

    def fit(self) -> None:
        """Fit the whole image into the window."""
        if self._shape is not None:
            ny, nx = self._shape
            self.view_box.setRange(QtCore.QRectF(0, 0, nx, ny), padding=0)

    def clear(self) -> None:
        """Remove image and mask; the next image is fitted to the window."""
        self.image_item.clear()
        self._images = None
        self._rgba = None
        self._shown_preview = False
        self.set_mask_overlay(None)
        self._shape = None
        self.hide_placeholder()

    # -- mask overlay ---------------------------------------------------------------------------
    def set_mask_overlay(self, valid: np.ndarray | None, colour=(0, 0, 0), opacity: float = 1.0,
                         preview: np.ndarray | None = None) -> None:
        """Paint the pixels where ``valid`` is False in ``colour`` (r, g, b 0–255) with
        ``opacity`` 0–1 (1 hides them, M4). None, or a shape other than the image's, removes
        the overlay. Passing the same array again only restyles it. ``preview`` is the mask
        reduced like the image's preview, shown while the image shows its own."""
        if valid is None or (self._shape is not None and np.shape(valid) != self._shape):
            self._mask_source = None
            self._mask_images = None
            self.mask_item.clear()
            self.mask_item.hide()
            return
        alpha = int(round(255 * min(max(float(opacity), 0.0), 1.0)))
        lut = np.array([[0, 0, 0, 0], [*(int(c) for c in colour[:3]), alpha]], np.uint8)
        self._mask_lut = lut
        if valid is not self._mask_source:
            masked = np.logical_not(valid).view(np.uint8)  # 1 = masked, drawn; 0 = transparent
            small = None if preview is None else np.logical_not(preview).view(np.uint8)
            self._mask_images = (masked, small)
            self._mask_source = valid
            self._mask_shown_preview = None
            self._show_mask_resolution()
        else:
            self.mask_item.setLookupTable(lut)
        self.mask_item.setVisible(alpha > 0)

    def _show_mask_resolution(self) -> None:
        """The mask follows the image: reduced while the image shows its preview."""
        if self._mask_images is None or self._mask_source is None:
            return
        masked, small = self._mask_images
        use_small = small is not None and self._shown_preview
        if use_small == self._mask_shown_preview:
            return
        self.mask_item.setImage(small if use_small else masked, levels=(0, 1), lut=self._mask_lut, autoLevels=False)
        self.mask_item.setRect(QtCore.QRectF(0, 0, masked.shape[1], masked.shape[0]))
        self._mask_shown_preview = use_small

    # -- tag squares (spec/viewer.md T4) --------------------------------------------------------
    def set_tag_squares(self, states: list[bool], colours: list, visible: bool | None = None) -> None:
        """One square per tag at the top-left of the frame: 5 % of the frame width, 1 % padding,
        stacked downwards, filled when the tag is set on the frame and outlined when not."""
        if visible is not None:
            self._tag_squares_visible = bool(visible)
        self._tag_state = (list(states), list(colours))
        while len(self._tag_squares) < len(states):
            item = QtWidgets.QGraphicsRectItem()
            item.setZValue(20)
            self.view_box.addItem(item)
            self._tag_squares.append(item)
        ny, nx = self._shape or (0, 0)
        side, pad = 0.05 * nx, 0.01 * nx
        for i, item in enumerate(self._tag_squares):
            show = self._tag_squares_visible and i < len(states) and self._shape is not None
            item.setVisible(show)
            if not show:
                continue
            colour = QtGui.QColor(*[int(c) for c in colours[i][:3]])
            item.setRect(QtCore.QRectF(pad, pad + i * (side + pad), side, side))
            pen = QtGui.QPen(colour)
            pen.setWidthF(max(side * 0.08, 1.0))
            pen.setCosmetic(False)
            item.setPen(pen)
            item.setBrush(QtGui.QBrush(colour) if states[i] else QtGui.QBrush(QtCore.Qt.NoBrush))

    def set_tag_squares_visible(self, visible: bool) -> None:
        self.set_tag_squares(*self._tag_state, visible=visible)

    @property
    def tag_squares_visible(self) -> bool:
        return self._tag_squares_visible

    def tag_square_rect(self, index: int) -> QtCore.QRectF:
        """Scene rectangle of tag square ``index`` (for tests and hit testing)."""
        return self._tag_squares[index].sceneBoundingRect()

    # -- placeholder ----------------------------------------------------------------------------
    def show_placeholder(self, text: str = "Loading…", busy: bool = True) -> None:
        """Show ``text`` over the view until the next image arrives, with a turning spinner
        while ``busy`` (W6) and without one for a static message."""
        self.placeholder.text = text
        self.placeholder.busy = busy
        if not busy:
            self.placeholder._timer.stop()
        self.placeholder.show()
        self.placeholder.raise_()
        self.placeholder.update()

    def hide_placeholder(self) -> None:
        self.placeholder.hide()

    def set_background(self, colour) -> None:
        """Colour behind the image (and behind transparent table rows)."""
        self.graphics.setBackground(colour)

    # -- export ---------------------------------------------------------------------------------
    @staticmethod
    def render_native(index: np.ndarray, colour_table: np.ndarray | None = None,
                      valid: np.ndarray | None = None, mask_colour=(0, 0, 0),
                      opacity: float = 1.0) -> QtGui.QImage:
        """The frame at native resolution (one data pixel per image pixel) as an RGBA QImage,
        mask overlay composited, for Save PNG (§13). ``index`` may also be RGB(A) uint8."""
        index = np.asarray(index)
        if index.ndim == 2:
            rgba = np.asarray(colour_table, np.uint8)[index]
            if rgba.shape[2] == 3:
                rgba = np.dstack([rgba, np.full(index.shape, 255, np.uint8)])
        else:
            rgba = index if index.shape[2] == 4 else np.dstack([index, np.full(index.shape[:2], 255, np.uint8)])
        rgba = np.array(rgba, np.uint8, order="C")  # own copy: compositing writes into it
        a = min(max(float(opacity), 0.0), 1.0)
        if valid is not None and a > 0:
            masked = ~np.asarray(valid, bool)
            px = rgba[masked].astype(np.float32)
            px[:, :3] = (1 - a) * px[:, :3] + a * np.asarray(mask_colour[:3], np.float32)
            px[:, 3] = (1 - a) * px[:, 3] + a * 255
            rgba[masked] = np.round(px).astype(np.uint8)
        ny, nx = rgba.shape[:2]
        qimage = QtGui.QImage(rgba.data, nx, ny, 4 * nx, QtGui.QImage.Format_RGBA8888)
        return qimage.copy()  # detach from the numpy buffer

    def grab_view(self) -> QtGui.QPixmap:
        """What the view shows now, at screen resolution."""
        return self.graphics.grab()

    # -- mouse ----------------------------------------------------------------------------------
    def pixel_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int]:
        """(x, y) = (column, row) of the image pixel at a scene position, or (−1, −1)."""
        if self._shape is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return -1, -1
        p = self.view_box.mapSceneToView(scene_pos)
        x, y = math.floor(p.x()), math.floor(p.y())
        ny, nx = self._shape
        return (x, y) if 0 <= x < nx and 0 <= y < ny else (-1, -1)

    def _mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        self._set_hovered(self.pixel_at(scene_pos))

    def _set_hovered(self, xy: tuple[int, int]) -> None:
        if xy != self._hovered:
            self._hovered = xy
            self.pixel_hovered.emit(*xy)

    def _mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.LeftButton:
            return
        for i, item in enumerate(self._tag_squares):
            if item.isVisible() and item.sceneBoundingRect().contains(event.scenePos()):
                shift = bool(event.modifiers() & QtCore.Qt.ShiftModifier)
                self.tag_square_clicked.emit(i, shift)
                return
        x, y = self.pixel_at(event.scenePos())
        if x >= 0:
            self.pixel_clicked.emit(x, y)

    def leaveEvent(self, event) -> None:
        self._set_hovered((-1, -1))
        super().leaveEvent(event)
