"""pytest-qt: the FIB-SEM panel's streamed metrics are redrawn by a coalescing timer, a run whose
record cannot be written is kept with a warning, and a series' input/output check runs in the
job."""

import sys
from pathlib import Path

import mrcfile
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from fibsem_synthetic import drift_stack, to_int16
from owlx_fibsem.plots import METRICS

from owlx.io.fibsem_dat import write_dat

TITLE = "FIB-SEM registration"


def test_streamed_metrics_are_coalesced_and_end_in_slice_order(plugin_window, open_panel, qtbot):
    panel = open_panel(plugin_window, TITLE)
    plots = panel.plots
    n = 600
    order = np.random.default_rng(0).permutation(np.arange(1, n + 1))  # workers finish out of order
    value = {int(k): {"ncc": 1.0 / k, "nsad": 2.0 * k, "nmi": 0.5, "frc_bandwidth": 0.1 * k} for k in order}
    before = plots.metric_redraws
    for k in order[: n // 2]:
        panel._event(("metrics", int(k), value[int(k)]))
    assert plots.metric_redraws == before  # nothing drawn on the events themselves
    qtbot.waitUntil(lambda: plots.metric_redraws > before, timeout=2000)
    for k in order[n // 2:]:
        panel._event(("metrics", int(k), value[int(k)]))
        if k % 50 == 0:
            qtbot.wait(1)  # the event loop runs now and then, as in a real run
    qtbot.waitUntil(lambda: not plots._metric_timer.isActive(), timeout=2000)
    redraws = plots.metric_redraws - before
    assert 2 <= redraws <= 10  # ≤ one per 200 ms, not one per event (600)
    x, y = plots.metric_curves["ncc"].getData()
    assert x.tolist() == list(range(1, n + 1))  # every slice, in slice order
    np.testing.assert_allclose(y, 1.0 / np.arange(1, n + 1))
    _, nsad = plots.metric_curves["nsad"].getData()
    np.testing.assert_allclose(nsad, 2.0 * np.arange(1, n + 1))
    assert {key for key, _, _ in METRICS} == set(plots.metric_curves)
    plots.show_metrics([{"slice": 2, "ncc": 0.7}, {"slice": 1, "ncc": 0.9}])  # a finished run: drawn at once
    x, y = plots.metric_curves["ncc"].getData()
    assert x.tolist() == [1.0, 2.0] and y.tolist() == [0.9, 0.7] and not plots._metric_timer.isActive()


def test_unwritten_record_keeps_the_run_and_reports_it(plugin_window, open_panel, qtbot, tmp_path, monkeypatch):
    frames, _ = drift_stack(4, (96, 96), sigma=1.2, noise=0.3, seed=4)
    path = tmp_path / "stack.mrc"
    with mrcfile.new(path) as m:
        m.set_data(to_int16(frames))
    assert plugin_window.open_path(str(path), wait=True)
    panel = open_panel(plugin_window, TITLE)
    errors = []
    monkeypatch.setattr(plugin_window.plugin_contexts[TITLE], "error", errors.append)
    panel.controls.preset.setCurrentText("reference")
    panel.controls.output.setText(str(tmp_path / "reg.mrc"))
    (tmp_path / "reg_registration.h5").mkdir()  # a folder where the record file goes
    assert panel.register() is not None
    qtbot.waitUntil(lambda: panel.jobs.job is None, timeout=60000)
    assert panel.run is not None and panel.run.output == str(tmp_path / "reg.mrc")
    assert panel.export_button.isEnabled() and len(panel.plots.metric_curves["ncc"].getData()[0]) == 3
    assert "warning: the registration record" in panel.info.text()
    assert len(errors) == 1 and errors[0].startswith("registration finished, but the registration record")


def test_series_input_check_runs_in_the_job(plugin_window, open_panel, qtbot, tmp_path):
    """An output named like a slice of the open .dat series: refused, as a failed job."""
    folder = tmp_path / "fib"
    folder.mkdir()
    frames, _ = drift_stack(3, (64, 64), sigma=1.2, noise=0.3, seed=2)
    for k, f in enumerate(to_int16(frames)):
        write_dat(str(folder / f"Merlin_21-06-18_{k:06d}_0-0-0.dat"), f, PixelSize=5.0, WD=4.0 - 1e-5 * k)
    assert plugin_window.open_path(str(folder), wait=True)
    slice_1 = sorted(folder.glob("*.dat"))[1]
    before = slice_1.read_bytes()
    panel = open_panel(plugin_window, TITLE)
    panel.controls.output.setText(str(slice_1))
    job = panel.register()
    assert job is not None  # made at once: the series is not walked on the GUI thread
    qtbot.waitUntil(lambda: panel.jobs.job is None, timeout=30000)
    assert panel.run is None and "input file itself" in panel.info.text()
    assert slice_1.read_bytes() == before
