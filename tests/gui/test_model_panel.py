"""The Model panel, the model overlay and batch sizing in the main window (spec/viewer.md §10
Mo1–Mo10, B1–B2; spec/sphere.md §5.3): fits run as jobs and land in ``session.model``, Ctrl+S
writes them in Owl's ``model/`` layout, the overlay draws the model, its minima and the mask
radius, and "Fit all frames in view order" streams results, can be cancelled and labels the
gallery."""

from __future__ import annotations

import shutil
import time

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtWidgets

import owlx.core.sphere_recipe as recipe
from owlx.core.colorindex import map_to_index
from owlx.core.display import DisplaySettings
from owlx.core.sphere import minima_radii
from owlx.demo import make_demo_file
from owlx.errors import OwlxError
from owlx.gui.main_window import MainWindow
from owlx.gui.model_overlay import model_adu, params_from_panel
from owlx.gui.settings import AppSettings
from owlx.jobs import run_inline
from owlx.sizing import sizing_job

G = "entry_1/image_1"
N, SIZE = 6, 256


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("demo") / "demo.cxi", n_frames=N, size=SIZE, seed=3)


@pytest.fixture
def demo(demo_master, tmp_path):
    path = tmp_path / "demo.cxi"
    shutil.copy(demo_master, path)
    return path


@pytest.fixture
def truth(demo_master):
    with h5py.File(demo_master, "r") as f:
        return {k: f[f"{G}/truth/{k}"][()] for k in ("diameter_nm", "offset_x", "offset_y", "fluence_mJ_um2")}


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, demo):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    w.ask_recovery = lambda text: False
    w.ask_unsaved = lambda: "discard"
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(str(demo), wait=True)
    qtbot.waitUntil(lambda: w.current is not None, timeout=10000)
    yield w
    w.ask_unsaved = lambda: "discard"
    w.cancel_sizing()
    w.jobs.wait(10000)
    w.close()


def goto(window, qtbot, i):
    window.session.frame_index = i
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == i, timeout=5000)


def click_and_wait(window, qtbot, step):
    panel = window.model_panel
    qtbot.mouseClick(panel.buttons[step], QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: window._model_fit_handle is None, timeout=10000)


def test_panel_is_prefilled_from_the_file_and_energy_follows_wavelength(window):
    p = window.model_panel
    g = p.general_values()
    assert g["photonWavelengthNM"] == pytest.approx(window.session.geometry.wavelength_m * 1e9, rel=1e-6)
    assert g["detectorDistanceMM"] == 2400.0 and g["detectorPixelSizeUM"] == pytest.approx(110.0)
    assert g["detectorADUPhoton"] == 10.0  # the data set's adu_per_photon attribute
    assert g["detectorQuantumEfficiency"] == 0.95 and g["materialType"] == "poliovirus"  # seed
    assert p.origin["detectorDistanceMM"].text() == "from file" and p.origin["materialType"].text() == "default"
    p.energy.setValue(5500.0)
    assert p.wavelength.value() == pytest.approx(0.2254258, abs=1e-7)
    p.wavelength.setValue(0.5)
    assert p.energy.value() == pytest.approx(2479.68, abs=0.01)
    assert window.session.model.general["photonWavelengthNM"] == 0.5  # a fit setting: stored, unsaved
    assert window.session.dirty


def test_ctrl_m_shows_the_panel_and_the_overlay(window, qtbot):
    assert not window.model_dock.isVisible() and not window.model_overlay.visible
    window.activateWindow()
    window.view.setFocus()
    qtbot.keyClick(window.view, QtCore.Qt.Key_M, QtCore.Qt.ControlModifier)
    assert window.model_dock.isVisible()
    qtbot.waitUntil(lambda: window.model_overlay.visible, timeout=5000)
    qtbot.keyClick(window.view, QtCore.Qt.Key_M, QtCore.Qt.ControlModifier)
    assert not window.model_dock.isVisible() and not window.model_overlay.visible


