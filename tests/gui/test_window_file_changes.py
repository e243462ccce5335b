"""The window when its data file changes underneath (viewer.md F12, X1; formats.md §2.6–§2.7):
F5 after the file shrank, a file deleted while open, and closing while jobs run."""

from __future__ import annotations

import os
import time

import h5py
import numpy as np
import pytest
from PyQt5 import QtWidgets

from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings
from owlx.jobs import Job

G = "/entry_1/image_1"


def make_cxi(path, n_frames):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(f"{G}/data", data=np.zeros((n_frames, 16, 16), np.float32), chunks=(1, 16, 16))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "appdata"))
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.offered = []
    w.ask_recovery = lambda text: (w.offered.append(text), False)[1]
    w.ask_unsaved = lambda: "discard"
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.ask_unsaved = lambda: "discard"
    w.close()


def test_f5_after_the_file_shrank_keeps_the_tags_clamps_the_frame_and_saves_to_the_sidecar(window, tmp_path):
    path = make_cxi(tmp_path / "run.cxi", 10)
    assert window.open_path(str(path), wait=True)
    s = window.session
    s.goto(8)
    s.tags.add("hit")
    window.toggle_tag_key(1)
    tmp = make_cxi(tmp_path / "new.cxi", 5)
    os.replace(tmp, path)
    assert window.reload(wait=True)
    assert s.n_frames == 5 and s.frame_index == 4 and s.tags.has("hit", 8)
    assert window.statusBar().currentMessage() == (
        "the file now has 5 frames; unsaved tags on frames 5–9 are kept and will be saved to the sidecar")
    assert window.offered == []  # the recovery file just written is not offered back on F5
    window.ask_save_refused = lambda reason: pytest.fail(f"asked: {reason}")
    assert window.save() and not s.dirty
    with h5py.File(path, "r") as f:
        assert "tags" not in f[G]
    with h5py.File(tmp_path / "run.cxi.owlx.h5", "r") as f:
        assert f[f"{G}/tags"][0].tolist() == [0] * 8 + [1, 0]


def test_deleted_file_offers_the_sidecar_on_save_reload_and_open(window, tmp_path):
    path = make_cxi(tmp_path / "gone.cxi", 6)
    other = make_cxi(tmp_path / "other.cxi", 3)
    assert window.open_path(str(path), wait=True)
    s = window.session
    s.tags.add("hit")
    s.goto(2)
    window.toggle_tag_key(1)
    os.remove(path)
    assert window.reload(wait=True) is False
    assert window.statusBar().currentMessage() == "'gone.cxi' was deleted or moved; what is shown stays"
    assert s.n_frames == 6 and s.frame_index == 2

    asked = []
    window.ask_save_refused = lambda reason: (asked.append(reason), "cancel")[1]
    assert window.save() is False and s.dirty
    assert len(asked) == 1 and asked[0].startswith("'gone.cxi' no longer exists (deleted or moved)")

    # Opening another file and answering "save" goes through the same question.
    window.ask_unsaved = lambda: "save"
    window.ask_save_refused = lambda reason: (asked.append(reason), "sidecar")[1]
    assert window.open_path(str(other), wait=True)
    assert len(asked) == 2 and os.path.basename(s.source.path) == "other.cxi"
    with h5py.File(tmp_path / "gone.cxi.owlx.h5", "r") as f:
        assert f[f"{G}/tags"][0].tolist() == [0, 0, 1, 0, 0, 0]


def test_closing_while_jobs_run_returns_quickly_and_late_results_reach_nobody(window, qtbot):
    def polite(ctx):  # checks its cancel flag often
        while True:
            ctx.check()
            time.sleep(0.01)

    def stubborn(ctx):  # never checks: runs past the close
        time.sleep(1.5)
        return "late"

    heard = []
    window.jobs.submit(Job(polite, name="polite"), quiet=True)  # quiet jobs were never cancelled
    window.jobs.submit(Job(stubborn, name="stubborn"), on_finished=heard.append)
    qtbot.wait(100)  # both running
    t0 = time.perf_counter()
    window.close()
    assert time.perf_counter() - t0 < 1.0
    assert not window.isVisible()
    assert window.jobs.pool.waitForDone(5000)
    QtWidgets.QApplication.processEvents()
    qtbot.wait(50)
    assert heard == []
