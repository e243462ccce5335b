"""The tag editor (spec/viewer.md T1, T2, T8; Edit › Tags…, Ctrl+Shift+G) and the Tags panel.

:class:`TagTableWidget` is a table of the current tags — name (editable), colour swatch
(double-click opens a colour dialog), "Tagged" (frames carrying the tag) and "Unfiltered"
(those of them in the display order) — with Add, Delete, Move up and Move down. It is the
Tags panel as it is, and :class:`TagEditor` shows it in a dialog.

Every edit goes through ``session.tags`` (a :class:`~owlx.tags.TagSet`), so it is one undo
step and marks the tags unsaved; the table shows what the TagSet reports through
``session.tags_changed`` and recounts on ``order_changed``, so the counts are right
immediately after any change from anywhere (keys, squares, console, undo). ``session.tags`` is
another object after each open, so it is always looked up through the session.

* Names are unique and non-empty: a duplicate or empty name is refused with a message and the
  old name comes back. A name with non-ASCII characters gets a warning tooltip (Owl and other
  Python 2 tools cannot read it).
* New tags are called ``Tag N`` and get the next palette colour (the TagSet's defaults, T2).
* Deleting a tag set on any frame asks first ("Delete tag 'fail' (set on 123 frames)?").
* Reordering keeps each tag's members (the TagSet moves whole rows).

The dialogs (message, confirmation, colour) are attributes so tests can replace them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets, sip

from ..errors import OwlxError
from .per_frame_data import observe
from .qt_jobs import QtJobRunner

COLUMNS = ("Name", "Colour", "Tagged", "Unfiltered")
NAME, COLOUR, TAGGED, UNFILTERED = range(4)
NON_ASCII_TIP = ("This name has non-ASCII characters: Owl and other tools written for Python 2 "
                 "may fail to read it.")


def delete_question(name: str, count: int) -> str:
    """The confirmation asked before deleting a tag that is set on ``count`` > 0 frames."""
    return f"Delete tag '{name}' (set on {count} frame{'s' if count != 1 else ''})?"


def _swatch(rgb) -> QtGui.QIcon:
    pix = QtGui.QPixmap(28, 14)
    pix.fill(QtGui.QColor(*(int(c) for c in rgb)))
    painter = QtGui.QPainter(pix)
    painter.setPen(QtGui.QColor(60, 60, 60))
    painter.drawRect(0, 0, pix.width() - 1, pix.height() - 1)
    painter.end()
    return QtGui.QIcon(pix)


class TagTableWidget(QtWidgets.QWidget):
    """The tag table with its buttons: the Tags panel, and the body of :class:`TagEditor`.

    Replaceable dialogs (for tests): ``confirm(question) -> bool``, ``warn(message)``,
    ``choose_color(QColor) -> QColor | None``.

    Signals:
        refreshed()  the table shows the current tags and counts
    """

    refreshed = QtCore.pyqtSignal()

    def __init__(self, session, runner: QtJobRunner | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = runner  # unused: counting is a lookup; kept for the panels' common signature
        self.confirm: Callable[[str], bool] = self._confirm_dialog
        self.warn: Callable[[str], None] = self._warn_dialog
        self.choose_color: Callable[[QtGui.QColor], QtGui.QColor | None] = self._color_dialog
        self._filling = False

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeaderItem(TAGGED).setToolTip("Frames carrying the tag")
        self.table.horizontalHeaderItem(UNFILTERED).setToolTip(
            "Frames carrying the tag among those that pass the filters")
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.DoubleClicked
                                   | QtWidgets.QAbstractItemView.EditKeyPressed
                                   | QtWidgets.QAbstractItemView.SelectedClicked)
        self.table.verticalHeader().setVisible(True)  # row numbers = the tag keys 1–9
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(NAME, QtWidgets.QHeaderView.Stretch)
        for c in (COLOUR, TAGGED, UNFILTERED):
            header.setSectionResizeMode(c, QtWidgets.QHeaderView.ResizeToContents)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellDoubleClicked.connect(self._cell_double_clicked)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.add_button = QtWidgets.QPushButton("Add")
        self.add_button.setToolTip("Add a tag (Tag N, next palette colour)")
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.up_button = QtWidgets.QPushButton("Move up")
        self.down_button = QtWidgets.QPushButton("Move down")
        self.add_button.clicked.connect(self.add_tag)
        self.delete_button.clicked.connect(lambda: self.delete_tag(self.current_row()))
        self.up_button.clicked.connect(lambda: self.move_tag(self.current_row(), -1))
        self.down_button.clicked.connect(lambda: self.move_tag(self.current_row(), +1))
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.add_button, self.delete_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        QtWidgets.QShortcut(QtGui.QKeySequence.Delete, self.table, activated=lambda: self.delete_tag(self.current_row()),
                            context=QtCore.Qt.WidgetShortcut)
        observe(self, [(session.tags_changed, self._on_tags_changed),
                       (session.order_changed, self._on_order_changed)])
        self.refresh()

    # -- public API -----------------------------------------------------------------------------
    def current_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def select_row(self, row: int | None) -> None:
        if row is None or not 0 <= row < self.table.rowCount():
            self.table.clearSelection()
        else:
            self.table.selectRow(row)

    def add_tag(self) -> int | None:
        """Add ``Tag N`` with the next palette colour and select it; returns its row."""
        try:
            row = self.session.tags.add()
        except OwlxError as err:
            self.warn(str(err))
            return None
        self.select_row(row)
        return row

    def rename_tag(self, row: int, name: str) -> bool:
        """Rename; a duplicate or empty name is refused with a message (False)."""
        try:
            self.session.tags.rename(row, name)
            return True
        except OwlxError as err:
            self.warn(str(err))
            self.refresh()
            return False

    def recolor_tag(self, row: int, color=None) -> bool:
        """Set a tag's colour (RGB or QColor); without ``color`` the colour dialog asks."""
        tags = self.session.tags
        if color is None:
            color = self.choose_color(QtGui.QColor(*tags.color(row)))
            if color is None:
                return False
        if isinstance(color, QtGui.QColor):
            if not color.isValid():
                return False
            color = (color.red(), color.green(), color.blue())
        try:
            tags.recolor(row, color)
            return True
        except OwlxError as err:
            self.warn(str(err))
            return False

    def delete_tag(self, row: int | None) -> bool:
        """Delete a tag, asking first when it is set on any frame; True when deleted."""
        if row is None:
            return False
        tags = self.session.tags
        try:
            name, count = tags.names[row], tags.count(row)
        except (IndexError, OwlxError):
            return False
        if count > 0 and not self.confirm(delete_question(name, count)):
            return False
        tags.delete(row)
        self.select_row(min(row, len(self.session.tags) - 1) if len(self.session.tags) else None)
        return True

    def move_tag(self, row: int | None, delta: int) -> bool:
        """Move a tag up (−1) or down (+1); its members and colour go with it."""
        if row is None:
            return False
        target = row + int(delta)
        if not 0 <= target < len(self.session.tags):
            return False
        self.session.tags.move(row, target)
        self.select_row(target)
        return True

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(tagged, unfiltered) per tag, as shown."""
        tags = self.session.tags
        total = tags.counts()
        order = self.session.order
        if order.size == tags.n_frames:  # nothing filtered out: the same numbers
            return total, total
        frames = order[order < tags.n_frames]
        return total, tags.counts(frames)

    def refresh(self) -> None:
        """Rebuild the rows from ``session.tags`` (keeps the selection by position)."""
        if sip.isdeleted(self):
            return
        row = self.current_row()
        tags = self.session.tags
        names, colors = tags.names, tags.colors
        self._filling = True
        try:
            self.table.setRowCount(len(names))
            for i, name in enumerate(names):
                item = QtWidgets.QTableWidgetItem(name)
                non_ascii = not name.isascii()
                item.setToolTip(NON_ASCII_TIP if non_ascii else "")
                if non_ascii:
                    item.setForeground(QtGui.QColor(200, 120, 0))
                self.table.setItem(i, NAME, item)
                swatch = QtWidgets.QTableWidgetItem(_swatch(colors[i]), "")
                swatch.setFlags(QtCore.Qt.ItemIsEnabled | QtCore.Qt.ItemIsSelectable)
                swatch.setToolTip("rgb({}, {}, {}) — double-click to change".format(*(int(c) for c in colors[i])))
                swatch.setData(QtCore.Qt.UserRole, tuple(int(c) for c in colors[i]))
                self.table.setItem(i, COLOUR, swatch)
                for c in (TAGGED, UNFILTERED):
                    count = QtWidgets.QTableWidgetItem()
                    count.setFlags(QtCore.Qt.ItemIsEnabled | QtCore.Qt.ItemIsSelectable)
                    count.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                    self.table.setItem(i, c, count)
            self._fill_counts()
        finally:
            self._filling = False
        self.select_row(row if row is not None and row < len(names) else None)
        self._update_buttons()
        self.refreshed.emit()

    # -- updates --------------------------------------------------------------------------------
    def _fill_counts(self) -> None:
        total, shown = self.counts()
        was, self._filling = self._filling, True
        try:
            for i in range(min(self.table.rowCount(), total.size)):
                self.table.item(i, TAGGED).setText(str(int(total[i])))
                self.table.item(i, UNFILTERED).setText(str(int(shown[i])))
        finally:
            self._filling = was

    def _on_tags_changed(self, change=None) -> None:
        if sip.isdeleted(self):
            return
        kind = getattr(change, "kind", None)
        if kind in ("members", "resize") and self.table.rowCount() == len(self.session.tags):
            self._fill_counts()  # only counts changed (every key press): no rebuild
            self.refreshed.emit()
        elif kind == "saved":
            return
        else:
            self.refresh()

    def _on_order_changed(self) -> None:
        if sip.isdeleted(self):
            return
        if self.table.rowCount() != len(self.session.tags):
            self.refresh()
        else:
            self._fill_counts()
            self.refreshed.emit()

    def _item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._filling or item.column() != NAME:
            return
        row = item.row()
        tags = self.session.tags
        if row >= len(tags) or item.text() == tags.names[row]:
            return
        self.rename_tag(row, item.text())

    def _cell_double_clicked(self, row: int, column: int) -> None:
        if column == COLOUR:
            self.recolor_tag(row)

    def _update_buttons(self) -> None:
        row = self.current_row()
        n = self.table.rowCount()
        self.delete_button.setEnabled(row is not None)
        self.up_button.setEnabled(row is not None and row > 0)
        self.down_button.setEnabled(row is not None and row < n - 1)
        self.add_button.setEnabled(self.session.stack is not None)

    # -- default dialogs ------------------------------------------------------------------------
    def _confirm_dialog(self, question: str) -> bool:
        answer = QtWidgets.QMessageBox.question(self, "Delete tag", question,
                                                QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No,
                                                QtWidgets.QMessageBox.No)
        return answer == QtWidgets.QMessageBox.Yes

    def _warn_dialog(self, message: str) -> None:
        QtWidgets.QMessageBox.warning(self, "Tags", message)

    def _color_dialog(self, initial: QtGui.QColor) -> QtGui.QColor | None:
        color = QtWidgets.QColorDialog.getColor(initial, self, "Tag colour")
        return color if color.isValid() else None


class TagEditor(QtWidgets.QDialog):
    """Edit › Tags… (Ctrl+Shift+G): the tag table in a non-modal dialog. ``table`` is the
    :class:`TagTableWidget` (its ``confirm``/``warn``/``choose_color`` can be replaced)."""

    def __init__(self, session, runner: QtJobRunner | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Tags")
        self.setModal(False)
        self.table = TagTableWidget(session, runner, self)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
        close.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(close)
        self.resize(460, 320)
