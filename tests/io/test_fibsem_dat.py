"""FIB-SEM .dat reader (spec/formats.md §6, acceptance check 15) and folders opened as stacks."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from owlx.errors import FileFormatError
from owlx.io.fibsem_dat import DatSource, read_dat, write_dat
from owlx.io.fibsem_dat_header import (
    MAGIC,
    build_header,
    parse_header,
    read_header,
    scale_raw,
)
from owlx.io.open import open_source
from owlx.io.source import Kind

HEADERS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fibsem" / "dat_headers"
ANA = "FIBdeSEMAna_21-12-26_005024_0-0-0.header"
MERLIN19 = "Merlin-6281_19-08-09_120426_0-0-0.header"
MERLIN21 = "Merlin-6281_21-06-18_203058_0-0-0.header"


def fixture(name):
    path = HEADERS / name
    if not path.exists():
        pytest.skip(f"{path} is absent (shared test data)")
    return str(path)


@pytest.mark.parametrize("name, size, version, x, y, length, machine, pixel", [
    (ANA, 1024, 8, 18214, 14464, 1053790208, "Jeiss/FIBdeSEMAna", 5.60),
    (MERLIN19, 1024, 8, 15000, 10000, 600001024, "Jeiss6/Merlin-6281", 8.0),
    (MERLIN21, 524288, 9, 8875, 3500, 124251024, "Jeiss6/Merlin-6281", 8.0),
])
def test_fixture_headers_give_the_documented_values(name, size, version, x, y, length, machine, pixel):
    path = fixture(name)
    assert Path(path).stat().st_size == size
    h = read_header(path)
    assert h["FileMagicNum"] == MAGIC == 3555587570
    assert (h.version, h["FileType"], h["XResolution"], h["YResolution"]) == (version, 1, x, y)
    assert (h.n_channels, h.eight_bit, h["FileLength"]) == (2, False, length)
    assert h["FileLength"] == 1024 + 2 * 2 * x * y
    assert h["MachineID"] == machine
    assert h.pixel_size_nm == pytest.approx(pixel, abs=0.005)
    assert [h[f"AI{k}"] for k in (1, 2, 3, 4)] == [1, 1, 0, 0]
    assert (h["DetA"], h["DetB"]) == ("InLens", "ESB @ 600 V")
    assert h.channel_names() == ["InLens", "ESB @ 600 V"]


def test_fibdesemana_scaling_and_merlin_notes_and_sample_id():
    h = read_header(fixture(ANA))
    expected = (4166667.0, -5987.967, 0.121186, 0.1, 4166667.0, -5608.482, 0.0288949, 1.0)
    assert h.scaling.shape == (2, 4)
    np.testing.assert_allclose(h.scaling.ravel(), expected, rtol=5e-6)  # the facts are given to 7 digits
    m19 = read_header(fixture(MERLIN19))
    assert m19["Notes"].startswith("Larva1120, BF 190x175um")
    assert m19.sample_id == "Larva1120"  # before v9: Notes up to the first comma
    m21 = read_header(fixture(MERLIN21))
    assert m21["SampleID"] == "Z0720-07m_BR_Sec22" == m21.sample_id
    assert {read_header(fixture(n))["SWdate"] for n in (ANA, MERLIN21)} == {"21/11/2021", "04/20/2021"}


def test_v9_fixture_decodes_its_14_complete_rows():
    dat = read_dat(fixture(MERLIN21))
    assert dat.data.shape == (14, 8875, 2) and dat.data.dtype == np.int16
    assert (dat.data[..., 0].min(), dat.data[..., 0].max()) == (-848, 9282)
    assert (dat.data[..., 1].min(), dat.data[..., 1].max()) == (-5163, -80)
    assert "14 of 3500 rows" in dat.warnings[0]
    part = read_dat(fixture(MERLIN21), rows=slice(3, 5))
    assert np.array_equal(part.data, dat.data[3:5])


def test_bad_headers_are_refused(tmp_path):
    good = bytearray(build_header({"ChanNum": 1, "XResolution": 4, "YResolution": 3}, version=8))
    assert parse_header(bytes(good)).shape == (3, 4)
    bad = bytearray(good)
    bad[0:4] = b"\x00\x00\x00\x01"
    with pytest.raises(FileFormatError, match="not a Jeiss FIB-SEM .dat file"):
        parse_header(bytes(bad), "x.dat")
    bad = bytearray(good)
    bad[4:6] = (12).to_bytes(2, "big")
    with pytest.raises(FileFormatError, match="version 12 is unknown"):
        parse_header(bytes(bad), "x.dat")
    with pytest.raises(FileFormatError, match="1024 bytes"):
        parse_header(bytes(good[:100]), "x.dat")
    (tmp_path / "short.dat").write_bytes(bytes(good[:10]))
    with pytest.raises(FileFormatError, match="short.dat"):
        open_source(tmp_path / "short.dat")


def test_synthetic_dat_round_trips_bit_for_bit(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(-32768, 32767, (5, 7, 2), dtype=np.int16)
    footer = b"recipe" * 3
    h = write_dat(str(tmp_path / "a_0-0-0.dat"), data, PixelSize=4.0, WD=5.25, DetA="InLens", DetB="ESB",
                  footer=footer)
    raw = (tmp_path / "a_0-0-0.dat").read_bytes()
    assert len(raw) == 1024 + data.size * 2 + len(footer) and h["FileLength"] == 1024 + data.size * 2
    assert raw[1024:1024 + data.size * 2] == data.astype(">i2").tobytes()
    back = read_dat(str(tmp_path / "a_0-0-0.dat"))
    assert back.data.dtype == np.int16 and np.array_equal(back.data, data) and not back.warnings
    with open_source(tmp_path / "a_0-0-0.dat") as s:
        assert s.format == "dat" and s.stack().shape == (1, 5, 7)
        assert np.array_equal(s.stack()[0], data[..., 0])
        assert np.array_equal(s.stack("/entry_1/data_2/data")[0], data[..., 1])
        assert s.node("/entry_1/data_2/data").attrs["detector"] == "ESB"
        assert s.geometry().pixel_size_m == pytest.approx(4e-9)


@pytest.mark.parametrize("version, expected", [
    (6, lambda raw, s: s[0] + raw * s[1]),
    (7, lambda raw, s: (raw - s[1]) * s[2]),
    (8, lambda raw, s: (raw - s[1]) * s[2] / 2.5e6 * s[0] / 0.1),
])
def test_scaled_values_follow_the_version_formula(tmp_path, version, expected):
    raw = np.array([[-100, 0, 250]], dtype=np.int16)
    scaling = np.array([[4166667.0, -5987.967, 0.121186, 0.1], [1.0, 2.0, 3.0, 4.0]])
    write_dat(str(tmp_path / "s.dat"), raw, version=version, scaling=scaling, ScanRate=2.5e6)
    h = read_header(str(tmp_path / "s.dat"))
    s = np.float32(scaling[0]).astype(np.float64)  # stored as >f4
    np.testing.assert_allclose(scale_raw(raw, h, 0), expected(raw.astype(np.float64), s), rtol=1e-6)
    with DatSource(str(tmp_path / "s.dat"), scaled=True) as src:
        assert src.stack().dtype == np.float32
        np.testing.assert_allclose(src.stack()[0], expected(raw.astype(np.float64), s), rtol=1e-6)


def test_eight_bit_file(tmp_path):
    data = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_dat(str(tmp_path / "e.dat"), data, ScanRate=1e6, scaling=[[2.0, 1.0, 4.0, 0.5]])
    with open_source(tmp_path / "e.dat") as s:
        assert s.stack().dtype == np.uint8 and np.array_equal(s.stack()[0], data)
        h = s.headers[0]
        np.testing.assert_allclose(scale_raw(data, h, 0), data * 1e6 / 2.0 / 4.0 / 0.5 + 1.0, rtol=1e-6)


def write_folder(folder, n=4, shape=(6, 8), tile="0-0-0", start=0):
    folder.mkdir(exist_ok=True)
    frames = []
    for k in range(start, start + n):
        frame = np.full(shape + (2,), k, dtype=np.int16)
        frame[..., 1] = -k
        write_dat(str(folder / f"Merlin-6281_21-06-18_{k:06d}_{tile}.dat"), frame, WD=5.0 - 1e-5 * k,
                  FIBSliceNum=100 + k, PixelSize=8.0)
        frames.append(frame)
    return frames


def test_folder_of_dat_files_is_one_stack_sorted_by_name(tmp_path):
    folder = tmp_path / "run"
    write_folder(folder, 5)
    write_folder(folder, 2, tile="0-0-1")  # another tile: left out
    write_dat(str(folder / "Merlin-6281_21-06-18_000099_0-0-0.dat"), np.zeros((3, 3), np.int16))  # other size
    with open_source(folder) as s:
        assert isinstance(s, DatSource) and s.stack().shape == (5, 6, 8)
        assert [int(s.stack()[k][0, 0]) for k in range(5)] == [0, 1, 2, 3, 4]
        assert int(s.stack("/entry_1/data_2/data")[3][0, 0]) == -3
        assert np.array_equal(s.per_frame("/entry_1/data_1/header/FIBSliceNum"), 100 + np.arange(5))
        np.testing.assert_allclose(s.per_frame("/entry_1/data_1/header/WD"), 5.0 - 1e-5 * np.arange(5), rtol=1e-6)
        assert s.node("/entry_1/data_1/header/WD").kind is Kind.FRAME_SCALAR
        assert "3 .dat file(s) left out" in s.warnings[0]
        names = [c.name for c in s.node("/entry_1").children()]
        assert names == ["data_1", "data_2"]
    with open_source(folder / "Merlin-6281_21-06-18_000002_0-0-0.dat") as s:  # one file: its stack
        assert len(s.stack()) == 5 and s.start_frame == 2
    with open_source(folder / "Merlin-6281_21-06-18_000002_0-0-0.dat", series=False) as s:
        assert len(s.stack()) == 1
    files = sorted(folder.glob("*_0-0-1.dat"))
    with open_source(files) as s:  # a dropped list: exactly these files
        assert len(s.stack()) == 2 and s.root.attrs["tile"] == "0-0-1"


def test_truncated_file_gives_nan_rows(tmp_path):
    folder = tmp_path / "t"
    write_folder(folder, 2)
    last = max(folder.glob("*.dat"))
    raw = last.read_bytes()
    last.write_bytes(raw[: 1024 + 3 * 8 * 2 * 2 + 5])  # 3 complete rows of 6
    with open_source(folder) as s:
        assert s.stack().dtype == np.float32
        frame = s.stack()[1]
        assert np.all(frame[:3] == 1) and np.isnan(frame[3:]).all()
        assert any("truncated" in w for w in s.warnings)


def test_folder_of_tiff_frames_is_one_stack(tmp_path):
    for k in range(3):
        tifffile.imwrite(tmp_path / f"slice_{k:04d}.tif", np.full((4, 5), k, np.uint16))
    tifffile.imwrite(tmp_path / "overview_1.tif", np.zeros((9, 9), np.uint8))  # another series
    with open_source(tmp_path) as s:
        assert s.format == "tiff" and s.stack().shape == (3, 4, 5)
        assert [int(s.stack()[k][0, 0]) for k in range(3)] == [0, 1, 2]
        assert "showing the largest" in s.warnings[-1]


def test_folder_without_frames_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileFormatError, match="folder without FIB-SEM .dat, TIFF or EDF frames"):
        open_source(tmp_path)
