"""The XSVS panel: a project from the example .ini or from the open EDF series, run as a job,
rings on the image, the β plot (spec/xsvs.md §12, §16.13). Frames per exposure are capped for
speed; the numbers are checked on full exposures in tests/io/test_xsvs_project.py."""

from pathlib import Path

import numpy as np
import pytest

from owlx.core.xsvs_rings import ring_radii_px

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pyxsvs" / "examples"
SUBSET = DATA / "analysis" / "xsvs" / "xsvs_input_subset.txt"


@pytest.fixture
def panel(plugin_window, open_panel):
    if not SUBSET.is_file():
        pytest.skip("the pyxsvs example data (../shared/data/pyxsvs) is not available")
    return open_panel(plugin_window, "XSVS")


def load(qtbot, panel, path) -> bool:
    """Open a .ini as the panel does (read in a job) and return whether it loaded."""
    with qtbot.waitSignal(panel.project_loaded, timeout=20000) as blocker:
        panel.load_ini(str(path))
    return blocker.args[0]


def wait_finished(qtbot, panel, timeout=20000):
    qtbot.waitUntil(lambda: panel.last_outcome is not None, timeout=timeout)


def test_panel_runs_the_subset_project_and_shows_beta(qtbot, plugin_window, panel):
    assert load(qtbot, panel, SUBSET)
    assert panel.form.table.rowCount() == 6
    rings = plugin_window.plugin_contexts["xsvs"].overlays["rings"]
    assert rings.n_circles == 18  # 9 rings × inner and outer boundary
    panel.form.max_frames.setValue(12)
    panel.run_button.click()
    assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    wait_finished(qtbot, panel)
    assert panel.last_outcome == "done"
    assert [e.name for e in panel.exposures] == ["Exp_1", "Exp_2", "Exp_3", "Exp_4", "Exp_5", "Exp_8"]
    beta = panel.plots.beta
    assert len(beta.points) == 9
    t, b = beta.points[min(beta.points, key=lambda q: abs(q - 0.003))]
    assert t.tolist() == [5e-5, 1e-4, 2e-4, 4e-4, 8e-4, 6.4e-3]
    assert np.all((b > 0) & (b < 1))
    assert len(beta.listDataItems()) == 9
    assert panel.plots.currentWidget().findChild(type(beta)) is beta  # the β tab is the one shown
    assert panel.plots.histogram.n_curves == 0  # hidden tabs are drawn when shown
    panel.plots.setCurrentIndex(0)
    assert panel.plots.histogram.n_curves == 6
    assert panel.progress.value() == panel.progress.maximum() == 6 * 12
    assert panel.save_button.isEnabled()
    panel.form.changed.emit()  # a form edit that does not move the rings keeps the plots
    assert len(beta.listDataItems()) == 9 and panel.plots.histogram.n_curves == 6
    # the P(K) grid: one panel per ring of the chosen exposure; the ring overlay: the run's rings
    panel.plots.exp_choice_grid.setCurrentText("Exp_2")
    panel.plots.setCurrentIndex(4)
    assert panel.plots.grid.exposure_name == "Exp_2" and len(panel.plots.grid.panels) == 9
    panel.plots.setCurrentIndex(5)
    q = np.arange(9) * 0.001 + 0.002
    radii = ring_radii_px(np.column_stack([q - 4e-4, q + 4e-4]).ravel(), 1.53, 0.055, 2140.0)
    np.testing.assert_allclose(panel.plots.rings.radii, radii, rtol=1e-9)
    assert panel.plots.rings.centre == pytest.approx((117.31, 124.01))
    assert panel.plots.rings.image.image.shape == (256, 256)


def test_panel_cancels_a_run(qtbot, panel):
    assert load(qtbot, panel, SUBSET)
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=20000)
    panel.cancel_button.click()
    wait_finished(qtbot, panel, timeout=5000)
    assert panel.last_outcome == "cancelled"
    assert panel.run_button.isEnabled() and not panel.save_button.isEnabled()


