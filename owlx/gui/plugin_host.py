"""The GUI side of the plugin contract: the :class:`owlx.plugin.PanelContext` a panel receives.

A panel sees the session, a job runner, its own overlay layers and the status bar, never the
main window, so a plugin written against this context keeps working when the window changes.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from ..jobs import Job, JobOutcome
from .plugin_overlay import ImageOverlay

log = logging.getLogger(__name__)


class WindowPanelContext:
    """The context handed to ``Panel.create`` by the main window, one per plugin."""

    def __init__(self, window, plugin_name: str):
        self._window = window
        self.plugin_name = plugin_name
        self.session = window.session
        self._overlays: dict[str, ImageOverlay] = {}

    def run_job(
        self,
        job: Job,
        on_result: Callable[[Any], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        on_finished: Callable[[JobOutcome], None] | None = None,
    ):
        """Run ``job`` on the window's worker pool; it shows in the status bar with progress
        and can be cancelled there. Callbacks run on the GUI thread. Returns the handle."""
        return self._window.jobs.submit(job, on_result=on_result, on_progress=on_progress, on_finished=on_finished)

    def overlay(self, name: str) -> ImageOverlay:
        """The layer ``name`` of this plugin on the single-frame view (created on first use)."""
        if name not in self._overlays:
            self._overlays[name] = ImageOverlay(self._window.view, f"{self.plugin_name}/{name}")
        return self._overlays[name]

    @property
    def overlays(self) -> dict[str, ImageOverlay]:
        return dict(self._overlays)

    def status(self, message: str, timeout_ms: int = 5000) -> None:
        self._window.statusBar().showMessage(f"{self.plugin_name}: {message}", timeout_ms)

    def error(self, message: str) -> None:
        self._window.show_message("error", f"{self.plugin_name}: {message}")


def plugin_of_traceback(tb, plugin_modules: dict[str, str]) -> str | None:
    """The name of the plugin whose module raised, from the innermost matching frame of ``tb``
    (``plugin_modules`` maps top-level module name → plugin name), else None."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        top = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if top in plugin_modules:
            found = plugin_modules[top]
    return found


def make_excepthook(window, previous: Callable | None = None) -> Callable:
    """A ``sys.excepthook`` for the GUI: an exception escaping a Qt slot (PyQt5 would otherwise
    abort the process) is logged and shown in the window's error indicator, naming the plugin
    it came from; the application keeps running."""

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt) and previous is not None:
            previous(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        plugin = plugin_of_traceback(tb, getattr(window, "plugin_modules", {}))
        where = f"plugin {plugin}" if plugin else "owlx"
        log.error("unhandled error in %s:\n%s", where, details)
        try:
            window.error_indicator.add(f"{where}: {exc_type.__name__}: {exc}", details)
            window.statusBar().showMessage(f"{where}: {exc_type.__name__}: {exc}", 30000)
        except RuntimeError:  # the window is already gone (shutdown)
            pass

    return hook