def test_recipe_on_a_demo_frame_writes_results_that_read_back(window, qtbot, demo, truth):
    goto(window, qtbot, 1)
    click_and_wait(window, qtbot, "recipe")
    m = window.session.model
    v = m.frame_values(1)
    assert abs(v["diameterNM"] - truth["diameter_nm"][1]) < 0.5  # 50.71 nm
    assert abs(v["offCenterX"] - truth["offset_x"][1]) < 0.3 and abs(v["offCenterY"] - truth["offset_y"][1]) < 0.3
    assert abs(v["intensityMJUM2"] / truth["fluence_mJ_um2"][1] - 1) < 0.05
    assert np.isfinite(v["fitError"]) and v["maskRadius"] == 300.0
    p = window.model_panel
    assert p.diameter.value() == pytest.approx(v["diameterNM"], abs=1e-3)  # the panel shows the result
    assert p.error_labels["fitError"].text() != "–"
    # Owl's stored variances are shown as standard errors in the user's units
    sigma_d = np.sqrt(v["fitErrorDiameterNM"] * 1e-9) * 1e9
    assert p.error_labels["fitErrorDiameterNM"].text() == f"± {sigma_d:.3g} nm"
    assert p.error_labels["fitErrorOffCenterX"].text() == f"± {np.sqrt(v['fitErrorOffCenterX']):.3g} px"
    assert window.windowTitle().endswith("*")
    assert window.save()
    assert not window.windowTitle().endswith("*")
    with h5py.File(demo, "r") as f:
        model = f[f"{G}/model"]
        for name in ("diameterNM", "offCenterX", "offCenterY", "intensityMJUM2", "fitError"):
            ds = model[name]
            assert ds.dtype == np.float64 and ds.shape[0] >= N
            assert ds[1] == v[name]
        assert model["diameterNM"][0] == 100.0  # other frames keep Owl's default
        assert model["materialType"][0].decode() == "virus"  # the key Owl accepts; owlx's own beside it
        assert model["owlx_materialType"][0].decode() == "poliovirus"
        assert model["detectorDistanceMM"][0] == 2400.0 and model["_fitModelMethod"][0].decode() == "refine"


def test_single_steps_store_only_their_values(window, qtbot, truth):
    goto(window, qtbot, 3)
    p, m = window.model_panel, window.session.model
    p.center_x.setValue(0.0)  # a guess typed by hand is stored for the frame
    assert m.frame_values(3)["offCenterX"] == 0.0 and not np.isfinite(m.frame_values(3)["fitError"])
    click_and_wait(window, qtbot, "center")
    v = m.frame_values(3)
    assert abs(v["offCenterX"] - truth["offset_x"][3]) < 0.5 and abs(v["offCenterY"] - truth["offset_y"][3]) < 0.5
    assert v["diameterNM"] == 100.0 and not np.isfinite(v["fitError"])  # untouched by "Find centre"
    assert p.center_x.value() == pytest.approx(v["offCenterX"], abs=0.01)
    p.diameter.setValue(40.0)  # within 20 % of the truth (38.69 nm): "pearson" without brute force
    p.n_eval.setValue(0)
    click_and_wait(window, qtbot, "diameter")
    v = m.frame_values(3)
    assert abs(v["diameterNM"] - truth["diameter_nm"][3]) < 0.5 and np.isfinite(v["fitError"])
    assert v["intensityMJUM2"] == 1.0  # not fitted yet
    click_and_wait(window, qtbot, "intensity")
    v = m.frame_values(3)
    assert abs(v["intensityMJUM2"] / truth["fluence_mJ_um2"][3] - 1) < 0.1