def test_panel_builds_a_project_over_the_open_series(qtbot, plugin_window, panel, tmp_path):
    frame = DATA / "data" / "xsvs-series" / "sid1-1_40C_0001.edf.gz"
    assert plugin_window.open_path(str(frame), wait=True)
    qtbot.waitUntil(lambda: getattr(plugin_window.session.source, "numbered", False), timeout=20000)
    assert panel.use_open_series()
    panel.form.table.setRowCount(0)
    panel.form.add_exposure("Exp_1", 1, 8, 5e-5)
    panel.form.add_exposure("Exp_2", 361, 368, 1e-4)
    panel.form.set_geometry(q1=0.002, q2=0.010, qs=0.001, dq=4e-4, wavelength_A=1.53, pix_mm=0.055,
                            sddist_mm=2140, cenx=125.01, ceny=118.31)
    panel.form.convention.setCurrentText("pyxsvs_1based")
    panel.form.mask_path.setText(str(DATA / "analysis" / "mask.edf"))
    panel.form.flat_path.setText(str(DATA / "analysis" / "maxipix1_flatfield_2013.edf"))
    assert panel.start()
    wait_finished(qtbot, panel)
    assert panel.last_outcome == "done"
    assert [r.npix for r in panel.exposures[0].rings] == [553, 1012, 1477, 1918, 2376, 2817, 3279, 3720, 4181]
    assert [e.n_frames for e in panel.exposures] == [8, 8]
    out = tmp_path / "panel.h5"
    assert panel.save_results(str(out))
    qtbot.waitUntil(lambda: (tmp_path / "panel_summary.csv").exists(), timeout=10000)
    assert out.exists()


def test_panel_reports_errors_without_dialogs(qtbot, panel):
    assert not panel.use_open_series()  # the demo CXI file is not an EDF series
    assert not load(qtbot, panel, SUBSET.parent / "no_such.ini")
    assert not panel.start()  # no project yet


def test_panel_finds_the_centre_and_uses_it_only_on_request(qtbot, plugin_window, panel):
    before = SUBSET.read_bytes()
    assert load(qtbot, panel, SUBSET)
    box = panel.centre_finder
    assert box.exposure.count() == 7  # "longest exposure" + 6
    box.exposure.setCurrentText("Exp_8")
    assert not box.use_button.isEnabled()
    assert box.find()
    qtbot.waitUntil(lambda: box.last_outcome is not None, timeout=20000)
    assert box.last_outcome == "done"
    est = box.finding.estimate
    assert abs(est.row0 - 117.81) < 0.3 and abs(est.col0 - 124.51) < 0.3  # pyxsvs's finder, 0-based
    assert "±" in box.result.text() and box.progress.value() > 0
    assert plugin_window.plugin_contexts["xsvs"].overlays["found centre"].n_points == 1
    assert panel.form.fields["cenx"].text() == "125.01"  # not changed until the user asks
    box.use_button.click()
    assert float(panel.form.fields["cenx"].text()) == pytest.approx(est.col0 + 1, abs=1e-3)  # pyxsvs_1based
    assert float(panel.form.fields["ceny"].text()) == pytest.approx(est.row0 + 1, abs=1e-3)
    panel.plots.setCurrentIndex(5)  # the ring overlay follows the form
    assert panel.plots.rings.centre == pytest.approx((est.row0, est.col0), abs=1e-3)
    assert SUBSET.read_bytes() == before
    panel.form.compat.setChecked(True)  # compat: the file's centre, no finding
    assert not box.find_button.isEnabled() and not box.use_button.isEnabled()
    assert "unchanged" in box.result.text() and not box.find()
    panel.form.compat.setChecked(False)  # back to owlx mode: the finding can be used again, and cancelled
    assert box.find_button.isEnabled() and box.use_button.isEnabled()
    box.refine.setChecked(True)
    assert box.find()
    box.cancel_button.click()
    qtbot.waitUntil(lambda: box.last_outcome is not None, timeout=5000)
    assert box.last_outcome == "cancelled" and box.find_button.isEnabled()
    assert box.finding.estimate is est  # the earlier centre is kept
