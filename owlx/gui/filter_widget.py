"""One filter of the Filters group (spec/viewer.md R1–R3): a view of a
:class:`~owlx.session_order.FilterState` that edits it through the session.

* :class:`RangeFilterWidget`: a histogram of all N values (100 bins) with a draggable region,
  inclusive **Min** / **Max** fields (empty = open end), an enable checkbox, a remove button
  and ``Yield: x% - n/N`` (frames passing this filter alone).
* :class:`TagFilterWidget`: a tag chosen by name and **Invert** (untagged frames), with the
  same header and yield line.

The widgets own no state: every edit calls ``session.update_filter`` (or ``remove_filter``)
and the panel calls :meth:`FilterWidget.show_state` with what the session reports back. The
Min/Max fields take keyboard focus like any text field, so digits typed there never reach the
image view's tag keys (spec/viewer.md §14, §17 check 8).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

from ..core.selection import histogram
from ..errors import OwlxError
from ..session_order import FilterState

#: bins of a range filter's histogram (R1)
FILTER_BINS = 100
#: while the region is dragged, the order is recomputed at most this often (ms)
DRAG_APPLY_MS = 40


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _parse(text: str) -> float | None:
    """A field's bound: empty = open end; raises ValueError for text that is not a number."""
    text = text.strip()
    if not text:
        return None
    value = float(text)
    if math.isnan(value):
        raise ValueError("NaN is not a bound")
    return value


class FilterWidget(QtWidgets.QFrame):
    """Header (enable checkbox named after the filter, remove button) and the yield line."""

    def __init__(self, session, state: FilterState, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.filter_id = state.id
        self.state = state
        self._syncing = False
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        self.enabled_box = QtWidgets.QCheckBox(state.label)
        self.enabled_box.setToolTip("Apply this filter (unchecked: it counts but does not select)")
        self.enabled_box.toggled.connect(self._enable_toggled)
        self.remove_button = QtWidgets.QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip("Remove this filter")
        self.remove_button.clicked.connect(self.remove)
        self.yield_label = QtWidgets.QLabel()
        self.yield_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        header = QtWidgets.QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.enabled_box, 1)
        header.addWidget(self.remove_button)
        self.body = QtWidgets.QVBoxLayout(self)
        self.body.setContentsMargins(4, 2, 4, 2)
        self.body.setSpacing(2)
        self.body.addLayout(header)

    def show_state(self, state: FilterState) -> None:
        """Show what the session reports (emits nothing, edits nothing)."""
        self.state = state
        self._syncing = True
        try:
            self.enabled_box.setText(state.label)
            self.enabled_box.setToolTip(state.path or f"tag '{state.tag}'")
            self.enabled_box.setChecked(state.enabled)
            self._show_state(state)
        finally:
            self._syncing = False
        text = state.yield_text
        if state.note:
            text += f" — {state.note}, not applied"
        self.yield_label.setText(text)
        self.yield_label.setEnabled(state.enabled and not state.note)

    def _show_state(self, state: FilterState) -> None:
        """Subclasses show their own fields here."""

    def edit(self, **changes) -> None:
        """``session.update_filter`` for this filter; errors go to the status bar."""
        try:
            self.session.update_filter(self.filter_id, **changes)
        except OwlxError as err:
            self.session.message.emit("error", str(err))
            self.show_state(self.state)

    def remove(self) -> None:
        try:
            self.session.remove_filter(self.filter_id)
        except OwlxError as err:
            self.session.message.emit("error", str(err))

    def _enable_toggled(self, on: bool) -> None:
        if not self._syncing:
            self.edit(enabled=bool(on))


