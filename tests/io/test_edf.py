"""EDF files and series (spec/formats.md §3, acceptance check 13)."""

import gzip
import time
from pathlib import Path

import fabio
import numpy as np
import pytest
from fabio.edfimage import EdfImage

from owlx.errors import DatasetError, FileFormatError
from owlx.io import edfblock
from owlx.io.edf import EdfSource
from owlx.io.open import open_source
from owlx.io.source import Kind

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
SERIES = DATA / "pyxsvs/examples/data/xsvs-series"


def write_edf(path, data, header=None, gz=False):
    """Write one EDF frame with fabio (optionally gzipped as a whole file)."""
    image = EdfImage(data=data, header=dict(header or {}))
    if gz:
        plain = str(path)[: -len(".gz")]
        image.write(plain)
        Path(path).write_bytes(gzip.compress(Path(plain).read_bytes()))
        Path(plain).unlink()
    else:
        image.write(str(path))
    return str(path)


def check13_file(path):
    """A SignedByte 256×256 file declaring EDF_HeaderSize = 1024 whose header ends at 512."""
    data = ((np.arange(65536) % 251) - 125).astype(np.int8).reshape(256, 256)
    lines = [
        "{",
        "HeaderID = EH:000001:000000:000000 ;",
        "EDF_HeaderSize = 1024 ;",
        "ByteOrder = LowByteFirst ;",
        "DataType = SignedByte ;",
        "Dim_1 = 256 ;",
        "Dim_2 = 256 ;",
        "Size = 65536 ;",
        "SoftRoi (0,0) (255,255) = take : 9.5e-05s ;",
        "time_of_frame = 0.25 ;",
    ]
    text = "\n".join(lines) + "\n"
    header = (text + " " * (512 - len(text) - 2) + "}\n").encode("ascii")
    assert len(header) == 512
    Path(path).write_bytes(header + data.tobytes())
    return data


def test_check13_header_size_is_not_trusted(tmp_path):
    path = tmp_path / "c13.edf"
    data = check13_file(path)
    with open_source(path) as s:
        stack = s.stack()
        assert stack.shape == (1, 256, 256) and stack.dtype == np.int8
        assert np.array_equal(stack[0], data)  # the block starts at 512, not 1024
        node = s.node("/entry_1/data_1/data")
        assert node.kind is Kind.IMAGE
        assert node.attrs["SoftRoi (0,0) (255,255)"] == "take : 9.5e-05s"
        assert s.per_frame("/entry_1/data_1/header/time_of_frame").tolist() == [0.25]
    block = edfblock.read_first_block(str(path))
    assert block.data_offset == 512 and block.size == 65536


def test_gzipped_unsigned_short_matches_fabio_bit_for_bit(tmp_path):
    data = np.random.default_rng(3).integers(0, 65535, (64, 80)).astype(np.uint16)
    path = write_edf(tmp_path / "frame.edf.gz", data, {"ByteOrder": "LowByteFirst"}, gz=True)
    with open_source(path, series=False) as s:
        frame = s.stack()[0]
    reference = fabio.open(path).data
    assert frame.dtype == np.uint16 and reference.dtype == np.uint16
    assert frame.tobytes() == reference.tobytes() == data.tobytes()
    assert b"LowByteFirst" in gzip.decompress(Path(path).read_bytes())[:512]


def test_high_byte_first_and_bz2(tmp_path):
    data = np.arange(12, dtype=">f4").reshape(3, 4)
    header = "{\nByteOrder = HighByteFirst ;\nDataType = FloatValue ;\nDim_1 = 4 ;\nDim_2 = 3 ;\nSize = 48 ;\n}\n"
    import bz2

    path = tmp_path / "hi.edf.bz2"
    path.write_bytes(bz2.compress(header.encode() + data.tobytes()))
    with open_source(path) as s:
        frame = s.stack()[0]
    assert frame.dtype == np.float32 and np.array_equal(frame, data.astype(np.float32))


