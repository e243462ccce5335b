"""``owlx tags FILE [--export CSV]``: tags with counts (data file merged with its sidecar), CSV
export, one-line errors."""

import csv
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from owlx.cli import main

G = "/entry_1/image_1"


@pytest.fixture
def tagged(tmp_path):
    path = tmp_path / "run.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/data", data=np.zeros((6, 2, 2), np.uint8))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        t = f.create_dataset(G + "/tags", data=np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]], np.int8),
                             chunks=(1, 10000), maxshape=(None, None))
        t.attrs["headings"] = np.array([b"good", b"fail"])
        t.attrs["colors"] = np.array([[52, 102, 164], [204, 0, 0]], np.uint8)
    with h5py.File(tmp_path / "run.cxi.owlx.h5", "w") as f:  # the sidecar adds a tag
        t = f.create_dataset(G + "/tags", data=np.array([[0, 0, 1, 1, 1, 0]], np.int8))
        t.attrs["headings"] = np.array([b"maybe"])
    return path


def test_lists_tags_with_counts_merged_with_the_sidecar(tagged, capsys):
    assert main(["tags", str(tagged)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{G}/tags: 3 tag(s) over 6 frames; merged with run.cxi.owlx.h5"
    assert out[1].split() == ["1", "good", "#3466a4", "2"]
    assert out[2].split() == ["2", "fail", "#cc0000", "1"]
    assert out[3].split()[1::2] == ["maybe", "3"]


def test_export_writes_frame_index_and_one_column_per_tag(tagged, tmp_path, capsys):
    target = tmp_path / "tags.csv"
    assert main(["tags", f"{tagged}::{G}/data", "--export", str(target)]) == 0
    with open(target, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["frame", "good", "fail", "maybe"]
    assert rows[1] == ["0", "1", "0", "0"] and rows[6] == ["5", "0", "1", "0"] and len(rows) == 7


def test_a_file_without_tags(tmp_path, capsys):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = np.zeros((3, 4, 4))
    assert main(["tags", str(path)]) == 0
    assert "0 tag(s) over 3 frames" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["missing.cxi"], ["{tagged}", "--export", "/nonexistent/dir/t.csv"]])
def test_errors_are_one_line_and_nonzero(tagged, tmp_path, args):
    args = [a.format(tagged=tagged) for a in args]
    proc = subprocess.run([sys.executable, "-m", "owlx", "tags", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("owlx: error:") and "Traceback" not in proc.stderr
