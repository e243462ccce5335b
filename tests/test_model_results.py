"""ModelResults, sizing jobs, run_on_dask and `owlx fit` (formats.md §7 checks 5, 6, 8; sphere.md §5)."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

import owlx
from owlx.cli import main
from owlx.core.sphere_records import SphereFitResult
from owlx.demo import make_demo_file
from owlx.jobs import CancelToken, run_inline
from owlx.model_results import ModelResults
from owlx.sizing import sizing_job

G = "/entry_1/image_1"


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _plain_file(path, n, model=None):
    """A CXI-like file with an (n, 8, 8) stack and optional model datasets {name: (data, kw)}."""
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/data", shape=(n, 8, 8), dtype=np.float32, chunks=(1, 8, 8))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        for name, (data, kw) in (model or {}).items():
            f.create_dataset(G + "/model/" + name, data=data, **kw)
    return path


def _record(frame, d=55.0):
    return SphereFitResult(frame=frame, center_x=1.5, center_y=-2.0, diameter_nm=d, fluence_mJ_um2=3.0,
                           mask_radius_px=120.0, error_ref=0.25, pcov_ref=[0.1, 0.2, 4e-20, 1e6],
                           stderr_diameter_nm=0.3)


def test_owl_padded_file_check5(tmp_path):
    n = 12345
    old = np.arange(20000, dtype=np.float64)
    path = _plain_file(tmp_path / "owl.cxi", n, {
        "diameterNM": (old, dict(chunks=(10000,), maxshape=(None,)))})
    s = owlx.open(str(path))
    assert s.model is not None and s.model.n_frames == n
    np.testing.assert_array_equal(s.model.values["diameterNM"], old[:n])
    s.model.apply(_record(5))
    s.results_edited()
    assert s.dirty
    report = s.save()
    assert report.target == "data"
    s.close()
    with h5py.File(path) as f:
        ds = f[G + "/model/diameterNM"]
        assert ds.shape == (20000,)
        assert ds[5] == 55.0
        np.testing.assert_array_equal(np.delete(ds[:], 5), np.delete(old, 5))
        np.testing.assert_array_equal(ds[12345:], old[12345:])
        assert ds.attrs["numEvents"].tolist() == [n]


def test_new_model_datasets_check6(tmp_path):
    n = 30
    path = _plain_file(tmp_path / "new.cxi", n)
    s = owlx.open(str(path))
    s.model.apply(_record(3))
    s.model.set_general("materialType", "poliovirus")
    s.save()
    s.close()
    with h5py.File(path) as f:
        ds = f[G + "/model/diameterNM"]
        assert ds.shape == (n,) and ds.dtype == np.float64
        assert ds.chunks == (10000,) and ds.maxshape == (None,)
        assert ds.attrs["axes"].tolist() == [b"experiment_identifier"] and ds.attrs["axes"].dtype == "S21"
        assert ds.attrs["numEvents"].dtype == np.int64 and ds.attrs["numEvents"].tolist() == [n]
        assert ds[3] == 55.0 and ds[0] == 100.0  # Owl's default elsewhere
        mt = f[G + "/model/materialType"]
        assert mt.shape == (1,) and mt.dtype == "S32" and mt[0] == b"virus"  # a key Owl accepts
        own = f[G + "/model/owlx_materialType"]
        assert own.shape == (1,) and own.dtype == "S32" and own[0] == b"poliovirus"
        assert f[G + "/model/fitErrorDiameterNM"][3] == pytest.approx(4e-20 / 1e-9)
        assert f[G + "/model/owlx_stderrDiameterNM"][3] == 0.3
    # read back on open
    s = owlx.open(str(path))
    assert s.model.values["diameterNM"][3] == 55.0 and s.model.fitted[3] and not s.model.fitted[0]
    assert s.model.general["materialType"] == "poliovirus"


def test_string_too_long_goes_to_sidecar_check8(tmp_path):
    path = _plain_file(tmp_path / "s5.cxi", 10, {
        "materialType": (np.array([b"water"], dtype="S5"), {}),
        "_fitIntensityMethod": (np.array([b"simple"], dtype="S6"), {})})
    before = _sha(path)
    s = owlx.open(str(path))
    assert s.model.general["_fitIntensityMethod"] == "nrphotons"  # old name read as nrphotons
    s.model.set_general("materialType", "poliovirus")  # Owl's 'virus' fits the S5
    s.model.set_general("_fitIntensityMethod", "pixelwise")  # does not fit the S6
    s.model.apply(_record(2))
    report = s.save()
    assert report.target == "sidecar"
    assert "_fitIntensityMethod" in report.reason and "S6" in report.reason
    assert _sha(path) == before
    with h5py.File(report.path) as f:
        assert f[G + "/model/_fitIntensityMethod"][0] == b"pixelwise"
        assert f[G + "/model/diameterNM"][2] == 55.0
    s.close()
    s = owlx.open(str(path))  # the sidecar's values win on open
    assert s.model.general["materialType"] == "poliovirus" and s.model.general["_fitIntensityMethod"] == "pixelwise"
    assert s.model.values["diameterNM"][2] == 55.0


def test_failed_record_keeps_values_nan_fit_error(tmp_path):
    m = ModelResults(G, 4)
    m.apply(_record(1))
    m.apply(SphereFitResult.failed(1, "boom"))
    assert m.values["diameterNM"][1] == 55.0 and np.isnan(m.values["fitError"][1])


def test_settings_precedence(tmp_path):
    demo = make_demo_file(tmp_path / "demo.cxi", n_frames=2, size=64, seed=1)
    s = owlx.open(str(demo))
    values, origin = s.model.setting_values()
    assert origin["photonWavelengthNM"] == "file" and origin["detectorADUPhoton"] == "file"
    assert values["detectorDistanceMM"] == pytest.approx(2400.0)
    assert origin["materialType"] == "seed" and values["materialType"] == "poliovirus"
    s.close()
    with h5py.File(demo, "a") as f:
        f[G + "/model/detectorDistanceMM"] = np.array([1500.0])
        f[G + "/model/detectorADUPhoton"] = np.array([7.0])
    s = owlx.open(str(demo))
    st = s.model.fit_settings()
    assert st.distance_m == pytest.approx(1.5) and st.adu_per_photon == 7.0


@pytest.fixture(scope="module")
def demo6(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("fit") / "demo.cxi", n_frames=6, size=256, seed=1)


def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    return dst


def test_owlx_fit_inline_vs_dask(demo6, tmp_path, capsys):
    a, b = _copy(demo6, tmp_path / "a.cxi"), _copy(demo6, tmp_path / "b.cxi")
    assert main(["fit", str(a), "--inline"]) == 0
    assert "6 ok, 0 failed" in capsys.readouterr().out
    assert main(["fit", str(b), "--workers", "2"]) == 0
    assert "6 ok, 0 failed" in capsys.readouterr().out
    with h5py.File(a) as fa, h5py.File(b) as fb:
        da, db = fa[G + "/model/diameterNM"][:], fb[G + "/model/diameterNM"][:]
        np.testing.assert_array_equal(da, db)
        truth = fa[G + "/truth/diameter_nm"][:]
        kind = fa[G + "/truth/kind"][:]
        assert fa[G + "/model/detectorADUPhoton"][0] == 10.0
    # clean spheres whose first minimum lies on a 256² detector (d ≳ 35 nm at this geometry)
    clean = (kind == b"sphere") & (truth > 35)
    assert clean.sum() >= 3
    np.testing.assert_allclose(da[clean], truth[clean], rtol=0.03)


def test_owlx_fit_errors(demo6, tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.cxi")]) != 0
    assert main(["fit", str(demo6), "--frames", "99"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "frame" in err


def test_cancel_keeps_completed_frames(demo6, tmp_path):
    path = _copy(demo6, tmp_path / "c.cxi")
    s = owlx.open(str(path))
    job = sizing_job(s, None)
    seen = []

    def on_result(rec):
        seen.append(rec.frame)
        if len(seen) == 2:
            job.cancel()

    out = run_inline(job, on_result=on_result)
    assert out.status == "cancelled" and out.value.cancelled and out.value.n_ok == 2
    assert out.value.n_not_run == 4
    s.close()
    with h5py.File(path) as f:
        fit_error = f[G + "/model/fitError"][:]
    assert np.isfinite(fit_error[seen]).all()
    assert np.isnan(np.delete(fit_error, seen)).all()


def test_flush_every_n_frames(demo6, tmp_path):
    path = _copy(demo6, tmp_path / "f.cxi")
    job = sizing_job(str(path), [0, 1, 4], flush_frames=1)
    out = run_inline(job)
    assert out.ok and len(job.saves) >= 3  # one per frame (+ the final one when dirty)
    assert not job.session.dirty


def test_run_on_dask_cancel():
    from distributed import Client, LocalCluster

    from owlx.jobs import run_on_dask
    from owlx.errors import JobCancelled

    token = CancelToken()
    got = []

    def on_result(pair):
        got.append(pair)
        token.cancel()

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
            Client(cl) as client:
        with pytest.raises(JobCancelled):
            run_on_dask(_slow_square, range(20), client=client, on_result=on_result, cancel=token)
        assert 1 <= len(got) < 20 and got[0][1] == got[0][0] ** 2
        assert run_on_dask(_slow_square, [3], client=client) == 1


def _slow_square(x):
    import time

    time.sleep(0.05)
    return x * x


def test_dask_workers_apply_the_mask_dataset_the_session_uses(tmp_path, monkeypatch):
    """Workers open the file themselves: they must read the mask the session shows, and an
    in-memory mask (which cannot reach them) is refused before the job starts."""
    from owlx import sizing
    from owlx.errors import OwlxError

    path = _plain_file(tmp_path / "m.cxi", 2)
    other = np.zeros((8, 8), np.uint16)
    other[:, :3] = 1  # bit 0x1: invalid
    with h5py.File(path, "a") as f:
        f.create_dataset(G + "/mask_shared", data=np.zeros((8, 8), np.uint16))
        f.create_dataset(G + "/other_mask", data=other)
    seen = []

    def fake_fit_batch(frames, load, settings, on_result=None, start=None):
        seen.extend(load(i)[1] for i in frames)

    monkeypatch.setattr(sizing, "fit_batch", fake_fit_batch)
    sizing.fit_frames_from_file(str(path), G + "/data", [0], None, mask=(1, False))
    sizing.fit_frames_from_file(str(path), G + "/data", [0], None, mask=(1, False, G + "/other_mask"))
    assert seen[0].all() and int(seen[1].sum()) == 8 * 5
    s = owlx.open(str(path))
    s.set_mask_dataset(G + "/other_mask")
    assert sizing._dask_mask(s) == (int(s.mask_settings.out_bits), bool(s.mask_settings.invert), G + "/other_mask")
    s.set_mask_array(np.ones((8, 8), bool))
    with pytest.raises(OwlxError, match="in memory"):
        sizing_job(s, None, n_workers=1)
    s.close()
