"""TIFF files and series (spec/formats.md §5)."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from owlx.errors import DatasetError, FileFormatError
from owlx.io.open import open_source
from owlx.io.source import Kind
from owlx.io.tiff import TiffSource

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


def test_single_page_float64_stays_float64(tmp_path):
    data = np.random.default_rng(0).random((6, 7))
    tifffile.imwrite(tmp_path / "one.tif", data)
    with open_source(tmp_path / "one.tif") as s:
        assert isinstance(s, TiffSource)
        assert s.node("/entry_1/data_1/data").kind is Kind.IMAGE
        frame = s.stack()[0]
        assert frame.dtype == np.float64 and np.array_equal(frame, data)


def test_multi_page_file(tmp_path):
    data = np.arange(7 * 4 * 5, dtype=np.uint16).reshape(7, 4, 5)
    tifffile.imwrite(tmp_path / "multi.tiff", data)
    with open_source(tmp_path / "multi.tiff") as s:
        stack = s.stack()
        assert stack.shape == (7, 4, 5) and s.frame_count == 7
        assert np.array_equal(stack[6], data[6])


def test_imagej_hyperstack_frames_run_over_all_non_image_axes(tmp_path):
    data = np.arange(2 * 3 * 4 * 5 * 6, dtype=np.uint16).reshape(2, 3, 4, 5, 6)  # T Z C Y X
    tifffile.imwrite(tmp_path / "hyper.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    with open_source(tmp_path / "hyper.tif") as s:
        stack = s.stack()
        assert len(stack) == 24 and stack.frame_shape == (5, 6)
        assert s.root.attrs["axes"] == "TZCYX" and s.root.attrs["flavour"] == "imagej"
        assert stack.axis_indices(17) == {"T": 1, "Z": 1, "C": 1}
        assert np.array_equal(stack[17], data[1, 1, 1])


def test_rgb_frames_are_ny_nx_samples(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (3, 8, 9, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 1), photometric="rgb", planarconfig="separate")
    for name in ("rgb.tif", "planar.tif"):
        with open_source(tmp_path / name) as s:
            stack = s.stack()
            assert stack.shape == (3, 8, 9) and stack.samples == 3
            assert stack.nbytes_per_frame == 8 * 9 * 3
            assert np.array_equal(stack[2], rgb[2]), name


def test_numbered_tiff_series(tmp_path):
    for k in (3, 5, 10):
        tifffile.imwrite(tmp_path / f"img_{k:04d}.tif", np.full((4, 4), k, np.uint8))
    tifffile.imwrite(tmp_path / "img_0011.tif", np.zeros((5, 5), np.uint8))  # different shape
    with open_source(tmp_path / "img_0005.tif") as s:
        stack = s.stack()
        assert len(stack) == 4 and s.start_frame == 1
        assert s.per_frame("/entry_1/data_1/file_number").tolist() == [3, 5, 10, 11]
        assert stack[2][0, 0] == 10 and stack.axis_indices(2) == {"file": 2}
        with pytest.raises(DatasetError, match=r"img_0011.tif.*series ends before this file"):
            stack[3]
    with open_source([tmp_path / "img_0010.tif", tmp_path / "img_0003.tif"]) as s:
        assert s.per_frame("/entry_1/data_1/file_number").tolist() == [3, 10]


def test_missing_codec_names_the_codec_and_imagecodecs(tmp_path):
    try:
        import imagecodecs  # noqa: F401

        pytest.skip("imagecodecs is installed: every codec is available")
    except ImportError:
        pass
    path = tmp_path / "lzw.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.uint8))
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags["Compression"].valueoffset
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 2] = np.uint16(5).tobytes()  # claim LZW compression
    path.write_bytes(bytes(raw))
    with open_source(path) as s:
        assert any("LZW" in w and "imagecodecs" in w for w in s.warnings)
        with pytest.raises(DatasetError, match=r"LZW-compressed.*pip install imagecodecs"):
            s.stack()[0]


def test_not_a_tiff(tmp_path):
    path = tmp_path / "fake.tif"
    path.write_bytes(b"this is not a tiff at all")
    with pytest.raises(FileFormatError, match=r"cannot open 'fake.tif': not a readable TIFF file"):
        open_source(path)


def test_real_skued_pattern():
    path = DATA / "skued/ewald_walkoff.tif"
    if not path.exists():
        pytest.skip("real data not available")
    with open_source(path) as s:
        frame = s.stack()[0]
        assert frame.shape == (512, 512) and frame.dtype == np.float64
        assert np.array_equal(frame, tifffile.imread(path))
