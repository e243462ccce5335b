"""FrameView: colour-index display, hover/click pixel readout, zoom keeping, mask overlay,
placeholder and native export (spec/viewer.md S1, S4, M4, W6, P1)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.core.display import DisplaySettings, render
from owlx.gui.colormaps import colour_table
from owlx.gui.image_view import FrameView

NY, NX = 60, 90


@pytest.fixture
def view(qtbot):
    v = FrameView()
    qtbot.addWidget(v)
    v.resize(420, 360)
    v.show()
    qtbot.waitExposed(v)
    return v


def pixels(pixmap: QtGui.QPixmap) -> np.ndarray:
    """(h, w, 4) uint8 BGRA copy of a pixmap."""
    img = pixmap.toImage().convertToFormat(QtGui.QImage.Format_ARGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)[:, : img.width()].copy()


def viewport_point(view: FrameView, x: float, y: float) -> QtCore.QPoint:
    """Widget coordinates (in the graphics viewport) of the data point (x, y)."""
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x, y))
    return view.graphics.mapFromScene(scene)


def send_mouse(widget, kind, pos, button=QtCore.Qt.NoButton, buttons=QtCore.Qt.NoButton):
    event = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), button, buttons, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, event)


def ramp_frame() -> np.ndarray:
    """Values spanning five decades, so linear and log look very different."""
    return np.logspace(0, 5, NY * NX, dtype=np.float32).reshape(NY, NX)


def test_norm_change_changes_index_image_and_screen(view, qtbot):
    frame = ramp_frame()
    table = colour_table("gray")
    log = render(frame, None, DisplaySettings(norm="log"))
    linear = render(frame, None, replace(DisplaySettings(), norm="linear"))
    assert (log.index != linear.index).mean() > 0.5
    view.set_index_image(log.index, table)
    qtbot.wait(20)
    shot_log = pixels(view.grab_view())
    view.set_index_image(linear.index, table)
    qtbot.wait(20)
    shot_linear = pixels(view.grab_view())
    assert shot_log.shape == shot_linear.shape
    differ = np.abs(shot_log.astype(int) - shot_linear.astype(int)).max(axis=2) > 8
    assert differ.mean() > 0.2  # a large part of the picture changed


def test_row_zero_is_at_the_top_and_colours_come_from_the_table(view, qtbot):
    index = np.zeros((NY, NX), np.uint8)
    index[0] = 253  # the top row bright
    table = colour_table("gray")
    view.set_index_image(index, table)
    qtbot.wait(20)
    shot = pixels(view.grab_view())
    top = viewport_point(view, NX / 2, 0.5)
    bottom = viewport_point(view, NX / 2, NY - 0.5)
    assert shot[top.y(), top.x(), :3].tolist() == [255, 255, 255]
    assert shot[bottom.y(), bottom.x(), :3].tolist() == [0, 0, 0]
    red = table.copy()
    red[253] = (255, 0, 0, 255)
    view.set_colour_table(red)  # recolour without a new index image
    qtbot.wait(20)
    assert pixels(view.grab_view())[top.y(), top.x(), :3].tolist() == [0, 0, 255]  # BGRA


def test_hover_reports_column_and_row(view, qtbot):
    view.set_index_image(np.zeros((NY, NX), np.uint8), colour_table("inferno"))
    qtbot.wait(20)
    pos = viewport_point(view, 17.5, 31.5)
    with qtbot.waitSignal(view.pixel_hovered, timeout=1000) as blocker:
        send_mouse(view.graphics.viewport(), QtCore.QEvent.MouseMove, pos)
    assert blocker.args == [17, 31]
    qtbot.wait(30)  # pyqtgraph rate-limits mouse moves
    outside = viewport_point(view, -3.0, 10.0)
    with qtbot.waitSignal(view.pixel_hovered, timeout=1000) as blocker:
        send_mouse(view.graphics.viewport(), QtCore.QEvent.MouseMove, outside)
    assert blocker.args == [-1, -1]


def test_click_reports_pixel_and_takes_focus(qtbot):
    window = QtWidgets.QWidget()
    qtbot.addWidget(window)
    layout = QtWidgets.QVBoxLayout(window)
    edit = QtWidgets.QLineEdit()
    view = FrameView()
    layout.addWidget(edit)
    layout.addWidget(view)
    window.resize(420, 420)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    edit.setFocus()
    view.set_index_image(np.zeros((NY, NX), np.uint8), colour_table("inferno"))
    qtbot.wait(20)
    pos = viewport_point(view, 80.5, 2.5)
    with qtbot.waitSignal(view.pixel_clicked, timeout=1000) as blocker:
        qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.LeftButton, pos=pos)
    assert blocker.args == [80, 2]
    assert view.hasFocus()  # keys now reach the main window through the view


def test_fit_on_new_shape_and_zoom_kept_for_the_same_shape_s4(view, qtbot):
    view.set_index_image(np.zeros((NY, NX), np.uint8), colour_table("gray"))
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert x0 <= 0.01 and x1 >= NX - 0.01 and y0 <= 0.01 and y1 >= NY - 0.01  # whole image
    view.view_box.scaleBy((0.25, 0.25), center=(30, 20))
    zoomed = view.view_box.viewRange()
    view.set_index_image(np.full((NY, NX), 100, np.uint8), colour_table("gray"))
    assert np.allclose(view.view_box.viewRange(), zoomed)
    view.set_index_image(np.zeros((200, 300), np.uint8), colour_table("gray"))
    (x0, x1), (y0, y1) = view.view_box.viewRange()
    assert x1 - x0 >= 299 and y1 - y0 >= 199
    view.clear()
    assert view.image_shape is None


def test_mask_overlay_paints_masked_pixels(view, qtbot):
    index = np.full((NY, NX), 253, np.uint8)
    view.set_index_image(index, colour_table("gray"))
    valid = np.ones((NY, NX), bool)
    valid[:, :10] = False
    view.set_mask_overlay(valid, colour=(0, 255, 0), opacity=1.0)
    qtbot.wait(20)
    masked = viewport_point(view, 5.5, 30.5)
    kept = viewport_point(view, 50.5, 30.5)
    shot = pixels(view.grab_view())
    assert shot[masked.y(), masked.x(), :3].tolist() == [0, 255, 0]
    assert shot[kept.y(), kept.x(), :3].tolist() == [255, 255, 255]
    view.set_mask_overlay(valid, colour=(0, 255, 0), opacity=0.0)  # restyle only
    qtbot.wait(20)
    assert pixels(view.grab_view())[masked.y(), masked.x(), :3].tolist() == [255, 255, 255]
    view.set_mask_overlay(None)
    assert not view.mask_item.isVisible()


def test_placeholder_shows_until_the_frame_arrives(view, qtbot):
    view.show_placeholder("Loading frame 7…")
    assert view.placeholder.isVisible() and view.placeholder.text == "Loading frame 7…"
    qtbot.wait(120)  # the spinner turns
    assert view.placeholder.angle != 0
    view.set_index_image(np.zeros((NY, NX), np.uint8), colour_table("gray"))
    assert not view.placeholder.isVisible()


def test_render_native_has_one_pixel_per_data_pixel():
    index = np.zeros((NY, NX), np.uint8)
    index[3, 4] = 253
    table = colour_table("gray", nan_colour=(255, 0, 0))
    index[5, 6] = 255
    valid = np.ones((NY, NX), bool)
    valid[7, 8] = False
    img = FrameView.render_native(index, table, valid, mask_colour=(0, 0, 255), opacity=1.0)
    assert (img.width(), img.height()) == (NX, NY)
    assert QtGui.QColor(img.pixel(4, 3)).getRgb()[:3] == (255, 255, 255)
    assert QtGui.QColor(img.pixel(6, 5)).getRgb()[:3] == (255, 0, 0)
    assert QtGui.QColor(img.pixel(8, 7)).getRgb()[:3] == (0, 0, 255)
    assert QtGui.QColor(img.pixel(0, 0)).getRgb()[:3] == (0, 0, 0)
    half = FrameView.render_native(index, table, valid, mask_colour=(0, 0, 255), opacity=0.5)
    assert QtGui.QColor(half.pixel(8, 7)).getRgb()[:3] == (0, 0, 128)


def test_rgb_frames_are_shown_directly(view, qtbot):
    rgb = np.zeros((NY, NX, 3), np.uint8)
    rgb[..., 1] = 200
    view.set_index_image(rgb, None)
    qtbot.wait(20)
    p = viewport_point(view, 40.5, 30.5)
    assert pixels(view.grab_view())[p.y(), p.x(), :3].tolist() == [0, 200, 0]
    img = FrameView.render_native(rgb)
    assert QtGui.QColor(img.pixel(1, 1)).getRgb() == (0, 200, 0, 255)


def test_a_big_frame_shows_its_preview_zoomed_out_and_the_full_image_zoomed_in(view, qtbot):
    """owlx.core.preview: the reduced image replaces the full one while it loses nothing on
    screen; scene coordinates (readout, overlays) stay those of the full frame."""
    from owlx.core.preview import index_preview, valid_preview

    rng = np.random.default_rng(5)
    index = rng.integers(0, 200, (1600, 1200)).astype(np.uint8)
    index[801, 403] = 250  # one bright pixel
    step = 4
    valid = np.ones(index.shape, bool)
    valid[:, :400] = False
    view.set_index_image(index, colour_table("gray"), index_preview(index, step), step)
    view.set_mask_overlay(valid, (255, 0, 0), 1.0, valid_preview(valid, step))
    assert view.showing_preview
    assert view.image_item.image.shape == (400, 300)
    assert view.image_item.image[801 // 4, 403 // 4] == 250  # the block maximum survives
    assert view.mask_item.image.shape == (400, 300)
    rect = view.image_item.mapRectToView(view.image_item.boundingRect())
    assert (rect.width(), rect.height()) == (1200, 1600)  # full-frame scene coordinates
    # the readout under a pixel is that of the full frame (a screen pixel spans ~4 data pixels)
    hovered = []
    view.pixel_hovered.connect(lambda x, y: hovered.append((x, y)))
    qtbot.mouseMove(view.graphics.viewport(), viewport_point(view, 403.5, 801.5))
    qtbot.waitUntil(lambda: bool(hovered))
    assert abs(hovered[-1][0] - 403) <= 4 and abs(hovered[-1][1] - 801) <= 4
    # zoom in to 40 × 40 data pixels: the full image comes back, and the mask with it
    view.view_box.setRange(QtCore.QRectF(380, 780, 40, 40), padding=0)
    qtbot.waitUntil(lambda: not view.showing_preview)
    assert view.image_item.image.shape == index.shape and view.image_item.image[801, 403] == 250
    assert view.mask_item.image.shape == index.shape
    view.fit()
    qtbot.waitUntil(lambda: view.showing_preview)


def test_a_frame_that_fits_the_view_is_shown_as_it_is(view):
    index = np.zeros((NY, NX), np.uint8)
    view.set_index_image(index, colour_table("gray"))
    assert not view.showing_preview and view.image_item.image.shape == (NY, NX)


def test_an_image_already_through_the_colour_table_is_painted_until_the_table_changes(view):
    index = (np.arange(NY * NX) % 254).astype(np.uint8).reshape(NY, NX)
    gray, viridis = colour_table("gray"), colour_table("viridis")
    view.set_index_image(index, gray, rgba=gray[index])
    assert view.image_item.image.shape == (NY, NX, 4)
    np.testing.assert_array_equal(view.image_item.image, gray[index])
    view.set_colour_table(viridis)  # the RGBA was made with gray: back to the indexed image
    assert view.image_item.image.shape == (NY, NX)
    np.testing.assert_array_equal(pixels(view.grab_view())[..., :3].reshape(-1, 3).max(0) > 0, [True, True, True])
    view.set_index_image(index, gray, rgba=gray[index][:10])  # not the shown image's shape: ignored
    assert view.image_item.image.shape == (NY, NX)
