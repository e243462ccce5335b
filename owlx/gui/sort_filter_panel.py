"""The Sorting and Filters panel (spec/viewer.md O1, R1–R4).

* **Sort**: a combo of the per-frame datasets of the source (one entry per column of a
  vector) plus "none", and a drop target for tree items; **Ascending** (descending is the
  default, as in Owl). Ties keep frame order and NaN goes last (the session's rule).
* **Filters** (group titled ``Filters (yield: p% - Nsel/Ntot)``): one widget per filter of the
  session (:mod:`owlx.gui.filter_widget`). **Add filter…** has a menu of per-frame datasets and
  tags and accepts drops: a per-frame dataset becomes a range filter, a ``tags`` dataset a tag
  filter on a tag chosen by name (R3). The whole group accepts drops too.

The panel keeps no sort or filter state of its own: it calls the session and shows what the
session reports (``filters_changed``, ``tags_changed``). A dataset's values are read on a
worker the first time (:class:`~owlx.gui.per_frame_data.PerFrameData`); the session is asked
to sort or filter only once they are cached, so nothing is read on the GUI thread.
"""

from __future__ import annotations

from typing import Callable

from PyQt5 import QtCore, QtWidgets, sip

from ..errors import OwlxError
from ..io.source import Kind
from .filter_widget import FilterWidget, RangeFilterWidget, TagFilterWidget
from .per_frame_data import MAX_MENU_COLUMNS, DropFilter, PerFrameData, dataset_label, observe
from .plot_panel import ask_column_dialog
from .qt_jobs import QtJobRunner


def is_tags_dataset(path: str) -> bool:
    """The ``tags`` dataset of a result group (Owl's layout, formats.md §1.2)."""
    return path.rstrip("/").rsplit("/", 1)[-1] == "tags"


def ask_tag_dialog(parent: QtWidgets.QWidget, names: list[str]) -> str | None:
    """Ask which tag a tag filter keeps (R3: by name); None when cancelled."""
    name, ok = QtWidgets.QInputDialog.getItem(parent, "Filter on a tag", "Keep the frames with tag:", names, 0, False)
    return str(name) if ok and name else None


