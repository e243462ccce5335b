"""CXI / HDF5 reading (spec/formats.md §1, acceptance checks 1, 2 and 12)."""

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from owlx.errors import DatasetError, FileFormatError
from owlx.io import hdf5_stack
from owlx.io.describe import describe_source
from owlx.io.hdf5 import Hdf5Source
from owlx.io.maskbits import valid_from_bits
from owlx.io.open import open_source
from owlx.io.source import Kind

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
EI_S25 = np.array([b"experiment_identifier:y:x"], dtype="S25")


def make(path, build):
    with h5py.File(path, "w") as f:
        build(f)
    return str(path)


# -- acceptance check 1: classification -----------------------------------------------------
def test_minimal_2d_dataset_is_a_single_image(tmp_path):
    p = make(tmp_path / "m.cxi", lambda f: f.create_dataset("entry_1/data_1/data", data=np.random.rand(50, 100)))
    with open_source(p) as s:
        node = s.node("/entry_1/data_1/data")
        assert node.kind is Kind.IMAGE
        assert s.default_stack_path() == "/entry_1/data_1/data"
        stack = s.stack()
        assert len(stack) == 1 and s.frame_count == 1
        assert stack.shape == (1, 50, 100)
        with h5py.File(p) as f:
            assert np.array_equal(stack[0], f["entry_1/data_1/data"][()])


def test_3d_without_attributes_is_a_stack(tmp_path):
    data = np.random.rand(10, 64, 64).astype(np.float32)
    p = make(tmp_path / "s.h5", lambda f: f.create_dataset("stack", data=data))
    with open_source(p) as s:
        assert s.node("/stack").kind is Kind.STACK
        assert s.default_stack_path() == "/stack"
        stack = s.stack("/stack")
        assert len(stack) == 10 and stack.dtype == np.float32
        assert np.array_equal(stack[3], data[3])
        assert np.array_equal(stack[-1], data[9])
        with pytest.raises(IndexError):
            stack[10]


def test_2d_with_yx_axes_is_a_single_image(tmp_path):
    def build(f):
        f.create_dataset("entry_1/image_1/data", data=np.zeros((4, 16, 16)))
        f["entry_1/image_1/mask_shared"] = np.zeros((16, 16), np.uint16)
        f["entry_1/image_1/mask_shared"].attrs["axes"] = "y:x"

    with open_source(make(tmp_path / "a.h5", build)) as s:
        node = s.node("/entry_1/image_1/mask_shared")
        assert node.kind is Kind.IMAGE and node.frame_axis is None


AXES_ROWS = [
    (EI_S25, (5, 4, 4), Kind.STACK, 0),
    ("experiment_identifier:y:x", (5, 4, 4), Kind.STACK, 0),
    ("tag:experiment_identifier", (3, 5), Kind.FRAME_VECTOR, 1),
    (["tag:experiment_identifier"], (3, 5), Kind.FRAME_VECTOR, 1),  # h5py 3: variable-length str array
    (np.array([b"experiment_identifier", b"y", b"x"]), (5, 4, 4), Kind.STACK, 0),
    ("y:x", (4, 4), Kind.IMAGE, None),
]


@pytest.mark.parametrize("axes, shape, kind, frame_axis", AXES_ROWS)
def test_every_row_of_the_axes_table(tmp_path, axes, shape, kind, frame_axis):
    def build(f):
        f.create_dataset("entry_1/image_1/data", data=np.zeros((5, 4, 4)))
        ds = f.create_dataset("entry_1/image_1/x", data=np.zeros(shape))
        ds.attrs["axes"] = axes

    with open_source(make(tmp_path / "ax.h5", build)) as s:
        node = s.node("/entry_1/image_1/x")
        assert (node.kind, node.frame_axis) == (kind, frame_axis)


def test_tag_matrix_per_frame_values_follow_frame_axis_1(tmp_path):
    tags = np.array([[1, 0, 1, 0, 0], [0, 1, 1, 0, 1]], dtype=np.int8)

    def build(f):
        f.create_dataset("entry_1/image_1/data", data=np.zeros((5, 4, 4)))
        f["entry_1/image_1/tags"] = tags
        f["entry_1/image_1/tags"].attrs["axes"] = np.array([b"tag:experiment_identifier"], dtype="S25")

    with open_source(make(tmp_path / "t.h5", build)) as s:
        values = s.per_frame("/entry_1/image_1/tags")
        assert values.shape == (5, 2)
        assert np.array_equal(values, tags.T)


