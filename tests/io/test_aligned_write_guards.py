"""AlignedStackWriter guards: never over the input file, a clear error for an unwritable folder
(not masked by the cleanup), the TIFF stack published after its CSV, frame indices in range."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from owlx.errors import DatasetError, FileFormatError, ParameterError
from owlx.io.aligned_write import AlignedStackWriter

h5py = pytest.importorskip("h5py")


def test_the_input_file_is_refused_and_left_unchanged(tmp_path):
    data = tmp_path / "data.h5"
    data.write_bytes(b"the open data file")
    for name, fmt in (("data.h5", None), ("data.h5", "tiff")):
        with pytest.raises(ParameterError, match="is the input file itself"):
            AlignedStackWriter(tmp_path / name, 2, (4, 4), fmt, inputs=[data])
    tif = tmp_path / "data.tif"  # the shifts table of a TIFF output would replace the input too
    with pytest.raises(ParameterError, match="data_shifts.csv is the input file itself"):
        AlignedStackWriter(tif, 2, (4, 4), inputs=str(tmp_path / "data_shifts.csv"))
    assert data.read_bytes() == b"the open data file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]  # no .part file either


def test_a_folder_that_cannot_be_written_gives_a_clear_error(tmp_path):
    (tmp_path / "a_file").write_bytes(b"")
    # the parent is a file: creating the .part fails, and so does its cleanup (ENOTDIR), which
    # formerly escaped as a bare NotADirectoryError instead of the FileFormatError
    for name in ("x.h5", "x.tif"):
        with pytest.raises(FileFormatError, match=r"cannot write '.*a_file/x\..*': .*; choose a writable folder"):
            AlignedStackWriter(tmp_path / "a_file" / name, 2, (4, 4))


def test_a_failing_cleanup_does_not_mask_the_error(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    monkeypatch.setattr(h5py, "File", lambda *a, **k: read_only(Path(a[0])))  # the folder is read-only
    with pytest.raises(FileFormatError, match="Read-only file system.*choose a writable folder"):
        AlignedStackWriter(tmp_path / "x.h5", 2, (4, 4))


def test_tiff_stack_is_published_after_its_csv(tmp_path, monkeypatch):
    pytest.importorskip("tifffile")
    path = tmp_path / "out.tif"
    path.write_bytes(b"an older stack")
    order = []
    real_replace = os.replace

    def replace(src, dst):
        order.append(Path(dst).name)
        if Path(dst).suffix == ".tif":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    w = AlignedStackWriter(path, 2, (3, 3))
    for k in range(2):
        w.write(k, np.full((3, 3), k))
    with pytest.raises(FileFormatError, match="No space left"):
        w.finish([0, 1], 0)
    assert order == ["out_shifts.csv", "out.tif"]  # the stack last
    # the failed stack's table is not left to pass for the older stack's; no .part file remains
    assert path.read_bytes() == b"an older stack"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("suffix", [".h5", ".tif"])
def test_frame_index_outside_the_stack_is_refused(tmp_path, suffix):
    pytest.importorskip("tifffile")
    with AlignedStackWriter(tmp_path / f"out{suffix}", 3, (2, 2)) as w:
        for k in (-1, 3, 10):
            with pytest.raises(DatasetError, match=rf"frame {k} is outside the aligned stack of 3 frames"):
                w.write(k, np.ones((2, 2)))
        assert not w._written.any() and np.isnan(w.shifts).all()  # -1 no longer marks the last frame
        for k in range(3):
            w.write(k, np.full((2, 2), k), shift=(k, k))
        assert w.complete
        w.finish([0, 1, 2], 0)
    assert (tmp_path / f"out{suffix}").exists()