def test_series_with_gaps_gives_file_numbers(tmp_path):
    frames = {k: np.full((4, 5), k, np.uint16) for k in (1, 2, 4)}
    for k, data in frames.items():
        write_edf(tmp_path / f"x_{k:04d}.edf.gz", data, {"time_of_frame": 0.1 * k}, gz=True)
    write_edf(tmp_path / "x_003.edf.gz", np.zeros((4, 5), np.uint16), gz=True)  # other digit count
    write_edf(tmp_path / "y_0003.edf.gz", np.zeros((4, 5), np.uint16), gz=True)  # other prefix
    write_edf(tmp_path / "x_0003.edf", np.zeros((4, 5), np.uint16))  # other suffix
    with open_source(tmp_path / "x_0002.edf.gz") as s:
        assert len(s.stack()) == 3 and s.start_frame == 1
        assert s.per_frame("/entry_1/data_1/file_number").tolist() == [1, 2, 4]
        assert [int(s.stack()[i][0, 0]) for i in range(3)] == [1, 2, 4]
        assert np.allclose(s.per_frame("/entry_1/data_1/header/time_of_frame"), [0.1, 0.2, 0.4])
    with open_source(tmp_path / "x_0002.edf.gz", series=False) as s:
        assert len(s.stack()) == 1
    with open_source([tmp_path / "x_0004.edf.gz", tmp_path / "x_0001.edf.gz"]) as s:  # dropped together
        assert s.per_frame("/entry_1/data_1/file_number").tolist() == [1, 4]


def test_headers_of_a_series_are_read_only_when_asked(tmp_path, monkeypatch):
    for k in range(1, 6):
        write_edf(tmp_path / f"s_{k:02d}.edf", np.full((3, 3), k, np.int32), {"acq_frame_nb": k})
    reads = []
    real = edfblock.read_first_block
    monkeypatch.setattr(edfblock, "read_first_block", lambda p: reads.append(p) or real(p))
    s = open_source(tmp_path / "s_01.edf")
    assert s.stack()[4][0, 0] == 5
    assert reads == []  # opening and reading frames scanned no other header
    assert s.per_frame("/entry_1/data_1/header/acq_frame_nb").tolist() == [1, 2, 3, 4, 5]
    assert len(reads) == 4


def test_first_mismatching_file_ends_the_series(tmp_path):
    for k in (1, 2):
        write_edf(tmp_path / f"m_{k}.edf", np.full((3, 3), k, np.uint16), {"t": k})
    write_edf(tmp_path / "m_3.edf", np.zeros((4, 4), np.uint16), {"t": 3})
    write_edf(tmp_path / "m_4.edf", np.zeros((3, 3), np.uint16), {"t": 4})
    with open_source(tmp_path / "m_1.edf") as s:
        stack = s.stack()
        assert len(stack) == 4  # before any header is read, names alone define the series
        with pytest.raises(DatasetError, match=r"'m_3.edf'.*\(4, 4\)"):
            stack[2]
        assert s.per_frame("/entry_1/data_1/header/t").tolist() == [1.0, 2.0]
        assert len(stack) == 2 and s.frame_count == 2
        assert any("ends before file 3" in w for w in s.warnings)


def test_multi_frame_file(tmp_path):
    image = EdfImage(data=np.zeros((3, 4), np.float32), header={"Exposure": "0.5"})
    for k in (1, 2):
        image.append_frame(data=np.full((3, 4), k, np.float32), header={"Exposure": str(0.5 + k)})
    path = tmp_path / "multi.edf"
    image.write(str(path))
    with open_source(path) as s:
        stack = s.stack()
        assert stack.shape == (3, 3, 4)
        assert stack[2][0, 0] == 2.0
        assert s.per_frame("/entry_1/data_1/header/Exposure").tolist() == [0.5, 1.5, 2.5]
        assert "/entry_1/data_1/file_number" not in [n.path for n in s.root.walk()]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"{\nDim_1 = 4 ;\nDim_2 = 4 ;\nDataType = UnsignedByte ;\n" + bytes(16), "closing"),
        (b"{\nDataType = UnsignedByte ;\nSize = 16 ;\n}\n" + bytes(16), "Dim_1"),
        (b"{\nDim_1 = 4 ;\nDim_2 = 4 ;\nDataType = Foo ;\n}\n" + bytes(16), "unknown DataType 'Foo'"),
        (b"hello world\n" + bytes(600), "no '{'"),
        (b"{\nDim_1 = 4 ;\nDim_2 = 4 ;\nDataType = UnsignedShort ;\n}\n" + bytes(32), "ByteOrder"),
        (b"{\nDim_1 = 400 ;\nDim_2 = 4 ;\nDataType = UnsignedByte ;\n}\n" + bytes(32), "truncated"),
        (b"{\nDim_1 = four ;\nDim_2 = 4 ;\nDataType = UnsignedByte ;\n}\n" + bytes(32), "not a number"),
    ],
)
def test_broken_headers_are_file_format_errors(tmp_path, content, reason):
    path = tmp_path / "bad.edf"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=r"cannot open 'bad.edf': broken EDF file") as info:
        open_source(path)
    assert reason in str(info.value)


