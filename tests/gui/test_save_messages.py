"""What the window does when Ctrl+S cannot write (file open elsewhere: the refusal question of
formats.md §2.6 step 3, here answered "cancel") or writes something Owl cannot handle (a
non-ASCII tag name: a warning in the status message)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import owlx
from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

N = 6


@pytest.fixture
def cxi(tmp_path):
    path = tmp_path / "run.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", data=np.zeros((N, 16, 16), np.float32))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.ask_recovery = lambda text: False
    w.ask_unsaved = lambda: "discard"
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.ask_unsaved = lambda: "discard"
    w.close()


def test_busy_file_is_a_refusal_to_answer_and_non_ascii_tags_are_reported(window, qtbot, cxi, tmp_path):
    assert window.open_path(str(cxi), wait=True)
    qtbot.waitUntil(lambda: window.current is not None, timeout=10000)
    s = window.session
    s.tags.add("näme")
    s.tags.set_frames("näme", [2], True)
    other = owlx.open(cxi)  # e.g. a notebook holding the file
    asked = []
    window.ask_save_refused = lambda text: (asked.append(text), "cancel")[1]
    assert window.save() is False
    assert len(asked) == 1 and "'run.cxi' is open elsewhere" in asked[0] and s.dirty
    assert s.sidecar_path is None and not (tmp_path / "run.cxi.owlx.h5").exists()
    other.close()
    assert window.save() is True and not s.dirty
    message = window.statusBar().currentMessage()
    assert "saved to run.cxi" in message and "näme" in message and "Owl cannot handle" in message
    with h5py.File(cxi, "r") as f:
        assert f["entry_1/image_1/tags"].attrs["headings"][0] == "näme".encode()