class RangeFilterWidget(FilterWidget):
    """Histogram with a draggable region and inclusive Min/Max fields (R1).

    ``values`` are the N values of the filter's dataset (column); the panel passes
    ``session.per_frame(path, column)``, which is cached once a filter exists (the session
    read it to compute the filter)."""

    def __init__(self, session, state: FilterState, values: np.ndarray, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, state, parent)
        counts, edges = histogram(values, FILTER_BINS)
        self.counts, self.edges = counts, edges
        self.data_range = (float(edges[0]), float(edges[-1]))
        self.plot = pg.PlotWidget()
        self.plot.setFixedHeight(90)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().hideAxis("left")
        self.hist_curve = pg.PlotDataItem(edges, counts, stepMode="center", fillLevel=0,
                                          brush=(120, 120, 200, 120), pen=(160, 160, 230))
        self.plot.addItem(self.hist_curve)
        span = self.data_range[1] - self.data_range[0]
        self.plot.setXRange(self.data_range[0] - 0.02 * span, self.data_range[1] + 0.02 * span, padding=0)
        self.region = pg.LinearRegionItem(values=self.data_range, swapMode="block")
        self.region.setZValue(10)
        self.region.sigRegionChanged.connect(self._region_moving)
        self.region.sigRegionChangeFinished.connect(self._region_released)
        self.plot.addItem(self.region)
        validator = QtGui.QDoubleValidator(self)
        validator.setNotation(QtGui.QDoubleValidator.ScientificNotation)
        self.min_edit = QtWidgets.QLineEdit()
        self.max_edit = QtWidgets.QLineEdit()
        for edit, end in ((self.min_edit, "min"), (self.max_edit, "max")):
            edit.setValidator(validator)
            edit.setPlaceholderText(f"{end} (open)")
            edit.setToolTip(f"Inclusive {'lower' if end == 'min' else 'upper'} bound; empty: no bound")
            edit.setFocusPolicy(QtCore.Qt.StrongFocus)
            edit.editingFinished.connect(self._fields_edited)
        self._apply_timer = QtCore.QTimer(self)
        self._apply_timer.setSingleShot(True)
        self._apply_timer.setInterval(DRAG_APPLY_MS)
        self._apply_timer.timeout.connect(self._apply_region)
        fields = QtWidgets.QHBoxLayout()
        fields.addWidget(QtWidgets.QLabel("Min"))
        fields.addWidget(self.min_edit, 1)
        fields.addWidget(QtWidgets.QLabel("Max"))
        fields.addWidget(self.max_edit, 1)
        self.body.addWidget(self.plot)
        self.body.addLayout(fields)
        self.body.addWidget(self.yield_label)
        self.show_state(state)

    def _show_state(self, state: FilterState) -> None:
        for edit, bound in ((self.min_edit, state.lo), (self.max_edit, state.hi)):
            try:
                shown = _parse(edit.text())
            except ValueError:
                shown = math.nan
            if shown != bound:  # leave "12." alone when the filter is 12
                edit.setText(_fmt(bound))
        lo = self.data_range[0] if state.lo is None else state.lo
        hi = self.data_range[1] if state.hi is None else state.hi
        if not self._apply_timer.isActive() and not _moving_any(self.region):
            self.region.setRegion((min(lo, hi), max(lo, hi)))

    def _fields_edited(self) -> None:
        try:
            lo, hi = _parse(self.min_edit.text()), _parse(self.max_edit.text())
        except ValueError:
            self.show_state(self.state)  # not a number: show the filter's bounds again
            return
        if (lo, hi) != (self.state.lo, self.state.hi):
            self.edit(lo=lo, hi=hi)

    def _region_moving(self, *_args) -> None:
        if self._syncing:
            return
        lo, hi = self.region.getRegion()
        self._syncing = True
        try:
            self.min_edit.setText(_fmt(lo))
            self.max_edit.setText(_fmt(hi))
        finally:
            self._syncing = False
        self._apply_timer.start()

    def _region_released(self, *_args) -> None:
        if self._syncing:
            return
        self._apply_region()

    def _apply_region(self) -> None:
        self._apply_timer.stop()
        lo, hi = (float(v) for v in self.region.getRegion())
        if (lo, hi) != (self.state.lo, self.state.hi):
            self.edit(lo=lo, hi=hi)


def _moving_any(region: pg.LinearRegionItem) -> bool:
    return bool(getattr(region, "moving", False)) or any(getattr(line, "moving", False) for line in region.lines)


class TagFilterWidget(FilterWidget):
    """A tag chosen by name, and Invert (R3). The tags are the in-memory ones."""

    def __init__(self, session, state: FilterState, parent: QtWidgets.QWidget | None = None):
        super().__init__(session, state, parent)
        self.tag_combo = QtWidgets.QComboBox()
        self.tag_combo.setToolTip("Keep the frames that carry this tag")
        self.tag_combo.activated.connect(self._tag_chosen)
        self.invert_box = QtWidgets.QCheckBox("Invert")
        self.invert_box.setToolTip("Keep the frames that do not carry the tag")
        self.invert_box.toggled.connect(self._invert_toggled)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Tag"))
        row.addWidget(self.tag_combo, 1)
        row.addWidget(self.invert_box)
        self.body.addLayout(row)
        self.body.addWidget(self.yield_label)
        self.show_state(state)

    def _show_state(self, state: FilterState) -> None:
        names = list(self.session.tags.names)
        if state.tag not in names:
            names.append(state.tag)  # a deleted tag stays visible, with the note
        if [self.tag_combo.itemText(i) for i in range(self.tag_combo.count())] != names:
            self.tag_combo.clear()
            self.tag_combo.addItems(names)
        self.tag_combo.setCurrentIndex(names.index(state.tag))
        self.invert_box.setChecked(state.invert)

    def _tag_chosen(self, index: int) -> None:
        name = self.tag_combo.itemText(index)
        if not self._syncing and name and name != self.state.tag:
            self.edit(tag=name)

    def _invert_toggled(self, on: bool) -> None:
        if not self._syncing:
            self.edit(invert=bool(on))