# -- acceptance check 2: frame count ----------------------------------------------------------
def test_num_events_sets_n_and_aligns_per_frame_datasets(tmp_path):
    def build(f):
        ds = f.create_dataset("entry_1/image_1/data", data=np.arange(100 * 64, dtype=np.float32).reshape(100, 8, 8))
        ds.attrs["numEvents"] = np.array([60])
        f["entry_1/image_1/score"] = np.arange(60.0)
        padded = f.create_dataset("entry_1/image_1/model/diameterNM", data=np.arange(100.0))
        padded.attrs["axes"] = np.array([b"experiment_identifier"], dtype="S21")
        f["entry_1/image_1/plain100"] = np.arange(100.0)
        short = f.create_dataset("entry_1/image_1/short", data=np.arange(40, dtype=np.int32))
        short.attrs["axes"] = "experiment_identifier"
        f["entry_1/image_1/translation"] = np.ones((60, 3))
        f["entry_1/image_1/wide"] = np.ones((60, 17))

    with open_source(make(tmp_path / "n.cxi", build)) as s:
        stack = s.stack()
        assert len(stack) == 60 and s.frame_count == 60
        with pytest.raises(IndexError):
            stack[60]  # frames at index >= N are never read
        assert s.node("/entry_1/image_1/score").kind is Kind.FRAME_SCALAR
        assert s.node("/entry_1/image_1/plain100").kind is Kind.ARRAY
        assert s.node("/entry_1/image_1/translation").kind is Kind.FRAME_VECTOR
        assert s.node("/entry_1/image_1/wide").kind is Kind.IMAGE
        model = s.per_frame("/entry_1/image_1/model/diameterNM")
        assert model.shape == (60,) and model[-1] == 59.0  # sliced [:N]
        assert s.per_frame("/entry_1/image_1/translation").shape == (60, 3)
        short = s.per_frame("/entry_1/image_1/short")
        assert short.shape == (60,) and short.dtype == np.float64
        assert np.array_equal(short[:40], np.arange(40)) and np.isnan(short[40:]).all()
        assert any("covers 40 of 60 frames" in w for w in s.warnings)
        with pytest.raises(DatasetError, match="plain100"):
            s.per_frame("/entry_1/image_1/plain100")
        # the cache hands out copies
        model[:] = -1
        assert s.per_frame("/entry_1/image_1/model/diameterNM")[0] == 0.0


def test_rules_3_and_5_are_re_evaluated_when_the_image_stack_changes(tmp_path):
    def build(f):
        f["a/data"] = np.zeros((60, 4, 4))
        f["b/data"] = np.zeros((100, 4, 4))
        f["v"] = np.zeros(100)

    with open_source(make(tmp_path / "r.h5", build)) as s:
        assert s.default_stack_path() == "/a/data"
        assert s.node("/v").kind is Kind.ARRAY
        s.set_image("/b/data")
        assert s.frame_count == 100 and s.node("/v").kind is Kind.FRAME_SCALAR
        s.set_frame_count(60)
        assert s.node("/v").kind is Kind.ARRAY


def test_values_strings_and_compounds(tmp_path):
    def build(f):
        f["data"] = np.zeros((3, 4, 4))
        f["name"] = "hello"
        f["energy"] = 1.0
        f["rec"] = np.zeros(3, dtype=[("a", "i4"), ("b", "f8")])
        f["ids"] = np.array([b"a", b"b", b"c"])
        f["ids"].attrs["axes"] = "experiment_identifier"

    with open_source(make(tmp_path / "v.h5", build)) as s:
        for name in ("name", "energy", "rec", "ids"):
            assert s.node("/" + name).kind is Kind.VALUE, name
        assert s.read("/energy") == 1.0


# -- frames -------------------------------------------------------------------------------------
def test_complex_bool_module_and_extra_axes(tmp_path):
    rng = np.random.default_rng(1)
    comp = np.zeros((3, 4, 5), dtype=[("r", "<f4"), ("i", "<f4")])
    comp["r"], comp["i"] = rng.random((3, 4, 5)), rng.random((3, 4, 5))
    modules = rng.integers(0, 100, (3, 2, 4, 5)).astype(np.uint16)
    extra = rng.random((3, 2, 4, 5))
    flags = rng.random((3, 4, 5)) > 0.5

    def build(f):
        f["c"] = comp
        f["z"] = (comp["r"] + 1j * comp["i"]).astype(np.complex128)
        f["m"] = modules
        f["m"].attrs["axes"] = "experiment_identifier:module_identifier:y:x"
        f["e"] = extra
        f["e"].attrs["axes"] = "experiment_identifier:channel:y:x"
        f["b"] = flags
        f["t"] = np.transpose(extra[:, 0], (2, 0, 1))  # (x, EI, y)
        f["t"].attrs["axes"] = "x:experiment_identifier:y"

    with open_source(make(tmp_path / "c.h5", build)) as s:
        c = s.stack("/c")
        assert c.dtype == np.complex64
        assert np.array_equal(c[1], comp["r"][1] + 1j * comp["i"][1])
        assert s.stack("/z").dtype == np.complex128
        m = s.stack("/m")
        assert m.shape == (3, 8, 5)
        assert np.array_equal(m[2], np.concatenate([modules[2, 0], modules[2, 1]]))
        e = s.stack("/e")
        assert e.extra_axes == {1: ("channel", 2)}
        assert np.array_equal(e[0], extra[0, 0])
        e.extra_index[1] = 1
        assert np.array_equal(e[0], extra[0, 1])
        b = s.stack("/b")
        assert b.dtype == np.uint8 and np.array_equal(b[2], flags[2].astype(np.uint8))
        t = s.stack("/t")
        assert t.shape == (3, 4, 5) and np.array_equal(t[1], extra[1, 0])


