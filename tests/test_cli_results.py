"""``owlx results``: the rows, keys and values of results.h5 / results.csv / selection.h5 on
Cheetah-like files with known tags and model values (formats.md §2.8, acceptance check 11)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

import owlx
from owlx.cli import main

N, NY, NX = 8, 16, 12
G = "entry_1/image_1"
FAIL = np.array([0, 1, 0, 0, 1, 0, 0, 1], bool)  # frames 1, 4, 7
GOOD = np.array([1, 0, 1, 0, 0, 1, 0, 0], bool)  # frames 0, 2, 5
POSZ = np.array([-3e-5, -2e-5, -1e-5, 0.0, 1e-5, 2e-5, 3e-5, 4e-5])
TWELVE = {"id", "time_s", "time_ns", "run_nr", "diameter", "intensity", "centerx", "centery",
          "injector_posx", "injector_posz", "injector_voltage", "npeaks"}


def diameters(n=N):
    return 30.0 + 2.5 * np.arange(n)


def write_cxi(path, run=164, lcls=True, translation=True, tags=True, pad_model=4):
    """A Cheetah-like hit file: frame i is constant i; ids, LCLS times, peaks, injector data,
    Owl-layout tags (S headings) and model datasets padded by ``pad_model`` entries as Owl did."""
    with h5py.File(path, "w") as f:
        data = np.stack([np.full((NY, NX), i, np.float32) for i in range(N)])
        ds = f.create_dataset(f"{G}/data", data=data, chunks=(1, NY, NX))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        mask = np.zeros((NY, NX), np.uint16)
        mask[0, 0] = 512
        f[f"{G}/mask_shared"] = mask
        ids = [f"LCLS_2014_Apr14_r{run:04d}_1831{i:02d}_f{i:x}".encode() for i in range(N)]
        f["entry_1/experiment_identifier"] = np.array(ids)
        if lcls:
            f["LCLS/machineTime"] = np.arange(N, dtype=np.uint32) + 1397500000
            f["LCLS/machineTimeNanoSeconds"] = np.arange(N, dtype=np.int32) * 1000
            f["cheetah/event_data/peakNpix"] = np.arange(N, dtype=np.int64) * 3
            f["entry_1/sample_1/injection_1/voltage"] = 4000.0 + np.arange(N)
        if translation:
            t = np.zeros((N, 3))
            t[:, 0] = 1e-6 * np.arange(N)
            t[:, 2] = POSZ
            f["entry_1/sample_1/geometry_1/translation"] = t
        if tags:
            t = f.create_dataset(f"{G}/tags", data=np.stack([FAIL, GOOD]).astype(np.int8),
                                 chunks=(1, N), maxshape=(None, None))
            t.attrs["axes"] = np.array([b"tag:experiment_identifier"])
            t.attrs["headings"] = np.array([b"fail", b"good"])
            t.attrs["colors"] = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
        m = f"{G}/model/"
        pad = np.full(pad_model, 100.0)
        f[m + "diameterNM"] = np.concatenate([diameters(), pad])
        f[m + "intensityMJUM2"] = np.concatenate([1.0 + 0.5 * np.arange(N), pad])
        f[m + "offCenterX"] = np.concatenate([np.arange(N) - 3.0, pad])
        f[m + "offCenterY"] = np.concatenate([2.0 - np.arange(N), pad])
        f[m + "fitError"] = np.concatenate([0.1 * np.arange(N), pad])
        f[m + "detectorPixelSizeUM"] = np.array([75.0])
        f[m + "detectorDistanceMM"] = np.array([1000.0])
    return path


@pytest.fixture
def cxi(tmp_path):
    return write_cxi(tmp_path / "r0164.cxi")


def read_h5(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exclude_fail_writes_exactly_the_untagged_rows(cxi, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["results", str(cxi), "-o", str(out), "--results", "--exclude", "fail"]) == 0
    res = read_h5(out / "results.h5")
    keep = np.flatnonzero(~FAIL)  # 0, 2, 3, 5, 6
    assert set(res) == TWELVE
    assert all(v.shape == (keep.size,) for v in res.values())
    assert [i.decode() for i in res["id"]] == [f"LCLS_2014_Apr14_r0164_1831{i:02d}_f{i:x}" for i in keep]
    assert res["id"].dtype.kind == "S"
    np.testing.assert_array_equal(res["run_nr"], 164)
    np.testing.assert_array_equal(res["time_s"], 1397500000 + keep)
    np.testing.assert_array_equal(res["time_ns"], 1000 * keep)
    np.testing.assert_array_equal(res["npeaks"], 3 * keep)
    np.testing.assert_array_equal(res["diameter"], diameters()[keep])
    np.testing.assert_array_equal(res["intensity"], 1.0 + 0.5 * keep)
    np.testing.assert_array_equal(res["injector_posx"], 1e-6 * keep)
    np.testing.assert_array_equal(res["injector_posz"], POSZ[keep])
    np.testing.assert_array_equal(res["injector_voltage"], 4000.0 + keep)
    # the file's own geometry (75 µm, 1000 mm), no offsets
    np.testing.assert_allclose(res["centerx"], np.arctan((keep - 3.0) * 0.075 / 1000) * 1000, rtol=1e-12)
    np.testing.assert_allclose(res["centery"], np.arctan((2.0 - keep) * 0.075 / 1000) * 1000, rtol=1e-12)
    assert res["centerx"][0] == pytest.approx(-0.225, rel=1e-6)  # atan(-3·75e-6/1) in mrad
    rows = read_csv(out / "results.csv")
    assert [int(r["frame"]) for r in rows] == keep.tolist()
    assert {r["file"] for r in rows} == {"r0164.cxi"}
    assert [float(r["diameter"]) for r in rows] == diameters()[keep].tolist()
    assert rows[1]["id"] == "LCLS_2014_Apr14_r0164_183102_f2"
    assert "diameter: min 30, mean" in capsys.readouterr().out


def test_cxic9714_geometry_reproduces_the_papers_centre_angles(cxi, tmp_path):
    assert main(["results", str(cxi), "-o", str(tmp_path), "--results", "--cxic9714"]) == 0
    res = read_h5(tmp_path / "results.h5")
    off = np.arange(N) - 3.0
    np.testing.assert_allclose(res["centerx"], np.arctan(off * 110e-3 / 2400) * 1000 + 0.7, rtol=1e-12)
    assert res["centery"][0] == pytest.approx(math.atan(2.0 * 0.11 / 2400) * 1000 + 0.6, rel=1e-12)


def test_poszmin_poszmax_select_by_translation_column_2(cxi, tmp_path):
    out = tmp_path / "z"
    assert main(["results", str(cxi), "-o", str(out), "--results", "--poszmin", "-1e-5", "--poszmax", "2e-5"]) == 0
    res = read_h5(out / "results.h5")
    np.testing.assert_array_equal(res["injector_posz"], POSZ[2:6])  # inclusive at both ends
    np.testing.assert_array_equal(res["diameter"], diameters()[2:6])
    # combined with the tag filter, and a lower bound alone
    assert main(["results", str(cxi), "-o", str(out), "--results", "--exclude", "fail", "--poszmin", "0"]) == 0
    res = read_h5(out / "results.h5")
    np.testing.assert_array_equal(res["injector_posz"], POSZ[[3, 5, 6]])


def test_include_and_a_tag_in_no_file(cxi, tmp_path, capsys):
    assert main(["results", str(cxi), "-o", str(tmp_path), "--results", "--include", "good"]) == 0
    assert read_h5(tmp_path / "results.h5")["diameter"].tolist() == diameters()[GOOD].tolist()
    out = tmp_path / "typo"
    assert main(["results", str(cxi), "-o", str(out), "--results", "--exclude", "fial"]) == 2
    assert "'fial' is in no input file (tags: fail, good)" in capsys.readouterr().err
    assert not out.exists()


def test_missing_datasets_are_named_and_skipped(tmp_path, capsys):
    path = write_cxi(tmp_path / "bare.cxi", lcls=False, translation=False, tags=False)
    assert main(["results", str(path), "-o", str(tmp_path), "--results", "--exclude", "fail",
                 "--include", "fail"]) == 2  # the tags are in no file
    capsys.readouterr()
    assert main(["results", str(path), "-o", str(tmp_path), "--results"]) == 0
    text = capsys.readouterr().out
    for name in ("/LCLS/machineTime", "/LCLS/machineTimeNanoSeconds", "/cheetah/event_data/peakNpix",
                 "/entry_1/sample_1/injection_1/voltage", "/entry_1/sample_1/geometry_1/translation"):
        assert name in text
    assert "not written: time_s, time_ns, injector_posx, injector_posz, injector_voltage, npeaks" in text
    res = read_h5(tmp_path / "results.h5")
    assert set(res) == {"id", "run_nr", "diameter", "intensity", "centerx", "centery"}
    np.testing.assert_array_equal(res["diameter"], diameters())
    # a range on a value no file holds is an error, not an empty result
    assert main(["results", str(path), "-o", str(tmp_path), "--results", "--poszmin", "0"]) == 2


def test_files_concatenate_in_order_and_gaps_are_nan(cxi, tmp_path, capsys):
    other = write_cxi(tmp_path / "r0170.cxi", run=170, translation=False)
    assert main(["results", str(cxi), str(other), "-o", str(tmp_path), "--results", "--exclude", "fail"]) == 0
    res = read_h5(tmp_path / "results.h5")
    keep = np.flatnonzero(~FAIL)
    np.testing.assert_array_equal(res["run_nr"], [164] * keep.size + [170] * keep.size)
    np.testing.assert_array_equal(res["diameter"], np.tile(diameters()[keep], 2))
    assert np.isnan(res["injector_posz"][keep.size:]).all()
    np.testing.assert_array_equal(res["injector_posz"][:keep.size], POSZ[keep])
    assert "r0170.cxi: missing /entry_1/sample_1/geometry_1/translation" in capsys.readouterr().out
    rows = read_csv(tmp_path / "results.csv")
    assert [r["file"] for r in rows] == ["r0164.cxi"] * keep.size + ["r0170.cxi"] * keep.size


def test_sidecar_tags_and_model_are_merged(cxi, tmp_path):
    s = owlx.open(str(cxi))
    s.tag("fail", 0)  # a new fail in the sidecar only
    report = s.save_to_sidecar()
    s.close()
    side = diameters() + 1000.0  # a model dataset in the sidecar wins over the data file's (§2.7)
    with h5py.File(report.path, "a") as f:
        f[f"/{G}/model/diameterNM"] = side
    assert main(["results", str(cxi), "-o", str(tmp_path), "--results", "--exclude", "fail"]) == 0
    res = read_h5(tmp_path / "results.h5")
    np.testing.assert_array_equal(res["diameter"], side[[2, 3, 5, 6]])
    np.testing.assert_array_equal(res["intensity"], 1.0 + 0.5 * np.array([2, 3, 5, 6]))


def test_selection_by_frames_and_tags_writes_images(cxi, tmp_path):
    out = tmp_path / "sel"
    assert main(["results", str(cxi), "-o", str(out), "--selection", "--frames", "1,3:6", "--exclude", "fail"]) == 0
    with h5py.File(out / "selection.h5", "r") as f:
        frames = f["frame"][()]
        np.testing.assert_array_equal(frames, [3, 5])  # 1, 3, 4, 5 minus the fail-tagged 1 and 4
        data = f["data/data"][()]
        assert data.shape == (2, NY, NX) and data.dtype == np.float32
        np.testing.assert_array_equal(data[:, 0, 0], [3, 5])
        assert f["data/data"].attrs["axes"][0] == b"experiment_identifier:y:x"
        assert f["data/mask"][1, 0, 0] == 512 and f["data/mask"][1, 1, 1] == 0
        np.testing.assert_array_equal(f["diameter"][()], diameters()[[3, 5]])
        assert f.attrs["source_files"][0].decode().endswith("r0164.cxi")
    # owlx opens the selection like any CXI file
    s = owlx.open(str(out / "selection.h5"))
    assert s.n_frames == 2 and float(s.frame(1)[4, 4]) == 5.0
    assert not s.valid_mask(0)[0, 0]
    s.close()


def test_nothing_to_write_is_an_error(cxi, tmp_path, capsys):
    assert main(["results", str(cxi), "-o", str(tmp_path)]) == 2
    assert "--results and/or --selection" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "missing.cxi"), "-o", str(tmp_path), "--results"]) == 2


MINIMAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cxidb" / "minimal.cxi"


def test_the_minimal_cxi_file_has_nothing_to_export_but_does_not_crash(tmp_path, capsys):
    if not MINIMAL.exists():
        pytest.skip("shared test data not available")
    assert main(["results", str(MINIMAL), "-o", str(tmp_path), "--results", "--selection"]) == 0
    out = capsys.readouterr().out
    assert "/entry_1/experiment_identifier" in out and "/entry_1/data_1/model/diameterNM" in out
    assert "keys (none)" in out
    with h5py.File(tmp_path / "results.h5", "r") as f:
        assert list(f) == []
    with h5py.File(tmp_path / "selection.h5", "r") as f, h5py.File(MINIMAL, "r") as src:
        np.testing.assert_array_equal(f["data/data"][0], src["entry_1/data_1/data"][()])
