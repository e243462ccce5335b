"""The gallery: frames in display order on a grid, as in Owl (spec/viewer.md §4 G1–G6, S3, T4–T6).

:class:`GalleryView` is a self-contained widget; the main window feeds it the stack, the display
order, the display settings and the tags, and listens to its signals:

* ``frame_selected(frame)``: a cell was clicked, or :meth:`select_relative` / :meth:`row_step` /
  :meth:`select_position` moved the selection (the window makes it the session's frame);
* ``frame_activated(frame)``: a cell was double-clicked (open it in single-frame mode, G3);
* ``tag_square_clicked(frame, tag_index, shift)``: a tag square was clicked (T5; with Shift the
  window applies it to every frame of the display order, T6). Such a click only toggles: it
  neither selects nor activates;
* ``pixel_hovered(frame, x, y)``: full-resolution pixel (column, row) under the cursor, or
  (−1, −1, −1) when the cursor leaves the cells (for the status-bar readout, P1);
* ``columns_changed(n)``;
* ``load_failed(frame, message)``: a visible cell's frame could not be read (the cell says so;
  the window may add the message to its error indicator, W4).

A label provider (:meth:`set_labels`) puts a line of text on each cell, e.g. the fitted sphere
diameter as batch sizing results arrive (viewer.md B2).

Only the visible cells are requested, at their on-screen size in device pixels (G4); a scroll
cancels the requests of cells that left the view. The GUI thread does cache lookups and
painting only: reads and computations run in :class:`GalleryLoader` jobs (W6).

Info overlay (S3): the hovered cell, or else the selected one, shows frame index, view
position and the full frame's min/max/mean/std/sum. The value under the cursor is the
full-resolution value when the frame is in the shared raw-frame cache
(:meth:`share_raw_cache`, normally the single view's), and otherwise the thumbnail's block
maximum, labelled "block max" — never a thumbnail value passed off as a pixel value.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from ..core.display import DisplaySettings, MaskSettings
from ..core.thumbnail import thumbnail_shape
from ..frames import FrameCache
from ..io.source import Stack
from . import gallery_paint as paint
from .colormaps import colour_table
from .gallery_input import GalleryInputMixin
from .gallery_layout import GridLayout
from .gallery_loader import GalleryLoader, Request, Thumbnail

MAX_COLUMNS = 64
WHEEL_DIRECTIONS = ("traditional", "natural")


class GalleryView(GalleryInputMixin, QtWidgets.QAbstractScrollArea):
    """Grid of thumbnails with selection, tag squares and an info overlay. See the module doc."""

    frame_selected = QtCore.pyqtSignal(int)
    frame_activated = QtCore.pyqtSignal(int)
    tag_square_clicked = QtCore.pyqtSignal(int, int, bool)
    pixel_hovered = QtCore.pyqtSignal(int, int, int)
    columns_changed = QtCore.pyqtSignal(int)
    load_failed = QtCore.pyqtSignal(int, str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, cache_mb: int = 256, threads: int | None = None):
        super().__init__(parent)
        self.setFocusPolicy(QtCore.Qt.StrongFocus)
        # Always shown, so that the viewport width (and with it the cell size) does not jump
        # when the grid grows past one screen.
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOn)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QtWidgets.QFrame.NoFrame)
        self.viewport().setMouseTracking(True)
        self.viewport().setAttribute(QtCore.Qt.WA_OpaquePaintEvent)
        self.loader = GalleryLoader(cache_mb=cache_mb, threads=threads, parent=self)
        self.loader.ready.connect(self._on_ready)
        self.loader.failed.connect(self._on_failed)

        self._stack: Stack | None = None
        self._order = np.zeros(0, np.int64)
        self._position_of = np.zeros(0, np.int64)  # frame -> view position, −1 when filtered out
        self._columns = 4
        self._grid = GridLayout(1, self._columns, 0)
        self._selected: int | None = None
        self._hovered: tuple[int, int, int] | None = None  # (position, x, y)
        self._natural = False
        self._lock = False
        self._lock_failed: int | None = None  # selected frame whose levels could not be read
        self._display = DisplaySettings()
        self._mask = MaskSettings()
        self._table = paint.qt_colour_table(colour_table(self._display.colormap, self._display.invert_colormap))
        self._mask_table = paint.mask_table(self._mask.colour, self._mask.opacity)
        self._cells: dict[int, paint.CellImage] = {}  # frame -> newest picture, possibly stale
        self._expected: dict[int, tuple] = {}  # frame -> cache key of its current picture
        self._failed: dict[int, str] = {}
        self._tags: Callable[[int], Sequence[bool]] | None = None
        self._tag_colours: list[tuple[int, int, int]] = []
        self._tag_names: list[str] = []
        self._tags_visible = True
        self._labels: Callable[[int], str | None] | None = None
        self._info_visible = True
        self._angle = 0
        self._spinner = QtCore.QTimer(self)
        self._spinner.setInterval(100)
        self._spinner.timeout.connect(self._turn_spinner)

    # -- data ---------------------------------------------------------------------------------------
    def set_stack(self, stack: Stack | None, mask_stack: Stack | None = None) -> None:
        """Show ``stack`` (display order: all frames until :meth:`set_order`); None clears."""
        self.loader.set_stack(stack, mask_stack)
        self._stack = stack
        self._cells.clear()
        self._failed.clear()
        self._hovered = None
        n = len(stack) if stack is not None else 0
        if self._selected is not None and self._selected >= n:
            self._selected = None
        self._set_order(np.arange(n, dtype=np.int64))
        self._scroll_to(0)

    def swap_readers(self, stack: Stack, mask_stack: Stack | None = None) -> None:
        """Read the same frames through new reader objects (after a save reopened the file),
        keeping every thumbnail already made."""
        self.loader.swap_readers(stack, mask_stack)
        self._stack = stack
        self._failed.clear()
        self._refresh()

    def set_mask_stack(self, mask_stack: Stack | None) -> None:
        """Use another mask dataset (raw mask values, one frame per frame or one for all)."""
        self.loader.set_mask_stack(mask_stack)
        self._failed.clear()
        self._refresh()

    def set_order(self, order: np.ndarray) -> None:
        """Show the frames ``order`` (the display order: sorted, filtered frame indices). The
        selected frame's cell is scrolled into view when it is in the new order."""
        self._set_order(np.asarray(order, dtype=np.int64).ravel())
        p = self.position_of(self._selected)
        if p is not None:
            self.ensure_visible(p)

    def _set_order(self, order: np.ndarray) -> None:
        n = len(self._stack) if self._stack is not None else 0
        if order.size and (order.min() < 0 or order.max() >= n):
            raise ValueError(f"display order holds frames outside 0…{n - 1}")
        self._order = order
        self._hovered = None  # positions changed meaning
        self._position_of = np.full(n, -1, np.int64)
        self._position_of[order] = np.arange(order.size)
        self._relayout()
        self._refresh()

    def order(self) -> np.ndarray:
        return self._order

    def set_display(self, display: DisplaySettings, mask: MaskSettings | None = None,
                    table: np.ndarray | None = None) -> None:
        """Display settings (norm, levels, complex mode), mask settings and the (256, 4) uint8
        colour table. The colormap reaches the cells only through ``table`` (default: the
        table of ``display.colormap``), so a colormap change recolours without re-mapping."""
        mask = mask or self._mask
        if table is None:
            table = colour_table(display.colormap, display.invert_colormap)
        self._display, self._mask = display, mask
        self.loader.set_settings(display, mask)
        self._table = paint.qt_colour_table(table)
        self._mask_table = paint.mask_table(mask.colour, mask.opacity)
        for cell in self._cells.values():
            cell.recolour(self._table, self._mask_table)
        self._refresh()

    def set_colour_table(self, table: np.ndarray) -> None:
        """Recolour every cell (no re-mapping)."""
        self._table = paint.qt_colour_table(table)
        for cell in self._cells.values():
            cell.recolour(self._table)
        self.viewport().update()

    def set_lock_levels(self, on: bool) -> None:
        """"Lock levels" (G5): every cell uses the selected frame's display levels instead of
        its own. Matters only when a level unit is relative (% range or percentile)."""
        self._lock = bool(on)
        self._refresh()

    def lock_levels(self) -> bool:
        return self._lock

    def share_raw_cache(self, cache: FrameCache | None, key: Callable[[int], Hashable] | None = None) -> None:
        """Read raw frames through another cache (normally the single view's ``FrameLoader``:
        ``share_raw_cache(loader.cache, lambda i: ("raw", loader.stack_token, i))``). Frames
        read for thumbnails are then ready when a cell is opened, and the info overlay shows
        full-resolution values."""
        self.loader.share_raw_cache(cache, key)

    def set_cache_mb(self, mb: int) -> None:
        self.loader.set_cache_mb(mb)

    def shutdown(self) -> None:
        """Cancel the requests and wait for running jobs (before the window closes)."""
        self._spinner.stop()
        self.loader.shutdown()

    # -- grid -----------------------------------------------------------------------------------------
    def set_columns(self, n: int) -> None:
        """Cells per row (Owl's "images per row"; Ctrl++ / Ctrl+- change it). The selected cell,
        or else the top row, stays in view."""
        n = int(min(max(int(n), 1), MAX_COLUMNS))
        if n == self._columns:
            return
        self._columns = n
        self._relayout_keeping_view()
        self.columns_changed.emit(n)

    def columns(self) -> int:
        return self._columns

    def set_wheel_direction(self, direction: str) -> None:
        """"traditional" (wheel away from you scrolls up) or "natural" (content follows the
        finger), whatever the system setting (G2)."""
        if direction not in WHEEL_DIRECTIONS:
            raise ValueError(f"wheel direction must be one of {WHEEL_DIRECTIONS}, not {direction!r}")
        self._natural = direction == "natural"

    def wheel_direction(self) -> str:
        return WHEEL_DIRECTIONS[self._natural]

    def cell_rect(self, position: int) -> QtCore.QRect:
        """Rectangle of the cell at a view position, in viewport coordinates."""
        x, y = self._grid.cell_origin(position)
        return QtCore.QRect(x, y - self._offset(), self._grid.cell_width, self._grid.cell_height)

    def tag_rect(self, position: int, tag_index: int) -> QtCore.QRect:
        """Rectangle of a tag square as painted, in viewport coordinates."""
        x, y, side = self._grid.tag_square(tag_index)
        r = self.cell_rect(position)
        return QtCore.QRect(r.left() + round(x), r.top() + round(y), round(side), round(side))

    def position_at(self, point: QtCore.QPoint) -> int | None:
        """View position of the cell under a viewport point, None in a gap or outside."""
        return self._grid.position_at(point.x(), point.y() + self._offset())

    def visible_positions(self) -> range:
        return self._grid.visible_positions(self._offset(), self._viewport_height())

    def position_of(self, frame: int | None) -> int | None:
        """View position of a frame, None when it is filtered out (or None)."""
        if frame is None or not 0 <= frame < self._position_of.size:
            return None
        p = int(self._position_of[frame])
        return p if p >= 0 else None

    def frame_at(self, position: int) -> int:
        return int(self._order[position])

    def ensure_visible(self, position: int) -> None:
        """Scroll the least that shows the whole cell at ``position``."""
        if 0 <= position < self._order.size:
            self._scroll_to(self._grid.scroll_to_show(position, self._offset(), self._viewport_height()))

    def scroll_rows(self, rows: int) -> None:
        """Scroll by whole rows without moving the selection (Owl's PgUp/PgDn)."""
        self._scroll_to(self._offset() + rows * self._grid.pitch_y)

    # -- selection ------------------------------------------------------------------------------------
    def set_selected(self, frame: int | None, scroll: bool = True) -> None:
        """Select ``frame`` (white border) without emitting; with ``scroll`` its cell is
        brought into view. The window calls this when the session's frame changes."""
        if frame == self._selected:
            # The window echoes every selection back; re-scrolling here would move a
            # just-clicked, partly visible cell away from under the second click of a double-click.
            return
        self._selected = frame
        self._lock_failed = None
        p = self.position_of(frame)
        if scroll and p is not None:
            self.ensure_visible(p)
        if self._lock:
            self._refresh()  # every cell takes the new frame's levels
        else:
            self.viewport().update()

    def selected(self) -> int | None:
        return self._selected

    def select_position(self, position: int) -> int | None:
        """Select the frame at a view position (negative counts from the end), scroll it into
        view and emit ``frame_selected``; returns the frame, or None without frames."""
        n = self._order.size
        if n == 0:
            return None
        position = min(max(position + n if position < 0 else position, 0), n - 1)
        frame = self.frame_at(position)
        self.set_selected(frame)
        self.ensure_visible(position)  # also when the frame was selected already
        self.frame_selected.emit(frame)
        return frame

    def select_relative(self, delta: int) -> int | None:
        """Move the selection ``delta`` view positions (clamped to the ends; from the first
        visible cell when the selected frame is filtered out). Left/Right: ±1."""
        current = self.position_of(self._selected)
        if current is None:
            visible = self.visible_positions()
            return self.select_position(visible.start if len(visible) else 0)
        return self.select_position(min(max(current + delta, 0), self._order.size - 1))

    def row_step(self, rows: int) -> int | None:
        """Move the selection ``rows`` rows down (up when negative), staying in its column
        where the row has one (Up/Down)."""
        return self.select_relative(rows * self._columns)

    # -- tags and overlay -------------------------------------------------------------------------------
    def set_tags(self, provider: Callable[[int], Sequence[bool]] | None) -> None:
        """``provider(frame)`` → one bool per tag (set or not), called while painting."""
        self._tags = provider
        self.viewport().update()

    def set_tag_colours(self, colours: Sequence[tuple[int, int, int]]) -> None:
        self._tag_colours = [tuple(int(c) for c in rgb[:3]) for rgb in colours]
        self.viewport().update()

    def set_tag_names(self, names: Sequence[str]) -> None:
        """Tag names, for the info overlay's list of tags set on a frame (S3)."""
        self._tag_names = list(names)
        self.viewport().update()

    def set_tag_squares_visible(self, on: bool) -> None:
        """Show or hide the tag squares (Ctrl+G)."""
        self._tags_visible = bool(on)
        self.viewport().update()

    def tag_squares_visible(self) -> bool:
        return self._tags_visible

    def refresh_tags(self) -> None:
        """Repaint after tags changed (membership, colours or names)."""
        self.viewport().update()

    def set_labels(self, provider: Callable[[int], str | None] | None) -> None:
        """``provider(frame)`` → a short text drawn at the cell's top right (None: no text),
        called while painting."""
        self._labels = provider
        self.viewport().update()

    def cell_label(self, frame: int) -> str | None:
        """The label the provider gives ``frame`` (what its cell shows)."""
        return self._labels(frame) if self._labels is not None else None

    def refresh_labels(self, frames: Sequence[int] | None = None) -> None:
        """Repaint the labels of ``frames`` (all visible cells when None)."""
        if frames is None:
            self.viewport().update()
            return
        for frame in frames:
            self._update_frame(int(frame))

    def set_info_visible(self, on: bool) -> None:
        """Show or hide the info overlay (S3)."""
        self._info_visible = bool(on)
        self.viewport().update()

    def info_visible(self) -> bool:
        return self._info_visible

    def thumbnail(self, frame: int) -> Thumbnail | None:
        """The thumbnail currently shown for a frame (possibly from older settings), or None."""
        cell = self._cells.get(frame)
        return cell.thumb if cell is not None else None

    def is_loading(self) -> bool:
        """True while a visible cell waits for its current thumbnail."""
        return any(self._cell_state(self.frame_at(p))[1] for p in self.visible_positions())

    # -- geometry helpers ------------------------------------------------------------------------------
    def _offset(self) -> int:
        return self.verticalScrollBar().value()

    def _viewport_height(self) -> int:
        return self.viewport().height()

    def _scroll_to(self, offset: int) -> None:
        self.verticalScrollBar().setValue(int(offset))  # clamped to the range by Qt

    def _top_position(self) -> int:
        visible = self.visible_positions()
        return visible.start if len(visible) else 0

    def _relayout_keeping_view(self) -> None:
        """New cell geometry; the selected cell stays in view if it was, else the top row
        stays at the top."""
        top = self._top_position()
        sel = self.position_of(self._selected)
        sel_visible = sel is not None and sel in self.visible_positions()
        self._relayout()
        if sel_visible:
            self.ensure_visible(sel)
        else:
            self._scroll_to(self._grid.row_top(self._grid.row_of(top)) - self._grid.gap // 2)
        self._refresh()

    def _frame_shape(self) -> tuple[int, int]:
        return self._stack.frame_shape if self._stack is not None and len(self._stack) else (1, 1)

    def _relayout(self) -> None:
        self._grid = GridLayout(self.viewport().width(), self._columns, int(self._order.size), self._frame_shape())
        bar = self.verticalScrollBar()
        height = self._viewport_height()
        bar.setRange(0, max(0, self._grid.content_height - height))
        bar.setPageStep(max(1, height))
        bar.setSingleStep(max(1, self._grid.pitch_y // 3))
        self.viewport().update()

    def _thumb_shape(self) -> tuple[int, int]:
        """The thumbnail shape: the cell in device pixels (1:1 painting), at most the frame."""
        dpr = self.devicePixelRatioF()
        g = self._grid
        return thumbnail_shape(self._frame_shape(), (round(g.cell_height * dpr), round(g.cell_width * dpr)))

    # -- requests --------------------------------------------------------------------------------------
    def _current_spec(self):
        """(spec of the cells' thumbnails, None), or (None, the request for the selected
        frame's levels) while "Lock levels" waits for them."""
        own = self.loader.spec()
        sel = self._selected
        if not (self._lock and own.relative and sel is not None and sel != self._lock_failed):
            return own, None
        levels = self.loader.cached(own.levels_key(sel))
        if levels is not None:
            return self.loader.spec(locked=levels), None
        p = self.position_of(sel)
        shape = self._thumb_shape() if p is not None and p in self.visible_positions() else None
        return None, Request(sel, shape, own)

    def _refresh(self, repaint: bool = True) -> None:
        """Request the visible cells that are neither shown nor cached, drop every other
        request, and repaint (cells that changed only, without ``repaint``). Cheap: dictionary
        lookups only, run on every scroll step. A hidden gallery (single-frame mode) asks for
        nothing: it would read and reduce every frame the user steps through."""
        if not self.isVisible():
            self.loader.request([])
            return
        if self._stack is None or self._order.size == 0:
            self.loader.request([])
            self._cells.clear()
            self._spinner.stop()
            self.viewport().update()
            return
        spec, first = self._current_spec()
        visible = [self.frame_at(p) for p in self.visible_positions()]
        wanted = [first] if first is not None else []
        self._expected = {}
        if spec is not None:
            shape = self._thumb_shape()
            for frame in visible:
                key = spec.thumb_key(frame, shape)
                self._expected[frame] = key
                cell = self._cells.get(frame)
                if cell is not None and cell.key == key:
                    continue
                hit = self.loader.cached(key)
                if hit is not None:
                    self._install(frame, key, hit)
                    self._update_frame(frame)
                elif frame not in self._failed:
                    wanted.append(Request(frame, shape, spec))
            # the selected frame first: it is the one the user looks at
            wanted.sort(key=lambda r: r.frame != self._selected)
        self.loader.request(wanted)
        keep = set(visible)
        for frame in [f for f in self._cells if f not in keep]:
            del self._cells[frame]
        if self.is_loading():
            self._spinner.start()
        else:
            self._spinner.stop()
        if repaint:
            self.viewport().update()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self._refresh()

    def _install(self, frame: int, key: tuple, thumb: Thumbnail) -> None:
        self._cells[frame] = paint.CellImage(key, thumb, self._table, self._mask_table)

    def _on_ready(self, key: tuple, value) -> None:
        if key[0] == "thumb" and isinstance(value, Thumbnail):
            frame = value.frame
            if self._expected.get(frame) == key:
                self._install(frame, key, value)
                self._update_frame(frame)
        if self._lock and (key[0] == "levels" or not self._expected):
            self._refresh()  # the selected frame's levels arrived: the cells can follow
        elif not self.is_loading():
            self._spinner.stop()

    def _on_failed(self, key: tuple, message: str) -> None:
        if key[0] == "levels" or (self._lock and not self._expected):
            self._lock_failed = self._selected  # fall back to each cell's own levels
            self._refresh()
            return
        frame = key[2]
        if self._expected.get(frame) == key:
            self._failed[frame] = message
            self._update_frame(frame)
            self.load_failed.emit(frame, message)

    def _update_frame(self, frame: int) -> None:
        p = self.position_of(frame)
        if p is not None:
            self.viewport().update(self.cell_rect(p).adjusted(-3, -3, 3, 3))

    def _cell_state(self, frame: int) -> tuple[paint.CellImage | None, bool]:
        """(picture to draw, still loading)."""
        cell = self._cells.get(frame)
        current = cell is not None and cell.key == self._expected.get(frame)
        return cell, not current and frame not in self._failed

    def _turn_spinner(self) -> None:
        self._angle = (self._angle + 30) % 360
        for p in self.visible_positions():
            frame = self.frame_at(p)
            if self._cells.get(frame) is None and frame not in self._failed:
                self.viewport().update(self.cell_rect(p))

    # -- painting --------------------------------------------------------------------------------------
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self.viewport())
        p.fillRect(event.rect(), paint.BACKGROUND)
        if self._stack is None or self._order.size == 0:
            p.setPen(QtGui.QColor(160, 160, 160))
            p.drawText(self.viewport().rect(), QtCore.Qt.AlignCenter, "no frames" if self._stack is not None else "")
            return
        for pos in self.visible_positions():
            rect = self.cell_rect(pos)
            if not rect.adjusted(-3, -3, 3, 3).intersects(event.rect()):
                continue
            frame = self.frame_at(pos)
            cell, _ = self._cell_state(frame)
            if cell is not None:
                paint.draw_cell(p, rect, cell)
            elif frame in self._failed:
                paint.draw_placeholder(p, rect, 0, f"frame {frame} could not be read", busy=False)
            else:
                paint.draw_placeholder(p, rect, self._angle)
            if self._tags_visible and self._tags is not None:
                flags = list(self._tags(frame))
                paint.draw_tags(p, (self.tag_rect(pos, i) for i in range(len(flags))), flags,
                                self._colours(len(flags)))
            label = self.cell_label(frame)
            if label:
                paint.draw_label(p, rect, label)
            if frame == self._selected:
                paint.draw_selection(p, rect)
        self._paint_info(p, event.rect())

    def _colours(self, n: int) -> list[tuple[int, int, int]]:
        colours = self._tag_colours or [(200, 200, 200)]
        return [colours[i % len(colours)] for i in range(n)]

    def _paint_info(self, p: QtGui.QPainter, dirty: QtCore.QRect) -> None:
        if not self._info_visible:
            return
        if self._hovered is not None:
            pos, x, y = self._hovered
        else:
            pos, x, y = self.position_of(self._selected), -1, -1
        if pos is None or pos not in self.visible_positions() or not self.cell_rect(pos).intersects(dirty):
            return
        paint.draw_info(p, self.cell_rect(pos), self.info_lines(self.frame_at(pos), x, y))

    def info_lines(self, frame: int, x: int = -1, y: int = -1) -> list[str]:
        """The overlay text of a frame, with pixel (x, y) under the cursor when x ≥ 0 (S3)."""
        cell = self._cells.get(frame)
        names = ()
        if self._tags is not None and self._tag_names:
            names = [n for n, on in zip(self._tag_names, self._tags(frame)) if on]
        raw = self.loader.raw_frame(frame) if x >= 0 else None
        return paint.info_lines(frame, self.position_of(frame), cell.thumb if cell else None, x, y, raw, names)

    # -- layout events ---------------------------------------------------------------------------------
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        self._relayout_keeping_view()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        # Move the pixels already painted and repaint only the strip scrolled into view.
        self.viewport().scroll(dx, dy)
        self._refresh(repaint=False)
        # the cells moved under a resting cursor: hover (and the overlay) follows
        point = self.viewport().mapFromGlobal(QtGui.QCursor.pos())
        self._set_hovered(self._hover_at(point) if self.viewport().rect().contains(point) else None)
