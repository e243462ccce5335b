"""Fixtures of the plugin tests: a main window on the demo file, and opening a panel by title."""

from __future__ import annotations

import pytest

from owlx.demo import make_demo_file
from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    """A small demo file (same layout as `owlx demo`: CXI, sphere patterns, tags, geometry)."""
    path = tmp_path_factory.mktemp("demo") / "demo.cxi"
    make_demo_file(path, n_frames=12, size=256)
    return path


@pytest.fixture
def plugin_window(qtbot, tmp_path, monkeypatch, demo_file):
    """A shown MainWindow (with every installed plugin) with a copy of the demo file open."""
    import shutil

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "demo.cxi"
    shutil.copy(demo_file, path)
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.ask_recovery = lambda text: False
    w.ask_unsaved = lambda: "discard"  # pytest-qt closes the window before fixture teardown
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(str(path), wait=True)
    qtbot.waitUntil(lambda: w.current is not None, timeout=20000)
    yield w
    w.ask_unsaved = lambda: "discard"
    w.jobs.cancel_all()
    w.jobs.wait(20000)
    w.close()


@pytest.fixture
def open_panel():
    """``open_panel(window, title) -> widget``: see :func:`open_plugin_panel`."""
    return open_plugin_panel


def open_plugin_panel(window, title: str):
    """Open the plugin panel ``title`` through its Plugins-menu action, as a user would, and
    return its widget (fails the test when the panel is missing or raised)."""
    assert title in window.plugin_actions, f"no plugin panel {title!r}: {sorted(window.plugin_actions)}"
    window.plugin_actions[title].trigger()
    dock = window.plugin_docks.get(title)
    assert dock is not None, f"panel {title!r} failed: {window.plugin_panels[title][0].panel_errors}"
    return dock.widget()