def test_overlay_draws_model_split_rings_and_mask_circle(window, qtbot):
    p, ov = window.model_panel, window.model_overlay
    p.energy.setValue(5500.0)  # viewer.md §17 check 11: λ 0.2254 nm, D 2.4 m, p 110 µm, d 100 nm
    p.diameter.setValue(100.0)
    p.center_x.setValue(2.5)
    p.center_y.setValue(-3.5)
    p.intensity.setValue(0.5)
    p.mask_radius.setValue(80.0)
    window.set_model_visible(True)
    qtbot.waitUntil(lambda: ov.visible and ov.image_item.image is not None, timeout=5000)
    for item in (ov.image_item, ov.rings_item, ov.mask_item):
        assert item.isVisible()
    # Split 50 %: the model covers columns 128…255, drawn with the data's levels and norm
    rect = ov.model_rect
    assert (rect.x(), rect.width(), rect.height()) == (128, 128, SIZE)
    cur, d = window.current, window.session.display
    params = params_from_panel(p.general_values(), p.frame_values())
    expect = map_to_index(model_adu((SIZE, SIZE), params), cur.rendered.lo, cur.rendered.hi, d.norm, d.gamma, d.clamp)
    np.testing.assert_array_equal(ov.image_item.image, expect[:, 128:])
    # the rings sit at the model minima; the first at 70.3 ± 0.5 px
    radii = minima_radii(100e-9, params.wavelength_m, 110e-6, 2.4, len(ov.ring_radii), flat=False)
    np.testing.assert_allclose(ov.ring_radii, radii)
    assert abs(ov.ring_radii[0] - 70.3) < 0.5 and ov.ring_radii[-1] <= np.hypot(SIZE, SIZE)
    assert ov.rings_item.opts["pen"].style() == QtCore.Qt.DashLine
    xs, ys = ov.rings_item.getData()
    xc, yc = (SIZE - 1) / 2 + 2.5 + 0.5, (SIZE - 1) / 2 - 3.5 + 0.5
    r = np.hypot(xs - xc, ys - yc)
    first = r[: np.flatnonzero(np.isnan(r))[0]]
    np.testing.assert_allclose(first, ov.ring_radii[0], rtol=1e-12)
    xs, ys = ov.mask_item.getData()
    np.testing.assert_allclose(np.nanmax(np.hypot(xs - xc, ys - yc)), 80.0)
    # moving the split re-slices without recomputing; model on left flips the sides
    p.split.setValue(25)
    assert (ov.model_rect.x(), ov.model_rect.width()) == (64, 192)
    p.model_on_left.setChecked(True)
    assert (ov.model_rect.x(), ov.model_rect.width()) == (0, 64)
    p.show_mask.setChecked(True)
    assert ov.image_item.zValue() < window.view.mask_item.zValue()  # the mask covers the model too
    # the split is saved with the next save but does not make the file unsaved (Mo10)
    assert window.session.model.general["_visibility"] == 0.25
    # Poisson sampling: seeded by the frame, so recomputing gives the same picture
    p.model_on_left.setChecked(False)
    before = ov.image_item.image.copy()
    p.poisson.setChecked(True)
    qtbot.waitUntil(lambda: not np.array_equal(ov.image_item.image, before), timeout=5000)
    first_sample = ov.image_item.image.copy()
    window._model_schedule()
    qtbot.wait(100)
    qtbot.waitUntil(lambda: not window._overlay_busy, timeout=5000)
    np.testing.assert_array_equal(ov.image_item.image, first_sample)


def test_overlay_follows_the_display_levels(window, qtbot):
    ov = window.model_overlay
    window.set_model_visible(True)
    qtbot.waitUntil(lambda: ov.visible and ov.image_item.image is not None, timeout=5000)
    before = ov.image_item.image.copy()
    window.session.set_display(DisplaySettings(norm="linear", lo_unit="value", lo=0.0, hi_unit="value", hi=50.0))
    qtbot.waitUntil(lambda: not np.array_equal(ov.image_item.image, before), timeout=5000)
    p = window.model_panel
    params = params_from_panel(p.general_values(), p.frame_values())
    expect = map_to_index(model_adu((SIZE, SIZE), params), 0.0, 50.0, "linear", 0.25, True)
    np.testing.assert_array_equal(ov.image_item.image, expect[:, 128:])


def test_fit_all_frames_streams_results_labels_the_gallery_and_saves(window, qtbot, demo):
    m = window.session.model
    events = []
    m.on_change = lambda frames: events.append((list(frames), window._model_batch_handle is not None))
    qtbot.mouseClick(window.model_panel.batch_button, QtCore.Qt.LeftButton)
    assert window._model_batch_handle is not None and not window.model_panel.buttons["recipe"].isEnabled()
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=20000)
    assert sorted(f for frames, _ in events for f in frames) == list(range(N))
    assert all(running for _, running in events)  # each record was committed while the job ran
    assert "finished" in window.model_panel.batch_label.text()
    fitted = np.flatnonzero(m.fitted)
    assert fitted.size >= N - 1  # every sphere; a dimer may fail
    window.set_gallery_mode(True)
    g = window.gallery
    for i in fitted:
        assert g.cell_label(int(i)) == f"{m.values['diameterNM'][i]:.1f} nm"
    qtbot.wait(50)
    with_labels = g.viewport().grab().toImage()
    g.set_labels(None)
    qtbot.wait(50)
    without = g.viewport().grab().toImage()
    rect = g.cell_rect(0)
    corner = QtCore.QRect(rect.right() - 40, rect.top() + 2, 38, 14)
    assert any(with_labels.pixel(x, y) != without.pixel(x, y)
               for x in range(corner.left(), corner.right()) for y in range(corner.top(), corner.bottom()))
    assert window.save()
    with h5py.File(demo, "r") as f:
        np.testing.assert_array_equal(f[f"{G}/model/diameterNM"][:N], m.values["diameterNM"])


