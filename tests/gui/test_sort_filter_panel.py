"""Sorting and Filters panel: yields and title (R1, R2, §17 check 6), sort order (O1, check 7),
the filter region and Min/Max fields, tag filters by name (R3), drops from the tree."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5 import QtCore

import owlx
from owlx.gui.filter_widget import RangeFilterWidget, TagFilterWidget
from owlx.gui.qt_jobs import QtJobRunner
from owlx.gui.sort_filter_panel import SortFilterPanel
from owlx.io.source import Kind

from per_frame_files import GROUP, drag, drop, make_cxi, view_point

N = 1000
A = f"{GROUP}/score_a"
B = f"{GROUP}/score_b"
V = f"{GROUP}/translation"


@pytest.fixture
def runner(qtbot):
    r = QtJobRunner(max_threads=2)
    yield r
    r.wait()


@pytest.fixture
def session(tmp_path):
    a = np.arange(N, dtype=float)  # [0, 599] passes 600 frames
    b = np.zeros(N)
    b[400:600] = 1.0  # 200 frames that also pass A …
    b[900:] = 1.0  # … and 100 that do not: B passes 300
    vec = np.stack([a, -a, a % 7], axis=1)
    return owlx.open(make_cxi(tmp_path / "hits.cxi", N, {"score_a": a, "score_b": b, "translation": vec}))


@pytest.fixture
def panel(qtbot, session, runner):
    p = SortFilterPanel(session, runner)
    qtbot.addWidget(p)
    p.resize(420, 900)
    p.show()
    qtbot.waitExposed(p)
    return p


def wait_filters(qtbot, panel, n):
    qtbot.waitUntil(lambda: len(panel.filter_widgets) == n and all(w.isVisible() for w in panel.filter_widgets.values()),
                    timeout=5000)


def test_yield_title_and_per_filter_yields_check_6(panel, session, qtbot):
    assert panel.filters_group.title() == "Filters (yield: 100.0% - 1000/1000)"
    panel.add_filter(A, lo=0, hi=599)
    wait_filters(qtbot, panel, 1)
    panel.add_filter(B, lo=0.5)
    wait_filters(qtbot, panel, 2)
    assert panel.filters_group.title() == "Filters (yield: 20.0% - 200/1000)"
    fa, fb = (panel.filter_widgets[s.id] for s in session.filters)
    assert fa.yield_label.text() == "Yield: 60.0% - 600/1000"
    assert fb.yield_label.text() == "Yield: 30.0% - 300/1000"
    np.testing.assert_array_equal(session.order, np.arange(400, 600))
    # each widget: a 100-bin histogram of all N values, Min/Max shown
    assert isinstance(fa, RangeFilterWidget) and fa.counts.size == 100 and fa.counts.sum() == N
    assert (fa.min_edit.text(), fa.max_edit.text()) == ("0", "599")
    assert (fb.min_edit.text(), fb.max_edit.text()) == ("0.5", "")
    # disabling B: it still counts, but no longer selects
    fb.enabled_box.setChecked(False)
    assert panel.filters_group.title() == "Filters (yield: 60.0% - 600/1000)"
    assert fb.yield_label.text() == "Yield: 30.0% - 300/1000"
    qtbot.mouseClick(fa.remove_button, QtCore.Qt.LeftButton)
    assert [s.path for s in session.filters] == [B]
    qtbot.waitUntil(lambda: fa not in panel.filter_widgets.values())
    assert panel.filters_group.title() == "Filters (yield: 100.0% - 1000/1000)"


def test_filters_added_by_dropping_datasets(panel, session, qtbot):
    assert drop(panel.add_button, A, Kind.FRAME_SCALAR)
    wait_filters(qtbot, panel, 1)
    assert session.filters[0].path == A and session.filters[0].lo is None
    asked = []
    panel.ask_column = lambda path, k: asked.append((path, k)) or 2
    assert drop(panel.filters_group, V, Kind.FRAME_VECTOR)  # the whole group is a target
    wait_filters(qtbot, panel, 2)
    assert asked == [(V, 3)]
    assert (session.filters[1].path, session.filters[1].column) == (V, 2)
    assert panel.filter_widgets[session.filters[1].id].enabled_box.text() == "translation[2]"
    assert not drop(panel.add_button, f"{GROUP}/data", Kind.STACK)  # images are refused


def test_dataset_that_is_not_per_frame_reports_an_error(panel, session, qtbot):
    messages = []
    session.message.connect(lambda level, text: messages.append((level, text)))
    panel.add_filter(f"{GROUP}/data")
    qtbot.waitUntil(lambda: bool(messages), timeout=5000)
    assert messages[0][0] == "error" and "cannot filter on data" in messages[0][1]
    assert session.filters == []


def test_sort_check_7_through_the_combo_and_ascending(qtbot, tmp_path, runner):
    s = owlx.open(make_cxi(tmp_path / "four.cxi", 4, {"v": np.array([3.0, 1.0, np.nan, 2.0])}))
    panel = SortFilterPanel(s, runner)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.sort_combo.findText("v") >= 0, timeout=5000)
    panel.sort_combo.setCurrentIndex(panel.sort_combo.findText("v"))
    panel.sort_combo.activated.emit(panel.sort_combo.findText("v"))
    qtbot.waitUntil(lambda: s.sort is not None, timeout=5000)
    assert s.sort.descending
    np.testing.assert_array_equal(s.order, [0, 3, 1, 2])
    qtbot.mouseClick(panel.ascending_box, QtCore.Qt.LeftButton)
    np.testing.assert_array_equal(s.order, [1, 3, 0, 2])
    panel.sort_combo.activated.emit(panel.sort_combo.findText("none"))
    np.testing.assert_array_equal(s.order, [0, 1, 2, 3])
    assert s.sort is None and panel.sort_combo.currentText() == "none"


def test_sort_by_drop_and_from_the_console(panel, session, qtbot):
    panel.ask_column = lambda path, k: 1
    assert drop(panel.sort_combo, V, Kind.FRAME_VECTOR)
    qtbot.waitUntil(lambda: session.sort is not None, timeout=5000)
    assert (session.sort.path, session.sort.column, session.sort.descending) == (V, 1, True)
    np.testing.assert_array_equal(session.order[:3], [0, 1, 2])  # column 1 is −a: largest first
    assert panel.sort_combo.currentText() == "translation[1]"
    session.set_sort(A, descending=False)  # the console: the panel follows
    assert panel.sort_combo.currentText() == "score_a" and panel.ascending_box.isChecked()


def test_dragging_the_region_updates_min_max_and_the_order(panel, session, qtbot):
    panel.add_filter(A, lo=200, hi=400)
    wait_filters(qtbot, panel, 1)
    w = panel.filter_widgets[session.filters[0].id]
    qtbot.wait(50)
    vb = w.plot.getPlotItem().getViewBox()
    y_mid = sum(vb.viewRange()[1]) / 2
    start, end = view_point(w.plot, 300.0, y_mid), view_point(w.plot, 500.0, y_mid)
    drag(qtbot, w.plot.viewport(), start, end)
    qtbot.waitUntil(lambda: session.filters[0].lo > 300, timeout=3000)
    lo, hi = session.filters[0].lo, session.filters[0].hi
    assert lo == pytest.approx(400.0, abs=15) and hi - lo == pytest.approx(200.0, abs=1e-6)  # moved as a whole
    assert float(w.min_edit.text()) == pytest.approx(lo, rel=1e-5)
    assert float(w.max_edit.text()) == pytest.approx(hi, rel=1e-5)
    expected = np.flatnonzero((np.arange(N) >= lo) & (np.arange(N) <= hi))
    np.testing.assert_array_equal(session.order, expected)
    assert w.yield_label.text() == f"Yield: {100 * expected.size / N:.1f}% - {expected.size}/{N}"


def test_typing_digits_in_min_edits_the_filter_not_the_tags_check_8(panel, session, qtbot):
    session.tags.add("hit")
    panel.add_filter(A)
    wait_filters(qtbot, panel, 1)
    w = panel.filter_widgets[session.filters[0].id]
    panel.window().activateWindow()
    w.min_edit.setFocus()
    qtbot.waitUntil(w.min_edit.hasFocus, timeout=2000)
    w.min_edit.clear()
    qtbot.keyClicks(w.min_edit, "12")
    qtbot.keyClick(w.min_edit, QtCore.Qt.Key_Return)
    assert session.filters[0].lo == 12.0 and session.order[0] == 12
    assert session.tags.counts().tolist() == [0] and session.tags.undo_text == "add tag 'hit'"  # no toggles
    assert w.region.getRegion()[0] == pytest.approx(12.0)
    w.max_edit.setText("oops")  # not a number: the filter's bound comes back
    w.max_edit.editingFinished.emit()
    assert w.max_edit.text() == "" and session.filters[0].hi is None


def test_tag_filter_by_name_through_the_panel(panel, session, qtbot):
    tags = session.tags
    tags.add("fail")
    tags.add("good")
    tags.set_frames("fail", [3, 5, 8], True)
    panel._fill_add_menu()
    action = next(a for a in panel.add_menu.actions() if a.text() == "fail")
    action.trigger()
    wait_filters(qtbot, panel, 1)
    w = panel.filter_widgets[session.filters[0].id]
    assert isinstance(w, TagFilterWidget) and w.tag_combo.currentText() == "fail"
    np.testing.assert_array_equal(session.order, [3, 5, 8])
    assert w.yield_label.text() == "Yield: 0.3% - 3/1000"
    qtbot.mouseClick(w.invert_box, QtCore.Qt.LeftButton)
    assert session.selection_yield.passed == N - 3 and 3 not in session.order
    w.tag_combo.setCurrentIndex(w.tag_combo.findText("good"))
    w.tag_combo.activated.emit(w.tag_combo.findText("good"))
    assert session.filters[0].tag == "good" and session.selection_yield.passed == N  # inverted, empty tag
    tags.rename("good", "best")  # the filter follows the rename, the combo too
    assert w.tag_combo.currentText() == "best"
    tags.add("later")
    assert [w.tag_combo.itemText(i) for i in range(w.tag_combo.count())] == ["fail", "best", "later"]


def test_dropped_tags_dataset_asks_for_a_tag_by_name(panel, session, qtbot):
    session.tags.add("fail")
    session.tags.toggle("fail", 7)
    asked = []
    panel.ask_tag = lambda names: asked.append(list(names)) or "fail"
    assert drop(panel.add_button, f"{GROUP}/tags", None)
    qtbot.waitUntil(lambda: asked == [["fail"]], timeout=2000)
    wait_filters(qtbot, panel, 1)
    np.testing.assert_array_equal(session.order, [7])


def test_filters_follow_a_new_file(panel, session, qtbot, tmp_path):
    panel.add_filter(A, lo=0, hi=9)
    wait_filters(qtbot, panel, 1)
    other = make_cxi(tmp_path / "other.cxi", 20, {"score_a": np.arange(20.0)})
    session.open(other)  # another file: range filters are dropped
    assert panel.filter_widgets == {} and panel.filters_group.title() == "Filters (yield: 100.0% - 20/20)"
    qtbot.waitUntil(lambda: panel.sort_combo.findText("score_a") >= 0 and panel.sort_combo.findText("score_b") < 0,
                    timeout=5000)
    panel.add_filter(A, lo=5)
    wait_filters(qtbot, panel, 1)
    assert panel.filters_group.title() == "Filters (yield: 75.0% - 15/20)"
