"""Shared set-up of the GUI tests: Qt runs headless."""

import os

# Before any Qt import: the offscreen platform needs no display server (CI, ssh sessions).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A modal dialog nobody answers would hang the run (CI has no user): fail instead.
    Tests that exercise a question replace the window's ``ask_*`` hook."""
    from PyQt5 import QtWidgets

    def refuse(*args, **kwargs):
        raise AssertionError(f"a modal dialog was opened during a test: {args[1:3]}")

    for name in ("question", "warning", "critical", "information", "about"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, staticmethod(refuse))
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec_", refuse)
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", refuse)
    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QtWidgets.QFileDialog, name, staticmethod(refuse))