def test_batch_can_be_cancelled_keeps_completed_frames_and_runs_once_per_file(window, qtbot, monkeypatch):
    real = recipe.fit_frame

    def slow(*args, **kwargs):
        time.sleep(0.15)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe, "fit_frame", slow)
    m = window.session.model
    window.fit_all_frames()
    handle = window._model_batch_handle
    assert handle is not None
    qtbot.waitUntil(lambda: m.fitted.sum() + len(window._model_failed) >= 2, timeout=10000)
    # a second batch on the same file is refused, by the window and by the sizing job itself
    window.fit_all_frames()
    assert "a sizing batch is running on this file" in window.statusBar().currentMessage()
    outcome = run_inline(sizing_job(window.session, [0], apply=False), raise_errors=False)
    assert outcome.status == "failed" and isinstance(outcome.error, OwlxError)
    window.model_fit("recipe")
    assert window._model_fit_handle is None  # interactive fits wait for the batch
    t0 = time.monotonic()
    qtbot.mouseClick(window.model_panel.cancel_button, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=5000)
    assert time.monotonic() - t0 < 1.0
    done = int(m.fitted.sum()) + len(window._model_failed)
    assert 2 <= done < N
    assert "cancelled" in window.model_panel.batch_label.text()
    # the frames not run keep their previous (default) values
    not_run = [i for i in range(N) if not m.fitted[i] and i not in window._model_failed]
    assert len(not_run) == N - done and all(m.values["diameterNM"][i] == 100.0 for i in not_run)
    assert window.model_panel.buttons["recipe"].isEnabled() and window.model_panel.batch_button.isEnabled()
    # and a new batch may start now
    monkeypatch.setattr(recipe, "fit_frame", real)
    window.fit_all_frames()
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=20000)
    assert m.fitted.sum() >= N - 1


def test_another_dataset_cancels_the_batch_and_its_frames_are_not_stored(window, qtbot, monkeypatch):
    """The batch reads the session's current stack: after a dataset change, frames still in
    flight come from the new dataset and must not land in the old dataset's results."""
    real = recipe.fit_frame

    def slow(*args, **kwargs):
        time.sleep(0.15)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe, "fit_frame", slow)
    m = window.session.model
    events = []
    m.on_change = lambda frames: events.append(list(frames))
    window.fit_all_frames()
    qtbot.waitUntil(lambda: len(events) >= 1, timeout=10000)
    window.session.select_stack("/entry_1/image_1/mask_shared")  # one frame: frames 1… do not exist there
    after = len(events)
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=5000)
    assert len(events) == after  # nothing applied after the switch
    assert "cancelled" in window.model_panel.batch_label.text()


def test_screenshot(window, qtbot, tmp_path):
    """The panel and the overlay as a user sees them (kept for the report, not asserted on pixels)."""
    goto(window, qtbot, 1)
    window.set_model_visible(True)
    click_and_wait(window, qtbot, "recipe")
    qtbot.waitUntil(lambda: window.model_overlay.visible and window.model_overlay.image_item.image is not None,
                    timeout=5000)
    qtbot.wait(100)
    out = tmp_path / "model.png"
    assert window.grab().save(str(out))
    assert out.stat().st_size > 10000
    assert isinstance(window.model_dock.widget(), QtWidgets.QScrollArea)


def test_split_and_minima_do_not_make_the_file_unsaved_but_are_saved_with_results(window, qtbot, demo):
    p = window.model_panel
    p.split.setValue(30)
    p.minima.setValue(80)
    assert not window.session.dirty and not window.windowTitle().endswith("*")  # viewer.md §17 check 9
    p.diameter.setValue(42.0)  # a result typed by hand: unsaved
    assert window.session.dirty
    assert window.save()
    with h5py.File(demo, "r") as f:
        model = f[f"{G}/model"]
        assert model["_visibility"][0] == pytest.approx(0.3) and model["_modelMinimaAlpha"][0] == pytest.approx(0.8)
        assert model["diameterNM"][0] == 42.0
