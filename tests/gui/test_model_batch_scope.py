"""Batch sizing scopes in the Model panel (spec/viewer.md B1, B2): all frames in view order (the
default), the frames of the view order carrying a tag, the selected frame; "skip frames already
fitted"; the live summary (n / M, frames ok / failed, median diameter so far).

Most tests replace the fit by a fake whose record is known (diameter 30 + 2·frame nm, chosen
frames fail), so they assert exactly which frames were fitted, in which order, and the median;
one test runs the real recipe on the selected frame."""

from __future__ import annotations

import shutil
import statistics
import time

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore

import owlx.core.sphere_recipe as recipe
from owlx.core.sphere_records import SphereFitResult
from owlx.demo import make_demo_file
from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

G = "entry_1/image_1"
N, SIZE = 8, 256


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("demo") / "demo.cxi", n_frames=N, size=SIZE, seed=5)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, demo_master):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "demo.cxi"
    shutil.copy(demo_master, path)
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.ask_recovery = lambda text: False
    w.ask_unsaved = lambda: "discard"
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(str(path), wait=True)
    qtbot.waitUntil(lambda: w.current is not None, timeout=10000)
    yield w
    w.cancel_sizing()
    w.jobs.wait(10000)
    w.close()


def fake_fit(monkeypatch, fail=(), delay=0.0):
    """Replace the recipe: frame i gets diameter 30 + 2i nm and fitError 0.01; frames in
    ``fail`` raise (a failed record)."""

    def fit(img, mask, settings, start, cancel=None, frame=0):
        if delay:
            time.sleep(delay)
        if frame in fail:
            raise ValueError("no sphere here")
        return SphereFitResult(frame=frame, center_x=0.5, center_y=-0.5, diameter_nm=30.0 + 2 * frame,
                               fluence_mJ_um2=1.5, mask_radius_px=300.0, error_ref=0.01)

    monkeypatch.setattr(recipe, "fit_frame", fit)


def run(window, qtbot, click=True):
    """Start the batch from the panel's button (or not, when nothing is to fit) and return the
    frames the model received, in the order the batch submitted them (its plan, in view order).
    Frames are fitted on several threads, so records may be applied in another order; the
    frames applied must be exactly those of the plan."""
    m = window.session.model
    applied = []
    m.on_change = applied.extend
    window._model_batch_plan = None
    if click:
        qtbot.mouseClick(window.model_panel.batch_button, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=20000)
    m.on_change = None
    plan = window._model_batch_plan
    if plan is None:
        assert applied == []
        return applied
    order = [int(i) for i in plan.frames]
    assert sorted(applied) == sorted(order)
    return order


def choose(panel, scope, tag=None, skip=False):
    panel.batch_scope.setCurrentIndex(panel.batch_scope.findData(scope))
    if tag is not None:
        panel.batch_tag.setCurrentText(tag)
    panel.batch_skip.setChecked(skip)


def test_default_scope_is_the_view_order_with_failures_and_median(window, qtbot, monkeypatch):
    fake_fit(monkeypatch, fail={7})
    p, s, m = window.model_panel, window.session, window.session.model
    assert p.batch_choice().scope == "view" and not p.batch_choice().skip_fitted
    assert p.batch_scope.currentText() == "All frames (view order)" and not p.batch_tag.isEnabled()
    s.set_order(np.array([5, 2, 7, 0]))  # sorted and filtered: 4 of 8 frames shown
    assert run(window, qtbot) == [5, 2, 7, 0]
    np.testing.assert_array_equal(np.flatnonzero(m.fitted), [0, 2, 5])
    assert window._model_failed == {7}
    np.testing.assert_array_equal(m.values["diameterNM"][[0, 2, 5]], [30.0, 34.0, 40.0])
    assert all(m.values["diameterNM"][i] == 100.0 for i in (1, 3, 4, 6))  # not in the view: untouched
    text = p.batch_label.text()
    assert "finished: 3 ok, 1 failed, 0 not run" in text and text.endswith("median 34.0 nm")


def test_tag_scope_fits_the_tagged_frames_of_the_view_order(window, qtbot, monkeypatch):
    fake_fit(monkeypatch)
    p, s, m = window.model_panel, window.session, window.session.model
    assert p.batch_tag.count() == 0
    s.tags.add("hit")
    s.tags.add("blob")
    assert [p.batch_tag.itemText(k) for k in range(p.batch_tag.count())] == ["hit", "blob"]  # follows the tags
    s.tags.set_frames("hit", [1, 3, 4, 6], True)
    s.tags.set_frames("blob", [2], True)
    s.set_order(np.array([6, 3, 2, 1, 0, 5, 7]))  # frame 4 (tagged) is filtered out
    assert not p.batch_tag.isEnabled()
    choose(p, "tag", "hit")
    assert p.batch_tag.isEnabled()
    assert run(window, qtbot) == [6, 3, 1]  # in view order; frame 4 is hidden, frame 2 has another tag
    np.testing.assert_array_equal(np.flatnonzero(m.fitted), [1, 3, 6])
    assert "3 ok, 0 failed" in p.batch_label.text() and "1 tagged but hidden by filters" in p.batch_label.text()
    s.tags.rename("hit", "sphere")  # a renamed tag stays chosen
    assert p.batch_choice().tag == "sphere"
    choose(p, "tag", "blob")
    assert run(window, qtbot) == [2]
    choose(p, "view")
    assert not p.batch_tag.isEnabled()


