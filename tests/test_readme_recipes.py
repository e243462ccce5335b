"""The console recipes of README.md ("Scripting"), run exactly as written on a file with known
model values and tags, so the README cannot drift from the API."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

import owlx
from owlx.demo import make_demo_file

README = Path(__file__).resolve().parents[1] / "README.md"
G = "entry_1/image_1"
N = 8
FIT_ERROR = np.array([0.10, 0.12, np.nan, 0.11, 0.90, 0.10, 0.13, 2.0])  # median 0.12: fail = 4, 7
DIAMETER = np.array([41.0, 42.5, 100.0, 38.25, 55.0, 47.0, 36.5, 60.0])
INTENSITY = np.array([2.0, 1.5, 1.0, 3.25, 0.5, 2.75, 1.25, 4.0])
D_VAR = (np.arange(N) + 1.0) ** 2 * 1e-18 / 1e-9  # Owl's unit (m²/1e-9): std = frame + 1 nm
GOOD = [0, 2, 3, 5]  # frame 2 was not fitted (NaN fitError)


def recipes() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"<!-- recipe: ([\w-]+) -->\s*```python\n(.*?)```", text, flags=re.DOTALL)
    return dict(found)


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("recipes") / "demo.cxi", n_frames=N, size=64, seed=4)


@pytest.fixture
def console(demo_master, tmp_path, monkeypatch):
    """What the console namespace holds, on a copy of a file with model values and a good tag."""
    path = tmp_path / "run.cxi"
    path.write_bytes(demo_master.read_bytes())
    with h5py.File(path, "a") as f:
        for name, values in (("fitError", FIT_ERROR), ("diameterNM", DIAMETER), ("intensityMJUM2", INTENSITY),
                             ("fitErrorDiameterNM", D_VAR)):
            f[f"{G}/model/{name}"] = values
        tags = f.create_dataset(f"{G}/tags", data=np.isin(np.arange(N), GOOD)[None].astype(np.int8),
                                chunks=(1, N), maxshape=(None, None))
        tags.attrs["axes"] = np.array([b"tag:experiment_identifier"])
        tags.attrs["headings"] = np.array([b"good"])
        tags.attrs["colors"] = np.array([[0, 200, 0]], np.uint8)
    monkeypatch.chdir(tmp_path)
    session = owlx.open(str(path))
    yield {"session": session, "np": np, "owlx": owlx}
    session.close()


def test_the_readme_has_the_three_recipes():
    assert list(recipes()) == ["tag-bad-fits", "plot-diameter-intensity", "export-good-sizes"]


def test_tag_bad_fits(console, tmp_path, capsys):
    exec(recipes()["tag-bad-fits"], console)  # noqa: S102 - running the README is the test
    session = console["session"]
    assert session.tagged("fail").tolist() == [4, 7]
    assert "2 frames tagged 'fail' (fit error > 0.36)" in capsys.readouterr().out
    assert not session.dirty
    with h5py.File(tmp_path / "run.cxi", "r") as f:  # saved into the file
        names = [h.decode() for h in f[f"{G}/tags"].attrs["headings"]]
        assert np.flatnonzero(f[f"{G}/tags"][names.index("fail")]).tolist() == [4, 7]


def test_plot_diameter_intensity(console, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        exec(recipes()["plot-diameter-intensity"], console)  # noqa: S102 - plt.show() does nothing under Agg
        fitted = np.isfinite(FIT_ERROR)
        points = console["ax"].collections[0].get_offsets()
        np.testing.assert_array_equal(points, np.column_stack([DIAMETER[fitted], INTENSITY[fitted]]))
        assert (tmp_path / "diameter_vs_intensity.png").stat().st_size > 1000
    finally:
        plt.close("all")


def test_export_good_sizes(console, tmp_path):
    exec(recipes()["export-good-sizes"], console)  # noqa: S102
    with open(tmp_path / "good_sizes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["frame"]) for r in rows] == [0, 3, 5]
    assert [float(r["diameter_nm"]) for r in rows] == DIAMETER[[0, 3, 5]].tolist()
    assert [float(r["diameter_err_nm"]) for r in rows] == pytest.approx([1.0, 4.0, 6.0])
    assert [float(r["intensity_mJ_um2"]) for r in rows] == INTENSITY[[0, 3, 5]].tolist()


def test_recipes_run_in_sequence(console, tmp_path):
    """As a user would type them one after the other in the same console."""
    pytest.importorskip("matplotlib").use("Agg")
    import matplotlib.pyplot as plt

    try:
        for code in recipes().values():
            exec(code, console)  # noqa: S102
    finally:
        plt.close("all")
    assert console["session"].tagged("fail").tolist() == [4, 7]
    assert (tmp_path / "good_sizes.csv").exists() and (tmp_path / "diameter_vs_intensity.png").exists()
