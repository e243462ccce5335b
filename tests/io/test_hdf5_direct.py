"""GIL-free raw frame reads (owlx.io.hdf5_direct): the same bytes as h5py for every layout the
fast path accepts, and h5py for the layouts it must refuse."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from owlx.io.hdf5_direct import DirectFrames
from owlx.io.open import open_source

RNG = np.random.default_rng(3)
DATA = RNG.random((7, 24, 40)).astype(np.float32)


def write(path, **kwargs):
    with h5py.File(path, "w", **{k: v for k, v in kwargs.items() if k == "userblock_size"}) as f:
        ds = f.create_dataset("entry_1/data_1/data", data=kwargs.get("data", DATA),
                              **{k: v for k, v in kwargs.items() if k in ("chunks", "compression", "dtype")})
        ds.attrs["axes"] = "experiment_identifier:y:x"
    return path


LAYOUTS = {
    "contiguous": {},
    "chunk per frame": {"chunks": (1, 24, 40)},
    "three frames per chunk": {"chunks": (3, 24, 40)},
    "user block, chunked": {"userblock_size": 1024, "chunks": (1, 24, 40)},
    "user block, contiguous": {"userblock_size": 512},
    "big-endian": {"dtype": ">f4"},
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_direct_reads_match_h5py(tmp_path, name):
    path = write(tmp_path / "s.cxi", **LAYOUTS[name])
    with h5py.File(path, "r") as f:
        direct = DirectFrames.for_dataset(f["entry_1/data_1/data"], frame_axis=0)
        assert direct is not None
    with open_source(str(path)) as src:
        stack = src.stack("/entry_1/data_1/data")
        for i in (0, 4, 6):
            frame = stack[i]
            np.testing.assert_array_equal(frame, DATA[i])
        assert stack._direct is not None  # the fast path was taken


@pytest.mark.parametrize("kwargs", [{"chunks": (1, 12, 40)}, {"chunks": (1, 24, 40), "compression": "gzip"}])
def test_layouts_it_refuses_still_read_through_h5py(tmp_path, kwargs):
    path = write(tmp_path / "s.cxi", **kwargs)
    with h5py.File(path, "r") as f:
        assert DirectFrames.for_dataset(f["entry_1/data_1/data"], frame_axis=0) is None
    with open_source(str(path)) as src:
        np.testing.assert_array_equal(src.stack("/entry_1/data_1/data")[5], DATA[5])


def test_an_unwritten_chunk_reads_as_the_fill_value(tmp_path):
    path = tmp_path / "sparse.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/data_1/data", shape=(4, 8, 8), dtype="f4", chunks=(1, 8, 8), fillvalue=-1)
        ds[1] = 5.0
    with open_source(str(path)) as src:
        stack = src.stack("/entry_1/data_1/data")
        assert np.all(stack[1] == 5.0) and np.all(stack[2] == -1.0)


def test_closing_the_source_closes_the_descriptor(tmp_path):
    import os

    path = write(tmp_path / "s.cxi")
    src = open_source(str(path))
    src.stack("/entry_1/data_1/data")[0]
    fd = src._fd
    assert fd is not None
    src.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_dataset_behind_an_external_link_reads_from_its_own_file(tmp_path):
    import os

    raw = write(tmp_path / "raw.h5")
    with h5py.File(tmp_path / "master.cxi", "w") as f:
        f.create_group("entry_1/data_1")
        f["entry_1/data_1/data"] = h5py.ExternalLink(os.path.basename(raw), "/entry_1/data_1/data")
    with open_source(str(tmp_path / "master.cxi")) as src:
        np.testing.assert_array_equal(src.stack("/entry_1/data_1/data")[3], DATA[3])