def test_large_frames_are_read_in_row_blocks(tmp_path, monkeypatch):
    data = np.random.default_rng(0).random((2, 100, 37)).astype(np.float32)
    p = make(tmp_path / "big.h5", lambda f: f.create_dataset("d", data=data, chunks=(1, 8, 37)))
    calls = []
    real = h5py.Dataset.read_direct

    def spy(self, dest, source_sel=None, dest_sel=None):
        calls.append(source_sel)
        return real(self, dest, source_sel, dest_sel)

    monkeypatch.setattr(hdf5_stack, "ROW_BLOCK_BYTES", 20 * 37 * 4)  # 20 rows -> 16 (2 chunks)
    monkeypatch.setattr(h5py.Dataset, "read_direct", spy)
    with open_source(p) as s:
        assert np.array_equal(s.stack("/d")[1], data[1])
    assert len(calls) == 7  # 100 rows in blocks of 16 rows (whole chunks)


# -- links, walks and the result group ------------------------------------------------------------
def build_linked(f):
    f.create_dataset("entry_1/image_1/data", data=np.zeros((4, 8, 8)))
    f["entry_1/instrument_1/detector_1/distance"] = 0.1
    f["entry_1/image_1/detector_1"] = h5py.SoftLink("/entry_1/instrument_1/detector_1")
    f["entry_1/data_1"] = h5py.SoftLink("/entry_1/image_1")
    f["top"] = np.zeros((5, 5))


def test_soft_links_are_followed_and_marked(tmp_path):
    with open_source(make(tmp_path / "l.cxi", build_linked)) as s:
        node = s.node("/entry_1/data_1")
        assert node.kind is Kind.GROUP and node.link_target == "/entry_1/image_1"
        assert s.node("/entry_1/data_1/data").kind is Kind.STACK
        assert s.node("/entry_1/image_1/detector_1").link_target == "/entry_1/instrument_1/detector_1"
        assert [n.name for n in s.node("/entry_1").children()] == ["data_1", "image_1", "instrument_1"]
        assert [n.path for n in s.stacks()].count("/entry_1/image_1/data") == 1
        assert len(s.stacks()) == 2  # image_1/data once (not again through data_1), and /top


def test_result_group_resolves_soft_links(tmp_path):
    with open_source(make(tmp_path / "l.cxi", build_linked)) as s:
        assert s.result_group("/entry_1/data_1/data") == "/entry_1/image_1"
        assert s.result_group("/entry_1/image_1/data") == "/entry_1/image_1"
        assert s.result_group("/top") == "/"


def test_result_group_for_a_linked_dataset_prefers_owls_existing_tags(tmp_path):
    def build(f):
        f.create_dataset("entry_1/instrument_1/detector_1/data", data=np.zeros((4, 8, 8)))
        f.create_group("entry_1/data_1")
        f["entry_1/data_1/data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")

    p = make(tmp_path / "o.cxi", build)
    with open_source(p) as s:
        assert s.result_group("/entry_1/data_1/data") == "/entry_1/instrument_1/detector_1"
    with h5py.File(p, "a") as f:
        f["entry_1/data_1/tags"] = np.zeros((1, 4), np.int8)  # written by Owl on the clicked path
    with open_source(p) as s:
        assert s.result_group("/entry_1/data_1/data") == "/entry_1/data_1"
    with h5py.File(p, "a") as f:
        f.create_group("entry_1/instrument_1/detector_1/model")
    with open_source(p) as s:
        assert s.result_group("/entry_1/data_1/data") == "/entry_1/instrument_1/detector_1"
        assert any("both" in w for w in s.warnings)


def test_external_links_are_followed_but_never_written_through(tmp_path):
    ext = make(tmp_path / "raw.h5", lambda f: f.create_dataset("frames", data=np.arange(2 * 9.0).reshape(2, 3, 3)))

    def build(f):
        f.create_group("entry_1/data_1")
        f["entry_1/data_1/data"] = h5py.ExternalLink(os.path.basename(ext), "/frames")

    with open_source(make(tmp_path / "master.h5", build)) as s:
        node = s.node("/entry_1/data_1/data")
        assert node.link_target == "raw.h5:/frames" and node.kind is Kind.STACK
        assert s.stack()[1][0, 0] == 9.0
        assert s.result_group("/entry_1/data_1/data") == "/entry_1/data_1"


