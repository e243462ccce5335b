"""Tags in the main window: keys, squares, Shift+click over the display order, Ctrl+S, the
title star, the quit prompt, the sidecar for read-only files, undo."""

from __future__ import annotations

import hashlib
import os
import stat

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtWidgets

from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

N = 12


@pytest.fixture
def cxi(tmp_path):
    path = tmp_path / "tagged.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", data=np.random.default_rng(0).random((N, 20, 30), dtype=np.float32))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        f["entry_1/image_1/hit_score"] = np.arange(N, dtype=float)
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # recovery files stay here
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.ask_recovery = lambda text: False
    w.ask_unsaved = lambda: "discard"  # pytest-qt closes the window before fixture teardown
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.ask_unsaved = lambda: "discard"  # a test may have replaced it
    w.close()


def open_file(window, qtbot, path):
    assert window.open_path(str(path), wait=True)
    qtbot.waitUntil(lambda: window.current is not None, timeout=10000)
    window.activateWindow()
    window.view.setFocus()


def press(qtbot, window, key, modifier=QtCore.Qt.NoModifier):
    qtbot.keyClick(QtWidgets.QApplication.focusWidget() or window.view, key, modifier)


def test_key_toggles_tag_title_star_and_ctrl_s_writes_the_file(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    s = window.session
    s.tags.add("fail")
    s.tags.add("good")
    s.tags.add("odd")
    s.frame_index = 7
    qtbot.waitUntil(lambda: window.current.index == 7, timeout=5000)
    window.view.setFocus()
    press(qtbot, window, QtCore.Qt.Key_3)
    assert s.tags.has(2, 7) and window.windowTitle().endswith("*")
    press(qtbot, window, QtCore.Qt.Key_9)  # no tag 9: a message, nothing toggled
    assert "No tag 9" in window.statusBar().currentMessage()
    press(qtbot, window, QtCore.Qt.Key_S, QtCore.Qt.ControlModifier)
    qtbot.waitUntil(lambda: not window.windowTitle().endswith("*"), timeout=5000)
    with h5py.File(cxi, "r") as f:
        tags = f["entry_1/image_1/tags"]
        assert tags.dtype == np.int8 and tags.shape == (3, N)
        assert tags[2, 7] == 1 and tags[:].sum() == 1
        assert [h.decode() for h in tags.attrs["headings"]] == ["fail", "good", "odd"]
    # after the save reopened the file, frames still load
    s.frame_index = 8
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 8, timeout=5000)


def test_shift_click_on_a_square_tags_exactly_the_filtered_frames_and_undo(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    s = window.session
    s.tags.add("fail")
    s.add_range_filter("/entry_1/image_1/hit_score", lo=3, hi=8)
    assert list(s.order) == [3, 4, 5, 6, 7, 8]
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 3, timeout=5000)
    rect = window.view.tag_square_rect(0)
    pos = window.view.graphics.mapFromScene(rect.center())
    qtbot.mouseClick(window.view.graphics.viewport(), QtCore.Qt.LeftButton, QtCore.Qt.ShiftModifier, pos)
    qtbot.waitUntil(lambda: s.tags.count(0) == 6, timeout=3000)
    assert list(s.tags.frames_with(0)) == [3, 4, 5, 6, 7, 8]
    window.view.setFocus()
    press(qtbot, window, QtCore.Qt.Key_Z, QtCore.Qt.ControlModifier)
    assert s.tags.count(0) == 0
    qtbot.mouseClick(window.view.graphics.viewport(), QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, pos)
    qtbot.waitUntil(lambda: s.tags.count(0) == 1, timeout=3000)
    assert s.tags.has(0, 3)


