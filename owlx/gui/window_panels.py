"""The workflow panels of the main window: 1-D plot (Ctrl+1), sorting and filters, the Tags
panel and the tag editor (Ctrl+Shift+G). Each panel talks to the session; this mixin only
places them in docks and binds their keys."""

from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

from .plot_panel import PlotPanel
from .sort_filter_panel import SortFilterPanel
from .tag_editor import TagEditor, TagTableWidget


class PanelsMixin:
    """Part of :class:`MainWindow`."""

    def _build_panels(self) -> None:
        s = self.session
        self.plot_panel = PlotPanel(s, self.jobs, parent=self)
        self.plot_dock = self._dock("Plot", "plot_dock", self.plot_panel, QtCore.Qt.BottomDockWidgetArea)
        self.plot_dock.hide()  # Ctrl+1 shows it
        # Running-average window and histogram bins are settings (viewer.md C2: 10 and 200).
        p = self.plot_panel
        p.set_window(int(self.settings.get("plot/runningAverageWindow", 10)))
        p.set_bins(int(self.settings.get("plot/histogramBins", 200)))
        p.window_spin.valueChanged.connect(lambda v: self.settings.set("plot/runningAverageWindow", int(v)))
        p.bins_spin.valueChanged.connect(lambda v: self.settings.set("plot/histogramBins", int(v)))
        self.sort_filter_panel = SortFilterPanel(s, self.jobs, parent=self)
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.sort_filter_panel)
        self.sort_filter_dock = self._dock("Sort and filters", "sort_filter_dock", scroll, QtCore.Qt.RightDockWidgetArea)
        self.tags_panel = TagTableWidget(s, self.jobs, parent=self)
        self.tags_dock = self._dock("Tags", "tags_dock", self.tags_panel, QtCore.Qt.RightDockWidgetArea)
        # Owl's right-hand column: one panel visible at a time, the others a tab away.
        self.tabifyDockWidget(self.display_dock, self.sort_filter_dock)
        self.tabifyDockWidget(self.sort_filter_dock, self.tags_dock)
        self.display_dock.raise_()
        self.tag_editor: TagEditor | None = None

    def _build_panel_actions(self, view_menu: QtWidgets.QMenu, tags_menu: QtWidgets.QMenu) -> None:
        self._action(view_menu, "&1-D plot", self.show_plot, "Ctrl+1")
        self._action(view_menu, "&2-D view", self.focus_view, "Ctrl+2")
        self._action(view_menu, "&Sort and filters", lambda: self._show_dock(self.sort_filter_dock))
        self._action(view_menu, "Ta&gs panel", lambda: self._show_dock(self.tags_dock))
        self._action(tags_menu, "Tag &editor…", self.show_tag_editor, "Ctrl+Shift+G")

    def _show_dock(self, dock: QtWidgets.QDockWidget) -> None:
        dock.show()
        dock.raise_()

    def show_plot(self) -> None:
        first = not self.plot_dock.isVisible()
        self._show_dock(self.plot_dock)
        if first:  # a strip under the image, not half the window
            self.resizeDocks([self.plot_dock], [max(180, self.height() // 4)], QtCore.Qt.Vertical)

    def focus_view(self) -> None:
        (self.gallery if self.gallery_mode else self.view).setFocus()

    def show_tag_editor(self) -> None:
        if self.tag_editor is None:
            self.tag_editor = TagEditor(self.session, self.jobs, parent=self)
        self.tag_editor.show()
        self.tag_editor.raise_()
