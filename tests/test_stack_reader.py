"""StackReader: jobs read the stack they started on, also across a save (which reopens the file)."""

from __future__ import annotations

import h5py
import numpy as np

import owlx
from owlx.stack_reader import StackReader


def write(path):
    frames = np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8)
    mask = np.zeros((8, 8), np.uint16)
    mask[0, 0] = 1  # CXI "invalid" bit
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = frames
        f["entry_1/data_1/mask"] = mask
    return frames


def test_a_job_reading_across_a_save_goes_on_reading_the_same_frames(tmp_path):
    path = tmp_path / "a.cxi"
    frames = write(path)
    s = owlx.open(str(path))
    reader = StackReader(s)
    np.testing.assert_array_equal(reader.frame(1), frames[1])
    before = reader.mask(1)
    s.tag("hit", [1, 2])
    s.save()  # closes and reopens the file: the reader's stack object is closed now
    np.testing.assert_array_equal(reader.frame(2), frames[2])
    np.testing.assert_array_equal(reader.mask(2), before)
    assert before is not None and not before[0, 0] and before[1, 1]
    s.tag("miss", [3])
    s.save()  # twice: the reader follows the chain of reopened readers
    np.testing.assert_array_equal(reader.frame(3), frames[3])
    assert reader.stack is s.stack
    s.close()
