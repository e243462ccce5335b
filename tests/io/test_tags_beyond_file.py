"""plan_tags never writes a tags array wider than the data file's frames (formats.md §2.5
rule 2): tags set beyond the frames to write block the plan instead of being truncated, and a
stale frame count larger than ``<group>/data`` cannot grow ``tags`` past it. Sidecars are not
limited (they keep tags for frames the file no longer has)."""

import h5py
import numpy as np

from owlx.core.tagtable import TagTable
from owlx.io.tags_h5 import plan_tags
from owlx.io.writeplan import WritePlan

G = "/entry_1/image_1"


def data_file(path, n_frames, tags_columns=None):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(f"{G}/data", data=np.zeros((n_frames, 2, 2), np.float32))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        if tags_columns is not None:
            f[G].create_dataset("tags", data=np.zeros((1, tags_columns), np.int8), chunks=(1, 10000),
                                maxshape=(None, None)).attrs["headings"] = np.array([b"hit"])
    return path


def table(n_frames, frames):
    members = np.zeros((1, n_frames), bool)
    members[0, frames] = True
    return TagTable(["hit"], np.array([[255, 0, 0]], np.uint8), members, ["hit"])


def plan(path, tags, n_frames, for_owl=True):
    with h5py.File(path, "r") as f:
        p = WritePlan(f, str(path))
        p.for_owl = for_owl
        plan_tags(p, G, tags, n_frames)
    return p


def test_tags_set_beyond_the_frames_to_write_block_instead_of_being_dropped(tmp_path):
    path = data_file(tmp_path / "run.cxi", 5)
    p = plan(path, table(10, [2, 8]), 5)
    assert not p.ok and p.blocked[0].path == f"{G}/tags" and "frames 5–9 would be lost" in p.blocked[0].reason
    assert plan(path, table(10, [2]), 5).ok  # only empty columns beyond: nothing is lost


def test_a_frame_count_beyond_the_data_cannot_grow_the_tags(tmp_path):
    path = data_file(tmp_path / "run.cxi", 5)
    p = plan(path, table(10, [8]), 10)
    assert not p.ok and "'/entry_1/image_1/data' has 5" in p.blocked[0].reason
    padded = data_file(tmp_path / "owl.cxi", 5, tags_columns=10000)  # Owl's padding stays writable
    assert plan(padded, table(10, [8]), 10).ok
    assert plan(path, table(10, [8]), 10, for_owl=False).ok  # a sidecar keeps them
    assert plan(path, table(5, [4]), 5).ok