def test_hard_link_cycles_and_broken_links_do_not_break_walks(tmp_path):
    def build(f):
        g = f.create_group("a/b")
        g["loop"] = f["a"]  # hard link back to an ancestor
        f["a/self"] = h5py.SoftLink("/a")
        f["a/dangling"] = h5py.SoftLink("/nowhere")
        f["z/img"] = np.zeros((6, 6))

    with open_source(make(tmp_path / "cyc.h5", build)) as s:
        assert s.default_stack_path() == "/z/img"
        loop = s.node("/a/b/loop")
        assert loop.kind is Kind.GROUP and loop.children() == [] and loop.link_target == "/a"
        assert "broken link" in s.node("/a/dangling").note
        assert len(list(s.root.walk())) < 20


def test_default_stack_order(tmp_path):
    def build(f):
        f["a_first/img2d"] = np.zeros((5, 5))
        f["b/c/stack"] = np.zeros((0, 5, 5))  # empty stacks are skipped
        f["b/d/stack"] = np.zeros((2, 5, 5))
        f["entry_1/data_1/data"] = np.zeros((3, 5, 5))

    p = make(tmp_path / "d.h5", build)
    with open_source(p) as s:
        assert s.default_stack_path() == "/entry_1/data_1/data"
    with h5py.File(p, "a") as f:
        f["entry_1/image_1/data"] = np.zeros((2, 5, 5))
        del f["entry_1/data_1/data"]
    with open_source(p) as s:
        assert s.default_stack_path() == "/entry_1/image_1/data"
    with h5py.File(p, "a") as f:
        del f["entry_1"]
    with open_source(p) as s:
        assert s.default_stack_path() == "/b/d/stack"  # first stack breadth-first beats a 2-D image
    p2 = make(tmp_path / "only2d.h5", lambda f: f.create_dataset("x/y", data=np.zeros((3, 3))))
    with open_source(p2) as s:
        assert s.default_stack_path() == "/x/y"
    p3 = make(tmp_path / "none.h5", lambda f: f.create_dataset("v", data=np.zeros(3)))
    with open_source(p3) as s:
        assert s.default_stack_path() is None
        with pytest.raises(DatasetError, match="no image dataset"):
            s.stack()


def test_lazy_tree_lists_only_what_is_asked(tmp_path):
    def build(f):
        for k in range(50):
            f.create_group(f"entry_{k}").create_dataset("v", data=np.zeros(3))
        f["entry_1/image_1/data"] = np.zeros((2, 4, 4))

    with open_source(make(tmp_path / "lazy.h5", build)) as s:
        assert "/entry_30/v" not in s._nodes  # default found by direct lookup: nothing walked
        names = [n.name for n in s.root.children()]
        assert names[:3] == ["entry_0", "entry_1", "entry_2"] and names[10] == "entry_10"  # natural order
        assert s.node("/entry_30/v").kind is Kind.ARRAY


def test_listing_reads_only_the_attributes_classification_needs(tmp_path, monkeypatch):
    def build(f):
        f["entry_1/image_1/data"] = np.zeros((4, 8, 8))
        f["entry_1/image_1/data"].attrs["axes"] = EI_S25
        f["entry_1/image_1/data"].attrs["units"] = "ADU"
        g = f.create_group("entry_1/sample_1")
        g.attrs["NX_class"] = "NXsample"
        ds = g.create_dataset("injector_y", data=np.arange(4.0))
        ds.attrs["units"] = "m"
        ds.attrs["long_note"] = "x" * 1000
        ds.attrs["numEvents"] = np.array([3])
        g["plain"] = np.arange(4.0)
        f["entry_1/empty"] = h5py.Empty("f4")
        f["entry_1/my_type"] = np.dtype("f4")  # a committed datatype

    p = make(tmp_path / "attrs.cxi", build)
    read = []
    real = h5py.AttributeManager.__getitem__

    def spy(self, name):
        read.append(name.decode() if isinstance(name, bytes) else name)
        return real(self, name)

    monkeypatch.setattr(h5py.AttributeManager, "__getitem__", spy)
    with open_source(p) as s:
        children = s.node("/entry_1/sample_1").children()
        assert set(read) <= {"axes", "numEvents"}  # never units, long_note or NX_class
        inj = s.node("/entry_1/sample_1/injector_y")
        assert inj.kind is Kind.ARRAY  # numEvents (3) was read: 3 values do not match N = 4
        assert [c.name for c in children] == ["injector_y", "plain"]
        # the rest is read when asked for (a tooltip, owlx info)
        assert inj.attrs["units"] == "m" and len(inj.attrs["long_note"]) == 1000
        assert s.node("/entry_1/sample_1").attrs["NX_class"] == "NXsample"
        assert s.node("/entry_1/image_1/data").attrs["units"] == "ADU"
        assert s.node("/entry_1/empty").kind is Kind.VALUE and s.node("/entry_1/empty").shape == ()
        assert s.node("/entry_1/my_type").note == "Datatype"
        late = s.node("/entry_1/image_1")
    assert late.attrs == {}  # read after close: empty, no exception