def test_corrupt_gzip_is_a_file_format_error(tmp_path):
    path = tmp_path / "bad.edf.gz"
    path.write_bytes(gzip.compress(b"{\nDim_1 = 4 ;\n")[:-6])
    with pytest.raises(FileFormatError, match="bad.edf.gz"):
        open_source(path)


def test_header_parsing_rules():
    text = " Key with spaces (0,0) = a : b ;\nDIM_1 = 7 ;\nnoequals ;\nexpr = x=y ;"
    header = edfblock.parse_entries(text)
    assert header == {"Key with spaces (0,0)": "a : b", "DIM_1": "7", "expr": "x=y"}
    assert edfblock.get(header, "Dim_1") == "7"  # case-insensitive fallback
    assert edfblock.numeric_items({"Dim_1": "7", "t": "1e-3", "s": "abc"}) == {"t": 1e-3}


def test_terminator_split_across_512_byte_blocks(tmp_path):
    body = "{\nDim_1 = 2 ;\nDim_2 = 1 ;\nDataType = UnsignedByte ;\n"
    text = body + " " * (511 - len(body)) + "}\r\n"  # '}' is byte 511, '\r\n' in the next block
    path = tmp_path / "split.edf"
    path.write_bytes(text.encode() + b"\x07\x09")
    block = edfblock.read_first_block(str(path))
    assert block.data_offset == 514 and block.shape == (1, 2)
    with open_source(path) as s:
        assert s.stack()[0].tolist() == [[7, 9]]


def test_real_xsvs_series():
    first = SERIES / "sid1-1_40C_0001.edf.gz"
    if not first.exists():
        pytest.skip("real data not available")
    t0 = time.perf_counter()
    s = open_source(first)
    elapsed = time.perf_counter() - t0
    assert isinstance(s, EdfSource)
    assert elapsed < 2.0, f"opening the 1980-file series took {elapsed:.2f} s"
    stack = s.stack()
    assert len(stack) == 1980 and stack.frame_shape == (256, 256) and stack.dtype == np.uint16
    numbers = s.per_frame("/entry_1/data_1/file_number")
    assert numbers[0] == 1 and numbers[1799] == 1800 and numbers[1800] == 2521 and numbers[-1] == 2700
    k = int(np.flatnonzero(numbers == 2600)[0])
    reference = fabio.open(str(SERIES / "sid1-1_40C_2600.edf.gz")).data
    assert np.array_equal(stack[k], reference) and stack[k].dtype == reference.dtype
    s.close()


def test_in_file_compressed_block_is_decoded_by_fabio(tmp_path):
    import zlib

    data = np.arange(12, dtype="<u2").reshape(3, 4)
    packed = zlib.compress(data.tobytes())
    header = (
        "{\nByteOrder = LowByteFirst ;\nDataType = UnsignedShort ;\nDim_1 = 4 ;\nDim_2 = 3 ;\n"
        f"Compression = z ;\nEDF_BinarySize = {len(packed)} ;\n}}\n"
    )
    path = tmp_path / "packed.edf"
    path.write_bytes(header.encode() + packed)
    with open_source(path) as s:
        assert np.array_equal(s.stack()[0], data)
