"""Start the GUI: QApplication, main window, optional file, optional offscreen screenshot."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PyQt5 import QtCore, QtWidgets

log = logging.getLogger(__name__)


def _application() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtWidgets.QApplication.setAttribute(QtCore.Qt.AA_EnableHighDpiScaling, True)
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("owlx")
        app.setOrganizationName("owlx")
    return app


def wait_for_frame(window, timeout_s: float = 60.0) -> bool:
    """Process events until the window shows a frame (or ``timeout_s`` passes)."""
    timer = QtCore.QElapsedTimer()
    timer.start()
    app = QtWidgets.QApplication.instance()
    while window.current is None and timer.elapsed() < timeout_s * 1000:
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
    app.processEvents()
    return window.current is not None


def run_gui(
    path=None,
    dataset: str | None = None,
    live: bool = False,
    fresh: bool = False,
    screenshot: str | None = None,
) -> int:
    """Open the main window (on ``path`` if given). With ``screenshot`` the window is rendered,
    saved as PNG and the application exits without entering the event loop for the user."""
    app = _application()
    from .main_window import MainWindow
    from .settings import AppSettings

    window = MainWindow(settings=AppSettings(fresh=fresh))
    from .plugin_host import make_excepthook

    # PyQt5 aborts on an exception escaping a slot; report it (naming the plugin) instead.
    sys.excepthook = make_excepthook(window, previous=sys.excepthook)
    window.show()
    if path is not None and not window.open_path(path, dataset=dataset, live=live, wait=bool(screenshot)) and screenshot:
        # Headless use has nobody to read the status bar: report like the CLI does.
        window.close()
        print(f"owlx: error: {window.last_error}", file=sys.stderr)
        return 2
    if screenshot:
        window.resize(1400, 900)
        ok = wait_for_frame(window) if path is not None else True
        pixmap = window.grab()
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        saved = pixmap.save(str(screenshot), "PNG")
        window.close()
        if not (ok and saved):
            print(f"owlx: error: could not render the screenshot {screenshot}", file=sys.stderr)
            return 1
        print(f"saved {screenshot}")
        return 0
    return app.exec_()