def test_quit_prompts_only_after_real_changes(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    asked = []
    window.ask_unsaved = lambda: asked.append(1) or "cancel"
    assert window.confirm_close() and asked == []  # straight after opening: no prompt
    window.session.tags.add("fail")
    assert not window.confirm_close() and asked == [1]  # cancel keeps the window
    window.ask_unsaved = lambda: "save"
    assert window.confirm_close()
    with h5py.File(cxi, "r") as f:
        assert f["entry_1/image_1/tags"].shape == (1, N)


def test_read_only_file_saves_to_sidecar_and_keeps_its_bytes(window, qtbot, cxi):
    digest = hashlib.sha256(cxi.read_bytes()).hexdigest()
    os.chmod(cxi, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        open_file(window, qtbot, cxi)
        window.session.tags.add("fail")
        window.session.tags.toggle(0, 4)
        window.ask_save_refused = lambda reason: "sidecar"
        assert window.save()
        assert hashlib.sha256(cxi.read_bytes()).hexdigest() == digest
        sidecar = cxi.with_name(cxi.name + ".owlx.h5")
        assert sidecar.exists() and not window.windowTitle().endswith("*")
        window.close_file()
        open_file(window, qtbot, cxi)
        assert window.session.tags.names == ("fail",) and window.session.tags.has(0, 4)
    finally:
        os.chmod(cxi, stat.S_IRUSR | stat.S_IWUSR)


def test_ctrl_g_hides_the_tag_squares(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    window.session.tags.add("fail")
    assert window.view.tag_squares_visible
    press(qtbot, window, QtCore.Qt.Key_G, QtCore.Qt.ControlModifier)
    assert not window.view.tag_squares_visible


def test_gallery_mode_keys_tags_sorting_and_escape(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    s = window.session
    s.tags.add("fail")
    press(qtbot, window, QtCore.Qt.Key_G)
    assert window.gallery_mode and window.gallery.hasFocus()
    press(qtbot, window, QtCore.Qt.Key_Right)
    assert s.frame_index == 1
    press(qtbot, window, QtCore.Qt.Key_1)
    assert s.tags.has(0, 1)
    s.set_sort("/entry_1/image_1/hit_score")  # descending: the gallery starts with frame N-1
    assert window.gallery.frame_at(0) == N - 1
    window._gallery_activated(5)
    assert not window.gallery_mode and s.frame_index == 5
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 5, timeout=5000)
    press(qtbot, window, QtCore.Qt.Key_Escape)
    assert window.gallery_mode


def test_ctrl_1_shows_the_plot_and_ctrl_shift_g_the_tag_editor(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    assert not window.plot_dock.isVisible()
    press(qtbot, window, QtCore.Qt.Key_1, QtCore.Qt.ControlModifier)
    assert window.plot_dock.isVisible()
    assert not window.session.tags.names  # Ctrl+1 is not the tag key 1
    press(qtbot, window, QtCore.Qt.Key_G, QtCore.Qt.ControlModifier | QtCore.Qt.ShiftModifier)
    assert window.tag_editor is not None and window.tag_editor.isVisible()
    window.tag_editor.close()


def test_opening_another_file_with_unsaved_tags_asks_first(window, qtbot, cxi, tmp_path):
    open_file(window, qtbot, cxi)
    other = tmp_path / "other.cxi"
    other.write_bytes(cxi.read_bytes())
    window.session.tags.add("fail")
    window.ask_unsaved = lambda: "cancel"
    assert not window.open_path(str(other), wait=True)
    assert window.session.source.path == str(cxi) and window.session.tags.names == ("fail",)
    window.ask_unsaved = lambda: "save"
    assert window.open_path(str(other), wait=True)
    assert window.session.source.path == str(other)
    with h5py.File(cxi, "r") as f:
        assert [h.decode() for h in f["entry_1/image_1/tags"].attrs["headings"]] == ["fail"]


def test_ctrl_g_also_hides_the_gallery_squares_and_plot_settings_persist(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    press(qtbot, window, QtCore.Qt.Key_G)
    assert window.gallery_mode
    press(qtbot, window, QtCore.Qt.Key_G, QtCore.Qt.ControlModifier)
    assert not window.view.tag_squares_visible and not window.gallery._tags_visible
    window.plot_panel.window_spin.setValue(25)
    assert window.settings.get("plot/runningAverageWindow", 10) == 25


def test_ctrl_w_asks_before_dropping_unsaved_tags(window, qtbot, cxi):
    open_file(window, qtbot, cxi)
    window.session.tags.add("fail")
    asked = []
    window.ask_unsaved = lambda: asked.append(1) or "cancel"
    press(qtbot, window, QtCore.Qt.Key_W, QtCore.Qt.ControlModifier)
    assert asked == [1] and window.session.source is not None
    window.ask_unsaved = lambda: "discard"
    window.close_file()
    assert window.session.source is None


def test_saving_keeps_the_shown_frame_and_the_gallery_thumbnails(window, qtbot, cxi):
    """A save closes and reopens the file; the frames did not change, so nothing is read
    again: the thumbnails and the rendered frame survive, and reads use the new readers."""
    open_file(window, qtbot, cxi)
    press(qtbot, window, QtCore.Qt.Key_G)
    g = window.gallery
    qtbot.waitUntil(lambda: not g.is_loading() and len(g._cells) >= 4, timeout=10000)
    cells = dict(g._cells)
    token, cached = window.loader.stack_token, len(window.loader.cache)
    window.session.tags.add("good")
    press(qtbot, window, QtCore.Qt.Key_1)
    window.save()
    qtbot.waitUntil(lambda: not window.session.dirty, timeout=10000)
    assert window.session.stack is not None and g.loader.stack is window.session.stack
    assert window.loader.stack is window.session.stack
    assert window.loader.stack_token == token and len(window.loader.cache) >= cached
    assert all(g._cells.get(f) is cell for f, cell in cells.items())  # same pictures, not re-made
    assert not g.is_loading()
    # and the new readers work: a frame never read before comes from the reopened file
    window.session.frame_index = N - 1
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == N - 1, timeout=10000)


def test_a_hidden_gallery_reads_nothing_while_frames_are_stepped(window, qtbot, cxi):
    """In single-frame mode the gallery must not make thumbnails of the frames a user steps
    through (at 4096² that doubled the work of every step)."""
    open_file(window, qtbot, cxi)
    assert not window.gallery_mode
    for i in range(1, 5):
        window.session.frame_index = i
        qtbot.waitUntil(lambda i=i: window.current is not None and window.current.index == i, timeout=10000)
    window.loader.runner.wait(5000)
    assert len(window.gallery.loader.cache) == 0 and not window.gallery.loader._pending
    press(qtbot, window, QtCore.Qt.Key_G)  # shown: now it fills
    qtbot.waitUntil(lambda: len(window.gallery._cells) >= 4, timeout=10000)
