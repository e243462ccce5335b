"""The polar plugin without Qt: frame sets in view order, the jobs on the demo file, export."""

import csv
import dataclasses
import json
import threading

import h5py
import numpy as np
import pytest
from owlx_polar import PANEL_TITLE, plugin
from owlx_polar.export import export_csv, export_hdf5
from owlx_polar.frame_sets import frame_set, frame_set_choices
from owlx_polar.polar_jobs import FrameReader, centre_job, correlation_job, preview_job

import owlx
from owlx.core.polar_analysis import PolarSettings
from owlx.core.ring_center import fit_ring_center
from owlx.errors import FileFormatError, JobCancelled, ParameterError
from owlx.jobs import run_inline


@pytest.fixture
def session(demo_file):
    s = owlx.open(str(demo_file))
    yield s
    s.close()


def settings_for(s, **changes) -> PolarSettings:
    g = s.geometry
    base = PolarSettings(center_xy=(130.2, 123.9), r_min=6, r_max=110, n_phi=120, band_lo=40, band_hi=50, deg=6,
                         wavelength_m=g.wavelength_m, distance_m=g.distance_m, pixel_size_m=g.pixel_size_m,
                         n_cos_bins=40)
    return dataclasses.replace(base, **changes)


def test_the_plugin_object_and_its_panel():
    assert plugin.name == "polar" and plugin.version == owlx.__version__
    assert [p.title for p in plugin.panels] == [PANEL_TITLE]


def test_frame_sets_follow_the_view_order(session):
    s = session
    s.set_sort("/entry_1/image_1/hit_score")
    s.add_range_filter("/entry_1/image_1/hit_score", lo=float(np.median(s.per_frame("/entry_1/image_1/hit_score"))))
    score = s.per_frame("/entry_1/image_1/hit_score")
    everything = frame_set(s, "all")
    assert sorted(everything.tolist()) == list(range(s.n_frames))
    assert np.all(np.diff(score[everything]) <= 0)  # descending, as the sort
    selection = frame_set(s, "selection")
    assert np.array_equal(selection, s.order) and 0 < len(selection) < s.n_frames
    tag = s.tags.add("good")
    s.tags.set_frames(tag, [everything[-1], everything[0], everything[5]], True)
    assert frame_set(s, "tag:good").tolist() == [everything[0], everything[5], everything[-1]]
    keys = [k for k, _ in frame_set_choices(s)]
    assert keys == ["selection", "tag:good", "all"]
    with pytest.raises(ParameterError):
        frame_set(s, "tag:missing")


def test_centre_and_preview_jobs(session):
    reader = FrameReader(session)
    fit = run_inline(centre_job(reader, 3, (128, 124, 60), 12, 300)).value
    direct = fit_ring_center(session.frame(3), (128, 124, 60), 12, 300, mask=session.valid_mask(3))
    assert (fit.x, fit.y, fit.r) == (direct.x, direct.y, direct.r)
    assert session.valid_mask(3) is not None and not session.valid_mask(3).all()
    prev = run_inline(preview_job(reader, 3, settings_for(session))).value
    assert prev.polar.shape == (104, 120) and prev.radii[0] == 6
    assert not prev.polar_mask.all()  # the detector gap and the beamstop are masked
    assert np.all(np.isfinite(prev.radial)) and prev.radial[0] > prev.radial[-1]


def test_correlation_job_streams_progress_and_cancels(session):
    reader = FrameReader(session)
    frames = frame_set(session, "all")
    seen = []
    job = correlation_job(reader, frames, settings_for(session))
    out = run_inline(job, on_progress=lambda d, t: seen.append((d, t)))
    res = out.value
    n = len(frames)
    assert seen[0] == (0, n + 1) and seen[-1] == (n + 1, n + 1)
    assert res.corr.shape == (10, 120) and not np.isnan(res.corr).any()
    assert res.pairs.shape == (n // 2, 2) and np.array_equal(res.frames, frames)
    assert res.q is not None and np.isfinite(res.cos_mean).sum() > 10
    job = correlation_job(reader, frames, settings_for(session))
    job.cancel()
    assert run_inline(job).status == "cancelled"
    with pytest.raises(JobCancelled):
        job.token.check()
    with pytest.raises(ParameterError):
        correlation_job(reader, [], settings_for(session))


def test_export_hdf5_and_csv_read_back(session, tmp_path):
    res = run_inline(correlation_job(FrameReader(session), frame_set(session, "all"), settings_for(session))).value
    h5 = export_hdf5(res, tmp_path / "corr.h5")
    with h5py.File(h5, "r") as f:
        g = f["polar_correlation"]
        np.testing.assert_array_equal(g["corr"][...], res.corr)
        np.testing.assert_array_equal(g["pairs"][...], res.pairs)
        np.testing.assert_array_equal(g["radius_px"][...], np.arange(40, 50))
        assert g["q_per_m"].shape == (10,) and g["cos_psi"].shape == (40,)
        assert json.loads(g.attrs["settings"])["band_lo"] == 40
        assert g.attrs["center_x_px"] == pytest.approx(130.2)
    with pytest.raises(FileFormatError):
        export_hdf5(res, h5)  # never overwrites a result already there
    written = export_csv(res, tmp_path / "corr.csv")
    assert [p.name for p in written] == ["corr.csv", "corr_cos_psi.csv"]
    with open(written[0]) as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["dphi_deg", "r_40px"] and len(rows) == 121 and len(rows[0]) == 11
    np.testing.assert_allclose(float(rows[2][0]), 3.0)
    np.testing.assert_allclose([float(v) for v in rows[1][1:]], res.corr[:, 0], rtol=1e-9)
    cos = np.loadtxt(written[1], delimiter=",", skiprows=1)
    assert cos.shape == (40, 2)


def test_reader_reads_under_the_session_io_lock(session):
    """Jobs read on worker threads; a save holds io_lock while it closes and reopens the file."""
    reader = FrameReader(session)
    got = []
    with session.io_lock:
        worker = threading.Thread(target=lambda: got.append((reader.frame(2), reader.mask(2))))
        worker.start()
        worker.join(0.3)
        assert worker.is_alive() and not got  # waits for the lock
    worker.join(10)
    frame, mask = got[0]
    np.testing.assert_array_equal(frame, session.frame(2))
    np.testing.assert_array_equal(mask, session.valid_mask(2))
