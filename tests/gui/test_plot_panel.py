"""The 1-D plot panel: plot in display order with X taken in the same order (L1, L3), running
average and histogram modes (L1), vector columns (L2), the index line and clicks (L1, P4)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5 import QtCore

import owlx
from owlx.core.selection import histogram, running_average
from owlx.gui.plot_panel import PlotPanel
from owlx.gui.qt_jobs import QtJobRunner
from owlx.io.source import Kind

from per_frame_files import GROUP, click, drag, drop, make_cxi, view_point

N = 60
Y = f"{GROUP}/score"
X = f"{GROUP}/energy"
V = f"{GROUP}/translation"
RNG = np.random.default_rng(7)
SCORE = RNG.normal(10.0, 3.0, N)
SCORE[[4, 17]] = np.nan
ENERGY = np.linspace(100.0, 200.0, N)
VEC = np.stack([np.arange(N, dtype=float), 2.0 * np.arange(N), np.full(N, 5.0)], axis=1)


@pytest.fixture
def runner(qtbot):
    r = QtJobRunner(max_threads=2)
    yield r
    r.wait()


@pytest.fixture
def session(tmp_path):
    return owlx.open(make_cxi(tmp_path / "hits.cxi", N, {"score": SCORE, "energy": ENERGY, "translation": VEC}))


@pytest.fixture
def panel(qtbot, session, runner):
    p = PlotPanel(session, runner)
    qtbot.addWidget(p)
    p.resize(700, 420)
    p.show()
    qtbot.waitExposed(p)
    return p


def plotted(qtbot, panel, sel):
    qtbot.waitUntil(lambda: panel.y == sel and not panel._timer.isActive(), timeout=5000)


def settle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel._timer.isActive(), timeout=3000)


def test_plot_shows_n_points_in_display_order(panel, session, qtbot):
    panel.set_y(Y)
    plotted(qtbot, panel, (Y, None))
    x, y = panel.series()
    assert x.size == N
    np.testing.assert_array_equal(x, np.arange(N))
    np.testing.assert_array_equal(y, SCORE)
    session.set_sort(Y)  # descending, NaN last
    settle(qtbot, panel)
    x, y = panel.series()
    np.testing.assert_array_equal(y, SCORE[session.order])
    assert np.all(np.diff(y[:-2]) <= 0) and np.isnan(y[-2:]).all()
    session.add_range_filter(Y, lo=10.0)
    settle(qtbot, panel)
    x, y = panel.series()
    assert x.size == session.order.size < N
    np.testing.assert_array_equal(y, SCORE[session.order])
    assert panel.plot.getPlotItem().getAxis("bottom").labelText == "view position"


def test_plot_x_is_taken_in_display_order_l3(panel, session, qtbot):
    session.set_sort(Y)
    panel.set_y(Y)
    panel.set_x(X)
    qtbot.waitUntil(lambda: panel.y is not None and panel.x == (X, None), timeout=5000)
    settle(qtbot, panel)
    x, y = panel.series()
    np.testing.assert_array_equal(x, ENERGY[session.order])
    np.testing.assert_array_equal(y, SCORE[session.order])  # pairs (x_i, y_i) belong to one frame
    panel.set_x(None)
    settle(qtbot, panel)
    np.testing.assert_array_equal(panel.series()[0], np.arange(N))


def test_running_average_and_histogram_modes(panel, session, qtbot):
    session.set_sort(Y)
    session.add_range_filter(X, hi=180.0)
    panel.set_y(Y)
    plotted(qtbot, panel, (Y, None))
    panel.set_mode("average")
    assert panel.window_spin.isVisible() and not panel.bins_spin.isVisible()
    x, y = panel.series()
    ex, ey = running_average(session.order, SCORE, 10, "uniform")
    np.testing.assert_array_equal(x, ex)  # frame index on x, filtered frames only
    np.testing.assert_allclose(y, ey)
    assert x[0] == 0 and np.all(np.diff(x) > 0)
    panel.set_window(4)
    panel.set_weighting("exponential")
    settle(qtbot, panel)
    ex, ey = running_average(session.order, SCORE, 4, "exponential")
    np.testing.assert_allclose(panel.series()[1], ey)
    panel.set_mode("histogram")
    edges, counts = panel.series()
    ec, ee = histogram(SCORE[session.order], 200)
    np.testing.assert_array_equal(counts, ec)
    np.testing.assert_allclose(edges, ee)
    assert panel.data_item() is panel.hist_curve and not panel.curve.isVisible()
    panel.set_bins(7)  # the "# bins" field works
    settle(qtbot, panel)
    edges, counts = panel.series()
    assert counts.size == 7 and counts.sum() == np.isfinite(SCORE[session.order]).sum()


def test_vector_y_asks_for_a_column_l2(panel, session, qtbot):
    asked = []
    panel.ask_column = lambda path, k: asked.append((path, k)) or 1
    assert drop(panel.y_button, V, Kind.FRAME_VECTOR)
    plotted(qtbot, panel, (V, 1))
    assert asked == [(V, 3)]
    np.testing.assert_array_equal(panel.series()[1], VEC[:, 1])
    assert panel.column_spin.isVisible() and panel.column_spin.maximum() == 2
    panel.column_spin.setValue(2)  # the spin next to the name changes the column
    plotted(qtbot, panel, (V, 2))
    np.testing.assert_array_equal(panel.series()[1], VEC[:, 2])
    panel.ask_column = lambda path, k: None  # cancelled: Y stays as it was
    panel.set_y(V)
    qtbot.wait(200)
    assert panel.y == (V, 2)


def test_drop_on_the_plot_sets_y_and_errors_are_reported(panel, session, qtbot):
    assert drop(panel.plot.viewport(), Y, Kind.FRAME_SCALAR)
    plotted(qtbot, panel, (Y, None))
    messages = []
    session.message.connect(lambda level, text: messages.append(text))
    panel.set_y(f"{GROUP}/data")
    qtbot.waitUntil(lambda: bool(messages), timeout=5000)
    assert "cannot plot data" in messages[0] and panel.y is None


def test_selected_frame_moves_the_index_line_and_shows_its_value_p4(panel, session, qtbot):
    session.set_sort(X)  # descending: frame N−1 first
    panel.set_y(Y)
    plotted(qtbot, panel, (Y, None))
    session.frame_index = 10
    assert panel.index_line.isVisible()
    assert panel.index_line.value() == pytest.approx(session.view_position)
    assert panel.value_label.text() == f"frame 10: score = {SCORE[10]:.6g}"
    panel.set_mode("average")
    assert panel.index_line.value() == pytest.approx(10.0)
    panel.set_mode("histogram")
    assert panel.index_line.value() == pytest.approx(SCORE[10]) and not panel.index_line.movable
    session.frame_index = 4  # NaN: no place in a histogram
    assert not panel.index_line.isVisible() and "score = NaN" in panel.value_label.text()


def test_dragging_the_index_line_browses(panel, session, qtbot):
    panel.set_y(X)
    plotted(qtbot, panel, (X, None))
    panel.plot.getPlotItem().getViewBox().setRange(xRange=(0, N - 1), yRange=(90, 210), padding=0)
    qtbot.wait(50)
    assert session.frame_index == 0
    start, end = view_point(panel.plot, 0.0, 150.0), view_point(panel.plot, 30.0, 150.0)
    seen = []
    session.frame_changed.connect(seen.append)
    drag(qtbot, panel.plot.viewport(), start, end)
    assert session.frame_index == pytest.approx(30, abs=2)
    assert len(seen) > 1  # it browsed on the way
    assert panel.index_line.value() == session.view_position  # snapped onto the frame


def test_clicking_a_point_selects_its_frame(panel, session, qtbot):
    panel.set_y(X)
    panel.set_style(points=True)
    plotted(qtbot, panel, (X, None))
    assert panel.curve.opts["symbol"] == "o"
    panel.plot.getPlotItem().getViewBox().setRange(xRange=(0, N - 1), yRange=(90, 210), padding=0)
    qtbot.wait(50)
    click(qtbot, panel.plot.viewport(), view_point(panel.plot, 42.0, ENERGY[42]))
    assert session.frame_index == 42
    click(qtbot, panel.plot.viewport(), view_point(panel.plot, 20.0, 205.0))  # far from any point
    assert session.frame_index == 42


def test_lines_and_points_checkboxes(panel, qtbot):
    assert panel.lines_box.isChecked() and not panel.points_box.isChecked()
    assert panel.curve.opts["symbol"] is None and panel.curve.opts["pen"] is not None
    panel.lines_box.setChecked(False)
    panel.points_box.setChecked(True)
    assert panel.curve.opts["symbol"] == "o"
    assert panel.curve.opts["pen"] is None or panel.curve.opts["pen"].style() == QtCore.Qt.NoPen


def test_refresh_values_updates_live_and_a_new_file_rereads(panel, session, qtbot, tmp_path):
    panel.set_y(Y)
    plotted(qtbot, panel, (Y, None))
    fitted = np.linspace(0.0, 1.0, N)
    panel.refresh_values(Y, fitted)  # e.g. a batch fit's results, frame by frame
    settle(qtbot, panel)
    np.testing.assert_array_equal(panel.series()[1], fitted)
    panel.refresh_values(f"{GROUP}/diameter", np.full(N, 70.0))  # results that are not in the file
    panel.set_y(f"{GROUP}/diameter")
    plotted(qtbot, panel, (f"{GROUP}/diameter", None))
    assert np.all(panel.series()[1] == 70.0)
    other = make_cxi(tmp_path / "other.cxi", 5, {"score": np.arange(5.0) * 3})
    panel.set_y(Y)
    plotted(qtbot, panel, (Y, None))
    session.open(other)
    qtbot.waitUntil(lambda: panel.series()[1].size == 5, timeout=5000)
    np.testing.assert_array_equal(panel.series()[1], np.arange(5.0) * 3)


def test_values_are_read_once_and_never_on_the_gui_thread_w6(panel, session, runner, qtbot):
    import threading

    from owlx.gui.sort_filter_panel import SortFilterPanel

    reads = []
    source_read = session.source.per_frame

    def per_frame(path, n_frames=None):
        reads.append((path, threading.current_thread() is threading.main_thread()))
        return source_read(path, n_frames)

    session.source.per_frame = per_frame
    sorting = SortFilterPanel(session, runner)
    qtbot.addWidget(sorting)
    panel.set_y(Y)
    sorting.sort_on(Y)
    sorting.add_filter(Y, lo=5.0)
    qtbot.waitUntil(lambda: panel.y is not None and session.sort is not None and len(session.filters) == 1,
                    timeout=5000)
    panel.set_y(Y)  # cached: no second read
    settle(qtbot, panel)
    assert reads == [(Y, False)]
    np.testing.assert_array_equal(panel.series()[1], SCORE[session.order])
