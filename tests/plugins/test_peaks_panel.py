"""The peaks plugin: its jobs and exports headless, and the "Peak finding" panel with pytest-qt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from owlx.errors import DatasetError
from owlx.jobs import run_inline
from owlx.session import Session

SKUED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "skued"


def ewald_data():
    tifffile = pytest.importorskip("tifffile")
    path, mpath = SKUED / "ewald_walkoff.tif", SKUED / "ewald_walkoff_mask.tif"
    if not path.exists() or not mpath.exists():
        pytest.skip("shared/data/skued is not available")
    return tifffile.imread(path), tifffile.imread(mpath) != 0  # mask: 255 = valid


def lattice_stack(n=4, size=96, seed=0):
    """Frames of one spot pattern drifting by known integer shifts, and those shifts."""
    rng = np.random.default_rng(seed)
    r, c = np.indices((size + 20, size + 20))
    base = sum(np.exp(-((r - pr) ** 2 + (c - pc) ** 2) / 8.0) for pr, pc in rng.uniform(5, size + 15, (40, 2)))
    shifts = [(0, 0), (2, -3), (-4, 1), (3, 3)][:n]
    frames = np.stack([base[10 - dr:10 - dr + size, 10 - dc:10 - dc + size] for dr, dc in shifts])
    return frames, np.array(shifts)


def test_plugin_is_registered_without_qt():
    import owlx_peaks

    assert owlx_peaks.plugin.name == "peaks"
    assert owlx_peaks.plugin.panels[0].title == "Peak finding"


def test_jobs_and_exports_headless(tmp_path):
    import h5py
    import tifffile
    from owlx_peaks.export import export_azimuthal, export_peaks
    from owlx_peaks.peak_jobs import (
        FrameReader,
        align_stack_job,
        azimuthal_job,
        mask_job,
        peaks_job,
    )

    frames, shifts = lattice_stack()
    session = Session()
    session.show(frames)
    reader = FrameReader(session)

    res = run_inline(peaks_job(reader, 0, "persistence", centre=(48.0, 48.0), prominence=0.3)).value
    assert len(res.peaks) >= 10 and np.all(res.intensity > 0.3)
    export_peaks(res, tmp_path / "peaks.csv")
    table = np.genfromtxt(tmp_path / "peaks.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["row"], res.peaks[:, 0])
    np.testing.assert_allclose(table["prominence"], res.prominence)
    export_peaks(res, tmp_path / "peaks.h5")
    with h5py.File(tmp_path / "peaks.h5", "r") as f:
        np.testing.assert_allclose(f["peaks/peaks"][()], res.peaks)
        assert f["peaks"].attrs["centre_row"] == 48.0

    radius, average, count = run_inline(azimuthal_job(reader, 0, (48.0, 48.0))).value
    export_azimuthal(radius, average, count, (48.0, 48.0), 0, tmp_path / "az.csv")
    back = np.genfromtxt(tmp_path / "az.csv", delimiter=",", names=True)
    np.testing.assert_allclose(back["average"], average)

    aligned = run_inline(align_stack_job(reader, range(len(frames)), 0, output=tmp_path / "aligned.h5")).value
    np.testing.assert_array_equal(aligned.shifts, -shifts)  # frame k(u) = frame 0(u − shift_k)
    assert aligned.files == [(tmp_path / "aligned.h5").resolve()]
    with h5py.File(tmp_path / "aligned.h5", "r") as f:
        data = f["aligned/data"][()]
        assert data.shape == frames.shape and data.dtype == np.float32
        np.testing.assert_array_equal(f["aligned/shifts"][()], -shifts)
        np.testing.assert_array_equal(f["aligned/frames"][()], np.arange(len(frames)))
    np.testing.assert_allclose(data[1][10:-10, 10:-10], frames[0][10:-10, 10:-10], atol=1e-6)
    tif = run_inline(align_stack_job(reader, range(len(frames)), 0, output=tmp_path / "aligned.tif")).value
    np.testing.assert_array_equal(tifffile.imread(tif.files[0]), data)
    assert tif.files[1].read_text().startswith("frame,shift_row,shift_col,quality")
    shifts_only = run_inline(align_stack_job(reader, range(len(frames)), 0)).value
    assert shifts_only.files == [] and np.array_equal(shifts_only.shifts, -shifts)

    valid = run_inline(mask_job(reader, range(len(frames)), px_thresh=(0, 0.9))).value
    assert valid.shape == frames.shape[1:] and (~valid).sum() == (frames.max(axis=0) > 0.9).sum()


def test_session_accepts_an_array_mask():
    session = Session()
    session.show(np.ones((3, 8, 9)))
    seen = []
    session.mask_changed.connect(lambda settings: seen.append(settings))
    valid = np.ones((8, 9), dtype=bool)
    valid[2, 3] = False
    session.set_mask_array(valid)
    np.testing.assert_array_equal(session.valid_mask(1), valid)
    assert len(seen) == 1
    session.set_mask_array(None)
    assert session.valid_mask() is None
    with pytest.raises(DatasetError):
        session.set_mask_array(np.ones((4, 4), dtype=bool))


# -- the panel ------------------------------------------------------------------------------------

def test_panel_finds_peaks_as_a_job_and_draws_them(plugin_window, qtbot, open_panel, tmp_path):
    panel = open_panel(plugin_window, "Peak finding")
    panel.method.setCurrentText("persistence")
    panel.prominence.setValue(float(np.percentile(plugin_window.session.frame().astype(float), 99)) * 0.05)
    panel.find_button.click()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=30000)
    n = len(panel.result.peaks)
    assert n > 0 and panel.table.rowCount() == n
    overlays = plugin_window.plugin_contexts["peaks"].overlays
    assert overlays["peaks"].n_circles == n and overlays["peaks"].visible
    assert overlays["centre"].n_points == 1  # the centre found on the way is drawn too
    row0 = float(panel.table.item(0, 0).text())
    assert row0 == pytest.approx(panel.result.peaks[0, 0], abs=0.01)
    panel.export_peaks(str(tmp_path / "p.csv"))
    assert (tmp_path / "p.csv").read_text().count("\n") == n + 1
    # another frame hides the circles (they belong to this one); coming back shows them again
    found_on = plugin_window.session.frame_index
    plugin_window.session.frame_index = found_on + 1
    assert overlays["peaks"].n_circles == 0
    plugin_window.session.frame_index = found_on
    assert overlays["peaks"].n_circles == n


def test_panel_on_ewald_walkoff_centre_peaks_and_tools(plugin_window, qtbot, open_panel, tmp_path):
    image, mask = ewald_data()
    session = plugin_window.session
    session.show(image, name="ewald_walkoff")
    session.set_mask_array(mask)
    panel = open_panel(plugin_window, "Peak finding")
    panel.centre_button.click()
    qtbot.waitUntil(lambda: panel.centre is not None, timeout=30000)
    assert np.hypot(*(panel.centre - (323, 135))) < 1.0
    panel.method.setCurrentText("autocorrelation")
    panel.find_button.click()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=30000)
    assert 60 <= len(panel.result.peaks) <= 120
    assert plugin_window.plugin_contexts["peaks"].overlays["peaks"].n_circles == len(panel.result.peaks)

    panel.azimuthal.button.click()
    qtbot.waitUntil(lambda: panel.azimuthal.result is not None, timeout=30000)
    _, average, count, _, _ = panel.azimuthal.result
    assert count.sum() == mask.sum() and np.all(np.isfinite(average))
    panel.azimuthal.export(str(tmp_path / "az.h5"))

    panel.symmetrise.mod.setValue(2)  # Friedel symmetry: a 2-fold average changes the pattern little
    panel.symmetrise.button.click()
    qtbot.waitUntil(lambda: panel.symmetrise.image is not None, timeout=30000)
    assert panel.symmetrise.image.shape == image.shape


def test_panel_aligns_the_stack_and_builds_a_session_mask(plugin_window, qtbot, open_panel, tmp_path):
    import h5py

    frames, shifts = lattice_stack()
    session = plugin_window.session
    session.show(frames, name="drift")
    panel = open_panel(plugin_window, "Peak finding")
    panel.align.output.setText(str(tmp_path / "aligned.h5"))
    panel.align.button.click()
    qtbot.waitUntil(lambda: panel.align.result is not None, timeout=30000)
    np.testing.assert_array_equal(panel.align.result.shifts, -shifts)
    with h5py.File(tmp_path / "aligned.h5", "r") as f:
        assert f["aligned/data"].shape == frames.shape
    assert not (tmp_path / "aligned.h5.part").exists()

    panel.mask.high.setValue(0.9)
    panel.mask.button.click()
    qtbot.waitUntil(lambda: panel.mask.valid is not None, timeout=30000)
    panel.mask.use.click()
    np.testing.assert_array_equal(session.valid_mask(), frames.max(axis=0) <= 0.9)