def build_many(f, n=3000):
    f["a/data"] = np.zeros((60, 4, 4), np.float32)
    f["b/data"] = np.arange(100 * 16, dtype=np.float32).reshape(100, 4, 4)
    f["score"] = np.arange(100.0)
    many = f.create_group("many")
    space, f8 = h5py.h5s.create_simple((100,)), h5py.h5t.IEEE_F64LE
    for i in range(n):
        h5py.h5d.create(many.id, f"value_{i}".encode(), f8, space)


def test_listing_on_a_worker_while_frames_are_read_and_n_changes(tmp_path):
    """The GUI lists groups on a worker while its own thread reads frames and switches the
    image stack: no errors, and every node ends up classified with the final N."""
    with open_source(make(tmp_path / "many.h5", build_many)) as s:
        errors = []

        def list_many():
            try:
                s.node("/many").children()
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        worker = threading.Thread(target=list_many)
        worker.start()
        turns = 0
        while worker.is_alive() or turns < 4:
            stack = s.set_image("/b/data" if turns % 2 else "/a/data")
            assert stack[turns % len(stack)].shape == (4, 4)
            if turns % 2:
                assert s.per_frame("/score")[-1] == 99.0
            turns += 1
        worker.join()
        assert errors == []
        expected = Kind.FRAME_SCALAR if s.frame_count == 100 else Kind.ARRAY
        kinds = {c.kind for c in s.node("/many").children()}
        assert kinds == {expected}
        s.set_image("/b/data" if s.frame_count == 60 else "/a/data")
        other = Kind.ARRAY if expected is Kind.FRAME_SCALAR else Kind.FRAME_SCALAR
        assert {c.kind for c in s.node("/many").children()} == {other}


