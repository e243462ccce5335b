"""Saving tags and results: the plan and procedure of spec/formats.md §2.5–§2.7 (checks 3–10)
and viewer.md §17 checks 3, 4 and 18, through the session as the GUI uses it."""

import hashlib
import os
import subprocess
import sys
import types
from pathlib import Path

import h5py
import numpy as np
import pytest

import owlx
from owlx.io import save as save_module
from owlx.io.save import SaveError, SaveRefused
from owlx.io.writeplan import WritePlan, execute
from owlx.recovery import (
    apply_recovery,
    discard_recovery,
    find_recovery,
    recovery_path,
    write_recovery,
)

G = "/entry_1/image_1"
HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "appdata"))


def make_run(path, n=50, tags=None, extra=None, **file_options):
    """A CXI file with ``n`` tiny frames; ``tags`` = (names, members) in Owl's layout."""
    with h5py.File(path, "w", **file_options) as f:
        ds = f.create_dataset(G + "/data", data=np.arange(n * 4, dtype=np.uint16).reshape(n, 2, 2))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"], dtype="S25")
        f[G + "/hit"] = np.linspace(0, 1, n)
        if tags is not None:
            names, members = tags
            t = f.create_dataset(G + "/tags", data=np.asarray(members, np.int8), chunks=(1, 10000),
                                 maxshape=(None, None))
            t.attrs["axes"] = np.array([b"tag:experiment_identifier"], dtype="S25")
            t.attrs["headings"] = np.array([s.encode() for s in names])
            t.attrs["colors"] = np.array([[52, 102, 164], [245, 121, 0], [117, 80, 123]][: len(names)], np.uint8)
        if extra:
            extra(f)
    return path


