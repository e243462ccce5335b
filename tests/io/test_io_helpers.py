"""Helpers the readers share, each defined once: path normalisation, HDF5 text decoding, the
whole-read size limit and the numbered-series bookkeeping of the EDF and TIFF readers."""

import ast
from pathlib import Path

import numpy as np
import pytest
import tifffile
from fabio.edfimage import EdfImage

from owlx.errors import DatasetError
from owlx.io import cxi, edf, geometry, hdf5, series, source, tiff, virtual
from owlx.io.open import open_source
from owlx.io.source import normalize_path

IO = Path(source.__file__).parent
READERS = ("hdf5.py", "hdf5_stack.py", "cxi.py", "geometry.py", "virtual.py", "series.py", "edf.py",
           "edfblock.py", "tiff.py", "mrc.py", "npy.py", "open.py", "describe.py", "source.py")


def _definitions(name: str) -> dict[str, list[str]]:
    """Top-level names bound by ``def``/``class``/assignment in the reader modules, and
    methods (as ``Class.method``), each with the modules that define it."""
    found: dict[str, list[str]] = {}
    for module in READERS:
        tree = ast.parse((IO / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            for n in names:
                if n == name:
                    found.setdefault(n, []).append(module)
    return found


@pytest.mark.parametrize(
    "name, where",
    [
        ("MAX_READ_BYTES", ["source.py"]),
        ("normalize_path", ["source.py"]),
        ("normalize", []),
        ("decode_text", ["cxi.py"]),
        ("_text", []),
        ("_file_numbers", ["series.py"]),
        ("find_series", ["series.py"]),
    ],
)
def test_shared_helpers_are_defined_once(name, where):
    assert _definitions(name).get(name, []) == where


def test_normalize_path():
    assert normalize_path("entry_1//data_1/./data/") == "/entry_1/data_1/data"
    assert normalize_path("/") == normalize_path("") == normalize_path(".") == "/"
    assert hdf5.normalize_path is virtual.normalize_path is normalize_path


def test_paths_are_normalised_alike_by_hdf5_and_virtual_sources(tmp_path):
    import h5py

    with h5py.File(tmp_path / "n.h5", "w") as f:
        f["entry_1/data_1/data"] = np.zeros((2, 3, 3))
    np.save(tmp_path / "n.npy", np.zeros((2, 3, 3)))
    for name in ("n.h5", "n.npy"):
        with open_source(tmp_path / name) as s:
            for spelling in ("entry_1/data_1/data", "/entry_1//data_1/./data/", "./entry_1/data_1/data"):
                assert s.node(spelling).path == "/entry_1/data_1/data", (name, spelling)


def test_decode_text_serves_axes_and_units():
    assert cxi.decode_text(np.array([b"m\x00 "])) == "m"
    assert cxi.decode_text(np.bytes_(b" keV\x00")) == "keV"
    assert cxi.decode_text(np.array([], dtype="S1")) == ""
    assert cxi.decode_text(b"\xffx") == "\ufffdx"
    assert geometry.decode_text is cxi.decode_text


def test_one_read_limit_for_every_source(tmp_path, monkeypatch):
    import h5py

    assert hdf5.MAX_READ_BYTES is source.MAX_READ_BYTES is virtual.MAX_READ_BYTES
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["big"] = np.zeros((4, 8, 8))
    np.save(tmp_path / "r.npy", np.zeros((4, 8, 8)))
    monkeypatch.setattr(hdf5, "MAX_READ_BYTES", 100)
    monkeypatch.setattr(virtual, "MAX_READ_BYTES", 100)
    with open_source(tmp_path / "r.h5") as s, pytest.raises(DatasetError, match="too large"):
        s.read("/big")
    with open_source(tmp_path / "r.npy") as s, pytest.raises(DatasetError, match="too large"):
        s.read("/entry_1/data_1/data")


def _edf(path, frames):
    image = EdfImage(data=frames[0])
    for frame in frames[1:]:
        image.append_frame(data=frame)
    image.write(str(path))


def test_edf_and_tiff_series_share_the_series_source(tmp_path):
    assert issubclass(edf.EdfSource, series.SeriesSource) and issubclass(tiff.TiffSource, series.SeriesSource)
    for k in (2, 5, 7):  # two frames per file
        _edf(tmp_path / f"e_{k:03d}.edf", [np.full((3, 3), 10 * k + j, np.int32) for j in range(2)])
        tifffile.imwrite(tmp_path / f"t_{k:03d}.tif", np.full((2, 3, 3), 10 * k, np.uint16), photometric="minisblack")
    for name in ("e_005.edf", "t_005.tif"):
        with open_source(tmp_path / name) as s:
            assert isinstance(s, series.SeriesSource) and s.frames_per_file == 2
            assert s.start_frame == 2 and s.numbered and len(s.files) == 3
            assert s.per_frame("/entry_1/data_1/file_number").tolist() == [2, 2, 5, 5, 7, 7]
        with open_source([tmp_path / name.replace("005", "007"), tmp_path / name.replace("005", "002")]) as s:
            assert s.start_frame == 0 and s.numbers == [2, 7]
        with open_source(tmp_path / name, series=False) as s:
            assert len(s.files) == 1 and s.start_frame == 0 and not s.numbered
            with pytest.raises(DatasetError):
                s.per_frame("/entry_1/data_1/file_number")