def test_a_group_is_listed_once_when_two_threads_ask(tmp_path):
    with open_source(make(tmp_path / "many.h5", build_many)) as s:
        group = s.node("/many")
        results = [None, None]
        start = threading.Barrier(2)

        def list_it(k):
            start.wait()
            results[k] = group.children()

        threads = [threading.Thread(target=list_it, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results[0] is results[1] and len(results[0]) == 3000
        assert s.node("/many/value_17") is results[0][17]  # one node object per path


# -- masks -------------------------------------------------------------------------------------------
def test_masks_per_frame_shared_and_bits(tmp_path):
    shared = np.zeros((8, 8), np.uint16)
    shared[0, 0], shared[0, 1] = 64, 32

    def build(f):
        f["entry_1/image_1/data"] = np.zeros((4, 8, 8))
        f["entry_1/image_1/mask_shared"] = shared
        f["entry_2/image_1/data"] = np.zeros((4, 8, 8))
        f["entry_2/image_1/mask"] = np.arange(4 * 64, dtype=np.uint16).reshape(4, 8, 8)
        f["entry_3/image_1/data"] = np.zeros((4, 8, 8))
        f["entry_3/image_1/mask"] = np.zeros((8, 9), np.uint16)  # wrong shape
        f["entry_4/image_1/data"] = np.zeros((4, 8, 8))

    with open_source(make(tmp_path / "mask.cxi", build)) as s:
        m = s.mask_stack("/entry_1/image_1/data")
        assert len(m) == 1 and m.dtype == np.uint16
        valid = valid_from_bits(m[0])
        assert not valid[0, 0] and valid[0, 1]  # 64 masked, 32 not with 5855
        m2 = s.mask_stack("/entry_2/image_1/data")
        assert len(m2) == 4 and m2[3][0, 0] == 3 * 64
        assert s.mask_stack("/entry_3/image_1/data") is None
        assert any("(8, 9)" in w for w in s.warnings)
        assert s.mask_stack("/entry_4/image_1/data") is None


# -- geometry (acceptance check 12) ---------------------------------------------------------------------
def test_geometry_energy_distance_pixel_size(tmp_path):
    def build(f):
        f["entry_1/image_1/data"] = np.zeros((2, 4, 4))
        f["entry_1/image_1/source_1/energy"] = 8.8119715e-16
        f["entry_1/instrument_1/detector_1/distance"] = 2400.0
        f["entry_1/instrument_1/detector_1/x_pixel_size"] = 75.0
        f["entry_1/instrument_1/detector_1/x_pixel_size"].attrs["units"] = "um"
        f["entry_1/instrument_1/detector_1/y_pixel_size"] = 80e-6

    with open_source(make(tmp_path / "g.cxi", build)) as s:
        geo = s.geometry("/entry_1/image_1/data")
        assert geo.wavelength_m * 1e9 == pytest.approx(0.225426, abs=1e-6)
        assert geo.sources["wavelength"] == "/entry_1/image_1/source_1/energy"
        assert geo.distance_m is None  # 2400 "m" is rejected, not converted
        msg = next(w for w in geo.warnings if "distance" in w)
        assert "2400" in msg and "mm" in msg
        assert geo.pixel_size_m == pytest.approx(75e-6)
        assert any("y_pixel_size" in w for w in geo.warnings)
        assert not geo.known


def test_geometry_units_per_frame_and_entry_fallbacks(tmp_path):
    def build(f):
        f["entry_1/data_1/data"] = np.zeros((3, 4, 4))
        f["entry_1/instrument_1/monochromator_1/energy"] = 5500.0
        f["entry_1/instrument_1/monochromator_1/energy"].attrs["units"] = "eV"
        d = f.create_dataset("entry_1/data_1/detector_1/distance", data=[0.5, 0.5, 0.7])
        d.attrs["units"] = np.bytes_(b"m")
        f["entry_1/data_1/detector_1/x_pixel_size"] = 110e-6
        f["entry_1/data_1/detector_1/y_pixel_size"] = 110e-6

    with open_source(make(tmp_path / "g2.cxi", build)) as s:
        geo = s.geometry()
        assert geo.wavelength_m * 1e9 == pytest.approx(0.225426, abs=2e-6)
        assert geo.distance_m == 0.5  # frame 0
        assert any("differs by more than 1%" in w for w in geo.warnings)
        assert s.geometry(frame=2).distance_m == pytest.approx(0.7)
        assert geo.pixel_size_m == pytest.approx(110e-6)
        assert geo.known


def test_geometry_absent_and_implausible_energy(tmp_path):
    def build(f):
        f["entry_1/image_1/data"] = np.zeros((2, 4, 4))
        f["entry_1/image_1/source_1/energy"] = 5.5  # keV written without units

    with open_source(make(tmp_path / "g3.cxi", build)) as s:
        geo = s.geometry("/entry_1/image_1/data")
        assert geo.wavelength_m is None and geo.distance_m is None and geo.pixel_size_m is None
        assert "keV" in geo.warnings[0]


# -- errors ------------------------------------------------------------------------------------------------
def test_non_image_and_empty_stacks_raise_dataset_error(tmp_path):
    def build(f):
        f["entry_1/data_1/data"] = np.zeros((3, 4, 4))
        f["entry_1/data_1/score"] = np.zeros(3)
        f["empty"] = np.zeros((0, 4, 4))
        f.create_group("g")

    with open_source(make(tmp_path / "e.h5", build)) as s:
        with pytest.raises(DatasetError, match=r"'/entry_1/data_1/score' in 'e.h5' is a per-frame scalar"):
            s.stack("/entry_1/data_1/score")
        with pytest.raises(DatasetError, match="holds no frames"):
            s.stack("/empty")
        with pytest.raises(DatasetError, match="no dataset '/missing'"):
            s.stack("/missing")
        with pytest.raises(DatasetError, match="group"):
            s.stack("/g")
    with pytest.raises(DatasetError, match="closed"):
        s.stack("/entry_1/data_1/data")[0]


def test_truncated_real_file_is_a_file_format_error(tmp_path):
    src = DATA / "cxidb/minimal.cxi"
    if not src.exists():
        pytest.skip("real data not available")
    raw = src.read_bytes()
    cut = tmp_path / "cut.cxi"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match=r"cannot open 'cut.cxi': the file is truncated or corrupt"):
        open_source(cut)


def test_missing_filter_names_the_filter_and_hdf5plugin(tmp_path):
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        ds = f.create_dataset("d", shape=(2, 4, 4), dtype="f4", chunks=(1, 4, 4), compression=39999,
                              allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0, 0), bytes(64))
    with open_source(p) as s:
        with pytest.raises(DatasetError, match=r"filter id 39999.*hdf5plugin"):
            s.stack("/d")[0]


