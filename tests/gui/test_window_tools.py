"""Pixel peeper (Ctrl+X), PNG export (Ctrl+P), slideshow and full screen in the main window
(spec/viewer.md P3, X4, V4, V5)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings
from owlx.gui.status import format_value
from owlx.gui.window_output import png_base_name

N, NY, NX = 12, 30, 40


def frame_values(i: int) -> np.ndarray:
    return (np.arange(NY * NX, dtype=np.float32).reshape(NY, NX) * 1.5 + 1000 * i).astype(np.float32)


@pytest.fixture
def cxi(tmp_path):
    path = tmp_path / "run 7.h5"  # a space and a 2-letter extension: Owl's naming broke on both
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", data=np.stack([frame_values(i) for i in range(N)]),
                              chunks=(1, NY, NX))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        mask = np.zeros((NY, NX), np.uint16)
        mask[6, 9] = 64  # masked by default
        f["entry_1/image_1/mask_shared"] = mask
    return path


@pytest.fixture
def window(qtbot, tmp_path, cxi):
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(str(cxi), wait=True)
    qtbot.waitUntil(lambda: w.current is not None and w.current.index == 0, timeout=10000)
    w.view.setFocus()
    yield w
    w.close()


def hover(window, x: int, y: int) -> None:
    view = window.view
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x + 0.5, y + 0.5))
    pos = view.graphics.mapFromScene(scene)
    event = QtGui.QMouseEvent(QtCore.QEvent.MouseMove, QtCore.QPointF(pos), QtCore.Qt.NoButton,
                              QtCore.Qt.NoButton, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(view.graphics.viewport(), event)


def test_pixel_peeper_shows_the_exact_block_and_marks_masked_pixels(window, qtbot, cxi):
    qtbot.keyClick(window.view, QtCore.Qt.Key_X, QtCore.Qt.ControlModifier)
    peeper = window.pixel_peeper
    assert window.peeper_action.isChecked() and peeper.isVisible()
    hover(window, 8, 5)
    qtbot.waitUntil(lambda: peeper.block is not None, timeout=2000)
    raw = frame_values(0)
    np.testing.assert_array_equal(peeper.block.values, raw[3:8, 6:11])
    assert peeper.cell_texts() == [[format_value(float(v)) for v in row] for row in raw[3:8, 6:11]]
    assert peeper.block.valid.sum() == 24 and not peeper.block.valid[3, 3]  # (9, 6) is masked
    # the cell colours are the view's colours of those pixels
    table = window._table[window.current.rendered.index[3:8, 6:11]][..., :3]
    np.testing.assert_array_equal(peeper._colours, table)
    window.set_pixel_peeper_size(3)
    qtbot.wait(100)  # pyqtgraph rate-limits mouse moves
    hover(window, 0, 0)  # a corner: cells beyond the edge stay empty
    qtbot.waitUntil(lambda: peeper.block is not None and (peeper.block.x0, peeper.block.y0) == (-1, -1), timeout=2000)
    assert peeper.cell_texts()[0] == ["", "", ""] and peeper.cell_texts()[1][1] == format_value(float(raw[0, 0]))
    assert window.settings.get("peeper/size", 5) == 3
    peeper.grab()  # paints without error
    qtbot.keyClick(window.view, QtCore.Qt.Key_X, QtCore.Qt.ControlModifier)
    assert not peeper.isVisible()


def test_png_is_native_with_the_colormap_and_never_overwrites(window, qtbot, cxi, tmp_path, save_png):
    window.session.frame_index = 3
    qtbot.waitUntil(lambda: window.current.index == 3, timeout=10000)
    window.session.set_display(colormap="viridis", norm="linear")
    # the frame rendered with the new settings is shown (the export is of what is shown)
    qtbot.waitUntil(lambda: window.current.rendered.settings.norm == "linear", timeout=10000)
    base = "run_7_entry_1_image_1_data_000003"
    blocker = tmp_path / f"{base}.png"
    blocker.write_bytes(b"not mine")
    first = save_png(window)
    second = save_png(window)
    assert first.name == f"{base}-1.png" and second.name == f"{base}-2.png"
    assert blocker.read_bytes() == b"not mine"
    img = QtGui.QImage(str(first)).convertToFormat(QtGui.QImage.Format_RGBA8888)
    assert (img.width(), img.height()) == (NX, NY)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    rgba = np.frombuffer(ptr, np.uint8).reshape(NY, img.bytesPerLine())[:, : NX * 4].reshape(NY, NX, 4)
    expected = window._table[window.current.rendered.index][..., :3]
    valid = window.current.valid
    np.testing.assert_array_equal(rgba[..., :3][valid], expected[valid])  # one data pixel per PNG pixel
    np.testing.assert_array_equal(rgba[6, 9, :3], [0, 0, 0])  # the masked pixel, opaque black overlay
    assert img.text("Frame") == "3" and img.text("Norm") == "linear" and img.text("Colormap") == "viridis"


def test_png_names_are_safe():
    assert png_base_name("/d/run 7.h5", "/entry_1/image_1/data", 12) == "run_7_entry_1_image_1_data_000012"
    assert png_base_name("/d/sid1_0002.edf.gz", "/entry_1/data_1/data", 1) == "sid1_0002_entry_1_data_1_data_000001"
    assert png_base_name("<array>", "/entry_1/data_1/data", 0, "_patterson") == "array_entry_1_data_1_data_000000_patterson"


def test_slideshow_steps_frames_and_gallery_rows_and_wraps(window, qtbot, cxi):
    s = window.session
    window.slideshow.setInterval(10)
    window._slideshow_tick()
    assert s.frame_index == 1
    s.last()
    window._slideshow_tick()
    assert s.frame_index == 0  # wraps
    window.set_gallery_mode(True)
    window.gallery.set_columns(4)
    window._slideshow_tick()
    assert s.frame_index == 4  # one row
    s.frame_index = 9
    window._slideshow_tick()
    assert s.frame_index == 0  # the last row wraps to the start
    window.set_gallery_mode(False)
    qtbot.keyClick(window.view, QtCore.Qt.Key_Space)
    assert window.slideshow.isActive()
    qtbot.waitUntil(lambda: s.frame_index >= 2, timeout=5000)
    qtbot.keyClick(window.view, QtCore.Qt.Key_Space)
    assert not window.slideshow.isActive()


def test_full_screen_keys(window, qtbot, cxi):
    qtbot.keyClick(window.view, QtCore.Qt.Key_F, QtCore.Qt.ControlModifier)
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    qtbot.keyClick(window.view, QtCore.Qt.Key_Escape)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    qtbot.keyClick(window.view, QtCore.Qt.Key_F11)
    qtbot.waitUntil(window.isFullScreen, timeout=2000)
    qtbot.keyClick(window.view, QtCore.Qt.Key_F11)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)


def test_text_fields_keep_select_all_and_cut(window, qtbot, cxi):
    field = window.browser.index_field
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=2000)
    qtbot.keyClick(field, QtCore.Qt.Key_A, QtCore.Qt.ControlModifier)
    qtbot.keyClick(field, QtCore.Qt.Key_X, QtCore.Qt.ControlModifier)
    assert not window.patterson.active and not window.peeper_action.isChecked()
    assert field.text() == ""  # selected all, then cut


def test_copy_image_and_a_png_that_cannot_be_written(window, qtbot, cxi, tmp_path):
    """Both run on a worker: the clipboard gets the native-size image; a PNG that cannot be
    written gives a message in the status bar, and the window goes on."""
    window.session.frame_index = 2
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 2, timeout=10000)
    with qtbot.waitSignal(window.image_copied, timeout=20000):
        assert window.copy_image() is not None
    image = QtWidgets.QApplication.clipboard().image()
    assert (image.width(), image.height()) == (NX, NY)
    handle = window.save_png(tmp_path / "no such folder" / "frame.png")  # Save PNG as… into a folder that is gone
    qtbot.waitUntil(lambda: "could not write the PNG" in window.statusBar().currentMessage(), timeout=20000)
    assert handle is not None and window.current is not None
