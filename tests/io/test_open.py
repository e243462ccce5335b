"""open_source dispatch, bad input, and the `owlx info` text."""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from fabio.edfimage import EdfImage

from owlx.errors import FileFormatError, OwlxError
from owlx.io import open_source
from owlx.io.describe import describe_source
from owlx.io.open import detect_format, is_hdf5

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


def test_hdf5_is_found_by_signature_not_extension(tmp_path):
    odd = tmp_path / "frames.dat"
    with h5py.File(odd, "w") as f:
        f["d"] = np.zeros((2, 3, 3))
    assert detect_format(odd) == "hdf5"
    with h5py.File(tmp_path / "ub.h5", "w", userblock_size=1024) as f:
        f["d"] = np.zeros((2, 3, 3))
    raw = (tmp_path / "ub.h5").read_bytes()
    assert raw[:8] != b"\x89HDF\r\n\x1a\n" and raw[1024:1032] == b"\x89HDF\r\n\x1a\n"
    assert is_hdf5(tmp_path / "ub.h5")
    with open_source(tmp_path / "ub.h5") as s:
        assert s.format == "hdf5" and len(s.stack()) == 2


def test_formats_by_extension(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    tifffile.imwrite(tmp_path / "a.TIF", np.zeros((2, 2), np.uint8))
    EdfImage(data=np.zeros((2, 2), np.uint16)).write(str(tmp_path / "a.edf"))
    assert [detect_format(tmp_path / n) for n in ("a.npy", "a.TIF", "a.edf")] == ["npy", "tiff", "edf"]
    for name, fmt in (("a.npy", "npy"), ("a.TIF", "tiff"), ("a.edf", "edf")):
        with open_source(str(tmp_path / name)) as s:
            assert s.format == fmt and s.stack()[0].shape == (2, 2)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d / "missing.h5", r"cannot open 'missing.h5': no such file"),
        (lambda d: d, r"it is a folder"),
        (lambda d: _write(d / "empty.cxi", b""), r"cannot open 'empty.cxi': the file is empty \(0 bytes\)"),
        (lambda d: _write(d / "notes.txt", b"hello"), r"cannot open 'notes.txt': unknown file format"),
        (lambda d: _write(d / "fake.h5", b"hello" * 200), r"extension says HDF5 but it has no HDF5 signature"),
    ],
)
def test_bad_paths_raise_file_format_error(tmp_path, setup, message):
    with pytest.raises(FileFormatError, match=message):
        open_source(setup(tmp_path))


def _write(path, content):
    path.write_bytes(content)
    return path


def test_file_format_error_is_an_owlx_error():
    with pytest.raises(OwlxError):
        open_source("/nonexistent/x.edf")


def test_lists_of_files(tmp_path):
    for k in (1, 2):
        EdfImage(data=np.full((2, 2), k, np.uint16)).write(str(tmp_path / f"s_{k}.edf"))
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    with open_source([tmp_path / "s_1.edf", tmp_path / "s_2.edf"]) as s:
        assert len(s.stack()) == 2
    with open_source([tmp_path / "s_2.edf"]) as s:  # one dropped file: its whole series
        assert len(s.stack()) == 2
    with pytest.raises(FileFormatError, match="mix formats"):
        open_source([tmp_path / "s_1.edf", tmp_path / "x.npy"])
    with pytest.raises(FileFormatError, match="empty list"):
        open_source([])
    (tmp_path / "other_7.edf").write_bytes((tmp_path / "s_1.edf").read_bytes())
    with pytest.raises(FileFormatError, match="'other_7.edf' does not share"):
        open_source([tmp_path / "s_1.edf", tmp_path / "other_7.edf"])


def test_describe_source_lists_kinds_links_and_default(tmp_path):
    path = tmp_path / "d.cxi"
    with h5py.File(path, "w") as f:
        f["entry_1/image_1/data"] = np.zeros((7, 4, 4), np.float32)
        f["entry_1/image_1/data"].attrs["axes"] = "experiment_identifier:y:x"
        f["entry_1/image_1/score"] = np.zeros(7)
        f["entry_1/data_1"] = h5py.SoftLink("/entry_1/image_1")
        f["entry_1/name"] = "run 7"
    with open_source(path) as s:
        text = describe_source(s, attrs=True)
    lines = text.splitlines()
    assert lines[0] == "d.cxi  (hdf5)"
    assert "    data_1/  -> /entry_1/image_1" in lines
    assert "      data  float32 (7×4×4)  stack, N = 7  * default" in lines
    assert "      score  float64 (7)  per-frame scalar" in lines
    assert "    name  vlen str (scalar)  value" in lines
    assert any("@axes = 'experiment_identifier:y:x'" in line for line in lines)
    assert text.count("score") == 1  # the soft-linked group is not expanded twice


def test_owlx_io_imports_no_qt():
    code = (
        "import owlx.io.open, owlx.io.hdf5, owlx.io.edf, owlx.io.tiff, owlx.io.mrc, owlx.io.npy, "
        "owlx.io.describe, owlx.io.maskbits, sys\n"
        "bad = [m for m in sys.modules if m.startswith(('PyQt5', 'PySide', 'pyqtgraph'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_minimal_cxi_description():
    path = DATA / "cxidb/minimal.cxi"
    if not path.exists():
        pytest.skip("real data not available")
    with open_source(path) as s:
        assert describe_source(s).splitlines()[-1] == "      data  float64 (50×100)  image, N = 1  * default"


def test_unknown_extension_lists_every_accepted_suffix(tmp_path):
    path = _write(tmp_path / "notes.xyz", b"hello")
    with pytest.raises(FileFormatError) as info:
        open_source(path)
    message = str(info.value)
    assert "\n" not in message
    for suffix in (".edf", ".edf.gz", ".edf.bz2", ".mrc", ".mrc.gz", ".mrc.bz2", ".mrcs", ".map.gz", ".st.bz2",
                   ".tif", ".tiff", ".npy"):
        assert f" {suffix} " in message.replace(",", " ").replace(")", " "), suffix
    assert "HDF5" in message


def test_describe_source_shows_broken_links_with_target_and_reason(tmp_path):
    path = tmp_path / "broken.cxi"
    with h5py.File(path, "w") as f:
        f["entry_1/image_1/data"] = np.zeros((3, 4, 4), np.float32)
        f["entry_1/dangling"] = h5py.SoftLink("/entry_1/nowhere")
        f["entry_1/raw"] = h5py.ExternalLink("missing.h5", "/frames")
        f["entry_1/loop"] = h5py.SoftLink("/entry_1/loop")
        f["entry_1/image_1/alias"] = h5py.SoftLink("/entry_1/image_1/data")
    with open_source(path) as s:
        assert s.node("/entry_1/dangling").is_broken_link and not s.node("/entry_1/image_1").is_broken_link
        lines = describe_source(s).splitlines()
    line = {l.strip().split()[0]: l.strip() for l in lines[2:]}
    assert line["dangling"].startswith("dangling  broken link -> /entry_1/nowhere  [")
    assert line["dangling"].endswith("[component not found]")
    assert line["raw"].endswith("[can't open file]")
    assert line["raw"].startswith("raw  broken link -> missing.h5:/frames  [")
    assert line["loop"].startswith("loop  broken link -> /entry_1/loop  [link cycle")
    assert line["alias"] == "alias  float32 (3×4×4)  stack, N = 3  -> /entry_1/image_1/data"
