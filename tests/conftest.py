"""Set-up shared by all tests: Qt runs headless, and GUI tests may never open a modal dialog."""

import os
from pathlib import Path

# Before any Qt import: the offscreen platform needs no display server (CI, ssh sessions).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

_QT_TEST_DIRS = ("gui", "plugins")


@pytest.fixture(autouse=True)
def no_modal_dialogs(request, monkeypatch):
    """A modal dialog nobody answers would hang the run (CI has no user): fail instead.
    Tests that exercise a question replace the window's ``ask_*`` hook. Applies to the GUI and
    plugin tests only, so that the other tests never import Qt."""
    if Path(str(request.node.fspath)).parent.name not in _QT_TEST_DIRS:
        yield
        return
    from PyQt5 import QtWidgets

    def refuse(*args, **kwargs):
        raise AssertionError(f"a modal dialog was opened during a test: {args[1:3]}")

    for name in ("question", "warning", "critical", "information", "about"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, staticmethod(refuse))
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec_", refuse)
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", refuse)
    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QtWidgets.QFileDialog, name, staticmethod(refuse))
    yield


@pytest.fixture
def save_png(qtbot):
    """``save_png(window, path=None)``: Ctrl+P (or Save PNG as… with ``path``), which encodes and
    writes on a worker; waits for the file and returns its path."""

    def run(window, path=None) -> Path:
        with qtbot.waitSignal(window.png_saved, timeout=30000) as blocker:
            assert window.save_png(path) is not None
        return Path(blocker.args[0])

    return run
