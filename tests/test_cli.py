"""The ``owlx`` command: ``info`` prints the tree; bad input prints one line, exits non-zero,
and shows no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from owlx.cli import main
from owlx.demo import make_demo_file


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("demo") / "demo.cxi", n_frames=6, size=128, seed=3)


def run_owlx(*args, env=None):
    """``python -m owlx ARGS`` in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "owlx", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})},
        timeout=120,
    )


def test_info_prints_tree_shapes_and_stacks(demo_file, capsys):
    assert main(["info", str(demo_file)]) == 0
    out = capsys.readouterr().out
    assert "entry_1" in out and "image_1" in out
    line = next(l for l in out.splitlines() if l.strip().startswith("data") and "float32" in l)
    assert "(6×128×128)" in line and "stack, N = 6" in line
    assert "hit_score" in out


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda d: d / "missing.cxi", "missing.cxi"),
        (lambda d: (d / "notes.xyz").write_text("x") and d / "notes.xyz", "notes.xyz"),
        (lambda d: (d / "cut.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64)) and d / "cut.h5", "cut.h5"),
        (lambda d: (d / "bad.edf").write_bytes(b"{\nDim_1 = 4 ;\nDataType = Nonsense ;\n") and d / "bad.edf", "bad.edf"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, make, expect):
    path = make(tmp_path)
    proc = run_owlx("info", path)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("owlx: error:") and expect in lines[0]
    assert "Traceback" not in proc.stderr


def test_gui_refuses_a_non_image_dataset_with_one_line(tmp_path):
    path = tmp_path / "values.h5"
    with h5py.File(path, "w") as f:
        f["scalars"] = np.arange(5.0)
    proc = run_owlx(f"{path}::/scalars", "--fresh", "--screenshot", tmp_path / "s.png")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "scalars" in proc.stderr


def test_screenshot_of_a_file_is_written(tmp_path, demo_file):
    png = tmp_path / "shot.png"
    proc = run_owlx(demo_file, "--fresh", "--screenshot", png)
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 10_000


def test_version():
    proc = run_owlx("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("owlx ")
