"""What a user types in the console shows in the window at once: a tag set by name fills the tag
square and the Tags panel, a frame selected moves the view, a sort reorders the browser and the
gallery, a fit marks the file unsaved (README "Scripting")."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from owlx.demo import make_demo_file
from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings
from owlx.gui.tag_editor import TAGGED

pytest.importorskip("qtconsole")
pytest.importorskip("ipykernel")

N = 6


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("live") / "demo.cxi", n_frames=N, size=64, seed=2)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, demo_master):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    path = tmp_path / "demo.cxi"
    path.write_bytes(demo_master.read_bytes())
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(str(path), wait=True)
    shown(w, qtbot, 0)
    w.toggle_console()
    qtbot.waitUntil(lambda: w.console.started, timeout=15000)
    w.ask_unsaved = lambda: "discard"  # closing with unsaved edits asks no question
    yield w
    w.close()


def shown(window, qtbot, index: int) -> None:
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == index, timeout=10000)


def run(window, code: str) -> None:
    """Type ``code`` into the console; fail the test if it raised there."""
    window.console.execute(f"__err = None\ntry:\n    {code}\nexcept Exception as e:\n    __err = repr(e)",
                           hidden=True)
    err = window.console.shell.user_ns.get("__err")
    assert err is None, err


def test_console_session_is_the_window_session(window):
    assert window.console.shell.user_ns["session"] is window.session


def test_tag_by_name_updates_squares_panel_and_title(window, qtbot):
    assert window.view._tag_state[0] == []
    run(window, "session.tag('fail', [0, 2])")
    # the selected frame 0 now carries the new tag: one filled square
    assert window.view._tag_state[0] == [True]
    panel = window.tags_panel
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text() == "fail"
    assert panel.table.item(0, TAGGED).text() == "2"
    assert window.windowTitle().endswith(" *")
    run(window, "session.tag('fail', 0, on=False)")
    assert window.view._tag_state[0] == [False] and panel.table.item(0, TAGGED).text() == "1"
    run(window, "assert session.tagged('fail').tolist() == [2]")


def test_frame_selected_moves_the_view(window, qtbot):
    run(window, "session.frame_index = 4")
    shown(window, qtbot, 4)
    assert window.frame_label.text().startswith("frame 4 / 6")
    assert window.browser.index_field.text() == "4"
    ns = window.console.shell.user_ns
    qtbot.waitUntil(lambda: ns["frame"] is not None and np.array_equal(ns["frame"], window.session.frame(4)),
                    timeout=5000)


def test_sort_applied_reorders_browser_and_gallery(window, qtbot):
    with h5py.File(window.session.source.path, "r") as f:
        score = f["entry_1/image_1/hit_score"][()]
    expected = np.argsort(-score, kind="stable")
    run(window, "session.set_sort('/entry_1/image_1/hit_score')")
    np.testing.assert_array_equal(window.gallery._order, expected)
    assert window.sort_filter_panel.sort_combo.currentText() == "hit_score"
    pos = int(np.flatnonzero(expected == 0)[0])  # frame 0 stays selected, at its sorted place
    assert window.frame_label.text() == f"frame 0 / 6, view {pos + 1} / 6"
    run(window, "session.first()")
    shown(window, qtbot, int(expected[0]))
    assert window.browser.slider.value() == 0
    run(window, "session.next()")
    shown(window, qtbot, int(expected[1]))


def test_fit_from_the_console_marks_the_file_unsaved(window, qtbot):
    assert not window.windowTitle().endswith(" *")
    run(window, "rec = session.fit(1)")
    ns = window.console.shell.user_ns
    assert ns["rec"].status == "ok" and window.session.results().fitted.tolist() == [False, True] + [False] * 4
    assert window.windowTitle().endswith(" *")
