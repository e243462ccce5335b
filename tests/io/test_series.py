"""Numbered file series (spec/formats.md §3), shared by EDF and TIFF."""

import pytest

from owlx.errors import FileFormatError
from owlx.io.series import EDF_SUFFIXES, TIFF_SUFFIXES, find_series, series_from_paths, split_name


def test_split_name():
    name = split_name("/d/sid1-1_40C_0017.edf.gz", EDF_SUFFIXES)
    assert (name.prefix, name.digits, name.suffix, name.number) == ("sid1-1_40C_", "0017", ".edf.gz", 17)
    assert split_name("/d/scan.edf", EDF_SUFFIXES) is None
    assert split_name("/d/img7.TIF", TIFF_SUFFIXES).suffix == ".TIF"
    assert split_name("/d/img7.png", TIFF_SUFFIXES) is None


def test_find_series_same_prefix_digits_and_suffix(tmp_path):
    for name in ("x_0001.edf", "x_0010.edf", "x_0002.edf", "x_001.edf", "y_0003.edf", "x_0004.edf.gz", "x_0005.EDF"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "x_0006.edf").mkdir()
    found = find_series(str(tmp_path / "x_0002.edf"), EDF_SUFFIXES)
    assert [n for n, _ in found] == [1, 2, 5, 10]
    assert find_series(str(tmp_path / "y_0003.edf"), EDF_SUFFIXES) == [(3, str(tmp_path / "y_0003.edf"))]


def test_series_from_paths(tmp_path):
    paths = [str(tmp_path / f"a_{k:02d}.tif") for k in (9, 2, 4)]
    assert [n for n, _ in series_from_paths(paths, TIFF_SUFFIXES)] == [2, 4, 9]
    with pytest.raises(FileFormatError, match="'b.tif' has no number"):
        series_from_paths(paths + [str(tmp_path / "b.tif")], TIFF_SUFFIXES)
    with pytest.raises(FileFormatError, match="'a_003.tif' does not share"):
        series_from_paths(paths + [str(tmp_path / "a_003.tif")], TIFF_SUFFIXES)
