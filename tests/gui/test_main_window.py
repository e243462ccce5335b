"""The main window as a user drives it: keys step frames, norms change pixels, the readout
shows the value under the cursor, the console moves the view, bad files leave it usable."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.core.display import TOP_INDEX, map_like
from owlx.core.preview import index_preview
from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

N, NY, NX = 30, 40, 50


def frame_values(i: int) -> np.ndarray:
    """Frame i: a ramp over five decades plus 1000·i, so every frame and pixel differs."""
    ramp = np.logspace(0, 5, NY * NX, dtype=np.float32).reshape(NY, NX)
    return ramp + np.float32(1000 * i)


@pytest.fixture
def cxi(tmp_path):
    path = tmp_path / "hits.cxi"
    with h5py.File(path, "w") as f:
        data = np.stack([frame_values(i) for i in range(N)])
        ds = f.create_dataset("entry_1/image_1/data", data=data, chunks=(1, NY, NX))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        mask = np.zeros((NY, NX), np.uint16)
        mask[5, 7] = 64  # ignore: masked by default
        f["entry_1/image_1/mask_shared"] = mask
        f["entry_1/image_1/hit_score"] = np.arange(N, dtype=float)
        det = f.create_group("entry_1/instrument_1/detector_1")
        det["distance"] = 2.4
        det["x_pixel_size"] = det["y_pixel_size"] = 110e-6
        f["entry_1/instrument_1/source_1/energy"] = 8.8119715e-16
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def shown(window, qtbot, index: int) -> None:
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == index, timeout=10000)


def open_and_focus(window, qtbot, path) -> None:
    assert window.open_path(str(path), wait=True)
    shown(window, qtbot, 0)
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: window.view.hasFocus() or window.view.graphics.hasFocus(), timeout=2000)


def grab_pixels(window) -> np.ndarray:
    img = window.view.grab_view().toImage().convertToFormat(QtGui.QImage.Format_ARGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 4].copy()


def key(qtbot, window, k, modifier=QtCore.Qt.NoModifier):
    target = QtWidgets.QApplication.focusWidget() or window.view
    qtbot.keyClick(target, k, modifier)


def test_keys_step_frames_in_the_view(window, qtbot, cxi):
    open_and_focus(window, qtbot, cxi)
    key(qtbot, window, QtCore.Qt.Key_Right)
    shown(window, qtbot, 1)
    key(qtbot, window, QtCore.Qt.Key_PageDown)
    shown(window, qtbot, 11)
    key(qtbot, window, QtCore.Qt.Key_Left)
    shown(window, qtbot, 10)
    key(qtbot, window, QtCore.Qt.Key_End)
    shown(window, qtbot, N - 1)
    key(qtbot, window, QtCore.Qt.Key_Right)  # stays at the end
    key(qtbot, window, QtCore.Qt.Key_Home)
    shown(window, qtbot, 0)
    np.testing.assert_array_equal(window.current.raw, frame_values(0))
    assert "frame 0 / 30" in window.frame_label.text()


def test_arrow_keys_stay_with_the_tree(window, qtbot, cxi):
    open_and_focus(window, qtbot, cxi)
    window.tree.setFocus()
    qtbot.keyClick(window.tree, QtCore.Qt.Key_Down)
    qtbot.wait(100)
    assert window.session.frame_index == 0


def test_norm_change_changes_pixels_of_the_grabbed_view(window, qtbot, cxi):
    open_and_focus(window, qtbot, cxi)
    before = grab_pixels(window)
    window.session.set_display(norm="linear")
    qtbot.waitUntil(lambda: window.current.rendered is not None and not np.array_equal(grab_pixels(window), before), timeout=10000)
    after = grab_pixels(window)
    assert np.mean(np.any(after != before, axis=-1)) > 0.05
    window.session.set_display(norm="log")
    qtbot.waitUntil(lambda: np.array_equal(grab_pixels(window), before), timeout=10000)


def test_readout_shows_value_mask_bits_and_q_under_the_cursor(window, qtbot, cxi):
    open_and_focus(window, qtbot, cxi)
    view = window.view
    x, y = 7, 5
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x + 0.5, y + 0.5))
    pos = view.graphics.mapFromScene(scene)
    event = QtGui.QMouseEvent(QtCore.QEvent.MouseMove, QtCore.QPointF(pos), QtCore.Qt.NoButton,
                              QtCore.Qt.NoButton, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(view.graphics.viewport(), event)
    qtbot.waitUntil(lambda: window.readout_label.text().startswith("x 7"), timeout=2000)
    text = window.readout_label.text()
    value = frame_values(0)[y, x]
    assert f"value {value:.5g}" in text
    assert "ignore" in text  # mask bit 64 named
    assert "q " in text and "nm⁻¹" in text  # the file gives wavelength, distance and pixel size


def test_console_moves_the_view(window, qtbot, cxi):
    open_and_focus(window, qtbot, cxi)
    window.toggle_console()
    qtbot.waitUntil(lambda: window.console.started, timeout=15000)
    window.console.execute("session.frame_index = 5")
    shown(window, qtbot, 5)
    window.console.execute("assert frame.shape == (40, 50) and float(frame[0, 0]) == 5001.0", hidden=True)
    ns = window.console.shell.user_ns
    qtbot.waitUntil(lambda: float(ns["frame"][0, 0]) == 5001.0, timeout=5000)


def test_bad_files_leave_the_window_usable(window, qtbot, cxi, tmp_path):
    open_and_focus(window, qtbot, cxi)
    window.session.frame_index = 3
    shown(window, qtbot, 3)
    truncated = tmp_path / "truncated.cxi"
    truncated.write_bytes(cxi.read_bytes()[:3000])
    for bad in (tmp_path / "missing.cxi", truncated, tmp_path / "notes.xyz"):
        if bad.suffix == ".xyz":
            bad.write_text("hello")
        assert not window.open_path(str(bad), wait=True)
        assert bad.name in window.statusBar().currentMessage()
        assert window.error_indicator.isVisible()
    assert window.session.frame_index == 3 and window.current.index == 3
    window._on_dataset_activated("/entry_1/image_1/hit_score", window.session.source.node("/entry_1/image_1/hit_score").kind)
    assert window.session.stack_path == "/entry_1/image_1/data"


def test_save_png_native_size_and_never_overwrites(window, qtbot, cxi, tmp_path, save_png):
    open_and_focus(window, qtbot, cxi)
    window.settings.set_png_folder(tmp_path)
    first = save_png(window)
    second = save_png(window)
    assert first.name == "hits_entry_1_image_1_data_000000.png"
    assert second.name == "hits_entry_1_image_1_data_000000-1.png"
    img = QtGui.QImage(str(first))
    assert (img.width(), img.height()) == (NX, NY)
    assert img.text("Frame") == "0" and img.text("Dataset") == "/entry_1/image_1/data"


def test_display_settings_persist_and_fresh_ignores_them(qtbot, tmp_path, cxi):
    ini = tmp_path / "persist.ini"
    w1 = MainWindow(settings=AppSettings(path=ini))
    qtbot.addWidget(w1)
    w1.session.set_display(colormap="jet", norm="sqrt", lo_unit="value", lo=2.0, hi_unit="value", hi=900.0)
    w1.session.set_mask_settings(out_bits=5855 | 32)
    w1.close()
    w2 = MainWindow(settings=AppSettings(path=ini))
    qtbot.addWidget(w2)
    d = w2.session.display
    assert (d.colormap, d.norm, d.lo_unit, d.lo, d.hi) == ("jet", "sqrt", "value", 2.0, 900.0)
    assert w2.session.mask_settings.out_bits == 5855 | 32
    w2.close()
    w3 = MainWindow(settings=AppSettings(path=ini, fresh=True))
    qtbot.addWidget(w3)
    assert w3.session.display.norm == "log" and w3.session.mask_settings.out_bits == 5855
    w3.close()


def test_drop_from_the_desktop_opens_and_recent_menu_remembers(window, qtbot, cxi):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(cxi))])
    pos = QtCore.QPoint(50, 50)
    enter = QtGui.QDragEnterEvent(pos, QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QtGui.QDropEvent(QtCore.QPointF(pos), QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier))
    shown(window, qtbot, 0)
    assert window.windowTitle() == "owlx — hits.cxi"
    window.session.frame_index = 7
    window.close()  # remembers the frame last shown
    entry = window.settings.recent.entries()[0]
    assert (entry.path, entry.dataset, entry.frame) == (str(cxi), "/entry_1/image_1/data", 7)
    window._fill_recent_menu()
    labels = [a.text() for a in window.recent_menu.actions()]
    assert labels[0] == "&1 hits.cxi" and labels[-1] == "Clear list"


def test_big_frames_arrive_with_a_preview_at_the_view_resolution(window, qtbot, tmp_path):
    """Frames several times the view's size are also reduced on the loader's workers; the view
    shows the reduction zoomed out, and the PNG export still has every data pixel."""
    path = tmp_path / "big.cxi"
    frames = np.random.default_rng(4).integers(0, 1000, (2, 1536, 1536)).astype(np.uint16)
    frames[1, 700, 900] = 60000
    with h5py.File(path, "w") as f:
        f.create_dataset("entry_1/data_1/data", data=frames, chunks=(1, 1536, 1536))
    window.resize(700, 500)
    open_and_focus(window, qtbot, path)
    step = window.loader.preview_step
    assert step >= 2
    window.session.frame_index = 1
    shown(window, qtbot, 1)
    result = window.current
    assert result.preview_step == step and result.preview.shape == (-(-1536 // step),) * 2
    assert window.view.showing_preview
    # zoomed out, only the preview was mapped (from the block maxima of the values) ...
    assert result.rendered.index is None
    assert result.preview[700 // step, 900 // step] == TOP_INDEX  # the hot pixel survives
    # ... and it is exactly the reduction of the full-resolution indices
    full = map_like(frames[1], result.rendered)
    np.testing.assert_array_equal(result.preview, index_preview(full, step))
    # the worker also put the preview through the colour table; the view paints that directly
    np.testing.assert_array_equal(result.rgba, window._table[result.preview])
    assert window.view.image_item.image.shape == (*result.preview.shape, 4)
    # the PNG export still has every data pixel
    assert window._native_image().width() == 1536
    assert result.rendered.index is None  # mapped for the export, not kept: the cache counted the entry without it

    # Zooming in past the preview on a frame rendered without the full image: the preview is
    # shown enlarged while a worker maps the full image, which then replaces it.
    window.session.frame_index = 0
    shown(window, qtbot, 0)
    assert window.current.rendered.index is None
    window.view.view_box.setRange(QtCore.QRectF(600, 600, 200, 150), padding=0)
    qtbot.waitUntil(lambda: not window.view.showing_preview, timeout=10000)
    assert window.view.image_item.image.shape == (1536, 1536)
    np.testing.assert_array_equal(window.current.rendered.index, map_like(frames[0], window.current.rendered))
    # while zoomed in, the frames to come are rendered at full resolution at once
    assert window.loader.full_resolution
    window.loader.cache.clear()
    window.session.frame_index = 1
    shown(window, qtbot, 1)
    assert window.current.rendered.index is not None and not window.view.showing_preview
    window.view.fit()
    qtbot.waitUntil(lambda: window.view.showing_preview, timeout=5000)
    assert not window.loader.full_resolution


def test_big_frames_reuse_the_buffers_of_frames_the_cache_dropped(window, qtbot, tmp_path):
    """With a cache too small for the stack, stepping reads every frame into a buffer the cache
    dropped earlier (owlx.io.buffers): each frame shown must still hold its own values."""
    from owlx.io.buffers import frame_buffers

    path = tmp_path / "big.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/data_1/data", (5, 2048, 2048), np.float32, chunks=(1, 2048, 2048))
        for k in range(5):
            ds[k] = k + np.arange(2048, dtype=np.float32)[None, :]  # frame k: k + column
    window.loader.set_cache_mb(60)  # room for about two frames and their renders
    open_and_focus(window, qtbot, path)
    before = frame_buffers.reused
    for k in (1, 2, 3, 4, 0, 1):
        window.session.frame_index = k
        shown(window, qtbot, k)
        raw = window.current.raw
        assert raw[0, 0] == k and raw[-1, -1] == k + 2047 and raw[1000, 5] == k + 5
    window.loader.shutdown()
    assert frame_buffers.reused > before
