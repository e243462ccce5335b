"""Owl's ``tags`` dataset: reading every variant of spec/formats.md §2.2, writing Owl's exact
layout (formats.md §7 checks 3 and 4) and writing into existing datasets."""

import h5py
import numpy as np
import pytest

from owlx.core.tagtable import PALETTE, TagTable
from owlx.io.tags_h5 import headings_array, plan_tags, read_tags
from owlx.io.writeplan import WritePlan, execute

G = "/entry_1/image_1"


def owl_file(path, members, headings=None, colors=None, **ds_options):
    """A tags dataset as Python-2 Owl wrote it (FXIhub/owl, cxi/tagsitem.py ``saveTags``)."""
    with h5py.File(path, "w") as f:
        options = {"maxshape": (None, None), "chunks": (1, 10000), **ds_options}
        ds = f.create_group(G).create_dataset("tags", data=np.asarray(members, np.int8), **options)
        ds.attrs["axes"] = np.array([b"tag:experiment_identifier"], dtype="S25")
        if headings is not None:
            ds.attrs["headings"] = np.array([h.encode() for h in headings])
        if colors is not None:
            ds.attrs["colors"] = np.asarray(colors, np.uint8)
    return path


def read(path, n, group=G):
    with h5py.File(path, "r") as f:
        return read_tags(f, group, n)


def write(path, table, n, **kw):
    """Plan against a read handle, close it, then execute (as a save does)."""
    with h5py.File(path, "r") as f:
        plan = WritePlan(f, str(path))
        plan_tags(plan, G, table, n, **kw)
    if plan.ok:
        execute(plan, str(path), "r+")
    return plan


def table(names, members, colors=None):
    members = np.asarray(members, bool)
    colors = colors if colors is not None else [PALETTE[i % 9] for i in range(len(names))]
    return TagTable(list(names), np.asarray(colors, np.uint8).reshape(-1, 3), members)


# -- reading -----------------------------------------------------------------------------------

def test_owl_layout_reads_names_colours_members(tmp_path):
    members = np.zeros((2, 8), np.int8)
    members[0, [1, 2]] = 1
    members[1, 7] = 1
    path = owl_file(tmp_path / "owl.cxi", members, ["good", "fail"], [[52, 102, 164], [204, 0, 0]])
    got = read(path, 8)
    assert got.table.names == ["good", "fail"] and got.warnings == []
    assert got.table.colors.tolist() == [[52, 102, 164], [204, 0, 0]]
    assert got.table.members.tolist() == members.astype(bool).tolist()
    assert read(path, 8, group="/entry_1/data_1") is None


def test_many_tags_without_colors_use_the_palette(tmp_path):
    for n_tags in (8, 10):
        path = owl_file(tmp_path / f"t{n_tags}.cxi", np.eye(n_tags, 12), [f"t{i}" for i in range(n_tags)])
        got = read(path, 12)
        assert got.table.n_tags == n_tags
        assert [tuple(c) for c in got.table.colors] == [PALETTE[i % 9] for i in range(n_tags)]


@pytest.mark.parametrize(
    "dtype, values",
    [(bool, [[True, False, True]]), (np.int32, [[2, 0, -1]]), (np.uint16, [[7, 0, 1]]), (np.float32, [[1.0, np.nan, 0.5]])],
)
def test_any_integer_or_boolean_dtype_nonzero_is_set(tmp_path, dtype, values):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(G + "/tags", data=np.array(values, dtype=dtype))
    got = read(path, 3)
    assert got.table.members.tolist() == [[True, False, True]]
    assert got.table.names == ["Tag 1"]


def test_one_dimensional_tags(tmp_path):
    path = tmp_path / "1d.h5"
    with h5py.File(path, "w") as f:
        f[G + "/tags"] = np.array([0, 1, 1, 0], np.int8)
        f["/one/tags"] = np.array([1, 0, 1], np.int8)  # N = 1: one column per tag
        f["/one/tags"].attrs["headings"] = np.array([b"a", b"b", b"c"])
    got = read(path, 4)
    assert got.table.n_tags == 1 and got.table.members.tolist() == [[False, True, True, False]]
    got = read(path, 1, group="/one")
    assert got.table.names == ["a", "b", "c"] and got.table.members[:, 0].tolist() == [True, False, True]


@pytest.mark.parametrize("axes", ["experiment_identifier:tag", np.array([b"experiment_identifier:tag"]),
                                  np.array(["experiment_identifier:tag"], dtype=object)])
def test_transposed_axes(tmp_path, axes):
    path = tmp_path / "tr.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/tags", data=np.array([[1, 0], [0, 0], [1, 1]], np.int8))  # (N=3, 2 tags)
        ds.attrs["axes"] = axes
        ds.attrs["headings"] = ["x", "y"]  # variable-length strings (h5py 3 from a list)
    got = read(path, 3)
    assert got.table.names == ["x", "y"]
    assert got.table.members.tolist() == [[True, False, True], [False, False, True]]


