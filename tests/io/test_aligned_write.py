"""AlignedStackWriter: frame-by-frame HDF5/TIFF output, published by rename, nothing left on abort."""

from __future__ import annotations

import json

import numpy as np
import pytest

from owlx.errors import DatasetError, FileFormatError
from owlx.io.aligned_write import AlignedStackWriter

h5py = pytest.importorskip("h5py")


def test_hdf5_frames_in_any_order_then_published(tmp_path):
    path = tmp_path / "out.h5"
    frames = np.arange(3 * 4 * 5, dtype=float).reshape(3, 4, 5) / 7
    with AlignedStackWriter(path, 3, (4, 5)) as w:
        for k in (2, 0, 1):
            w.write(k, frames[k], shift=(k, -k), quality=0.9 + k / 100)
            assert not path.exists()  # only the .part file exists while writing
        assert (tmp_path / "out.h5.part").exists()
        written = w.finish([10, 11, 12], reference=11, source="/entry_1/data_1/data", settings={"order": 3})
    assert written == [path.resolve()] and sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]
    with h5py.File(path, "r") as f:
        g = f["aligned"]
        np.testing.assert_array_equal(g["data"][()], frames.astype(np.float32))
        np.testing.assert_array_equal(g["frames"][()], [10, 11, 12])
        np.testing.assert_array_equal(g["shifts"][()], [[0, 0], [1, -1], [2, -2]])
        np.testing.assert_allclose(g["quality"][()], [0.90, 0.91, 0.92])
        assert g.attrs["reference_frame"] == 11 and json.loads(g.attrs["settings"]) == {"order": 3}
        assert g.attrs["source"] == "/entry_1/data_1/data"


def test_incomplete_or_failed_runs_leave_nothing(tmp_path):
    path = tmp_path / "out.h5"
    w = AlignedStackWriter(path, 3, (4, 4))
    w.write(0, np.ones((4, 4)))
    with pytest.raises(DatasetError, match="2 of 3"):
        w.finish([0, 1, 2], 0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), AlignedStackWriter(path, 2, (4, 4)) as w:
        w.write(0, np.ones((4, 4)))
        raise RuntimeError("cancelled half-way")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DatasetError), AlignedStackWriter(path, 2, (4, 4)) as w:
        w.write(0, np.ones((5, 4)))
    with pytest.raises(FileFormatError):
        AlignedStackWriter(tmp_path / "x.h5", 2, (4, 4), fmt="png")
    with pytest.raises(FileFormatError):
        AlignedStackWriter(tmp_path / "missing" / "x.h5", 2, (4, 4))


def test_tiff_pages_in_order_with_the_shifts_csv(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "out.tif"
    frames = np.random.default_rng(0).normal(size=(3, 6, 7))
    with AlignedStackWriter(path, 3, (6, 7)) as w:
        with pytest.raises(DatasetError, match="in order"):
            w.write(1, frames[1])
        for k in range(3):
            w.write(k, frames[k], shift=(0.5 * k, -0.25), quality=1.0)
        files = w.finish([4, 5, 6], 4)
    assert files == [path.resolve(), (tmp_path / "out_shifts.csv").resolve()]
    np.testing.assert_array_equal(tifffile.imread(path), frames.astype(np.float32))
    table = np.genfromtxt(files[1], delimiter=",", names=True)
    np.testing.assert_array_equal(table["frame"], [4, 5, 6])
    np.testing.assert_array_equal(table["shift_row"], [0.0, 0.5, 1.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out_shifts.csv"]
