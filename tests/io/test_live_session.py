"""Live follow without the GUI: a writer process grows an SWMR file while a session follows it
(viewer.md V1, V3; formats.md §1.9 and §7 check 16)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import owlx
from owlx.patterson_results import attach_patterson
from owlx.session_live import follow_once

HERE = Path(__file__).resolve().parent
START, END = 10, 20


@pytest.fixture
def writer(tmp_path):
    """Start the writer; yields (file path, go-file path, process)."""
    path, go = tmp_path / "live.cxi", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, str(HERE / "swmr_writer_helper.py"), str(path), str(START), str(END),
                             "0.05", str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    yield path, go, proc
    proc.kill()
    proc.wait(10)


def test_session_follows_a_growing_file_without_shrinking_or_reading_ahead(writer):
    path, go, proc = writer
    s = owlx.open(str(path), swmr=True)
    attach_patterson(s)
    assert s.source.swmr and s.n_frames == START
    s.set_sort("/entry_1/image_1/hit_score", descending=False)
    fail = s.tags.add("fail")
    s.tags.set_frames(fail, [3], True)
    go.touch()
    seen = [s.n_frames]
    deadline = time.monotonic() + 20
    while s.n_frames < END and time.monotonic() < deadline:
        follow_once(s)
        seen.append(s.n_frames)
        time.sleep(0.03)
    assert s.n_frames == END
    assert seen == sorted(seen)  # N never decreases
    assert s.stack.shape == (END, 16, 24)
    np.testing.assert_array_equal(s.order, np.arange(END))  # ascending hit score = file order
    np.testing.assert_array_equal(s.per_frame("/entry_1/image_1/hit_score"), 10.0 * np.arange(END))
    assert s.tags.n_frames == END and s.tags.has(fail, 3) and not s.tags.members[:, START:].any()
    assert s.patterson.n_frames == END
    assert s.frame(END - 1)[0, 0] == END - 1
    with pytest.raises(IndexError):
        s.stack[END]  # nothing at or beyond N is read
    proc.wait(20)
    report = s.save()  # live: never into the file being written (V3)
    assert report.target == "sidecar" and report.path.endswith("live.cxi.owlx.h5")
    s.close()
