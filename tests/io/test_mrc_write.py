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
