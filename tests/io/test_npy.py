"""NumPy .npy files."""

from pathlib import Path

import numpy as np
import pytest

from owlx.errors import DatasetError, FileFormatError
from owlx.io.npy import NpySource
from owlx.io.open import open_source
from owlx.io.source import Kind

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


def test_2d_is_one_frame_3d_is_a_stack(tmp_path):
    img = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "img.npy", img)
    with open_source(tmp_path / "img.npy") as s:
        assert isinstance(s, NpySource)
        assert s.node("/entry_1/data_1/data").kind is Kind.IMAGE
        assert len(s.stack()) == 1 and np.array_equal(s.stack()[0], img)
    stack = np.arange(5 * 3 * 4, dtype=np.int16).reshape(5, 3, 4)
    np.save(tmp_path / "stack.npy", stack)
    with open_source(tmp_path / "stack.npy") as s:
        assert s.node("/entry_1/data_1/data").kind is Kind.STACK
        assert s.stack().shape == (5, 3, 4) and np.array_equal(s.stack()[4], stack[4])
        assert np.array_equal(s.read("/entry_1/data_1/data"), stack)


def test_opening_is_memory_mapped(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((4, 8, 8), np.float32))
    with open_source(tmp_path / "m.npy") as s:
        assert isinstance(s._array, np.memmap)
        frame = s.stack()[1]
        assert not isinstance(frame, np.memmap) and frame.flags.writeable


def test_4d_and_fortran_order(tmp_path):
    data = np.asfortranarray(np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5))
    np.save(tmp_path / "f.npy", data)
    with open_source(tmp_path / "f.npy") as s:
        stack = s.stack()
        assert stack.shape == (6, 4, 5) and np.array_equal(stack[4], data[1, 1])


def test_1d_is_data_without_a_stack(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(10.0))
    with open_source(tmp_path / "v.npy") as s:
        assert s.node("/entry_1/data_1/data").kind is Kind.ARRAY
        assert s.default_stack_path() is None
        assert s.read("/entry_1/data_1/data").tolist() == list(range(10))
        with pytest.raises(DatasetError, match=r"'v.npy' holds an array of shape \(10,\)"):
            s.stack()


def test_pickled_and_corrupt_files_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="obj.npy"):
        open_source(tmp_path / "obj.npy")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(FileFormatError, match="bad.npy"):
        open_source(tmp_path / "bad.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 4, 4)))
    with pytest.raises(FileFormatError, match="empty"):
        open_source(tmp_path / "empty.npy")


def test_real_loki_image():
    path = DATA / "loki/test_img.npy"
    if not path.exists():
        pytest.skip("real data not available")
    with open_source(path) as s:
        frame = s.stack()[0]
        assert frame.shape == (300, 300) and frame.dtype == np.float32
