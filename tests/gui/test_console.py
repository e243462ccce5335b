"""The console dock runs a real in-process IPython kernel on the session objects."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.gui.console import ConsoleDock

pytest.importorskip("qtconsole")
pytest.importorskip("ipykernel")


class FakeSession:
    """Stands in for owlx.session.Session: only what the console test touches."""

    def __init__(self) -> None:
        self.frame_index = 0


@pytest.fixture
def console(qtbot, tmp_path, monkeypatch):
    # IPython creates its profile directory on start; keep it out of the user's home.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    session = FakeSession()
    calls = []

    def namespace():
        calls.append(1)
        return {"session": session, "np": np}

    dock = ConsoleDock(namespace)
    qtbot.addWidget(dock)
    dock.session_for_test = session
    dock.namespace_calls = calls
    yield dock
    dock.shutdown()


def test_available_reports_installed_packages():
    ok, reason = ConsoleDock.available()
    assert ok, reason
    assert reason == ""


def test_missing_qtconsole_disables_the_console(qtbot, monkeypatch):
    import owlx.gui.console as console_module

    monkeypatch.setattr(console_module, "_import_error", None)
    monkeypatch.setattr(console_module.importlib.util, "find_spec", lambda name: None)
    ok, reason = ConsoleDock.available()
    assert not ok and "qtconsole" in reason
    # An installed but broken package is caught at the first start, and reported from then on.
    monkeypatch.setattr(console_module.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setitem(sys.modules, "qtconsole.inprocess", None)  # makes the import fail
    dock = ConsoleDock(lambda: {})
    qtbot.addWidget(dock)
    dock.show()
    assert not dock.started
    assert "qtconsole" in dock.widget().text()
    ok, reason = ConsoleDock.available()
    assert not ok and "halted" in reason  # the real import error, not just "missing"
    with pytest.raises(RuntimeError):
        dock.execute("1")


def test_kernel_starts_on_first_show_not_at_construction(console, qtbot):
    assert not console.started
    assert console.namespace_calls == []
    console.show()
    qtbot.waitUntil(lambda: console.started, timeout=10000)
    assert console.namespace_calls == [1]
    assert console.console_widget is not None


def test_code_changes_the_session_object(console, qtbot):
    main_before = sys.modules["__main__"]
    stdout_before = sys.stdout
    console.show()
    qtbot.waitUntil(lambda: console.started, timeout=10000)
    console.execute("session.frame_index = 5")
    qtbot.waitUntil(lambda: console.session_for_test.frame_index == 5, timeout=5000)
    console.execute("answer = int(np.arange(4).sum())", hidden=True)
    assert console.shell.user_ns["answer"] == 6
    # The host process keeps its __main__ and its (pytest-captured) stdout.
    assert sys.modules["__main__"] is main_before
    assert sys.stdout is stdout_before


def test_output_reaches_the_widget(console, qtbot):
    console.show()
    console.execute("print('hello from ' + 'owlx')")
    text_edit = console.console_widget._control
    qtbot.waitUntil(lambda: "hello from owlx" in text_edit.toPlainText(), timeout=5000)


def test_push_before_start_is_kept_and_overrides_namespace(console, qtbot):
    console.push({"frame": np.ones((2, 2)), "np": "overridden"})
    assert not console.started
    console.show()
    qtbot.waitUntil(lambda: console.started, timeout=10000)
    ns = console.shell.user_ns
    assert ns["frame"].shape == (2, 2)
    assert ns["np"] == "overridden"
    console.push({"frame": np.zeros(3)})
    assert console.shell.user_ns["frame"].shape == (3,)


def test_exceptions_stay_in_the_console(console, qtbot):
    console.show()
    console.execute("1 / 0")
    text_edit = console.console_widget._control
    qtbot.waitUntil(lambda: "ZeroDivisionError" in text_edit.toPlainText(), timeout=5000)
    console.execute("session.frame_index = 7")
    assert console.session_for_test.frame_index == 7


def test_restart_resets_namespace(console, qtbot):
    console.show()
    console.execute("scratch = 1", hidden=True)
    console._on_restart()
    assert "scratch" not in console.shell.user_ns
    assert console.shell.user_ns["session"] is console.session_for_test


def test_shutdown_is_idempotent_and_restartable(console, qtbot):
    console.show()
    console.execute("leftover = 1", hidden=True)
    console.shutdown()
    console.shutdown()
    assert not console.started
    assert console.shell is None
    # A new start gets a fresh shell (the IPython singleton was cleared).
    console.execute("fresh = 2", hidden=True)
    assert "leftover" not in console.shell.user_ns
    assert console.shell.user_ns["fresh"] == 2


def test_console_keys_win_over_window_shortcuts(console, qtbot):
    """Acceptance check 17: with the console focused, window-wide Ctrl+C (copy view image) and
    Ctrl+G (tag squares) do not fire, and digits go to the console's input."""
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    fired = []
    for key in ("Ctrl+C", "Ctrl+G"):
        action = QtWidgets.QAction(key, window)
        action.setShortcut(QtGui.QKeySequence(key))
        action.setShortcutContext(QtCore.Qt.WindowShortcut)
        action.triggered.connect(lambda _checked=False, k=key: fired.append(k))
        window.addAction(action)
    window.addDockWidget(QtCore.Qt.BottomDockWidgetArea, console)
    central = QtWidgets.QLineEdit()
    central.setReadOnly(True)  # a focusable widget that has no use for Ctrl+G
    window.setCentralWidget(central)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    control = console.console_widget._control
    control.setFocus()
    qtbot.waitUntil(lambda: control.hasFocus(), timeout=5000)
    qtbot.keyClick(control, QtCore.Qt.Key_C, QtCore.Qt.ControlModifier)
    qtbot.keyClick(control, QtCore.Qt.Key_G, QtCore.Qt.ControlModifier)
    qtbot.keyClicks(control, "12")
    assert fired == []
    assert console.console_widget.input_buffer.endswith("12")
    # The shortcuts are live as soon as something else has the focus.
    central.setFocus()
    qtbot.waitUntil(lambda: central.hasFocus(), timeout=5000)
    qtbot.keyClick(central, QtCore.Qt.Key_G, QtCore.Qt.ControlModifier)
    assert fired == ["Ctrl+G"]
    # Hand the dock back to the fixture, which closes it; the window would delete it.
    window.removeDockWidget(console)
    console.setParent(None)


def test_failure_after_kernel_start_shuts_it_down(console, qtbot, monkeypatch):
    def broken_namespace():
        raise ValueError("namespace factory failed")

    console._namespace = broken_namespace
    console.show()
    assert not console.started and console.shell is None and console.console_widget is None
    assert "namespace factory failed" in console.widget().text()