class SortFilterPanel(QtWidgets.QWidget):
    """Sorting and filters of ``session``.

    ``ask_column(path, k) -> column | None`` and ``ask_tag(names) -> name | None`` are asked
    when a dropped vector needs a column or a dropped ``tags`` dataset a tag; replace them in
    tests. ``filter_widgets`` maps filter ids to their widgets.

    Signals:
        synced()  the panel shows the session's current sort and filters
    """

    synced = QtCore.pyqtSignal()

    def __init__(self, session, runner: QtJobRunner, parent: QtWidgets.QWidget | None = None,
                 data: PerFrameData | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.data = data or PerFrameData.shared(session, runner)
        self.ask_column: Callable[[str, int], int | None] = lambda path, k: ask_column_dialog(self, path, k)
        self.ask_tag: Callable[[list[str]], str | None] = lambda names: ask_tag_dialog(self, names)
        self.filter_widgets: dict[int, FilterWidget] = {}
        self._sort_wanted: tuple[str, int | None] | None = None
        self._build()
        observe(self, [(session.filters_changed, self._on_filters_changed),
                       (session.tags_changed, self._on_tags_changed),
                       (session.stack_changed, self._on_stack_changed)])
        self.data.datasets_changed.connect(self._fill_sort_combo)
        self.data.watch_datasets()
        self._fill_sort_combo()
        self.sync()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.sort_group = QtWidgets.QGroupBox("Sort")
        self.sort_combo = QtWidgets.QComboBox()
        self.sort_combo.setToolTip("Sort the frames on a per-frame dataset (drop one from the tree here)")
        self.sort_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.sort_combo.setMinimumContentsLength(12)
        self.sort_combo.activated.connect(self._sort_chosen)
        self.ascending_box = QtWidgets.QCheckBox("Ascending")
        self.ascending_box.setToolTip("Smallest first (default: largest first); NaN always last")
        self.ascending_box.toggled.connect(self._ascending_toggled)
        self.sort_status = QtWidgets.QLabel()
        self.sort_status.hide()
        row = QtWidgets.QHBoxLayout(self.sort_group)
        row.addWidget(self.sort_combo, 1)
        row.addWidget(self.ascending_box)
        row.addWidget(self.sort_status)
        self.sort_drop = DropFilter(self.sort_combo)
        self.sort_drop.dropped.connect(self._sort_dropped)
        self.sort_group_drop = DropFilter(self.sort_group)
        self.sort_group_drop.dropped.connect(self._sort_dropped)

        self.filters_group = QtWidgets.QGroupBox(self.session.filters_title)
        self.filters_layout = QtWidgets.QVBoxLayout(self.filters_group)
        self.filters_layout.setContentsMargins(4, 4, 4, 4)
        self.filters_layout.setSpacing(4)
        self.add_button = QtWidgets.QToolButton()
        self.add_button.setText("Add filter…")
        self.add_button.setToolTip("Add a filter on a per-frame dataset or a tag (or drop a dataset here)")
        self.add_button.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        self.add_button.setToolButtonStyle(QtCore.Qt.ToolButtonTextOnly)
        self.add_menu = QtWidgets.QMenu(self)
        self.add_menu.aboutToShow.connect(self._fill_add_menu)
        self.add_button.setMenu(self.add_menu)
        self.filters_layout.addWidget(self.add_button)

        def accept_filter(path: str, kind: Kind | None) -> bool:
            return is_tags_dataset(path) or kind is None or kind.is_per_frame

        self.add_drop = DropFilter(self.add_button, accept_filter)
        self.add_drop.dropped.connect(self._filter_dropped)
        self.filters_drop = DropFilter(self.filters_group, accept_filter)
        self.filters_drop.dropped.connect(self._filter_dropped)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.sort_group)
        layout.addWidget(self.filters_group)
        layout.addStretch(1)

    # -- public API -----------------------------------------------------------------------------
    def sort_on(self, path: str | None, column: int | None = None, ascending: bool | None = None) -> None:
        """Sort on ``path`` (column of a vector; None: frame order), reading it on a worker
        first if needed. ``ascending`` None keeps the checkbox."""
        if ascending is not None:
            self.ascending_box.blockSignals(True)
            self.ascending_box.setChecked(bool(ascending))
            self.ascending_box.blockSignals(False)
        if path is None:
            self._sort_wanted = None
            self._call(self.session.set_sort, None)
            self.sync()
            return
        want = (path, None if column is None else int(column))
        self._sort_wanted = want
        self._show_sort_status("reading…")
        self.data.request(path, lambda error, w=want: self._sort_loaded(w, error))

    def add_filter(self, path: str, column: int | None = None, lo: float | None = None,
                   hi: float | None = None) -> None:
        """Add a range filter on ``path`` once its values are read (on a worker). A vector
        without ``column`` asks which column; a ``tags`` dataset asks which tag."""
        if is_tags_dataset(path):
            names = list(self.session.tags.names)
            if not names:
                self.session.message.emit("warning", "there are no tags to filter on — create one in the tag editor")
                return
            name = self.ask_tag(names)
            if name:
                self.add_tag_filter(name)
            return
        want = (path, None if column is None else int(column))
        self.data.request(path, lambda error, w=want: self._filter_loaded(w, lo, hi, error))

    def add_tag_filter(self, name: str, invert: bool = False) -> int | None:
        """Add a filter on the tag called ``name``; returns its id (None on error)."""
        return self._call(self.session.add_tag_filter, name, invert)

    def sync(self) -> None:
        """Show the session's sort, filters and yields (nothing is emitted to the session)."""
        if sip.isdeleted(self):
            return
        s = self.session
        self.filters_group.setTitle(s.filters_title)
        self._select_sort_entry()
        sort = s.sort
        if sort is not None:
            self.ascending_box.blockSignals(True)
            self.ascending_box.setChecked(not sort.descending)
            self.ascending_box.blockSignals(False)
        states = s.filters if s.stack is not None else []
        ids = {st.id for st in states}
        for fid in [f for f in self.filter_widgets if f not in ids]:
            widget = self.filter_widgets.pop(fid)
            self.filters_layout.removeWidget(widget)
            widget.deleteLater()
        for position, state in enumerate(states):
            widget = self.filter_widgets.get(state.id)
            if widget is None:
                widget = self._make_filter_widget(state)
                if widget is None:
                    continue
                self.filter_widgets[state.id] = widget
            if self.filters_layout.indexOf(widget) != position:
                self.filters_layout.removeWidget(widget)
                self.filters_layout.insertWidget(position, widget)
            widget.show_state(state)
        self.synced.emit()

    # -- sorting --------------------------------------------------------------------------------
    def _fill_sort_combo(self) -> None:
        if sip.isdeleted(self):
            return
        combo = self.sort_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("none", None)
        for ds in self.data.datasets:
            if ds.is_vector:
                for c in range(min(ds.columns, MAX_MENU_COLUMNS)):
                    combo.addItem(dataset_label(ds.path, c), (ds.path, c))
                    combo.setItemData(combo.count() - 1, ds.path, QtCore.Qt.ToolTipRole)
            else:
                combo.addItem(ds.name, (ds.path, None))
                combo.setItemData(combo.count() - 1, ds.path, QtCore.Qt.ToolTipRole)
        combo.blockSignals(False)
        self._select_sort_entry()

    def _select_sort_entry(self) -> None:
        sort = self.session.sort
        key = None if sort is None else (sort.path, sort.column)
        combo = self.sort_combo
        index = -1
        for i in range(combo.count()):
            if combo.itemData(i) == key:
                index = i
                break
        if index < 0 and key is not None:  # dropped, or set from the console: add it
            combo.addItem(dataset_label(*key), key)
            combo.setItemData(combo.count() - 1, key[0], QtCore.Qt.ToolTipRole)
            index = combo.count() - 1
        combo.blockSignals(True)
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    def _sort_chosen(self, index: int) -> None:
        key = self.sort_combo.itemData(index)
        if key is None:
            self.sort_on(None)
        else:
            self.sort_on(*key)

    def _sort_dropped(self, path: str, kind) -> None:
        self.sort_on(path)

    def _ascending_toggled(self, on: bool) -> None:
        sort = self.session.sort
        if sort is not None:
            self._call(self.session.set_sort, sort.path, not on, sort.column)

    def _sort_loaded(self, want: tuple[str, int | None], error: str | None) -> None:
        if sip.isdeleted(self) or self._sort_wanted != want:
            return
        self._sort_wanted = None
        self._show_sort_status(None)
        path, column = want
        if error is None:
            column, cancelled = self._resolve_column(path, column)
            if cancelled:
                self.sync()
                return
            self._call(self.session.set_sort, path, not self.ascending_box.isChecked(), column)
        else:
            self.session.message.emit("error", f"cannot sort on {dataset_label(path)}: {error}")
        self.sync()

    def _show_sort_status(self, text: str | None) -> None:
        self.sort_status.setText(text or "")
        self.sort_status.setVisible(bool(text))

    # -- filters --------------------------------------------------------------------------------
    def _fill_add_menu(self) -> None:
        menu = self.add_menu
        menu.clear()
        menu.addSection("Per-frame datasets")
        datasets = self.data.datasets
        if not datasets:
            act = menu.addAction("listing…" if not self.data.scanned else "none found — drop one from the tree")
            act.setEnabled(False)
        for ds in datasets:
            if ds.is_vector:
                sub = menu.addMenu(ds.name)
                sub.setToolTip(ds.path)
                for c in range(min(ds.columns, MAX_MENU_COLUMNS)):
                    sub.addAction(f"column {c}", lambda p=ds.path, c=c: self.add_filter(p, c))
            else:
                act = menu.addAction(ds.name, lambda p=ds.path: self.add_filter(p))
                act.setToolTip(ds.path)
        menu.addSection("Tags")
        names = list(self.session.tags.names)
        if not names:
            menu.addAction("no tags").setEnabled(False)
        for name in names:
            menu.addAction(name, lambda n=name: self.add_tag_filter(n))

    def _filter_dropped(self, path: str, kind) -> None:
        self.add_filter(path)

    def _filter_loaded(self, want: tuple[str, int | None], lo, hi, error: str | None) -> None:
        if sip.isdeleted(self):
            return
        path, column = want
        if error is not None:
            self.session.message.emit("error", f"cannot filter on {dataset_label(path)}: {error}")
            return
        column, cancelled = self._resolve_column(path, column)
        if not cancelled:
            self._call(self.session.add_range_filter, path, lo, hi, column)

    def _make_filter_widget(self, state) -> FilterWidget | None:
        if state.kind == "tag":
            return TagFilterWidget(self.session, state, self.filters_group)
        try:
            # cached: the session read the values to compute this filter
            values = self.session.per_frame(state.path, state.column)
        except OwlxError as err:
            self.session.message.emit("error", str(err))
            return None
        return RangeFilterWidget(self.session, state, values, self.filters_group)

    # -- helpers --------------------------------------------------------------------------------
    def _resolve_column(self, path: str, column: int | None) -> tuple[int | None, bool]:
        """(column, cancelled): a vector of k > 1 values without a column asks for one."""
        k = self.data.columns(path) or 0
        if k > 1 and column is None:
            column = self.ask_column(path, k)
            return column, column is None
        return column, False

    def _call(self, fn, *args):
        """Call the session; a user error goes to the status bar and the panel re-syncs."""
        try:
            return fn(*args)
        except OwlxError as err:
            self.session.message.emit("error", str(err))
            self.sync()
            return None

    def _on_filters_changed(self) -> None:
        self.sync()

    def _on_tags_changed(self, _change=None) -> None:
        if sip.isdeleted(self):
            return
        for state in self.session.filters:
            widget = self.filter_widgets.get(state.id)
            if isinstance(widget, TagFilterWidget):
                widget.show_state(state)

    def _on_stack_changed(self, _path=None) -> None:
        if sip.isdeleted(self):
            return
        self._sort_wanted = None
        self._show_sort_status(None)
        # range filters of another stack show other values: rebuild every widget
        for widget in self.filter_widgets.values():
            self.filters_layout.removeWidget(widget)
            widget.deleteLater()
        self.filter_widgets.clear()
        self._fill_sort_combo()
        self.sync()
