"""Menus, actions and keyboard shortcuts of the main window (spec/viewer.md §14).

Window-scope shortcuts are QActions added to the window; view-scope keys (arrows, PgUp/PgDn,
Home/End, Space, Ctrl+C) are QShortcuts bound to the image view with
``WidgetWithChildrenShortcut``, so a text field, the tree or the console keeps its own keys.
"""

from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from .console import ConsoleDock


class ActionsMixin:
    """Part of :class:`MainWindow`."""

    def _action(self, menu, text, slot, shortcut=None, checkable=False, tip=None):
        act = QtWidgets.QAction(text, self)
        if shortcut:
            act.setShortcuts([QtGui.QKeySequence(s) for s in (shortcut if isinstance(shortcut, list) else [shortcut])])
        act.setCheckable(checkable)
        if tip:
            act.setToolTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)  # shortcuts work while the menu bar is hidden (full screen)
        return act

    def _build_actions(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        self._action(fm, "&Open…", self.open_dialog, "Ctrl+O")
        self.recent_menu = fm.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(fm, "&Reload", self.reload, "F5")
        fm.addSeparator()
        self._action(fm, "&Save tags and results", self.save, "Ctrl+S")
        self._action(fm, "Save to s&idecar", self.save_to_sidecar, "Ctrl+Shift+S")
        fm.addSeparator()
        self._action(fm, "Save view as &PNG", self.save_png, "Ctrl+P")
        self._action(fm, "Save PNG &as…", self.save_png_as, "Ctrl+Shift+P")
        fm.addSeparator()
        self._action(fm, "&Close file", self.close_file, "Ctrl+W")
        self._action(fm, "&Quit", self.close, "Ctrl+Q")

        em = mb.addMenu("&Edit")
        # Ctrl+C copies the image only while the view has focus (scope View): a widget-bound
        # shortcut, so that text fields and the console keep their own Ctrl+C.
        copy = QtWidgets.QShortcut(QtGui.QKeySequence.Copy, self.view, self.copy_image)
        copy.setContext(QtCore.Qt.WidgetWithChildrenShortcut)
        self._action(em, "Copy image", self.copy_image).setToolTip("Ctrl+C while the image view has focus")
        em.addSeparator()
        self._action(em, "&Undo tag edit", self.undo_tags, "Ctrl+Z")
        self._action(em, "&Redo tag edit", self.redo_tags, "Ctrl+Shift+Z")

        tm = mb.addMenu("&Tags")
        self.tag_squares_action = self._action(
            tm, "Tag &squares", self.set_tag_squares_visible, "Ctrl+G", checkable=True
        )
        self.tag_squares_action.setChecked(True)
        self.set_all_menu = tm.addMenu("Set on all unfiltered frames")
        self.clear_all_menu = tm.addMenu("Clear on all unfiltered frames")
        for menu, value in ((self.set_all_menu, True), (self.clear_all_menu, False)):
            menu.aboutToShow.connect(lambda m=menu, v=value: self._fill_bulk_tag_menu(m, v))

        vm = mb.addMenu("&View")
        self._action(vm, "&Go to frame…", self.browser.focus_index_field, "Ctrl+J")
        self._action(vm, "Data &tree", lambda: self._toggle_dock(self.tree_dock), "Ctrl+T")
        self._action(vm, "&Display panel", lambda: self._toggle_dock(self.display_dock), "Ctrl+D")
        self.console_action = self._action(vm, "&Console", self.toggle_console, "Ctrl+Shift+C")
        ok, why = ConsoleDock.available()
        if not ok:
            self.console_action.setEnabled(False)
            self.console_action.setToolTip(f"Console unavailable: {why}")
        self._action(vm, "&Full screen", self.toggle_full_screen, ["Ctrl+F", "F11"])

        hm = mb.addMenu("&Help")
        self._action(hm, "Reset settings", self.reset_settings)
        self._action(hm, "About owlx", self._about)

        self._build_panel_actions(vm, tm)
        vm.addSeparator()
        self._action(vm, "&Gallery / single frame", self.toggle_gallery).setToolTip("G while the view has focus")
        self._action(vm, "More columns", lambda: self._gallery_columns(+1)).setToolTip("Ctrl+- in the gallery")
        self._action(vm, "Fewer columns", lambda: self._gallery_columns(-1)).setToolTip("Ctrl++ in the gallery")

        # View-scope keys: active only while the image view or the gallery has focus
        # (spec/viewer.md §14); each key means the same thing in both modes except where Owl's
        # gallery differs (Up/Down move a row, PgUp/PgDn scroll a row).
        keys = {
            QtCore.Qt.Key_Right: lambda: self._nav("right"),
            QtCore.Qt.Key_Left: lambda: self._nav("left"),
            QtCore.Qt.Key_Down: lambda: self._nav("down"),
            QtCore.Qt.Key_Up: lambda: self._nav("up"),
            QtCore.Qt.Key_PageDown: lambda: self._nav("pgdn"),
            QtCore.Qt.Key_PageUp: lambda: self._nav("pgup"),
            QtCore.Qt.Key_Home: lambda: self._nav("home"),
            QtCore.Qt.Key_End: lambda: self._nav("end"),
            QtCore.Qt.Key_Space: lambda: self.set_slideshow(not self.slideshow.isActive()),
            QtCore.Qt.Key_G: self.toggle_gallery,
            QtCore.Qt.Key_Escape: self._escape,
            "Ctrl++": lambda: self._gallery_columns(-1),
            "Ctrl+=": lambda: self._gallery_columns(-1),
            "Ctrl+-": lambda: self._gallery_columns(+1),
        }
        for digit in range(1, 10):  # keys 1–9 toggle tags 1–9 on the selected frame (T3)
            keys[getattr(QtCore.Qt, f"Key_{digit}")] = lambda d=digit: self.toggle_tag_key(d)
        self._view_shortcuts = []
        for widget in (self.view, self.gallery):
            for key, slot in keys.items():
                sc = QtWidgets.QShortcut(QtGui.QKeySequence(key), widget, slot)
                sc.setContext(QtCore.Qt.WidgetWithChildrenShortcut)
                sc.setAutoRepeat(True)
                self._view_shortcuts.append(sc)

    def _nav(self, what: str) -> None:
        s, g = self.session, self.gallery
        if self.gallery_mode:
            {
                "right": lambda: g.select_relative(1),
                "left": lambda: g.select_relative(-1),
                "down": lambda: g.row_step(1),
                "up": lambda: g.row_step(-1),
                "pgdn": lambda: g.scroll_rows(1),
                "pgup": lambda: g.scroll_rows(-1),
                "home": lambda: g.select_position(0),
                "end": lambda: g.select_position(-1),
            }[what]()
            return
        {
            "right": lambda: s.step(1),
            "down": lambda: s.step(1),
            "left": lambda: s.step(-1),
            "up": lambda: s.step(-1),
            "pgdn": lambda: s.step(10),
            "pgup": lambda: s.step(-10),
            "home": s.first,
            "end": s.last,
        }[what]()

    def _fill_bulk_tag_menu(self, menu: QtWidgets.QMenu, value: bool) -> None:
        """Tags › Set/Clear on all unfiltered: one entry per tag (T6 for keyboard users)."""
        menu.clear()
        tags = self.session.tags
        for i, name in enumerate(tags.names[:9]):
            menu.addAction(f"{i + 1}  {name}", lambda k=i + 1, v=value: self.set_tag_on_shown(k, v))
        if not tags.names:
            menu.addAction("(no tags: create one in the tag editor)").setEnabled(False)

    def set_tag_squares_visible(self, on: bool) -> None:
        """Ctrl+G: the tag squares of the single view and of every gallery cell (T4)."""
        self.view.set_tag_squares_visible(on)
        self.gallery.set_tag_squares_visible(on)