def test_scalar_axes_and_headings_variants(tmp_path):
    path = tmp_path / "h.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/tags", data=np.zeros((4, 3), np.int8))
        ds.attrs["axes"] = "tag:experiment_identifier"  # scalar (FXIhub/xfel7927)
        ds.attrs["headings"] = np.array([b"a", b"a", b""])  # short, duplicate, empty
        ds.attrs["colors"] = np.array([[1, 2, 3]], np.uint8)  # short
        f[G + "/tag"] = np.zeros(3)  # xfel7927 siblings
        f[G + "/description"] = b"hits"
    got = read(path, 3)
    assert got.table.names == ["a", "a (2)", "Tag 3", "Tag 4"]
    assert got.table.colors[0].tolist() == [1, 2, 3] and got.table.colors[1].tolist() == list(PALETTE[1])
    assert len(got.warnings) == 3  # duplicate, short headings, short colours

    with h5py.File(path, "a") as f:
        ds = f[G + "/tags"]
        ds.attrs["headings"] = np.array([b"a", b"b", b"c", b"d", b"e"])  # one extra
        ds.attrs["colors"] = np.zeros((4, 4), np.uint8)  # mis-shaped
    got = read(path, 3)
    assert got.table.names == ["a", "b", "c", "d"]
    assert [tuple(c) for c in got.table.colors] == list(PALETTE[:4])
    assert any("ignored" in w for w in got.warnings) and any("palette" in w for w in got.warnings)


def test_more_and_fewer_columns_than_frames(tmp_path):
    path = owl_file(tmp_path / "c.cxi", [[1, 0, 1, 1, 1]], ["t"])
    assert read(path, 3).table.members.tolist() == [[True, False, True]]
    got = read(path, 7)
    assert got.table.members.tolist() == [[True, False, True, True, True, False, False]]
    assert "covers 5 of 7" in got.warnings[0]


# -- writing: a new dataset in Owl's layout ------------------------------------------------------

def test_check_3_new_tags_layout_bytes(tmp_path):
    path = tmp_path / "new.cxi"
    with h5py.File(path, "w") as f:
        f.create_group(G)
    n = 12345
    members = np.zeros((2, n), bool)
    members[1, [0, 12344]] = True
    plan = write(path, table(["good", "failed"], members), n)
    assert plan.ok and plan.created == [G + "/tags"]
    with h5py.File(path, "r") as f:
        ds = f[G + "/tags"]
        assert ds.dtype == np.int8 and ds.shape == (2, n)
        assert ds.chunks == (1, 10000) and ds.maxshape == (None, None)
        assert ds.fillvalue == 0 and ds.compression is None
        assert sorted(ds.attrs) == ["axes", "colors", "headings"]
        axes = ds.attrs["axes"]
        assert axes.dtype == np.dtype("S25") and axes.tolist() == [b"tag:experiment_identifier"]
        assert ds.attrs["headings"].dtype == np.dtype("S6")
        assert ds.attrs["headings"].tolist() == [b"good", b"failed"]
        assert ds.attrs["colors"].dtype == np.uint8 and ds.attrs["colors"].shape == (2, 3)
        assert ds[1, 12344] == 1 and ds[0].sum() == 0


def test_check_4_eight_tags_colors_and_zero_tags_layout(tmp_path):
    path = tmp_path / "eight.cxi"
    with h5py.File(path, "w") as f:
        f.create_group(G)
    write(path, table([f"t{i}" for i in range(8)], np.zeros((8, 5))), 5)
    with h5py.File(path, "r") as f:
        assert f[G + "/tags"].attrs["colors"].shape == (8, 3)
    write(path, TagTable.empty(5), 5)  # every tag deleted
    with h5py.File(path, "r") as f:
        ds = f[G + "/tags"]
        assert ds.shape == (0, 5)
        assert ds.attrs["headings"].dtype == np.dtype("S1") and ds.attrs["headings"].shape == (0,)
        assert ds.attrs["colors"].shape == (0, 3) and ds.attrs["colors"].dtype == np.uint8
    assert read(path, 5).table.n_tags == 0


def test_utf8_headings_are_sized_in_bytes():
    arr = headings_array(["Å", "ok"])
    assert arr.dtype == np.dtype("S2") and arr[0].decode("utf-8") == "Å"
    assert headings_array([]).dtype == np.dtype("S1")


# -- writing into existing datasets --------------------------------------------------------------

