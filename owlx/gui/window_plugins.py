"""The Plugins menu and the plugin docks of the main window.

Every plugin found in the ``owlx.plugins`` entry-point group is listed with its version; its
panels become menu entries that open a dock on first use. A plugin that fails to import, or
whose panel raises while being built, is listed as failed, logged and added to the error
indicator; the rest of the application works as before.
"""

from __future__ import annotations

import logging

from PyQt5 import QtCore, QtGui, QtWidgets

from ..plugin import LoadedPlugin, Panel, discover
from .plugin_host import WindowPanelContext

log = logging.getLogger(__name__)

_AREAS = {
    "right": QtCore.Qt.RightDockWidgetArea,
    "left": QtCore.Qt.LeftDockWidgetArea,
    "bottom": QtCore.Qt.BottomDockWidgetArea,
}


class PluginsMixin:
    """Part of :class:`MainWindow`."""

    def _build_plugins(self) -> None:
        self.loaded_plugins: list[LoadedPlugin] = discover()
        self.plugin_modules = {p.module: p.name for p in self.loaded_plugins if p.module}
        self.plugin_panels: dict[str, tuple[LoadedPlugin, Panel]] = {}
        self.plugin_docks: dict[str, QtWidgets.QDockWidget] = {}
        self.plugin_contexts: dict[str, WindowPanelContext] = {}
        self.plugin_actions: dict[str, QtWidgets.QAction] = {}
        menu = QtWidgets.QMenu("&Plugins", self)
        help_action = next((a for a in self.menuBar().actions() if a.text() == "&Help"), None)
        if help_action is not None:
            self.menuBar().insertMenu(help_action, menu)
        else:
            self.menuBar().addMenu(menu)
        self.plugins_menu = menu
        for lp in self.loaded_plugins:
            if lp.plugin is None:
                self._report_plugin_failure(lp, f"plugin {lp.name} failed to load: {lp.error}", lp.details)
                act = menu.addAction(f"{lp.name} — failed to load")
                act.setToolTip(lp.error or "")
                act.triggered.connect(lambda _=False, p=lp: self.show_message("error", f"plugin {p.name}: {p.error}"))
                continue
            menu.addSection(f"{lp.plugin.name} {lp.plugin.version}")
            for panel in lp.plugin.panels:
                self.plugin_panels[panel.title] = (lp, panel)
                act = QtWidgets.QAction(panel.title, self)
                if panel.shortcut:
                    act.setShortcut(QtGui.QKeySequence(panel.shortcut))
                act.triggered.connect(lambda _=False, t=panel.title: self.open_plugin_panel(t))
                menu.addAction(act)
                self.addAction(act)  # the shortcut works in full screen too
                self.plugin_actions[panel.title] = act
        menu.addSeparator()
        installed = menu.addMenu("Installed plugins")
        for lp in self.loaded_plugins:
            state = "" if lp.plugin is not None else " — failed"
            dist = f" ({lp.distribution})" if lp.distribution else ""
            installed.addAction(f"{lp.name} {lp.version}{dist}{state}").setEnabled(False)
        if not self.loaded_plugins:
            installed.addAction("none found").setEnabled(False)

    def _report_plugin_failure(self, lp: LoadedPlugin, summary: str, details: str) -> None:
        log.error("%s", summary)  # one line on the terminal; --debug adds the traceback
        log.debug("%s", details)
        self.error_indicator.add(summary, details)

    def open_plugin_panel(self, title: str) -> QtWidgets.QWidget | None:
        """Show the plugin panel ``title`` (building it on first use) and return its widget, or
        None when the plugin raised while building it (reported, the window goes on)."""
        if title in self.plugin_docks:
            dock = self.plugin_docks[title]
            dock.show()
            dock.raise_()
            return dock.widget()
        if title not in self.plugin_panels:
            self.show_message("error", f"no plugin panel named {title!r}")
            return None
        lp, panel = self.plugin_panels[title]
        name = lp.plugin.name
        context = self.plugin_contexts.setdefault(name, WindowPanelContext(self, name))
        try:
            widget = panel.create(context)
            if not isinstance(widget, QtWidgets.QWidget):
                raise TypeError(f"Panel.create returned {type(widget).__name__}, not a QWidget")
        except Exception as exc:  # noqa: BLE001 - a broken panel must not take the window down
            import traceback

            lp.panel_errors[title] = f"{type(exc).__name__}: {exc}"
            self._report_plugin_failure(lp, f"plugin {name}: panel {title!r} failed: {lp.panel_errors[title]}",
                                        traceback.format_exc())
            self.statusBar().showMessage(f"plugin {name}: panel {title!r} failed: {exc}", 30000)
            self.plugin_actions[title].setText(f"{title} — failed")
            return None
        area = _AREAS.get(panel.area, QtCore.Qt.RightDockWidgetArea)
        dock = self._dock(title, f"plugin_{name}_{title}".replace(" ", "_"), widget, area)
        self.plugin_docks[title] = dock
        dock.show()
        dock.raise_()
        return widget
