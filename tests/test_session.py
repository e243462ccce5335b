"""The headless session: opening, navigation in display order, events, masks, show()."""

import h5py
import numpy as np
import pytest

import owlx
from owlx.errors import DatasetError, FileFormatError, OwlxError


@pytest.fixture
def cxi_file(tmp_path):
    path = tmp_path / "run.cxi"
    with h5py.File(path, "w") as f:
        data = np.arange(6 * 8 * 10, dtype=np.float32).reshape(6, 8, 10)
        ds = f.create_dataset("entry_1/image_1/data", data=data, chunks=(1, 8, 10))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        mask = np.zeros((8, 10), np.uint16)
        mask[0, 0] = 64  # "ignore": masked by default
        mask[0, 1] = 32  # "peakmask": not masked by default
        f["entry_1/image_1/mask_shared"] = mask
        f["entry_1/data_1"] = h5py.SoftLink("/entry_1/image_1")
    return path


def test_open_without_qt_reads_frames_and_mask(cxi_file):
    s = owlx.open(cxi_file)
    assert s.stack_path == "/entry_1/image_1/data"
    assert s.n_frames == 6 and s.stack.frame_shape == (8, 10)
    np.testing.assert_array_equal(s.frame(2), np.arange(80, dtype=np.float32).reshape(8, 10) + 160)
    valid = s.valid_mask()
    assert valid.dtype == bool and not valid[0, 0] and valid[0, 1] and valid.sum() == 79
    s.set_mask_settings(out_bits=5855 | 32)
    assert not s.valid_mask()[0, 1]
    s.set_mask_settings(enabled=False)
    assert s.valid_mask() is None


def test_navigation_follows_display_order_and_emits(cxi_file):
    s = owlx.open(cxi_file)
    seen = []
    s.frame_changed.connect(seen.append)
    s.next()
    s.step(10)  # stops at the end
    s.previous()
    s.first()
    assert seen == [1, 5, 4, 0]
    s.set_order(np.array([5, 3, 1]))
    assert s.frame_index == 5 and s.view_position == 0  # frame 0 was filtered out
    s.next()
    assert s.frame_index == 3
    s.last()
    assert s.frame_index == 1
    assert [i for i, _ in s.frames()] == [5, 3, 1]
    s.frame_index = 2  # a filtered-out frame may still be selected (e.g. typed in the field)
    assert s.view_position is None
    s.next()
    assert s.frame_index == 3  # the next shown frame after 2 in file order
    s.frame_index = 2
    s.previous()
    assert s.frame_index == 5  # one place before frame 3 in the display order [5, 3, 1]
    with pytest.raises(OwlxError, match="does not exist"):
        s.frame_index = 6
    assert s.frame_index == 5


def test_failed_open_keeps_what_was_open(cxi_file, tmp_path):
    s = owlx.open(cxi_file)
    s.frame_index = 3
    bad = tmp_path / "broken.cxi"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(FileFormatError):
        s.open(bad)
    with pytest.raises(FileFormatError):
        s.open(tmp_path / "missing.h5")
    assert s.frame_index == 3 and s.frame().shape == (8, 10)


def test_invalid_display_settings_change_nothing(cxi_file):
    s = owlx.open(cxi_file)
    before = s.display
    with pytest.raises(OwlxError):
        s.set_display(norm="cubic")
    assert s.display == before
    events = []
    s.display_changed.connect(events.append)
    s.set_display(norm="sqrt")
    assert s.display.norm == "sqrt" and len(events) == 1


def test_show_pushes_an_array_and_rejects_nonsense():
    s = owlx.session.Session()
    arr = np.random.default_rng(0).random((3, 4, 5))
    s.show(arr)
    assert s.n_frames == 3
    arr[0] = -1  # the session holds its own copy
    assert s.frame(0).min() >= 0
    with pytest.raises(DatasetError):
        s.show(np.zeros(5))


def test_reload_keeps_dataset_and_frame(cxi_file):
    s = owlx.open(cxi_file, dataset="/entry_1/data_1/data")
    s.frame_index = 4
    s.reload()
    assert s.stack_path == "/entry_1/data_1/data" and s.frame_index == 4


def test_show_refuses_to_drop_unsaved_tags(cxi_file):
    s = owlx.open(cxi_file)
    s.tags.add("fail")
    with pytest.raises(OwlxError, match="unsaved"):
        s.show(np.zeros((2, 3, 3)))
    assert s.tags.names == ("fail",) and s.stack_path == "/entry_1/image_1/data"
    s.show(np.zeros((2, 3, 3)), discard=True)
    assert s.n_frames == 2