def test_file_held_by_a_writer_opens_without_locking(tmp_path):
    p = make(tmp_path / "locked.h5", lambda f: f.create_dataset("d", data=np.zeros((2, 3, 3))))
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import h5py, sys
            f = h5py.File({str(p)!r}, "a")
            print("ready", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with open_source(p) as s:
            assert len(s.stack()) == 2
            assert any("without file locking" in w for w in s.warnings)
    finally:
        holder.communicate("\n", timeout=30)


def test_live_swmr_refresh_follows_a_writer(tmp_path):
    p = tmp_path / "live.h5"
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import h5py, numpy as np, sys
            f = h5py.File({str(p)!r}, "w", libver="latest")
            ds = f.create_dataset("entry_1/data_1/data", shape=(2, 4, 4), maxshape=(None, 4, 4),
                                  chunks=(1, 4, 4), dtype="f4", fillvalue=0)
            ds[:] = np.arange(2)[:, None, None]
            ds.attrs["numEvents"] = np.array([2])
            f.swmr_mode = True
            f.flush()
            print("ready", flush=True)
            sys.stdin.readline()
            ds.resize((6, 4, 4))
            ds[2:6] = np.arange(2, 6)[:, None, None]
            ds.attrs.modify("numEvents", np.array([5]))
            f.flush()
            print("grown", flush=True)
            sys.stdin.readline()
            f.close()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        with open_source(p, swmr=True) as s:
            assert s.swmr
            stack = s.stack()
            assert len(stack) == 2 and s.frame_count == 2
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "grown"
            assert stack.refresh() is True
            s.refresh()
            assert len(stack) == 5 and s.frame_count == 5  # numEvents (5) < shape (6)
            assert stack[4][0, 0] == 4.0
    finally:
        writer.communicate("\n", timeout=30)


def test_real_minimal_cxi():
    path = DATA / "cxidb/minimal.cxi"
    if not path.exists():
        pytest.skip("real data not available")
    with open_source(path) as s:
        assert isinstance(s, Hdf5Source)
        assert s.default_stack_path() == "/entry_1/data_1/data"
        assert s.node("/entry_1/data_1/data").kind is Kind.IMAGE
        stack = s.stack()
        assert stack.shape == (1, 50, 100) and stack.dtype == np.float64
        with h5py.File(path) as f:
            assert np.array_equal(stack[0], f["entry_1/data_1/data"][()])


# -- opening reads no frame data --------------------------------------------------------------------------------
@pytest.mark.slow
def test_opening_a_2gb_file_reads_no_frames(tmp_path):
    psutil = pytest.importorskip("psutil")
    if shutil.disk_usage(tmp_path).free < 5e9:
        pytest.skip("needs 5 GB of free disk")
    p = tmp_path / "big.h5"
    n, ny, nx = 500, 1024, 1024
    block = np.random.default_rng(0).random((10, ny, nx), dtype=np.float32)
    with h5py.File(p, "w") as f:
        ds = f.create_dataset("entry_1/data_1/data", shape=(n, ny, nx), dtype="f4", chunks=(1, ny, nx))
        for k in range(0, n, 10):  # every chunk allocated: a real 2 GB file, written 40 MB at a time
            ds[k : k + 10] = block
    assert p.stat().st_size > 2e9
    proc = psutil.Process()
    try:
        before = proc.memory_info().rss
        with open_source(p) as s:
            stack = s.stack()
            assert len(stack) == 500
            frame = stack[123]
            assert np.array_equal(frame, block[3])
            grown = proc.memory_info().rss - before
        assert grown < 100e6, f"RSS grew by {grown / 1e6:.0f} MB"
    finally:
        p.unlink()  # pytest keeps the last temporary folders: do not leave 2 GB behind


# -- soft-link cycles ---------------------------------------------------------------------------------
def build_soft_cycles(f):
    """A good image at the CXI default path plus soft-link cycles in every place owlx looks."""
    f["entry_1/image_1/data"] = np.arange(3 * 16.0).reshape(3, 4, 4)
    f["entry_1/loop_a"] = h5py.SoftLink("/entry_1/loop_b")
    f["entry_1/loop_b"] = h5py.SoftLink("/entry_1/loop_a")
    f["entry_1/self"] = h5py.SoftLink("/entry_1/self")
    f["entry_1/through"] = h5py.SoftLink("/entry_1/loop_a/data")  # a path that crosses a cycle
    f["entry_1/data_1"] = h5py.SoftLink("/entry_1/data_1")  # the second default path
    f["entry_1/image_1/mask"] = h5py.SoftLink("/entry_1/image_1/mask")  # the mask lookup
    f["entry_1/image_1/mask_shared"] = np.zeros((4, 4), np.uint16)
    f["entry_1/image_1/detector_1"] = h5py.SoftLink("/entry_1/image_1/detector_1")  # geometry lookup
    f["entry_1/image_1/source_1"] = h5py.SoftLink("/entry_1/loop_a")
    f["entry_1/instrument_1/detector_1/distance"] = 0.25


def test_soft_link_cycles_open_and_show_as_broken_links(tmp_path):
    p = make(tmp_path / "softcycle.cxi", build_soft_cycles)
    with open_source(p) as s:
        assert s.default_stack_path() == "/entry_1/image_1/data"
        assert s.stack()[2][0, 0] == 32.0
        for name, target in (("loop_a", "/entry_1/loop_b"), ("self", "/entry_1/self"),
                             ("data_1", "/entry_1/data_1"), ("through", "/entry_1/loop_a/data")):
            node = s.node(f"/entry_1/{name}")
            assert node.kind is Kind.VALUE and node.link_target == target, name
            assert "link cycle" in node.note, name
            assert node.children() == []
        assert "link cycle" in s.node("/entry_1/image_1/mask").note
        assert [n.path for n in s.stacks()] == ["/entry_1/image_1/data", "/entry_1/image_1/mask_shared"]
        # the mask lookup skips the cyclic 'mask' and finds 'mask_shared'
        mask = s.mask_stack("/entry_1/image_1/data")
        assert mask is not None and mask.path == "/entry_1/image_1/mask_shared"
        # geometry skips the cyclic group detector_1 and uses the entry's instrument
        geo = s.geometry("/entry_1/image_1/data")
        assert geo.distance_m == pytest.approx(0.25)
        assert geo.sources["distance"] == "/entry_1/instrument_1/detector_1/distance"
        assert s.result_group("/entry_1/image_1/data") == "/entry_1/image_1"
        with pytest.raises(DatasetError, match="cycle"):
            s.result_group("/entry_1/loop_a/data")
        for call in (s.stack, s.read, s.per_frame):
            with pytest.raises(DatasetError):
                call("/entry_1/loop_a")
        with pytest.raises(DatasetError):
            s.read("/entry_1/through")
        with pytest.raises(KeyError):
            s.node("/entry_1/loop_a/data")
        assert s._read_attrs("/entry_1/loop_a") == {}
        text = describe_source(s)
    line = next(l for l in text.splitlines() if l.strip().startswith("loop_a"))
    assert "-> /entry_1/loop_b" in line and "link cycle" in line and "broken" in line
    assert "* default" in text


def test_soft_link_cycles_default_search_and_owlx_info(tmp_path, capsys):
    def build(f):
        f["entry_1/image_1"] = h5py.SoftLink("/entry_1/data_1")
        f["entry_1/data_1"] = h5py.SoftLink("/entry_1/image_1")
        f["scan/frames"] = np.zeros((5, 6, 6), np.float32)
        f["scan/again"] = h5py.SoftLink("/scan/again")

    p = make(tmp_path / "nodefault.h5", build)
    with open_source(p) as s:
        assert s.default_stack_path() == "/scan/frames" and s.frame_count == 5
    from owlx.cli import main

    assert main(["info", p]) == 0
    out = capsys.readouterr().out
    assert "image_1  broken link -> /entry_1/data_1  [link cycle" in out
    assert "frames  float32 (5×6×6)  stack, N = 5  * default" in out


def test_a_long_chain_of_soft_links_is_broken_but_not_a_cycle(tmp_path):
    def build(f):
        f["g/data"] = np.zeros((2, 3, 3))
        f["g/l0"] = h5py.SoftLink("/g/data")
        for i in range(1, 20):
            f[f"g/l{i}"] = h5py.SoftLink(f"/g/l{i - 1}")

    with open_source(make(tmp_path / "chain.h5", build)) as s:
        assert s.node("/g/l10").kind is Kind.STACK
        node = s.node("/g/l19")  # beyond the 16 soft links HDF5 follows
        assert node.is_broken_link and node.note.startswith("broken link") and "cycle" not in node.note


def test_live_refresh_ignores_soft_link_cycles(tmp_path):
    p = make(tmp_path / "swmr_cycle.h5", lambda f: None)
    with h5py.File(p, "w", libver="latest") as f:
        build_soft_cycles(f)
        f.swmr_mode = True
    with open_source(p, swmr=True) as s:
        assert s.swmr
        s.node("/entry_1").children()
        s.refresh()
        assert s.frame_count == 3


# -- geometry per frame ---------------------------------------------------------------------------------
def test_geometry_per_frame_values_are_read_once(tmp_path, monkeypatch):
    distances = np.array([0.5, 0.5, 0.7, np.nan, 0.6])

    def build(f):
        f["entry_1/image_1/data"] = np.zeros((5, 4, 4))
        f["entry_1/image_1/detector_1/distance"] = distances
        f["entry_1/image_1/detector_1/x_pixel_size"] = 75e-6
        f["entry_1/instrument_1/source_1/energy"] = np.full(5, 8.8119715e-16)

    reads = []
    real_getitem = h5py.Dataset.__getitem__

    def counting_getitem(ds, key):
        reads.append(ds.name)
        return real_getitem(ds, key)

    with open_source(make(tmp_path / "pf.cxi", build)) as s:
        monkeypatch.setattr(h5py.Dataset, "__getitem__", counting_getitem)
        g0 = s.geometry("/entry_1/image_1/data")
        assert g0.distance_m == 0.5
        first_reads = len(reads)
        assert first_reads >= 3
        g2 = s.geometry("/entry_1/image_1/data", frame=2)
        g4 = s.geometry_for_frame("/entry_1/image_1/data", 4)
        assert len(reads) == first_reads  # no dataset read again for other frames
        assert g2.distance_m == pytest.approx(0.7) and g4.distance_m == pytest.approx(0.6)
        assert g2.wavelength_m * 1e9 == pytest.approx(0.225426, abs=1e-6)
        assert g2.pixel_size_m == pytest.approx(75e-6)
        # frame 3 has no finite distance: it is not taken from frame 4 (NaN is not dropped)
        g3 = s.geometry("/entry_1/image_1/data", frame=3)
        assert g3.distance_m is None and any("frame 3" in w for w in g3.warnings)
        assert any("more than 1%" in w for w in g2.warnings)
        # the source's own warnings do not grow with every frame looked at
        n_warnings = len(s.warnings)
        for k in range(5):
            s.geometry("/entry_1/image_1/data", frame=k)
        assert len(s.warnings) <= n_warnings + 1