def test_unchanged_rows_are_not_rewritten_and_attributes_modified_in_place(tmp_path):
    path = owl_file(tmp_path / "o.cxi", [[1, 0, 0], [0, 1, 0]], ["good", "fail"], [[1, 1, 1], [2, 2, 2]])
    t = read(path, 3).table
    t.members[1, 2] = True
    plan = write(path, t, 3)
    assert [s.text for s in plan.ordered_steps()] == [f"write tag 'fail' (2 frames) to {G}/tags"]
    t.names[1] = "bad!"  # same length: headings modified in place
    plan = write(path, t, 3)
    assert any("@headings" in s for s in plan.describe())
    with h5py.File(path, "r") as f:
        assert f[G + "/tags"].attrs["headings"].tolist() == [b"good", b"bad!"]
        assert f[G + "/tags"][1].tolist() == [0, 1, 1]


def test_extra_columns_follow_their_tag(tmp_path):
    members = np.array([[1, 0, 0, 1, 1], [0, 1, 0, 0, 1], [0, 0, 1, 1, 0]], np.int8)
    path = owl_file(tmp_path / "x.cxi", members, ["a", "b", "c"])
    t = read(path, 3).table  # N = 3: columns 3 and 4 are extras
    keep = [2, 0]  # delete b, put c first
    new = TagTable([t.names[i] for i in keep], t.colors[keep], t.members[keep], [t.origins[i] for i in keep])
    new.names[0] = "c renamed"
    new = TagTable(new.names + ["d"], np.vstack([new.colors, [[0, 0, 0]]]),
                   np.vstack([new.members, [[True, True, True]]]), new.origins + [None])
    plan = write(path, new, 3, origins=new.origins)
    assert plan.ok
    with h5py.File(path, "r") as f:
        ds = f[G + "/tags"]
        assert ds.shape == (3, 5)
        assert ds[0].tolist() == [0, 0, 1, 1, 0]  # c with its extras
        assert ds[1].tolist() == [1, 0, 0, 1, 1]  # a with its extras
        assert ds[2].tolist() == [1, 1, 1, 0, 0]  # d: new, no extras
        assert ds.attrs["headings"].tolist() == [b"c renamed", b"a", b"d"]


def test_transposed_dataset_keeps_its_orientation(tmp_path):
    path = tmp_path / "tr.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/tags", data=np.zeros((4, 1), np.int8), maxshape=(None, None), chunks=(4, 1))
        ds.attrs["axes"] = np.array([b"experiment_identifier:tag"])
    t = table(["p", "q"], [[1, 0, 0, 1], [0, 1, 1, 0]])
    assert write(path, t, 4).ok
    with h5py.File(path, "r") as f:
        ds = f[G + "/tags"]
        assert ds.shape == (4, 2) and ds[:, 1].tolist() == [0, 1, 1, 0]
        assert ds.attrs["axes"].tolist() == [b"experiment_identifier:tag"]
    assert read(path, 4).table.members.tolist() == t.members.tolist()


def test_contiguous_dataset_written_in_place_or_blocked(tmp_path):
    path = tmp_path / "contig.h5"
    with h5py.File(path, "w") as f:
        f[G + "/tags"] = np.zeros((1, 4), np.int8)  # no chunks: cannot be resized
        f[G + "/tags"].attrs["headings"] = np.array([b"a"])
    assert write(path, table(["a"], [[1, 1, 0, 0]]), 4).ok  # same shape: fine
    before = path.read_bytes()
    plan = write(path, table(["a", "b"], np.zeros((2, 4))), 4)
    assert not plan.ok and "not chunked" in plan.reason() and G + "/tags" in plan.reason()
    assert path.read_bytes() == before
    plan = write(path, table(["a"], np.zeros((1, 6))), 6)
    assert not plan.ok


def test_one_dimensional_dataset_cannot_hold_two_tags(tmp_path):
    path = tmp_path / "1d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(G + "/tags", data=np.zeros(4, np.int8), maxshape=(None,), chunks=(4,))
    assert write(path, table(["one"], [[0, 1, 0, 1]]), 4).ok
    with h5py.File(path, "r") as f:
        assert f[G + "/tags"][:].tolist() == [0, 1, 0, 1]
    plan = write(path, table(["one", "two"], np.zeros((2, 4))), 4)
    assert not plan.ok and "incompatible shape" in plan.reason()


def test_siblings_tag_and_description_are_left_alone(tmp_path):
    path = tmp_path / "sib.h5"
    with h5py.File(path, "w") as f:
        f[G + "/tag"] = np.arange(3.0)
        f[G + "/description"] = np.array([b"runs"])
    write(path, table(["t"], [[1, 0, 1]]), 3)
    with h5py.File(path, "r") as f:
        assert f[G + "/tag"][:].tolist() == [0.0, 1.0, 2.0] and f[G + "/description"][0] == b"runs"
        assert f[G + "/tags"].shape == (1, 3)
