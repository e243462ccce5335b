"""The scripting API of the session (owlx.session_api, owlx.sphere_table): stacks, frames in view
order, tags by name, sphere results as arrays, fitting and saving — in a plain Python process
without Qt."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import owlx
from owlx.core.sphere_recipe import fit_frame
from owlx.demo import make_demo_file
from owlx.errors import OwlxError, ParameterError
from owlx.jobs import Job, run_inline
from owlx.session import Session
from owlx.session_api import frame_indices
from owlx.sphere_table import SphereTable
from owlx.tags import TagError

G = "/entry_1/image_1"


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("api") / "demo.cxi", n_frames=6, size=128, seed=1)


@pytest.fixture
def demo(demo_master, tmp_path):
    return shutil.copy(demo_master, tmp_path / "demo.cxi")


def test_the_api_on_the_demo_file_without_qt(demo):
    """A fresh interpreter: open, list, read, sort, tag, fit, save and reopen; Qt never loads."""
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import owlx
        s = owlx.open({str(demo)!r})
        out = {{"stacks": s.stacks(), "shape": list(s.read_frames([0, 5]).shape)}}
        s.set_sort("/entry_1/image_1/hit_score")
        out["order"] = [i for i, _ in s.frames()]
        out["changed"] = s.tag("fail", [1, 3])
        out["fail"] = s.tagged("fail").tolist()
        rec = s.fit(2)
        out["rec"] = [rec.status, rec.diameter_nm]
        summary = s.fit([0, 4], progress=lambda done, total: None)
        out["n_ok"] = summary.n_ok
        t = s.results()
        out["fitted"] = np.flatnonzero(t.fitted).tolist()
        out["d2"] = float(t.diameter_nm[2])
        out["target"] = s.save().target
        s.close()
        s = owlx.open({str(demo)!r})
        out["reopened"] = [s.tagged("fail").tolist(), float(s.results().diameter_nm[2])]
        out["qt"] = sorted(m for m in sys.modules if m.split(".")[0] in ("PyQt5", "pyqtgraph", "qtconsole"))
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["qt"] == []
    assert out["stacks"] == ["/entry_1/image_1/data", "/entry_1/image_1/mask_shared"]
    assert out["shape"] == [2, 128, 128]
    with h5py.File(demo, "r") as f:
        score = f[G + "/hit_score"][()]
    assert out["order"] == np.argsort(-score, kind="stable").tolist()  # view order = sorted, descending
    assert out["changed"] == 2 and out["fail"] == [1, 3]
    assert out["rec"][0] == "ok" and out["n_ok"] == 2
    assert out["fitted"] == [0, 2, 4]
    assert out["d2"] == out["rec"][1]
    assert out["target"] == "data"
    assert out["reopened"] == [[1, 3], out["rec"][1]]


def test_fit_one_frame_is_the_recipe_on_that_frame(demo):
    s = owlx.open(str(demo))
    settings = s.model.fit_settings()  # model/ > file geometry > seed, as fit() takes them
    rec = s.fit(2)
    ref = fit_frame(np.array(s.frame(2)), s.valid_mask(2), settings, frame=2)
    assert rec.frame == 2 and rec.diameter_nm == ref.diameter_nm and rec.fluence_mJ_um2 == ref.fluence_mJ_um2
    t = s.results()
    assert t.diameter_nm[2] == rec.diameter_nm and t.intensity_mJ_um2[2] == rec.fluence_mJ_um2
    assert (t.center_x_px[2], t.center_y_px[2]) == (rec.center_x, rec.center_y)
    assert t.fit_error[2] == rec.error_ref and t.fitted.tolist() == [False, False, True, False, False, False]
    assert t.diameter_nm[0] == 100.0  # Owl's default for a frame never fitted
    assert s.dirty  # unsaved until save()
    # settings overrides reach the recipe
    rec2 = s.fit(2, refine_iterations=0)
    assert "refine" in rec.stages and "refine" not in rec2.stages
    s.close()


def test_fit_job_is_a_job_with_progress(demo):
    s = owlx.open(str(demo))
    job = s.fit_job([1, 3, 5])
    assert isinstance(job, Job) and job.outcome is None and not s.model.fitted.any()  # not run yet
    steps, records = [], []
    outcome = run_inline(job, on_progress=lambda d, t: steps.append((d, t)), on_result=records.append)
    assert outcome.ok and steps[-1] == (3, 3) and sorted(r.frame for r in records) == [1, 3, 5]
    assert np.flatnonzero(s.results().fitted).tolist() == [1, 3, 5]
    s.close()


def test_a_mistyped_fit_setting_is_a_parameter_error(demo):
    s = owlx.open(str(demo))
    with pytest.raises(ParameterError, match="unknown fit setting diamter_method"):
        s.fit_job(diamter_method="pixelwise")
    s.close()


def test_tags_by_name(demo):
    s = owlx.open(str(demo))
    s.frame_index = 4
    assert s.tag("good") == 1 and s.tagged("good").tolist() == [4]  # default: the selected frame
    assert s.tag("good", np.array([True, False, True, False, False, False])) == 2
    assert s.tagged("good").tolist() == [0, 2, 4]
    assert s.tag("good", [-1, 0], on=False) == 1  # 5 was not set; 0 is cleared
    assert s.tagged("good").tolist() == [2, 4]
    assert s.tag_names() == ("good",)
    s.tag("fail", [2, 3])
    assert s.frames_with_tags(include=["good"], exclude=["fail"]).tolist() == [4]
    with pytest.raises(TagError, match="no tag named 'nope'"):
        s.tag("nope", 1, on=False)
    with pytest.raises(TagError):
        s.tagged("nope")
    with pytest.raises(ParameterError, match="frame 6 does not exist"):
        s.tag("good", 6)
    assert s.tags.undo() and s.tagged("fail").size == 0  # one undo step per call
    s.close()


def test_read_frames_follow_the_display_order(demo):
    s = owlx.open(str(demo))
    s.set_sort("/entry_1/image_1/hit_score", descending=False)
    frames = s.read_frames()
    assert frames.shape == (6, 128, 128) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames[0], s.frame(int(s.order[0])))
    np.testing.assert_array_equal(s.read_frames([3])[0], s.frame(3))
    s.close()


def test_frame_indices():
    assert frame_indices(3, 5).tolist() == [3]
    assert frame_indices(None, 5, current=2).tolist() == [2]
    assert frame_indices([4, -1, 0, 4], 5).tolist() == [4, 0]  # -1 is 4: duplicates dropped
    assert frame_indices(np.array([1.0, 2.0]), 5).tolist() == [1, 2]
    assert frame_indices(np.array([0, 1, 1, 0, 1], bool), 5).tolist() == [1, 2, 4]
    for bad in ([5], [-6], np.ones(4, bool), [0.5]):
        with pytest.raises(ParameterError):
            frame_indices(bad, 5)


def test_sphere_table_units_and_csv(tmp_path):
    values = {
        "diameterNM": np.array([40.0, 100.0]), "intensityMJUM2": np.array([2.0, 1.0]),
        "offCenterX": np.array([1.5, 0.0]), "offCenterY": np.array([-2.0, 0.0]),
        "fitError": np.array([0.25, np.nan]), "maskRadius": np.array([300.0, 300.0]),
        # Owl's variance units: m² / 1e-9 and (J/m²)² / 1e9 (formats.md §2.3)
        "fitErrorDiameterNM": np.array([(2e-9) ** 2 / 1e-9, -1.0]),
        "fitErrorIntensityMJUM2": np.array([(0.5e9) ** 2 / 1e9, np.nan]),
        "fitErrorOffCenterX": np.array([0.25, np.nan]), "fitErrorOffCenterY": np.array([0.04, np.nan]),
    }
    t = SphereTable.from_model_values(values)
    assert t.diameter_err_nm[0] == pytest.approx(2.0) and np.isnan(t.diameter_err_nm[1])  # negative → NaN
    assert t.intensity_err_mJ_um2[0] == pytest.approx(0.5)
    assert (t.center_x_err_px[0], t.center_y_err_px[0]) == (0.5, pytest.approx(0.2))
    assert t.fitted.tolist() == [True, False] and t.frame.tolist() == [0, 1]
    assert repr(t) == "<SphereTable: 2 frames, 1 fitted, diameter 40.0 nm median>"
    path = t.to_csv(tmp_path / "t.csv", frames=[0], columns=["frame", "diameter_nm", "fitted"])
    assert Path(path).read_text().splitlines() == ["frame,diameter_nm,fitted", "0,40.0,1"]
    assert len(t.select(np.array([False, True]))) == 1
    with pytest.raises(ParameterError, match="no column"):
        t.to_csv(tmp_path / "x.csv", columns=["size"])


def test_errors_a_script_can_meet():
    s = Session()
    with pytest.raises(OwlxError, match="no file is open"):
        s.stacks()
    with pytest.raises(OwlxError, match="no stack is open"):
        s.results()
    s.show(np.zeros((3, 8, 8), np.float32), name="scratch")
    with pytest.raises(OwlxError, match="need an HDF5 file"):
        s.fit()
    assert s.tag("x", [0, 2]) == 2 and s.tagged("x").tolist() == [0, 2]  # tags work on arrays too


def test_a_script_session_has_the_patterson_parameters_without_the_gui(tmp_path):
    from owlx.demo import make_demo_file

    path = make_demo_file(tmp_path / "p.cxi", n_frames=3, size=64)
    s = owlx.open(str(path))
    assert s.patterson is not None and s.patterson.n_frames == 3
