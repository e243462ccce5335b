"""Patterson view (Ctrl+A) and Cheetah peak overlay (Ctrl+K) in the main window
(spec/viewer.md A1, A2, K1)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

N, S, MAXP = 4, 64, 6
SEPARATIONS = [(9, 0), (5, -12), (0, 14), (20, 3)]  # (dx, dy) px of the two scatterers of frame i
N_PEAKS = [2, 0, 6, 4]


def fringes(dx: int, dy: int) -> np.ndarray:
    y, x = np.mgrid[0:S, 0:S]
    return (500 * (1 + np.cos(2 * np.pi * (dx * x + dy * y) / S))).astype(np.float32)


def peak_positions(i: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(MAXP, dtype=np.float32)
    return 5 + 7 * k + i, 50 - 6 * k + 0.5 * i


@pytest.fixture
def cheetah(tmp_path):
    path = tmp_path / "r0182.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", data=np.stack([fringes(*d) for d in SEPARATIONS]),
                              chunks=(1, S, S))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        f["entry_1/data_1"] = h5py.SoftLink("/entry_1/image_1")
        r = f.create_group("entry_1/result_1")
        r["nPeaks"] = np.array(N_PEAKS, np.int32)
        xs, ys = zip(*(peak_positions(i) for i in range(N)))
        r["peakXPosAssembled"], r["peakYPosAssembled"] = np.stack(xs), np.stack(ys)
        r["peakXPosRaw"], r["peakYPosRaw"] = np.stack(xs) + 100, np.stack(ys) + 100  # never drawn here
        r["peakNPixels"] = np.full((N, MAXP), 4, np.int32)
    return path


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def open_file(window, qtbot, path):
    assert window.open_path(str(path), wait=True)
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 0, timeout=10000)
    window.view.setFocus()


def press(qtbot, window, key, modifier=QtCore.Qt.ControlModifier):
    qtbot.keyClick(QtWidgets.QApplication.focusWidget() or window, key, modifier)


def peak_offsets(pmap: np.ndarray) -> set[tuple[int, int]]:
    work = pmap.astype(float).copy()
    c = S // 2
    work[c - 2:c + 3, c - 2:c + 3] = 0
    top = np.argsort(work, axis=None)[::-1][:2]
    return {(int(col) - c, int(row) - c) for row, col in (np.unravel_index(i, work.shape) for i in top)}


def test_patterson_view_computes_each_frame_as_a_job(window, qtbot, cheetah, save_png):
    open_file(window, qtbot, cheetah)
    p = window.patterson
    with qtbot.waitSignal(p.map_shown, timeout=10000) as shown:
        press(qtbot, window, QtCore.Qt.Key_A)
    assert shown.args == [0] and p.active and window.patterson_action.isChecked()
    assert window.view_stack.currentWidget() is p.view and p.view.image_item.image.shape == (S, S)
    assert peak_offsets(p.answer.map) == {(9, 0), (-9, 0)}
    assert p.answer.map.shape == (S, S) and p.computed == 1
    # the map's own levels, not the frame's (linear, percentiles of the map)
    assert p.answer.rendered.hi == pytest.approx(np.percentile(p.answer.map, 99.9), rel=0.05)
    with qtbot.waitSignal(p.map_shown, timeout=10000) as shown:
        press(qtbot, window, QtCore.Qt.Key_Right, QtCore.Qt.NoModifier)  # the view's keys work on the map
    assert shown.args == [1] and peak_offsets(p.answer.map) == {(5, -12), (-5, 12)}
    # a parameter edit is stored for this frame only, marks the file unsaved and recomputes
    before = p.answer.map.copy()
    with qtbot.waitSignal(p.map_shown, timeout=10000):
        p.panel.image_threshold.setValue(800)
    assert p.computed == 3 and not np.allclose(p.answer.map, before)
    assert window.session.patterson.params(1).image_threshold == 800
    assert window.session.patterson.params(0).image_threshold == 30
    assert window.session.dirty and window.windowTitle().endswith("*")
    assert window.save() and not window.session.dirty  # Ctrl+S: Owl's patterson/ layout
    with h5py.File(cheetah, "r") as f:
        g = f["entry_1/image_1/patterson"]
        assert g["imageThreshold"][:].tolist() == [30, 800, 30, 30] and g["_pattersonImg"][0] == 1
        assert "map" not in g and len(g) == 8  # the map itself is never written
    png = save_png(window)  # Ctrl+P while the map is shown saves the map, one map pixel per PNG pixel
    assert png.name == "r0182_entry_1_image_1_data_000001_patterson.png"
    assert QtGui.QImage(str(png)).size() == QtCore.QSize(S, S)
    press(qtbot, window, QtCore.Qt.Key_A)
    assert not p.active and window.view_stack.currentWidget() is window.view
    window.session.frame_index = 0  # the panel follows the selected frame's own parameters
    assert p.panel.image_threshold.value() == 30
    window.session.frame_index = 1
    assert p.panel.image_threshold.value() == 800


def test_peak_overlay_draws_npeaks_circles_at_the_assembled_positions(window, qtbot, cheetah):
    open_file(window, qtbot, cheetah)
    peaks = window.peaks
    press(qtbot, window, QtCore.Qt.Key_K)
    assert peaks.enabled and window.peaks_action.isChecked()
    for i in range(N):
        window.session.frame_index = i
        qtbot.waitUntil(lambda i=i: peaks.peaks is not None and peaks.peaks.frame == i, timeout=10000)
        circles = peaks.overlay
        assert circles.n_circles == N_PEAKS[i]
        assert peaks.kind == "assembled" and peaks.peak_list.group == "/entry_1/result_1"
        xs, ys = circles.circles.getData()
        if N_PEAKS[i] == 0:
            assert xs is None or len(xs) == 0
            continue
        # one polyline per circle: 72 segments (73 points, the last closing it) and a NaN gap
        xs, ys = np.reshape(xs, (N_PEAKS[i], 74)), np.reshape(ys, (N_PEAKS[i], 74))
        cx, cy = xs[:, :72].mean(axis=1), ys[:, :72].mean(axis=1)
        px, py = peak_positions(i)
        # array coordinates (pixel (0, 0) centred at (0, 0)) drawn at the pixel centres (+0.5)
        np.testing.assert_allclose(cx, px[: N_PEAKS[i]] + 0.5, atol=1e-6)
        np.testing.assert_allclose(cy, py[: N_PEAKS[i]] + 0.5, atol=1e-6)
        np.testing.assert_allclose(xs[:, :72].max(axis=1) - cx, 10.0, atol=1e-6)  # radius 10 px
        assert f"{N_PEAKS[i]} peak" in window.peaks_label.text()
    peaks.set_override("raw")
    qtbot.waitUntil(lambda: peaks.kind == "raw" and peaks.peaks is not None, timeout=10000)
    assert np.allclose(peaks.peaks.x, peak_positions(N - 1)[0][: N_PEAKS[-1]] + 100)
    press(qtbot, window, QtCore.Qt.Key_K)
    assert not peaks.enabled and window.peaks_label.text() == ""
