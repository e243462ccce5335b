"""MRC files (spec/formats.md §4, acceptance check 14)."""

import gzip
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from owlx.errors import FileFormatError
from owlx.io.mrc import MrcSource
from owlx.io.open import open_source
from owlx.io.source import Kind


def new_mrc(path, data, voxel_size=None, **header):
    with mrcfile.new(str(path), overwrite=True) as m:
        m.set_data(data)
        if voxel_size is not None:
            m.voxel_size = voxel_size
        for key, value in header.items():
            setattr(m.header, key, value)
    return Path(path)


def set_mode(path, mode):
    raw = bytearray(Path(path).read_bytes())
    raw[12:16] = np.int32(mode).tobytes()  # MODE is the 4th 32-bit word of the header
    Path(path).write_bytes(bytes(raw))


def test_float16_mode_12_and_voxel_size_in_angstrom(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float16).reshape(2, 3, 4)
    path = new_mrc(tmp_path / "half.mrc", data, voxel_size=(1.5, 2.5, 3.5))
    with open_source(path) as s:
        assert isinstance(s, MrcSource)
        stack = s.stack()
        assert stack.shape == (2, 3, 4) and stack.dtype == np.float16
        assert np.array_equal(stack[1], data[1])
        attrs = s.root.attrs
        assert attrs["mode"] == 12 and attrs["voxel_size"] == (1.5, 2.5, 3.5)
        assert attrs["voxel_size_units"] == "Å" and s.voxel_size == (1.5, 2.5, 3.5)
        assert "mrcfile" in attrs["labels"][0]


@pytest.mark.parametrize("mode, words", [(3, "mode 3 (complex 16-bit integers)"), (101, "mode 101 (4-bit")])
def test_unsupported_modes_give_a_clear_error(tmp_path, mode, words):
    path = new_mrc(tmp_path / f"m{mode}.mrc", np.zeros((2, 3, 4), np.int16))
    set_mode(path, mode)
    with pytest.raises(FileFormatError) as info:
        open_source(path)
    assert f"cannot open 'm{mode}.mrc': it uses MRC {words}" in str(info.value)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.float32, np.uint16, np.complex64])
def test_modes_read(tmp_path, dtype):
    data = (np.arange(3 * 4 * 5) % 100).astype(dtype).reshape(3, 4, 5)
    with open_source(new_mrc(tmp_path / "m.mrcs", data)) as s:
        frame = s.stack()[2]
        assert frame.dtype == dtype and np.array_equal(frame, data[2])


def test_mode0_unsigned_option(tmp_path):
    path = new_mrc(tmp_path / "u.mrc", np.full((4, 4), -1, np.int8))
    with MrcSource(str(path), mode0_unsigned=True) as s:
        assert s.stack()[0].dtype == np.uint8 and s.stack()[0][0, 0] == 255


def test_single_image_and_volume_stack(tmp_path):
    with open_source(new_mrc(tmp_path / "img.mrc", np.ones((5, 6), np.float32))) as s:
        assert s.node("/entry_1/data_1/data").kind is Kind.IMAGE
        assert s.root.attrs["ispg"] == 0 and len(s.stack()) == 1
    vol = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    with open_source(new_mrc(tmp_path / "vs.mrc", vol)) as s:
        stack = s.stack()
        assert s.root.attrs["ispg"] == 401 and s.root.attrs["volume_stack"]
        assert stack.shape == (6, 4, 5)
        assert stack.volume_index(4) == (1, 1)
        assert np.array_equal(stack[4], vol[1, 1])


def test_compressed_file_warns_and_reads(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    plain = new_mrc(tmp_path / "c.mrc", data)
    gz = tmp_path / "c.mrc.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with open_source(gz) as s:
        assert np.array_equal(s.stack()[1], data[1])
        assert any("decompressed into memory" in w for w in s.warnings)


def test_garbage_and_closed(tmp_path):
    bad = tmp_path / "bad.map"
    bad.write_bytes(b"not an mrc file")
    with pytest.raises(FileFormatError, match="bad.map"):
        open_source(bad)
    s = open_source(new_mrc(tmp_path / "x.st", np.zeros((2, 3, 3), np.float32)))
    stack = s.stack()
    s.close()
    with pytest.raises(Exception, match="closed"):
        stack[0]

