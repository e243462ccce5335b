"""The data file changes under an open session: it shrinks (rewritten by another program,
then F5) or is deleted or moved. Unsaved tags must survive and land in the sidecar, never as a
tags array wider than the file's frames (formats.md §2.5 rule 2, §2.7); messages say what
happened (viewer.md)."""

import os

import h5py
import numpy as np
import pytest

import owlx
from owlx.errors import DatasetError, OwlxError
from owlx.io.save import SaveRefused, SaveReport
from owlx.recovery import find_recovery, write_recovery

G = "/entry_1/image_1"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "appdata"))


def make_cxi(path, n_frames):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(f"{G}/data", data=np.zeros((n_frames, 4, 5), np.float32), chunks=(1, 4, 5),
                              maxshape=(None, 4, 5))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
    return path


def rewrite(path, n_frames):
    """Another program replaces the file (same name, fewer frames)."""
    tmp = make_cxi(str(path) + ".new", n_frames)
    os.replace(tmp, path)


def opened_with_tags(path, frames, n_frames=10):
    make_cxi(path, n_frames)
    s = owlx.open(path)
    s.tags.add("hit")
    s.tags.set_frames("hit", frames, True)
    return s


def test_reload_after_the_file_shrank_keeps_tags_beyond_it_and_saves_them_to_the_sidecar(tmp_path):
    path = tmp_path / "run.cxi"
    s = opened_with_tags(path, [2, 8])
    s.goto(8)
    messages = []
    s.message.connect(lambda level, text: messages.append((level, text)))
    rewrite(path, 5)
    s.reload()
    assert s.n_frames == 5 and s.frame_index == 4  # clamped to the last frame, not frame 0
    assert s.tags.n_frames == 10 and s.tags.has("hit", 8) and s.dirty
    warning = "the file now has 5 frames; unsaved tags on frames 5–9 are kept and will be saved to the sidecar"
    assert ("warning", warning) in messages
    kept = find_recovery(path)  # written at once, not 30 s later
    assert kept is not None and np.flatnonzero(kept.groups[G].members[0]).tolist() == [2, 8]

    report = s.save(fallback=False)  # announced: goes to the sidecar without asking
    assert report.target == "sidecar" and report.path == str(tmp_path / "run.cxi.owlx.h5") and not s.dirty
    with h5py.File(path, "r") as f:
        assert "tags" not in f[G]  # nothing wider than the file's 5 frames went into it
    with h5py.File(tmp_path / "run.cxi.owlx.h5", "r") as f:
        tags = f[f"{G}/tags"]
        assert tags.dtype == np.int8 and tags.shape == (1, 10)
        assert tags[0].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
        assert int(f[G].attrs["owlx_frames"]) == 10


def test_reload_after_the_file_shrank_with_no_tags_beyond_it_saves_into_the_file(tmp_path):
    path = tmp_path / "run.cxi"
    s = opened_with_tags(path, [2])
    messages = []
    s.message.connect(lambda level, text: messages.append(text))
    rewrite(path, 5)
    s.reload()
    assert not [m for m in messages if "now has" in m]
    report = s.save(fallback=False)
    assert report.target == "data"
    with h5py.File(path, "r") as f:
        tags = f[f"{G}/tags"]
        assert tags.shape == (1, 5) and tags[0].tolist() == [0, 0, 1, 0, 0]


def test_deleted_data_file_refuses_the_save_into_it_and_offers_the_sidecar_beside_it(tmp_path):
    path = tmp_path / "run.cxi"
    s = opened_with_tags(path, [1, 3], n_frames=6)
    s.goto(3)
    os.remove(path)
    with pytest.raises(SaveRefused, match=r"'run\.cxi' no longer exists \(deleted or moved\)"):
        s.save(fallback=False)
    assert s.dirty and not (tmp_path / "run.cxi.owlx.h5").exists()
    assert write_recovery(s) is not None  # the safety copy works without the file
    with pytest.raises(OwlxError, match=r"^'run\.cxi' was deleted or moved; what is shown stays$"):
        s.reload()
    assert s.n_frames == 6 and s.frame_index == 3
    report = s.save()  # with fallback: the sidecar beside where the file was
    assert report.target == "sidecar" and report.path == str(tmp_path / "run.cxi.owlx.h5") and not s.dirty
    with h5py.File(report.path, "r") as f:
        assert f[f"{G}/tags"][0].tolist() == [0, 1, 0, 1, 0, 0]


def test_moved_data_file_saves_to_the_sidecar_on_request(tmp_path):
    path = tmp_path / "run.cxi"
    s = opened_with_tags(path, [0], n_frames=3)
    (tmp_path / "elsewhere").mkdir()
    os.replace(path, tmp_path / "elsewhere" / "run.cxi")
    report = s.save_to_sidecar()  # Ctrl+Shift+S
    assert report.path == str(tmp_path / "run.cxi.owlx.h5")
    with h5py.File(report.path, "r") as f:
        assert f[f"{G}/tags"][0].tolist() == [1, 0, 0]


def test_a_stack_with_zero_frames_is_named(tmp_path):
    path = make_cxi(tmp_path / "empty.cxi", 0)
    with pytest.raises(DatasetError, match=r"^'/entry_1/image_1/data' has 0 frames: nothing to show$"):
        owlx.open(path)


def test_save_report_text_summarises_per_group_and_keeps_every_path():
    model = [f"{G}/model/value_{i}" for i in range(30)]
    written = ["/", "/entry_1", G, f"{G}/model", *model, f"{G}/tags"]
    report = SaveReport("data", "/data/run.cxi", written=written)
    assert report.text == "saved to run.cxi: model (30 datasets), tags"
    assert report.written == written  # the full list stays in the report
    two = SaveReport("sidecar", "/d/run.cxi.owlx.h5", written=[f"{G}/tags", "/entry_1/image_2/tags",
                                                                 "/entry_1/image_2/model/a"], reason="asked for")
    assert two.text == "saved to the sidecar run.cxi.owlx.h5: image_1/tags, image_2 (2 datasets) (asked for)"


def test_a_real_save_names_the_tags_dataset(tmp_path):
    s = opened_with_tags(tmp_path / "run.cxi", [1], n_frames=3)
    assert s.save().text == "saved to run.cxi: tags"


def test_discarding_after_the_file_shrank_matches_the_file_again(tmp_path):
    path = tmp_path / "run.cxi"
    s = opened_with_tags(path, [8])
    rewrite(path, 5)
    s.reload()
    s.discard_changes()
    assert s.tags.n_frames == 5 and not s.dirty and s.save().target == "nothing"


def test_a_save_of_one_group_names_the_group_not_every_dataset():
    from owlx.io.save import summarise_paths

    model = [f"/entry_1/image_1/model/d{k}" for k in range(16)]
    assert summarise_paths(model) == "model (16 datasets)"
    assert summarise_paths(model[:3]) == "d0, d1, d2"
