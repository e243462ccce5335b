"""Stack alignment refuses to write into the file it reads: the job (headless) and the Align tab."""

from __future__ import annotations

import numpy as np
import pytest

from owlx.errors import ParameterError
from owlx.jobs import run_inline
from owlx.session import Session

h5py = pytest.importorskip("h5py")


def test_align_job_refuses_the_open_file(tmp_path):
    from owlx_peaks.peak_jobs import FrameReader, align_stack_job

    path = tmp_path / "stack.npy"
    np.save(path, np.random.default_rng(0).normal(size=(3, 16, 16)))
    before = path.read_bytes()
    session = Session()
    session.open(str(path))
    reader = FrameReader(session)
    assert reader.files and all(f.endswith("stack.npy") for f in reader.files)
    (tmp_path / "link.npy").symlink_to(path)
    for output in (path, str(path), tmp_path / "link.npy"):
        with pytest.raises(ParameterError, match="is the input file itself; choose another output file"):
            align_stack_job(reader, range(3), 0, output=output, fmt="hdf5")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npy", "stack.npy"]
    # explicit inputs replace the reader's files; another output is written as before
    with pytest.raises(ParameterError):
        align_stack_job(reader, range(3), 0, output=tmp_path / "raw.h5", inputs=[tmp_path / "raw.h5"])
    done = run_inline(align_stack_job(reader, range(3), 0, output=tmp_path / "aligned.h5"))
    assert done.ok and done.value.files == [(tmp_path / "aligned.h5").resolve()]
    assert path.read_bytes() == before
    session.close()


def test_align_tab_refuses_the_open_file(plugin_window, open_panel):
    panel = open_panel(plugin_window, "Peak finding")
    source = plugin_window.session.source.path
    with open(source, "rb") as f:
        before = f.read()
    panel.align.run(output=str(source))
    assert panel.align.jobs.job is None and panel.align.result is None  # nothing started
    assert "is the input file itself; choose another output file" in panel.info.text()
    with open(source, "rb") as f:
        assert f.read() == before
