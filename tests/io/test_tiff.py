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


# -- files written page by page (one tifffile series per write) --------------------------------------
def _append_frames(path, frames, **kwargs):
    for frame in frames:
        tifffile.imwrite(path, frame, append=True, **kwargs)


def _no_series(monkeypatch):
    """Make tifffile's per-series parsing fail: it is what made appended files slow to open."""

    def refuse(self):
        raise AssertionError("TiffFile.series was computed")

    monkeypatch.setattr(tifffile.TiffFile, "series", property(refuse))


def test_appended_frames_are_one_stack_read_page_by_page(tmp_path, monkeypatch):
    frames = np.arange(40 * 6 * 5, dtype=np.uint16).reshape(40, 6, 5)
    path = tmp_path / "appended.tif"
    _append_frames(path, frames)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == 40  # the idiom: one series per page
    _no_series(monkeypatch)
    with open_source(path) as s:
        stack = s.stack()
        assert stack.shape == (40, 6, 5) and s.frame_count == 40 and stack.dtype == np.uint16
        assert s.node("/entry_1/data_1/data").kind is Kind.STACK
        assert np.array_equal(stack[0], frames[0]) and np.array_equal(stack[39], frames[39])
        assert np.array_equal(stack[-2], frames[38])
        assert stack.axis_indices(17) == {"I": 17}
        assert not s.warnings


def test_appended_blocks_of_frames_and_appended_rgb(tmp_path, monkeypatch):
    block = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    _append_frames(tmp_path / "blocks.tif", [block, block + 100], photometric="minisblack")
    rgb = np.random.default_rng(2).integers(0, 255, (3, 5, 6, 3)).astype(np.uint8)
    _append_frames(tmp_path / "rgb.tif", rgb, photometric="rgb")  # BitsPerSample stored outside the IFD
    _append_frames(tmp_path / "big.tif", block[:, :3, :], bigtiff=True)
    _no_series(monkeypatch)
    with open_source(tmp_path / "big.tif") as s:
        assert s.stack().shape == (3, 3, 4) and np.array_equal(s.stack()[2], block[2, :3])
    with open_source(tmp_path / "blocks.tif") as s:
        stack = s.stack()
        assert len(stack) == 6 and stack.dtype == np.float32
        assert np.array_equal(stack[4], block[1] + 100)
    with open_source(tmp_path / "rgb.tif") as s:
        stack = s.stack()
        assert stack.shape == (3, 5, 6) and stack.samples == 3
        assert np.array_equal(stack[2], rgb[2])


def test_appended_series_of_different_shape_show_the_first_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "mixed.tif"
    _append_frames(path, [np.full((4, 4), 1, np.uint8), np.full((4, 4), 2, np.uint8), np.zeros((8, 8), np.uint8)])
    _append_frames(tmp_path / "dtypes.tif", [np.ones((4, 4), np.uint8), np.ones((4, 4), np.uint16)])
    _no_series(monkeypatch)
    with open_source(path) as s:
        stack = s.stack()
        assert stack.shape == (1, 4, 4) and stack[0][0, 0] == 1
        assert "'mixed.tif' holds 3 series of different shape; showing the first" in s.warnings
    with open_source(tmp_path / "dtypes.tif") as s:
        assert len(s.stack()) == 1 and s.stack().dtype == np.uint8
        assert any("2 series of different shape; showing the first" in w for w in s.warnings)


def test_several_series_without_tifffile_metadata(tmp_path):
    same, mixed = tmp_path / "same.ome.tif", tmp_path / "generic.tif"
    with tifffile.TiffWriter(same, ome=True) as w:  # OME: two images of one shape
        w.write(np.full((2, 4, 4), 1, np.uint16), photometric="minisblack")
        w.write(np.full((2, 4, 4), 2, np.uint16), photometric="minisblack")
    _append_frames(mixed, [np.ones((4, 4), np.uint8), np.zeros((3, 3), np.uint8)], metadata=None)
    with open_source(same) as s:
        stack = s.stack()
        assert len(stack) == 4 and stack[3][0, 0] == 2 and stack[1][0, 0] == 1
        assert stack.axis_indices(3)["series"] == 1
        assert not s.warnings
    with open_source(mixed) as s:
        assert len(s.stack()) == 1
        assert "'generic.tif' holds 2 series of different shape; showing the first" in s.warnings


def test_appended_file_with_a_page_unlike_the_first_is_reported_when_read(tmp_path):
    path = tmp_path / "odd.tif"
    _append_frames(path, [np.zeros((4, 4), np.uint8)] * 3)
    with open_source(path) as s:
        assert len(s.stack()) == 3
        layout = s._layout
        layout.page_shape = (5, 4)  # as if the scan had missed a page that differs
        with pytest.raises(DatasetError, match=r"frame 1\b.*page 1 .*\(4, 4\) uint8.*\(5, 4\)"):
            s.stack()[1]


def test_numbered_series_of_appended_files(tmp_path, monkeypatch):
    for k in (1, 2):
        _append_frames(tmp_path / f"run_{k:03d}.tif", [np.full((3, 3), 10 * k + j, np.uint16) for j in range(4)])
    _no_series(monkeypatch)
    with open_source(tmp_path / "run_002.tif") as s:
        stack = s.stack()
        assert len(stack) == 8 and s.start_frame == 4
        assert stack[6][0, 0] == 22 and stack.axis_indices(6) == {"I": 2, "file": 1}
        assert s.per_frame("/entry_1/data_1/file_number").tolist() == [1] * 4 + [2] * 4


def test_opening_20000_appended_pages_reads_no_page_objects(tmp_path, monkeypatch):
    """20 000 frames appended one by one open without a TiffPage per page (tifffile's series
    did that, and took ~50 s); timing is left to benchmarks, this counts the work."""
    path = tmp_path / "many.tif"
    with tifffile.TiffWriter(path) as w:
        for k in range(20000):
            w.write(np.full((2, 2), k % 251, np.uint8))
    created = []
    real_init = tifffile.TiffPage.__init__

    def counting_init(self, *args, **kwargs):
        created.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffPage, "__init__", counting_init)
    _no_series(monkeypatch)
    with open_source(path) as s:
        assert s.frame_count == 20000
        assert len(created) <= 2
        assert s.stack()[19999][0, 0] == 19999 % 251