def test_selected_scope_runs_the_real_recipe_on_one_frame(window, qtbot, demo_master):
    p, s, m = window.model_panel, window.session, window.session.model
    s.frame_index = 1
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 1, timeout=5000)
    choose(p, "selected")
    assert run(window, qtbot) == [1]
    assert np.flatnonzero(m.fitted).tolist() == [1]
    with h5py.File(demo_master, "r") as f:
        truth = f[f"{G}/truth/diameter_nm"][1]
    assert abs(m.values["diameterNM"][1] - truth) < 0.3, (m.values["diameterNM"][1], truth)
    assert p.diameter.value() == pytest.approx(m.values["diameterNM"][1], abs=1e-3)  # the panel shows it
    assert "finished: 1 ok, 0 failed, 0 not run" in p.batch_label.text()


def test_skip_frames_already_fitted(window, qtbot, monkeypatch):
    fake_fit(monkeypatch)
    p, s, m = window.model_panel, window.session, window.session.model
    for i in (0, 2):  # fitted before (finite fitError); frame 4 failed before (NaN): fitted again
        m.set_frame_values(i, {"fitError": 0.5, "diameterNM": 77.0})
    m.set_frame_values(4, {"fitError": np.nan, "diameterNM": 66.0})
    choose(p, "view", skip=True)
    assert run(window, qtbot) == [1, 3, 4, 5, 6, 7]
    assert m.values["diameterNM"][0] == 77.0 and m.values["diameterNM"][2] == 77.0 and m.values["fitError"][0] == 0.5
    assert m.values["diameterNM"][4] == 38.0
    assert "(2 already fitted skipped)" in p.batch_label.text()
    # now every frame is fitted: nothing runs, and the status bar says why
    assert run(window, qtbot) == []
    assert "nothing to fit: the 8 frame(s) of the scope are already fitted" in window.statusBar().currentMessage()
    # with skip off the same scope fits everything again
    choose(p, "view", skip=False)
    assert run(window, qtbot) == list(range(N))
    assert m.values["diameterNM"][0] == 30.0
    # tag scope with skip: only the tagged frames that are not fitted
    s.tags.add("hit")
    s.tags.set_frames("hit", [2, 5, 6], True)
    m.set_frame_values(5, {"fitError": np.nan})
    choose(p, "tag", "hit", skip=True)
    assert run(window, qtbot) == [5]
    # selected frame with skip: fitted already, so nothing
    choose(p, "selected", skip=True)
    assert window.run_batch() is False and run(window, qtbot, click=False) == []


def test_tag_scope_without_tags_is_refused_without_a_job(window, qtbot, monkeypatch):
    fake_fit(monkeypatch)
    p = window.model_panel
    choose(p, "tag")
    assert not p.batch_tag.isEnabled() and p.batch_choice().tag is None
    assert window.run_batch() is False and window._model_batch_handle is None
    assert "the stack has no tags" in window.statusBar().currentMessage()
    assert not window.session.model.fitted.any()


def test_live_summary_while_the_batch_runs_and_cancel(window, qtbot, monkeypatch):
    fake_fit(monkeypatch, fail={1}, delay=0.3)
    # one thread, so that the summary passes through every count (with two, frames finish in pairs)
    monkeypatch.setattr("owlx.gui.model_panel_batch.batch_threads", lambda: 1)
    p, m = window.model_panel, window.session.model
    qtbot.mouseClick(p.batch_button, QtCore.Qt.LeftButton)
    assert window._model_batch_handle is not None
    assert not p.batch_scope.isEnabled() and not p.batch_skip.isEnabled() and not p.batch_button.isEnabled()
    qtbot.waitUntil(lambda: "2 ok, 1 failed" in p.batch_label.text(), timeout=10000)
    text = p.batch_label.text()
    assert window._model_batch_handle is not None  # still running
    assert text.startswith("3 / 8, ETA") and text.endswith("median 32.0 nm")  # frames 0 and 2: 30, 34 nm
    assert window.statusBar().currentMessage().startswith("sizing 3 / 8")
    qtbot.mouseClick(p.cancel_button, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=5000)
    done = np.flatnonzero(m.fitted).tolist()
    assert done[:2] == [0, 2] and len(done) + 1 < N
    expect = statistics.median(30.0 + 2 * i for i in done)
    text = p.batch_label.text()
    assert text.startswith(f"sizing cancelled: {len(done)} ok, 1 failed, {N - len(done) - 1} not run")
    assert text.endswith(f"median {expect:.1f} nm")
    assert p.batch_scope.isEnabled() and p.batch_button.isEnabled()
