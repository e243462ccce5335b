"""pytest-qt: the "FIB-SEM registration" panel previews a frame pair and registers a small
synthetic .dat stack as a job, plotting the shifts and the metrics."""

import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from fibsem_synthetic import drift_stack, to_int16

from owlx.io.fibsem_dat import write_dat

TITLE = "FIB-SEM registration"
N = 8


@pytest.fixture
def fib_window(plugin_window, tmp_path):
    folder = tmp_path / "fib"
    folder.mkdir()
    frames, steps = drift_stack(N, (160, 160), sigma=1.2, noise=0.3, seed=9)
    for k, f in enumerate(to_int16(frames)):
        write_dat(str(folder / f"Merlin_21-06-18_{k:06d}_0-0-0.dat"), f, PixelSize=5.0, WD=4.0 - 1e-5 * k)
    assert plugin_window.open_path(str(folder), wait=True)
    assert plugin_window.session.n_frames == N
    return plugin_window, steps


def test_panel_registers_the_stack_as_a_job_and_plots_shifts(fib_window, open_panel, qtbot, tmp_path):
    w, steps = fib_window
    panel = open_panel(w, TITLE)
    assert panel.controls.preset.currentText() == "fast"  # the batch default preset
    panel.controls.preset.setCurrentText("reference")
    panel.controls.matcher.setCurrentText("bf")
    panel.controls.model.setCurrentText("Shift")
    for spin, v in zip(panel.controls.box, (12, 136, 12, 136)):
        spin.setValue(v)
    assert not panel.controls.stop_box[0].isEnabled()
    panel.controls.sliding.setChecked(True)  # metrics box: (12, 136, 12, 136) → (20, 120, 28, 120)
    for spin, v in zip(panel.controls.stop_box, (20, 120, 28, 120)):
        spin.setValue(v)
    panel.controls.output.setText(str(tmp_path / "reg.mrc"))
    panel.controls.cache.setText(str(tmp_path / "kp"))
    assert panel.controls.xlsx.isEnabled()
    panel.controls.xlsx.setChecked(True)
    seen = []
    w.jobs.jobs_changed.connect(lambda: seen.append(len(w.jobs.active)))
    job = panel.register()
    assert job is not None and not panel.register_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.run is not None, timeout=60000)
    assert max(seen) >= 1  # it ran through the window's job runner
    run = panel.run
    err = run.registration.steps[:, :2, 2] - steps[:, :2, 2]
    assert np.sqrt((err ** 2).sum(axis=1).mean()) < 0.05
    x, y = panel.plots.shift_x.getData()
    assert list(x) == list(range(N)) and np.allclose(y, run.registration.cumulative[:, 0, 2])
    sx, sy = panel.plots.step_x.getData()
    assert len(sx) == N - 1 and np.allclose(sy, run.registration.steps[:, 0, 2])
    mx, my = panel.plots.metric_curves["ncc"].getData()
    assert len(mx) == N - 1 and np.all(my > 0.8)
    assert panel.progress.value() == panel.progress.maximum()
    assert panel.register_button.isEnabled() and panel.export_button.isEnabled()
    with mrcfile.open(tmp_path / "reg.mrc", permissive=True) as m:
        assert m.data.shape[0] == N
    written = panel.export(str(tmp_path / "tables"))
    assert len(written) == 6 and all(Path(p).stat().st_size > 0 for p in written)
    assert run.settings.sliding_evaluation_box and run.evaluation_boxes[:, 1].tolist()[::N - 1] == [136, 120]
    assert len(list((tmp_path / "kp").glob("*.kp.npz"))) == N and run.keypoint_cache == str(tmp_path / "kp")
    import openpyxl

    assert openpyxl.load_workbook(tmp_path / "reg_registration.xlsx").sheetnames[0] == "Orig. Transformation Matrix"
    assert panel.xlsx_button.isEnabled()
    book = openpyxl.load_workbook(panel.export_xlsx(str(tmp_path / "book.xlsx")))
    assert book["Cum. Transformation Matrix"].cell(N + 1, 4).value == pytest.approx(run.registration.cumulative[-1, 0, 2],
                                                                                    rel=1e-15)


def test_xlsx_is_disabled_with_a_hint_without_openpyxl(plugin_window, open_panel, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as if openpyxl were not installed
    panel = open_panel(plugin_window, TITLE)
    for widget in (panel.controls.xlsx, panel.xlsx_button):
        assert not widget.isEnabled() and "pip install owlx[xlsx]" in widget.toolTip()


def test_preview_draws_the_matches_of_a_pair(fib_window, open_panel, qtbot):
    w, steps = fib_window
    panel = open_panel(w, TITLE)
    w.session.frame_index = 2
    panel.controls.preset.setCurrentText("reference")
    panel.preview()
    qtbot.waitUntil(lambda: panel.pair is not None, timeout=30000)
    p = panel.pair
    assert (p.i, p.j) == (2, 3) and p.fit.ok
    assert np.abs(p.fit.matrix[:2, 2] - steps[2, :2, 2]).max() < 0.2  # RegularizedAffine, corner origin
    ctx = w.plugin_contexts[TITLE]
    assert ctx.overlays["matches"].n_lines == p.inliers.sum() > 20
    assert ctx.overlays["rejected"].n_lines == (~p.inliers).sum()
    _, counts = panel.plots.residual_x.getData()
    assert counts.sum() == p.fit.npts
    w.session.frame_index = 4  # another frame: the matches are hidden
    assert not ctx.overlays["matches"].points.isVisible()


def test_cancel_stops_the_registration(fib_window, open_panel, qtbot):
    w, _ = fib_window
    panel = open_panel(w, TITLE)
    panel.controls.preset.setCurrentText("reference")
    job = panel.register()
    panel.cancel()
    qtbot.waitUntil(lambda: panel.jobs.job is None, timeout=60000)
    assert job.cancelled and panel.run is None and "cancelled" in panel.info.text()


def test_register_refuses_to_write_over_the_open_file(plugin_window, open_panel, tmp_path):
    """The output field naming the open (MRC) stack itself is a user error, not a truncated file."""
    frames, _ = drift_stack(3, (32, 32), sigma=1.2, noise=0.3, seed=9)
    path = tmp_path / "stack.mrc"
    with mrcfile.new(path) as m:
        m.set_data(to_int16(frames))
    before = path.read_bytes()
    assert plugin_window.open_path(str(path), wait=True)
    panel = open_panel(plugin_window, TITLE)
    panel.controls.output.setText(str(path))
    assert panel.register() is None
    assert "input file itself" in panel.info.text() and panel.jobs.job is None
    assert path.read_bytes() == before


def test_registration_reads_the_stack_it_started_on(fib_window, open_panel):
    """The frames of a run are those of the stack shown when it started, even after a switch."""
    w, _ = fib_window
    panel = open_panel(w, TITLE)
    frames = panel._frames()
    first = frames.frame(1).copy()
    shown = w.session.stack
    w.session.stack = None  # what a dataset switch does to the session's current stack
    try:
        assert np.array_equal(frames.frame(1), first) and len(frames) == N
    finally:
        w.session.stack = shown
