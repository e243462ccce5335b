"""XSVS runs end to end: the job, missing exposures, outputs, cancel and `owlx xsvs`
(spec/xsvs.md §2.2, §11, §16.2, §16.10, §16.11). Frames per exposure are capped for speed; the
Exp_1 numbers are checked on all its frames in tests/io/test_xsvs_project.py."""

import csv
import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from owlx.cli import main as owlx_main
from owlx.core.xsvs_analysis import ExposureResult, XsvsSettings
from owlx.io.xsvs_project import read_project
from owlx.jobs import run_inline
from owlx.xsvs import XsvsSetup, load_results, xsvs_job

XSVS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pyxsvs" / "examples" / "analysis" / "xsvs"
RING_FIELDS = ("histogramBins", "histogram", "histStdDev", "overflow", "trace", "fit_bins", "q/value", "M/value",
               "M/stddev", "K/value", "K/stddev", "beta/value", "beta/stddev", "R-1/value", "R-1/stddev")


@pytest.fixture
def inputs():
    if not (XSVS / "xsvs_input.txt").is_file():
        pytest.skip("the pyxsvs example data (../shared/data/pyxsvs) is not available")
    return XSVS


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_full_input_reports_missing_exposures_and_writes_every_field(inputs, tmp_path):
    ini = inputs / "xsvs_input.txt"
    before = digest(ini)
    streamed = []
    out = tmp_path / "res.h5"
    outcome = run_inline(xsvs_job(read_project(ini), XsvsSettings(), output=str(out), max_frames=6),
                         on_result=streamed.append)
    assert outcome.status == "done"
    run = outcome.value
    assert isinstance(streamed[0], XsvsSetup)
    assert [e.name for e in streamed[1:]] == [f"Exp_{i}" for i in range(1, 9)]
    status = {e.name: (e.status, e.n_missing, e.n_frames) for e in run.exposures}
    assert status["Exp_6"] == ("missing", 360, 0) and status["Exp_7"] == ("missing", 360, 0)
    assert status["Exp_1"] == ("ok", 0, 6)
    assert sum(1 for e in run.exposures if e.rings) == 6
    assert any("Exp_6" in w for w in run.warnings)
    assert digest(ini) == before  # the input file is never written
    with h5py.File(out, "r") as f:
        root = f["/xsvs"]
        assert root.attrs["histogram_mode"] == "exact" and root.attrs["center_convention"] == "pyxsvs_1based"
        assert root.attrs["input_ini"] == ini.read_text()
        assert root["geometry/ring_npix"][()].tolist() == [553, 1012, 1477, 1918, 2376, 2817, 3279, 3720, 4181]
        assert root["geometry/ring_masks"].shape == (9, 256, 256)
        assert root["exposures/Exp_6"].attrs["status"] == "missing"
        exp1 = root["exposures/Exp_1"]
        assert exp1.attrs["expTime"] == 5e-5 and exp1.attrs["n_frames"] == 6 and exp1["static"].shape == (256, 256)
        for j in range(9):
            for name in RING_FIELDS:
                assert name in exp1[f"q{j:03d}"], (j, name)
        assert exp1["q001/trace"].shape == (6,)
    loaded = load_results(out)
    assert set(loaded) == {f"Exp_{i}" for i in range(1, 9)} and loaded["Exp_7"]["data"] == {}
    q = loaded["Exp_2"]["data"]["q003"]
    assert set(q) >= {"histogramBins", "histogram", "histStdDev", "trace", "q", "M", "K", "beta", "R-1"}
    ring = run.exposures[1].rings[3]
    assert q["beta"] == {"value": ring.beta, "stddev": ring.beta_stddev}
    assert np.array_equal(q["histogram"], ring.histogram)
    with open(tmp_path / "res_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 * 9
    assert float(rows[10]["beta"]) == pytest.approx(run.exposures[1].rings[1].beta, rel=1e-15)


def test_compat_records_the_centre_convention_it_used(inputs, tmp_path):
    """Compat reads cenx/ceny 1-based whatever the project says; the file must say so too."""
    project = read_project(inputs / "xsvs_input_subset.txt", center_convention="zero_based")
    project.exposures = project.exposures[:1]
    out = tmp_path / "compat.h5"
    assert run_inline(xsvs_job(project, XsvsSettings.compat(), output=str(out), max_frames=2)).ok
    with h5py.File(out, "r") as f:
        a = f["/xsvs"].attrs
        assert a["center_convention"] == "pyxsvs_1based"
        assert (a["row0"], a["col0"]) == pytest.approx((118.31 - 1, 125.01 - 1), abs=1e-12)
        assert (a["cenx"], a["ceny"]) == (125.01, 118.31)
        assert f["/xsvs/geometry/ring_npix"][:2].tolist() == [553, 1012]  # the 1-based rings


def test_cancel_stops_the_run_and_writes_nothing(inputs, tmp_path):
    job = xsvs_job(read_project(inputs / "xsvs_input_subset.txt"), output=str(tmp_path / "res.h5"), max_frames=4)

    def on_result(item):
        if isinstance(item, ExposureResult):
            job.cancel()

    got = []
    outcome = run_inline(job, on_result=lambda r: (got.append(r), on_result(r)))
    assert outcome.status == "cancelled"
    assert sum(isinstance(r, ExposureResult) for r in got) == 1
    assert not (tmp_path / "res.h5").exists()


def test_owlx_xsvs_command(inputs, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    code = owlx_main(["xsvs", str(inputs / "xsvs_input_subset.txt"), "-o", str(out), "--compat", "--max-frames",
                      "5", "--histogram-csv", str(tmp_path / "h.csv")])
    assert code == 0
    text = capsys.readouterr()
    assert "Exp_8: t_e = 0.0064 s, 5 frames" in text.out
    assert "xsvs [" in text.err
    res = load_results(out)
    assert list(res) == ["Exp_1", "Exp_2", "Exp_3", "Exp_4", "Exp_5", "Exp_8"]
    with h5py.File(out, "r") as f:
        assert bool(f["/xsvs"].attrs["pyxsvs_compat"]) and "overflow" not in f["/xsvs/exposures/Exp_1/q000"]
    with open(tmp_path / "h.csv") as f:
        assert len(list(csv.reader(f))) == 1 + 6 * 9 * 19
    assert owlx_main(["xsvs", str(tmp_path / "nothing.ini"), "-o", str(out)]) == 2


def test_default_outputs_go_to_the_save_dir(inputs, tmp_path, capsys):
    analysis = (inputs / "..").resolve()
    text = (inputs / "xsvs_input_subset.txt").read_text()
    text = text.replace("save dir = ./", f"save dir = {tmp_path / 'out'}/")
    text = text.replace("data dir = ../../data/xsvs-series/", f"data dir = {analysis.parent / 'data' / 'xsvs-series'}/")
    text = text.replace("= ../", f"= {analysis}/")
    ini = tmp_path / "proj.ini"
    ini.write_text(text)
    (tmp_path / "out").mkdir()
    assert owlx_main(["xsvs", str(ini), "--max-frames", "3"]) == 0
    assert (tmp_path / "out" / "SiD_1-1_40C_xsvs_results.h5").is_file()
    assert (tmp_path / "out" / "SiD_1-1_40C_xsvs_summary.csv").is_file()
    assert owlx_main(["xsvs", str(ini), "-o", str(tmp_path / "nowhere" / "r.h5")]) == 2
    assert "choose another file with -o" in capsys.readouterr().err
