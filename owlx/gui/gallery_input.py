"""Mouse, wheel and keyboard handling of the gallery (spec/viewer.md G2, G3, T5, T6, §14).

Part of :class:`owlx.gui.gallery.GalleryView`: a click selects, a double-click activates, a click
on a tag square only toggles that tag (with Shift: on every frame of the display order, applied
by the window); the wheel scrolls in the preferred direction; keys go on to the window.
"""

from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets


class GalleryInputMixin:
    """Event handlers of :class:`GalleryView` (a QAbstractScrollArea: viewport events arrive
    here in viewport coordinates)."""

    def viewportEvent(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Leave:  # not forwarded to leaveEvent by the scroll area
            self._set_hovered(None)
        return super().viewportEvent(event)

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        pixels = event.pixelDelta().y()
        if pixels == 0:  # a notched wheel: 3 notches scroll about one row (Qt's default 3 lines)
            lines = QtWidgets.QApplication.wheelScrollLines()
            pixels = round(event.angleDelta().y() / 120 * lines * self._grid.pitch_y / 9)
        # Undo the system's inversion so that the preference alone sets the direction.
        away = -pixels if event.inverted() else pixels  # > 0: the wheel's top moved away
        self._scroll_to(self._offset() + (away if self._natural else -away))
        event.accept()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        # Navigation keys belong to the window (spec/viewer.md §14): do not scroll here.
        event.ignore()

    def _hit(self, point: QtCore.QPoint):
        """(position, frame, tag index or None) under a viewport point, or None."""
        pos = self.position_at(point)
        if pos is None:
            return None
        frame = self.frame_at(pos)
        tag = None
        if self._tags_visible and self._tags is not None:
            # the painted (rounded) squares are the targets, so a click hits what is seen
            tag = next((i for i in range(len(self._tags(frame))) if self.tag_rect(pos, i).contains(point)), None)
        return pos, frame, tag

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        hit = self._hit(event.pos()) if event.button() == QtCore.Qt.LeftButton else None
        if hit is None:
            super().mousePressEvent(event)
            return
        _, frame, tag = hit
        if tag is not None:
            shift = bool(event.modifiers() & QtCore.Qt.ShiftModifier)
            self.tag_square_clicked.emit(frame, tag, shift)
        else:
            # No scrolling on a click: a cell that moved under the cursor would turn the
            # second click of a double-click into a click on another cell.
            self.set_selected(frame, scroll=False)
            self.frame_selected.emit(frame)
        event.accept()

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        hit = self._hit(event.pos()) if event.button() == QtCore.Qt.LeftButton else None
        if hit is None:
            super().mouseDoubleClickEvent(event)
            return
        _, frame, tag = hit
        if tag is not None:  # the second click on a tag square toggles again
            self.tag_square_clicked.emit(frame, tag, bool(event.modifiers() & QtCore.Qt.ShiftModifier))
        else:
            self.frame_activated.emit(frame)
        event.accept()

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        self._set_hovered(self._hover_at(event.pos()))
        super().mouseMoveEvent(event)

    def _hover_at(self, point: QtCore.QPoint) -> tuple[int, int, int] | None:
        """(position, x, y) of the frame pixel under a viewport point, or None."""
        pos = self.position_at(point)
        if pos is None:
            return None
        x, y = self._grid.pixel_at(pos, point.x(), point.y() + self._offset())
        return pos, x, y

    def _set_hovered(self, hovered: tuple[int, int, int] | None) -> None:
        old = self._hovered
        if hovered == old:
            return
        self._hovered = hovered
        if hovered is None:
            self.pixel_hovered.emit(-1, -1, -1)
        else:
            self.pixel_hovered.emit(self.frame_at(hovered[0]), hovered[1], hovered[2])
        # The overlay moves between the hovered and the selected cell: repaint both and the old one.
        for pos in {old[0] if old else None, hovered[0] if hovered else None, self.position_of(self._selected)}:
            if pos is not None and pos < self._order.size:
                self.viewport().update(self.cell_rect(pos))