def checksum(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def paths_and_lengths(path):
    out = {}

    def visit(name, obj):
        out[name] = obj.shape if isinstance(obj, h5py.Dataset) else None

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


@pytest.fixture
def read_only(tmp_path):
    made = []

    def mark(path):
        os.chmod(path, 0o444 if Path(path).is_file() else 0o555)
        made.append(path)
        return path

    yield mark
    for path in made:
        os.chmod(path, 0o755 if Path(path).is_dir() else 0o644)


# -- into the data file ----------------------------------------------------------------------------

def test_check_3_and_17_3_round_trip_into_a_new_file(tmp_path):
    path = make_run(tmp_path / "run.cxi", n=12345)
    s = owlx.open(path)
    s.tags.add("good")
    s.tags.add("fail")
    s.tags.add("Tag 3")
    s.frame_index = 7
    s.tags.toggle(s.tags.tag_for_key(3), s.frame_index)  # key 3 on frame 7
    assert s.dirty
    reopened = []
    s.source_reopened.connect(reopened.append)
    report = s.save()
    assert report.target == "data" and report.written == [G + "/tags"] and not s.dirty
    assert reopened == [s.source] and s.frame_index == 7 and s.frame(7).tolist() == [[28, 29], [30, 31]]
    with h5py.File(path, "r") as f:
        ds = f[G + "/tags"]
        assert (ds.dtype, ds.shape, ds.chunks, ds.maxshape) == (np.int8, (3, 12345), (1, 10000), (None, None))
        assert ds.attrs["axes"].dtype == np.dtype("S25") and ds.attrs["headings"].dtype.kind == "S"
        assert ds.attrs["colors"].shape == (3, 3) and ds[2, 7] == 1
    s2 = owlx.open(path)
    assert s2.tags.names == ("good", "fail", "Tag 3") and s2.tags.has(2, 7) and s2.tags.counts()[2] == 1
    assert not s2.dirty


def test_check_7_nothing_removed_and_owl_padding_untouched(tmp_path):
    n = 12345

    def padded(f):
        d = f.create_dataset(G + "/model/diameterNM", data=np.arange(20000.0), chunks=(10000,), maxshape=(None,))
        d.attrs["numEvents"] = np.array([12345])
        f[G + "/model/materialType"] = np.array([b"water"])
        f["/entry_1/experiment_identifier"] = np.arange(n)

    path = make_run(tmp_path / "owl.cxi", n=n, tags=(["fail", "good"], np.zeros((2, n))), extra=padded)
    before = paths_and_lengths(path)
    s = owlx.open(path)
    s.tags.delete("good")
    s.tags.add("new")
    s.tags.set_frames("new", np.arange(0, n, 2), True)
    s.save()
    after = paths_and_lengths(path)
    assert set(after) >= set(before)
    for name, shape in before.items():
        if shape and name != "entry_1/image_1/tags":
            assert after[name][0] >= shape[0]
    assert after["entry_1/image_1/tags"] == (2, n)  # only the tag axis shrinks
    with h5py.File(path, "r") as f:
        assert f[G + "/model/diameterNM"][:].tolist() == list(np.arange(20000.0))


def test_check_4_deleting_every_tag_is_saved(tmp_path):
    path = make_run(tmp_path / "run.cxi", tags=(["a", "b"], np.ones((2, 50))))
    s = owlx.open(path)
    s.tags.delete("a")
    s.tags.delete("b")
    assert s.dirty
    s.save()
    assert len(owlx.open(path).tags) == 0
    with h5py.File(path, "r") as f:
        assert f[G + "/tags"].shape == (0, 50)


def test_check_10_another_process_reads_right_after_save(tmp_path):
    path = make_run(tmp_path / "run.cxi")
    s = owlx.open(path)
    s.tags.add("seen")
    s.tags.set_frames("seen", [3, 4], True)
    s.save()
    code = ("import h5py,sys; f=h5py.File(sys.argv[1],'r'); t=f['/entry_1/image_1/tags'];"
            "print(t.attrs['headings'][0].decode(), int(t[0].sum()))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["seen", "2"], out.stderr


def test_sigkill_mid_save_leaves_a_readable_file_with_earlier_tags(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(5)
    members = (rng.random((2, n)) < 0.5).astype(np.int8)
    path = make_run(tmp_path / "big.cxi", n=n, tags=(["good", "fail"], members))
    proc = subprocess.run([sys.executable, str(HERE / "save_killed_helper.py"), str(path), "11"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stdout + proc.stderr  # killed, not finished
    assert int(proc.stdout.split()[0]) > 11  # the kill landed before the last step
    with h5py.File(path, "r") as f:
        ds = f[G + "/tags"]
        assert np.array_equal(ds[:2, :n], members)
        assert ds.attrs["headings"].tolist()[:2] == [b"good", b"fail"]
    s = owlx.open(path)
    assert s.tags.names[:2] == ("good", "fail")
    assert np.array_equal(s.tags.members[:2], members.astype(bool))


# -- the sidecar ------------------------------------------------------------------------------------

def test_check_9_and_18_read_only_file_goes_to_the_sidecar(tmp_path, read_only):
    path = make_run(tmp_path / "cxic9714-r0182.cxi")
    read_only(path)
    digest = checksum(path)
    s = owlx.open(path)
    s.tags.add("good")
    s.tags.set_frames("good", [1, 2], True)
    report = s.save()
    side = tmp_path / "cxic9714-r0182.cxi.owlx.h5"
    assert report.target == "sidecar" and report.path == str(side) and "read-only" in report.reason
    assert checksum(path) == digest and not s.dirty and s.sidecar_path == str(side)
    with h5py.File(side, "r") as f:
        ds = f[G + "/tags"]
        assert (ds.dtype, ds.shape, ds.chunks, ds.maxshape) == (np.int8, (1, 50), (1, 10000), (None, None))
        assert ds.attrs["axes"].dtype == np.dtype("S25") and ds.attrs["colors"].shape == (1, 3)
        assert int(f.attrs["owlx_sidecar_version"]) == 1
        assert f.attrs["source_name"] == b"cxic9714-r0182.cxi"
        assert f.attrs["source_path"] == str(path).encode()
        assert int(f[G].attrs["owlx_frames"]) == 50
    s2 = owlx.open(path)
    assert s2.tags.names == ("good",) and s2.tags.frames_with("good").tolist() == [1, 2]
    assert s2.sidecar_path == str(side)
    # once a sidecar is in use every save goes there, even when the file is writable again
    os.chmod(path, 0o644)
    digest = checksum(path)
    s2.tags.add("more")
    assert s2.save().target == "sidecar" and checksum(path) == digest


def test_merge_rule_sidecar_wins_for_shared_names(tmp_path):
    members = np.zeros((2, 50), np.int8)
    members[0, 0] = 1  # fail
    members[1, 1] = 1  # good
    path = make_run(tmp_path / "run.cxi", tags=(["fail", "good"], members))
    with h5py.File(tmp_path / "run.cxi.owlx.h5", "w") as f:
        f.attrs["owlx_sidecar_version"] = np.int64(1)
        f.attrs["source_name"] = np.bytes_(b"run.cxi")
        t = f.create_dataset(G + "/tags", data=np.eye(1, 50, 9, dtype=np.int8))
        t.attrs["headings"] = np.array([b"fail"])
        t.attrs["colors"] = np.array([[1, 2, 3]], np.uint8)
    s = owlx.open(path)
    assert s.tags.names == ("fail", "good")
    assert s.tags.frames_with("fail").tolist() == [9] and s.tags.color("fail") == (1, 2, 3)
    assert s.tags.frames_with("good").tolist() == [1]


def test_deleting_and_renaming_survive_a_reopen_through_the_sidecar(tmp_path, read_only):
    path = read_only(make_run(tmp_path / "run.cxi", tags=(["good", "fail", "maybe"], np.eye(3, 50))))
    s = owlx.open(path)
    s.tags.delete("good")
    s.tags.rename("fail", "bad")
    s.save()
    assert owlx.open(path).tags.names == ("bad", "maybe")


def test_read_only_folder_uses_the_app_data_sidecar(tmp_path, read_only):
    folder = tmp_path / "beamtime"
    folder.mkdir()
    path = make_run(folder / "run.cxi")
    read_only(path)
    read_only(folder)
    s = owlx.open(path)
    s.tags.add("x")
    report = s.save()
    assert Path(report.path).parent == tmp_path / "appdata" / "sidecars"
    assert Path(report.path).name.endswith("_run.cxi.owlx.h5") and len(Path(report.path).name.split("_")[0]) == 16
    assert owlx.open(path).tags.names == ("x",)


def test_permission_error_on_open_falls_back_and_restores_the_reader(tmp_path, monkeypatch):
    path = make_run(tmp_path / "run.cxi")
    real = h5py.File

    def refusing(name, mode="r", *args, **kwargs):
        if mode == "r+":
            raise PermissionError(13, "Permission denied")
        return real(name, mode, *args, **kwargs)

    monkeypatch.setattr(save_module, "h5py", types.SimpleNamespace(File=refusing))
    s = owlx.open(path)
    s.tags.add("x")
    with pytest.raises(SaveRefused, match="cannot open 'run.cxi' for writing"):
        s.save(fallback=False)
    assert s.dirty and s.frame(3).shape == (2, 2)  # the reader was reopened
    assert not (tmp_path / "run.cxi.owlx.h5").exists()
    report = s.save()  # the default falls back to the sidecar
    assert report.target == "sidecar" and "Permission denied" in report.reason and not s.dirty


def test_write_failure_keeps_edits_unsaved(tmp_path, monkeypatch):
    path = make_run(tmp_path / "run.cxi")
    s = owlx.open(path)
    s.tags.add("x")

    def broken(plan, f, progress=None):
        raise OSError("disk full")

    monkeypatch.setattr(save_module, "apply_steps", broken)
    with pytest.raises(SaveError, match="disk full"):
        s.save()
    assert s.dirty and s.frame(0).shape == (2, 2)


def test_blocked_plan_sends_the_whole_save_to_the_sidecar(tmp_path):
    def contiguous_tags(f):
        f[G + "/tags"] = np.zeros((1, 50), np.int8)
        f[G + "/tags"].attrs["headings"] = np.array([b"old"])

    path = make_run(tmp_path / "run.cxi", extra=contiguous_tags)
    digest = checksum(path)
    s = owlx.open(path)
    s.tags.add("new")
    report = s.save()
    assert report.target == "sidecar" and G + "/tags" in report.reason and "not chunked" in report.reason
    assert checksum(path) == digest
    assert owlx.open(path).tags.names == ("old", "new")


def test_live_and_non_hdf5_sources_save_to_the_sidecar(tmp_path):
    path = make_run(tmp_path / "live.cxi", libver="latest")
    s = owlx.open(path, swmr=True)
    assert s.source.swmr
    s.tags.add("x")
    assert "live mode" in s.save().reason

    npy = tmp_path / "stack.npy"
    np.save(npy, np.zeros((5, 3, 3), np.float32))
    s = owlx.open(npy)
    assert s.result_group == "/entry_1/data_1"
    s.tags.add("y")
    s.tags.toggle("y", 4)
    report = s.save()
    assert report.path == str(tmp_path / "stack.npy.owlx.h5")
    with h5py.File(report.path, "r") as f:
        assert f["/entry_1/data_1/tags"][0].tolist() == [0, 0, 0, 0, 1]
    assert owlx.open(npy).tags.frames_with("y").tolist() == [4]


def test_save_as_and_write_sidecar_back_into_the_data_file(tmp_path, read_only):
    path = make_run(tmp_path / "run.cxi", tags=(["keep"], np.eye(1, 50)))
    read_only(path)
    s = owlx.open(path)
    s.tags.add("side")
    s.tags.toggle("side", 5)
    s.save()
    other = tmp_path / "export.h5"
    assert s.save_to_sidecar(other).target == "file"
    with h5py.File(other, "r") as f:
        assert f[G + "/tags"].attrs["headings"].tolist() == [b"keep", b"side"]
    os.chmod(path, 0o644)
    report = s.write_sidecar_into_data()
    assert report.target == "data" and s.sidecar_path is None
    assert not (tmp_path / "run.cxi.owlx.h5").exists()
    assert list(tmp_path.glob("run.cxi.owlx.h5.merged-*"))
    s2 = owlx.open(path)
    assert s2.tags.names == ("keep", "side") and s2.sidecar_path is None and s2.tags.has("side", 5)


def test_in_memory_data_save_only_to_a_chosen_file(tmp_path):
    s = owlx.session.Session()
    s.show(np.zeros((4, 3, 3)))
    s.tags.add("x")
    s.tags.toggle("x", 2)
    with pytest.raises(owlx.OwlxError, match="in-memory"):
        s.save()
    report = s.save_to_sidecar(tmp_path / "array_tags.h5")
    assert report.target == "file" and not s.dirty
    with h5py.File(report.path, "r") as f:
        assert f["/entry_1/data_1/tags"][0].tolist() == [0, 0, 1, 0]
        assert f.attrs["source_name"] == b"<array>"


# -- model datasets through the plan (checks 5, 6, 8) -----------------------------------------------

def plan_on(path, build):
    with h5py.File(path, "r") as f:
        plan = WritePlan(f, str(path))
        build(plan)
    return plan


def test_check_5_owl_padded_model_dataset_keeps_its_length(tmp_path):
    path = tmp_path / "pad.cxi"
    with h5py.File(path, "w") as f:
        d = f.create_dataset(G + "/model/diameterNM", data=np.full(20000, 7.0), chunks=(10000,), maxshape=(None,))
        d.attrs["axes"] = np.array([b"experiment_identifier"], dtype="S21")
        d.attrs["numEvents"] = np.array([10000])
    values = np.full(12345, 7.0)
    values[5] = 123.0
    plan = plan_on(path, lambda p: p.plan_per_frame_dataset(G + "/model", "diameterNM", values, [5]))
    execute(plan, str(path))
    with h5py.File(path, "r") as f:
        d = f[G + "/model/diameterNM"]
        assert d.shape == (20000,) and d[5] == 123.0 and np.all(d[12345:] == 7.0)
        assert d.attrs["numEvents"].tolist() == [12345] and d.attrs["numEvents"].dtype == np.int64


def test_check_6_new_model_datasets(tmp_path):
    path = make_run(tmp_path / "run.cxi")
    values = np.linspace(50, 150, 50)

    def build(plan):
        plan.plan_per_frame_dataset(G + "/model", "diameterNM", values)
        plan.plan_general_dataset(G + "/model", "materialType", "water")
        plan.plan_general_dataset(G + "/model", "_nrEval", 20)
        plan.plan_general_dataset(G + "/model", "photonWavelengthNM", 0.2254)

    execute(plan_on(path, build), str(path))
    with h5py.File(path, "r") as f:
        d = f[G + "/model/diameterNM"]
        assert (d.dtype, d.shape, d.chunks, d.maxshape) == (np.float64, (50,), (10000,), (None,))
        assert d.attrs["axes"].tolist() == [b"experiment_identifier"] and d.attrs["axes"].dtype == np.dtype("S21")
        assert d.attrs["numEvents"].tolist() == [50] and d.attrs["numEvents"].dtype == np.int64
        m = f[G + "/model/materialType"]
        assert m.shape == (1,) and m.dtype == np.dtype("S32") and m[0] == b"water"
        assert f[G + "/model/_nrEval"].dtype == np.int64
        assert f[G + "/model/photonWavelengthNM"][0] == 0.2254


def test_types_must_fit(tmp_path):
    def build_file(f):
        f[G + "/model/_findCenterMethod"] = np.array([b"blurred"])  # S7
        f[G + "/model/_nrEval"] = np.array([20], np.int64)
        f[G + "/model/offCenterX"] = np.zeros(10)  # not chunked: cannot grow

    path = make_run(tmp_path / "run.cxi", extra=build_file)
    plan = plan_on(path, lambda p: p.plan_general_dataset(G + "/model", "_findCenterMethod", "pw (slow)"))
    assert not plan.ok and "_findCenterMethod" in plan.reason() and "S7" in plan.reason()
    plan = plan_on(path, lambda p: p.plan_general_dataset(G + "/model", "_nrEval", 2.5))
    assert not plan.ok and "non-integer" in plan.reason()
    plan = plan_on(path, lambda p: p.plan_general_dataset(G + "/model", "_nrEval", 21.0))
    assert plan.ok
    plan = plan_on(path, lambda p: p.plan_per_frame_dataset(G + "/model", "offCenterX", np.zeros(50)))
    assert not plan.ok and "not chunked" in plan.reason()
    with pytest.raises(ValueError):
        execute(plan, str(path))


class FindCenterSetting:
    """A minimal result provider, as the sphere model will register one."""

    dirty = True

    def groups(self):
        return [(G, 50)]

    def contribute(self, plan, group, n_frames, full):
        plan.plan_general_dataset(group + "/model", "_findCenterMethod", "pw (slow)")

    def mark_saved(self):
        self.dirty = False


def test_check_8_string_too_long_goes_to_the_sidecar_with_the_reason(tmp_path):
    path = make_run(tmp_path / "run.cxi", extra=lambda f: f.__setitem__(G + "/model/_findCenterMethod",
                                                                      np.array([b"blurred"])))
    digest = checksum(path)
    s = owlx.open(path)
    provider = FindCenterSetting()
    dirty = []
    s.dirty_changed.connect(dirty.append)
    s.add_result_provider(provider)
    assert s.dirty and dirty == [True]
    report = s.save()
    assert report.target == "sidecar" and "_findCenterMethod" in report.reason
    assert checksum(path) == digest and not s.dirty and dirty == [True, False]
    with h5py.File(report.path, "r") as f:
        assert f[G + "/model/_findCenterMethod"][0] == b"pw (slow)"


# -- recovery ------------------------------------------------------------------------------------------

def test_recovery_round_trip(tmp_path):
    path = make_run(tmp_path / "run.cxi", tags=(["keep"], np.zeros((1, 50))))
    s = owlx.open(path)
    assert write_recovery(s) is None and find_recovery(path) is None
    s.tags.add("unsaved")
    s.tags.set_frames("unsaved", [3, 30], True)
    file = write_recovery(s)
    assert Path(file) == recovery_path(path) and Path(file).parent == tmp_path / "cache" / "recovery"
    info = find_recovery(path)
    assert list(info.groups) == [G] and info.groups[G].names == ["keep", "unsaved"] and not info.source_changed
    assert "unsaved tag edits" in info.text
    s2 = owlx.open(path)  # "after a crash"
    assert not s2.dirty
    apply_recovery(s2, info)
    assert s2.dirty and s2.tags.frames_with("unsaved").tolist() == [3, 30]
    s2.tags.undo()
    assert s2.tags.names == ("keep",)
    s2.tags.redo()
    s.close()  # the crashed session holds the file no more (an open handle makes the save busy)
    assert s2.save().target == "data"
    assert find_recovery(path) is None  # a successful save removes it
    write_recovery(s)
    discard_recovery(path)
    assert not recovery_path(path).exists()
