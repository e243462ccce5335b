"""Geometry of the gallery grid (spec/viewer.md G1, T4), in integer widget pixels.

The grid follows Owl's gallery (FXIhub/owl, views/view2d.py): ``columns`` cells per row fill
the viewport width, each cell keeps the frames' aspect ratio, and cells are separated by a
``gap`` of 10 px in both directions, half a gap framing the grid. Positions are view positions
(indices into the display order), filled row by row. "Content" coordinates run from the top of
the first row; the widget subtracts its scroll offset to get viewport coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

GAP = 10  # px between rows and columns (Owl's subplotBorder)
TAG_SIZE = 0.05  # tag square side, fraction of the cell width (T4)
TAG_PAD = 0.01  # padding around tag squares, fraction of the cell width (T4)


@dataclass(frozen=True)
class GridLayout:
    """Cell geometry for ``count`` frames of ``frame_shape`` (ny, nx) in a viewport ``width``
    px wide with ``columns`` cells per row. Immutable; derived sizes are computed once (they
    are read for every cell of every repaint)."""

    width: int
    columns: int
    count: int
    frame_shape: tuple[int, int] = (1, 1)
    gap: int = GAP

    @cached_property
    def cell_width(self) -> int:
        return max(1, self.width // max(1, self.columns) - self.gap)

    @cached_property
    def cell_height(self) -> int:
        ny, nx = self.frame_shape
        return max(1, round(self.cell_width * max(1, ny) / max(1, nx)))

    @cached_property
    def pitch_x(self) -> int:
        return self.cell_width + self.gap

    @cached_property
    def pitch_y(self) -> int:
        return self.cell_height + self.gap

    @cached_property
    def left(self) -> int:
        """x of the first column: the rounding remainder is split between both sides."""
        return max(0, (self.width - self.columns * self.pitch_x) // 2) + self.gap // 2

    @cached_property
    def rows(self) -> int:
        return -(-self.count // self.columns) if self.count else 0

    @cached_property
    def content_height(self) -> int:
        return self.rows * self.pitch_y

    def row_of(self, position: int) -> int:
        return position // self.columns

    def cell_origin(self, position: int) -> tuple[int, int]:
        """Content coordinates (x, y) of the top-left pixel of a cell."""
        row, col = divmod(position, self.columns)
        return self.left + col * self.pitch_x, self.gap // 2 + row * self.pitch_y

    def row_top(self, row: int) -> int:
        return self.gap // 2 + row * self.pitch_y

    def visible_positions(self, offset: int, height: int) -> range:
        """Positions of the cells at least partly inside content rows [offset, offset + height)."""
        if self.count == 0 or height <= 0:
            return range(0)
        top = self.gap // 2
        first_row = max(0, (offset - top - self.cell_height) // self.pitch_y + 1)
        last_row = min(self.rows - 1, (offset + height - 1 - top) // self.pitch_y)
        if last_row < first_row:
            return range(0)
        return range(first_row * self.columns, min(self.count, (last_row + 1) * self.columns))

    def position_at(self, x: int, y: int) -> int | None:
        """The position of the cell containing content point (x, y), None in a gap or outside."""
        col, dx = divmod(x - self.left, self.pitch_x)
        row, dy = divmod(y - self.gap // 2, self.pitch_y)
        if not (0 <= col < self.columns and row >= 0 and dx < self.cell_width and dy < self.cell_height):
            return None
        position = row * self.columns + col
        return position if position < self.count else None

    def pixel_at(self, position: int, x: int, y: int) -> tuple[int, int]:
        """Frame pixel (column, row) under content point (x, y) of a cell, clamped to the frame."""
        x0, y0 = self.cell_origin(position)
        ny, nx = self.frame_shape
        px = math.floor((x - x0 + 0.5) * nx / self.cell_width)
        py = math.floor((y - y0 + 0.5) * ny / self.cell_height)
        return min(max(px, 0), nx - 1), min(max(py, 0), ny - 1)

    def scroll_to_show(self, position: int, offset: int, height: int) -> int:
        """The scroll offset closest to ``offset`` that shows the whole cell (its top when the
        cell is taller than the viewport), with the half gap around it."""
        _, y = self.cell_origin(position)
        top, bottom = y - self.gap // 2, y + self.cell_height + self.gap - self.gap // 2
        if top < offset or bottom - top > height:
            return top
        if bottom > offset + height:
            return bottom - height
        return offset

    # -- tag squares (T4) -------------------------------------------------------------------------
    def tag_square(self, index: int) -> tuple[float, float, float]:
        """(x, y, side) of tag square ``index`` relative to its cell's top-left corner: 5 % of the
        cell width, 1 % padding, stacked downwards (FXIhub/owl, views/view2d.py ``_tagSize``)."""
        size = max(2.0, TAG_SIZE * self.cell_width)
        pad = max(1.0, TAG_PAD * self.cell_width)
        return pad, pad + index * (size + pad), size
