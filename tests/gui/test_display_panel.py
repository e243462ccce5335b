"""Display panel: settings editing, histogram region (D5), autoscale (D3), mask bits
(M2, M3, §17 check 2)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.core.display import DisplaySettings, MaskSettings
from owlx.gui.display_panel import DisplayPanel
from owlx.io.maskbits import DEFAULT_MASK_OUT_BITS, valid_from_bits


@pytest.fixture
def panel(qtbot):
    p = DisplayPanel()
    qtbot.addWidget(p)
    p.resize(420, 900)
    p.show()
    qtbot.waitExposed(p)
    return p


def frame_info(panel, lo=10.0, hi=100.0):
    edges = np.linspace(0.0, 200.0, 101)
    counts = np.arange(100) ** 2
    panel.set_frame_info(lo, hi, counts, edges)


def send_mouse(widget, kind, pos, button, buttons):
    event = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), button, buttons, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, event)


def drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint, steps: int = 6):
    """A left-button drag made of real mouse events (QTest's mouseMove drops the button)."""
    left = QtCore.Qt.LeftButton
    send_mouse(widget, QtCore.QEvent.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        qtbot.wait(15)  # pyqtgraph rate-limits moves
        p = start + (end - start) * (i / steps)
        send_mouse(widget, QtCore.QEvent.MouseMove, p, QtCore.Qt.NoButton, left)
    send_mouse(widget, QtCore.QEvent.MouseButtonRelease, end, left, QtCore.Qt.NoButton)


def test_defaults_shown(panel):
    s = panel.settings()
    assert s == DisplaySettings()
    assert not panel.gamma.isEnabled()  # only for power
    assert not panel.complex_mode.isVisible()
    assert panel.mask_settings() == MaskSettings()


def test_norm_and_colormap_changes_emit(panel, qtbot):
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.norm.setCurrentIndex(panel.norm.findData("power"))
    assert blocker.args[0].norm == "power" and panel.gamma.isEnabled()
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.gamma.setValue(0.5)
    assert blocker.args[0].gamma == 0.5
    panel.gamma.stepBy(-10)  # 0.5 − 10·0.05 = 0: skipped
    assert panel.gamma.value() == pytest.approx(-0.05)
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel._choose_colormap("viridis")
    assert blocker.args[0].colormap == "viridis"
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.invert.setChecked(True)
    assert blocker.args[0].invert_colormap


def test_set_settings_and_frame_info_do_not_emit(panel, qtbot):
    s = DisplaySettings(colormap="jet", norm="sqrt", lo_unit="value", lo=-3.0, hi_unit="range", hi=80.0)
    with qtbot.assertNotEmitted(panel.settings_changed):
        panel.set_settings(s)
        frame_info(panel)
    assert panel.settings() == s
    assert panel.region.getRegion() == pytest.approx((10.0, 100.0))
    x, y = panel.hist_curve.getData()
    assert len(x) == 101 and y[3] == pytest.approx(np.log10(9 + 1))


def test_dragging_the_histogram_region_sets_value_levels_d5(panel, qtbot):
    frame_info(panel, 40.0, 120.0)
    qtbot.wait(50)
    plot = panel.histogram
    vb = plot.getPlotItem().getViewBox()
    port = plot.viewport()
    y_mid = sum(vb.viewRange()[1]) / 2
    start = plot.mapFromScene(vb.mapViewToScene(QtCore.QPointF(80.0, y_mid)))
    end = plot.mapFromScene(vb.mapViewToScene(QtCore.QPointF(100.0, y_mid)))
    with qtbot.waitSignal(panel.settings_changed, timeout=2000) as blocker:
        drag(qtbot, port, start, end)
    s = blocker.args[0]
    assert (s.lo_unit, s.hi_unit) == ("value", "value")
    assert s.lo == pytest.approx(60.0, abs=3.0) and s.hi == pytest.approx(140.0, abs=3.0)
    assert s.hi - s.lo == pytest.approx(80.0, abs=1e-6)  # the region moved as a whole
    assert panel.lo_end.get() == ("value", s.lo)


def test_region_api_gives_the_same_result(panel, qtbot):
    frame_info(panel)
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.region.setRegion((20.0, 80.0))
    s = blocker.args[0]
    assert (s.lo_unit, s.lo, s.hi_unit, s.hi) == ("value", 20.0, "value", 80.0)


def test_autoscale_now_fixes_the_current_levels(panel, qtbot):
    frame_info(panel, 49.995, 9949.005)
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        qtbot.mouseClick(panel.autoscale, QtCore.Qt.LeftButton)
    s = blocker.args[0]
    assert (s.lo_unit, s.lo, s.hi_unit, s.hi) == ("value", 49.995, "value", 9949.005)


def test_unit_switch_and_invalid_levels(panel, qtbot):
    frame_info(panel, 12.5, 99.0)
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.hi_end.unit.setCurrentIndex(panel.hi_end.unit.findData("value"))
    s = blocker.args[0]
    assert (s.lo_unit, s.hi_unit, s.hi) == ("percentile", "value", 99.0)
    panel.set_settings(DisplaySettings(lo_unit="value", lo=1.0, hi_unit="value", hi=5.0))
    with qtbot.assertNotEmitted(panel.settings_changed):
        panel.lo_end.edit.setText("7")
        panel.lo_end.edit.editingFinished.emit()
    assert panel.error_label.isVisibleTo(panel) and "below" in panel.error_label.text()
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.lo_end.edit.setText("2.5e-1")
        panel.lo_end.edit.editingFinished.emit()
    assert blocker.args[0].lo == 0.25 and not panel.error_label.isVisibleTo(panel)


def test_complex_selector(panel, qtbot):
    panel.set_complex(True)
    assert panel.complex_mode.isVisible()
    with qtbot.waitSignal(panel.settings_changed) as blocker:
        panel.complex_mode.setCurrentIndex(panel.complex_mode.findData("phase"))
    assert blocker.args[0].complex_mode == "phase"
    panel.set_complex(False)
    assert not panel.complex_mode.isVisible()


# -- mask bits ------------------------------------------------------------------------------------
def test_check_2_default_bits_give_5855_and_mask_64_not_32(panel):
    m = panel.mask_settings()
    assert m.out_bits == DEFAULT_MASK_OUT_BITS == 5855
    assert "maskOutBits = 5855" in panel.mask_box.bits_label.text()
    assert panel.mask_box.bit_boxes[64].isChecked() and not panel.mask_box.bit_boxes[32].isChecked()
    valid = valid_from_bits(np.array([[64, 32]], np.uint16), m.out_bits, m.invert)
    assert valid.tolist() == [[False, True]]


def test_mask_edits_emit_mask_settings(panel, qtbot):
    box = panel.mask_box
    with qtbot.waitSignal(panel.mask_settings_changed) as blocker:
        box.bit_boxes[64].setChecked(False)
    assert blocker.args[0].out_bits == 5855 - 64
    assert "maskOutBits = 5791" in box.bits_label.text()
    with qtbot.waitSignal(panel.mask_settings_changed) as blocker:
        box.custom.setText("0x10040")  # an unnamed-bit field that also names bit 64
        box.custom.editingFinished.emit()
    assert blocker.args[0].out_bits == 5855 | 0x10000
    assert box.bit_boxes[64].isChecked() and box.custom.text() == ""  # 0x10000 has a box too
    with qtbot.waitSignal(panel.mask_settings_changed) as blocker:
        box.custom.setText("80000")
        box.custom.editingFinished.emit()
    assert blocker.args[0].out_bits == 5855 | 0x10000 | 0x80000 and box.custom.text() == "0x80000"
    with qtbot.waitSignal(panel.mask_settings_changed) as blocker:
        box.invert.setChecked(True)
    assert blocker.args[0].invert
    with qtbot.waitSignal(panel.mask_settings_changed) as blocker:
        box.no_mask.setChecked(True)
    assert blocker.args[0].enabled is False and not box.bit_boxes[1].isEnabled()
    with qtbot.waitSignal(panel.mask_settings_changed) as blocker:
        box.opacity.setValue(40)
    assert blocker.args[0].opacity == pytest.approx(0.4)


def test_set_mask_settings_shows_them(panel, qtbot):
    m = MaskSettings(out_bits=32 | 0x80000, invert=True, enabled=True, colour=(255, 0, 0), opacity=0.3)
    with qtbot.assertNotEmitted(panel.mask_settings_changed):
        panel.set_mask_settings(m)
    assert panel.mask_settings() == m
    assert panel.mask_box.bit_boxes[32].isChecked() and not panel.mask_box.bit_boxes[64].isChecked()
    assert panel.mask_box.colour_button.text() == "#ff0000"


def test_saved_colormap_outside_the_groups_is_kept(panel):
    panel.set_settings(replace(DisplaySettings(), colormap="CET-L1"))
    assert panel.settings().colormap == "CET-L1"
