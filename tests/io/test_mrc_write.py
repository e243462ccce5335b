"""MRC stack writer (spec/fibsem.md §9 "MRC output")."""

import mrcfile
import numpy as np
import pytest

from owlx.errors import DatasetError
from owlx.io.mrc import MrcSource
from owlx.io.mrc_write import UNSIGNED_MODE0_LABEL, MrcStackWriter


@pytest.mark.parametrize("dtype, mode", [(np.int16, 1), (np.uint16, 6), (np.float32, 2), (np.uint8, 0)])
def test_every_slice_written_with_voxel_size_and_mode(tmp_path, dtype, mode):
    data = (np.arange(3 * 4 * 5) % 200).astype(dtype).reshape(3, 4, 5)
    path = tmp_path / "out.mrc"
    with MrcStackWriter(path, data.shape, dtype, voxel_size=(80.0, 80.0, 120.0), labels=("test run",)) as w:
        for z in (2, 0, 1):  # any order
            w.write(z, data[z])
        assert w.complete
    with mrcfile.open(path, permissive=True) as m:
        assert int(m.header.mode) == mode and m.data.shape == (3, 4, 5)
        assert (float(m.voxel_size.x), float(m.voxel_size.z)) == (80.0, 120.0)
        labels = [bytes(m.header.label[k]).decode().strip() for k in range(int(m.header.nlabl))]
        assert "test run" in labels
        assert (UNSIGNED_MODE0_LABEL in labels) == (mode == 0)
    with MrcSource(str(path), mode0_unsigned=True) as s:
        assert np.array_equal(s.stack()[2], data[2])  # the last slice is written


def test_wrong_slice_shape_and_dtype_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="supports uint8, int16"):
        MrcStackWriter(tmp_path / "a.mrc", (1, 2, 2), np.float64)
    with MrcStackWriter(tmp_path / "b.mrc", (1, 2, 2)) as w, pytest.raises(DatasetError, match="does not fit"):
        w.write(0, np.zeros((3, 2)))


def test_header_statistics_match_mrcfile_and_need_no_final_pass(tmp_path):
    data = np.random.default_rng(1).integers(-300, 900, (4, 6, 7)).astype(np.int16)
    path = tmp_path / "s.mrc"
    with MrcStackWriter(path, data.shape, np.int16) as w:
        for z in range(4):
            w.write(z, data[z])
    with mrcfile.open(path, mode="r+", permissive=True) as m:
        ours = [float(m.header.dmin), float(m.header.dmax), float(m.header.dmean), float(m.header.rms)]
        m.update_header_stats()
        theirs = [float(m.header.dmin), float(m.header.dmax), float(m.header.dmean), float(m.header.rms)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours[:2] == [float(data.min()), float(data.max())]


def test_a_failed_or_cancelled_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    path = tmp_path / "out.mrc"
    path.write_bytes(b"the previous result")
    with pytest.raises(RuntimeError, match="cancelled"):
        with MrcStackWriter(path, (3, 4, 4), np.int16) as w:
            w.write(0, np.ones((4, 4)))
            assert (tmp_path / "out.mrc.part").exists() and path.read_bytes() == b"the previous result"
            raise RuntimeError("cancelled")
    assert path.read_bytes() == b"the previous result"
    assert not (tmp_path / "out.mrc.part").exists()
    with MrcStackWriter(path, (1, 4, 4), np.int16) as w:
        w.write(0, np.full((4, 4), 7))
    with mrcfile.open(path, permissive=True) as m:  # a normal close replaces it
        assert int(m.data[0, 0, 0]) == 7
    with MrcStackWriter(path, (2, 4, 4), np.int16) as w, pytest.raises(DatasetError, match="outside"):
        w.write(2, np.zeros((4, 4)))
