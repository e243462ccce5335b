"""pytest-qt: the "Polar correlation" panel computes the correlation of the demo frames as a job
and plots it; the centre is drawn on the image, editable, and fitted by a job."""

import numpy as np
from owlx_polar import PANEL_TITLE

from owlx.core.ring_center import fit_ring_center


def prepare(panel):
    c = panel.controls
    c.set_centre(130.2, 123.9, 60)
    c.r_min.setValue(6)
    c.r_max.setValue(110)
    c.n_phi.setValue(120)
    c.band_lo.setValue(40)
    c.band_hi.setValue(48)
    c.deg.setValue(6)


def test_panel_correlates_the_demo_frames_as_a_job_and_plots_it(plugin_window, open_panel, qtbot, tmp_path):
    w = plugin_window
    panel = open_panel(w, PANEL_TITLE)
    prepare(panel)
    assert panel.controls.wavelength_nm.value() > 0  # geometry from the file
    seen = []
    w.jobs.jobs_changed.connect(lambda: seen.append(len(w.jobs.active)))
    job = panel.correlate()
    assert job is not None and not panel.correlate_button.isEnabled()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60000)
    assert max(seen) >= 1  # the job ran through the window's runner (status bar, cancel)
    res = panel.result
    assert res.corr.shape == (8, 120) and not np.isnan(res.corr).any()
    assert len(res.frames) == w.session.n_frames
    image = panel.plots.corr_image.image
    assert image.shape == (8, 120) and np.isfinite(image).all()
    x, y = panel.plots.cos_curve.getData()
    assert len(x) > 10 and np.all((x >= -1) & (x <= 1)) and np.isfinite(y).all()
    rx, _ = panel.plots.radial_mean.getData()
    assert rx[0] == 6
    assert panel.progress.value() == panel.progress.maximum()
    assert panel.correlate_button.isEnabled() and panel.export_h5_button.isEnabled()
    assert panel.export_in_job(str(tmp_path / "corr.csv"), "csv")  # written by a job, not the GUI thread
    qtbot.waitUntil(lambda: (tmp_path / "corr_cos_psi.csv").exists(), timeout=10000)
    assert np.loadtxt(tmp_path / "corr.csv", delimiter=",", skiprows=1).shape == (120, 9)


def test_cancel_stops_the_correlation(plugin_window, open_panel, qtbot):
    panel = open_panel(plugin_window, PANEL_TITLE)
    prepare(panel)
    job = panel.correlate()
    panel.cancel()
    qtbot.waitUntil(lambda: panel.jobs.job is None, timeout=60000)
    assert job.cancelled and panel.result is None
    assert "cancelled" in panel.info.text()


def test_centre_is_drawn_editable_and_fitted(plugin_window, open_panel, qtbot):
    w = plugin_window
    panel = open_panel(w, PANEL_TITLE)
    ctx = w.plugin_contexts["polar"]
    prepare(panel)
    centre = ctx.overlays["centre"]
    assert centre.n_circles == 1 and centre.n_points == 1
    xs, _ = centre.points.getData()
    assert xs[0] == 130.2 + 0.5
    panel.controls.x.setValue(128.0)  # editing moves the drawing
    xs, _ = centre.points.getData()
    assert xs[0] == 128.0 + 0.5
    assert ctx.overlays["band"].n_circles == 2
    w.session.frame_index = 3
    panel.controls.set_centre(128, 124, 60)
    panel.controls.ring_width.setValue(12)
    panel.controls.n_points.setValue(300)
    panel.fit_centre()
    expect = fit_ring_center(w.session.frame(3), (128, 124, 60), 12, 300, mask=w.session.valid_mask(3))
    qtbot.waitUntil(lambda: panel.controls.x.value() != 128.0, timeout=30000)
    x, y, r = panel.controls.centre()
    assert (x, y) == (round(expect.x, 2), round(expect.y, 2)) and r == round(expect.r, 1)
    xs, ys = centre.points.getData()
    assert (xs[0], ys[0]) == (x + 0.5, y + 0.5)
    panel.show_centre.setChecked(False)
    assert not centre.circles.isVisible()


def test_polar_image_of_the_shown_frame(plugin_window, open_panel, qtbot):
    panel = open_panel(plugin_window, PANEL_TITLE)
    prepare(panel)
    panel.compute_preview()
    qtbot.waitUntil(lambda: panel.preview is not None, timeout=30000)
    assert panel.plots.polar_image.image.shape == (104, 120)
    assert panel.preview.index == plugin_window.session.frame_index
