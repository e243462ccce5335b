"""The in-memory tag model (spec/viewer.md §9 T1–T8) and the session's tag, sort and filter
workflow (§8 O1, R1–R4; §17 checks 5–7)."""

import h5py
import numpy as np
import pytest

import owlx
from owlx.core.tagtable import PALETTE, TagTable, merge_tables, unique_names
from owlx.errors import OwlxError, ParameterError
from owlx.tags import UNDO_LIMIT, TagError, TagSet


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "appdata"))


# -- TagSet ------------------------------------------------------------------------------------

def test_new_tags_get_default_names_and_the_palette_cycles():
    ts = TagSet(5)
    for _ in range(11):
        ts.add()
    assert ts.names[:3] == ("Tag 1", "Tag 2", "Tag 3") and ts.names[-1] == "Tag 11"
    assert [ts.color(i) for i in range(9)] == list(PALETTE)
    assert ts.color(9) == PALETTE[0] and ts.color(10) == PALETTE[1]
    assert PALETTE[7] == (136, 138, 133) and PALETTE[8] == (6, 152, 154)
    ts.rename(0, "Tag 12")
    assert ts.add() == 11 and ts.names[11] == "Tag 13"  # the default name is never taken twice


def test_names_are_unique_and_not_empty():
    ts = TagSet(3)
    ts.add("good")
    with pytest.raises(TagError, match="already exists"):
        ts.add("good")
    with pytest.raises(TagError, match="not empty"):
        ts.add("  ")
    ts.add("fail")
    with pytest.raises(TagError, match="already exists"):
        ts.rename("fail", "good")
    with pytest.raises(TagError, match="no tag named"):
        ts.index("nope")
    with pytest.raises(ParameterError):
        ts.add("x", color=(300, 0, 0))


def test_membership_counts_and_bulk_set():
    ts = TagSet(10)
    ts.add("good")
    ts.add("fail", color=(1, 2, 3))
    assert ts.toggle("fail", 7) is True and ts.has("fail", 7) and not ts.has(0, 7)
    assert ts.set_frames("good", [1, 2, 3, 2], True) == 3
    assert ts.set_frames("good", np.array([2, 3, 4]), True) == 1  # only frame 4 changed
    assert ts.counts().tolist() == [4, 1]
    assert ts.counts(np.array([0, 1, 7])).tolist() == [1, 1]
    assert ts.frames_with("good").tolist() == [1, 2, 3, 4]
    assert ts.tags_of(2) == ["good"] and ts.color("fail") == (1, 2, 3)
    mask = np.zeros(10, bool)
    mask[[4, 9]] = True
    assert ts.set_frames("good", mask, False) == 1
    with pytest.raises(TagError):
        ts.toggle("good", 10)
    with pytest.raises(TagError):
        ts.set_frames("good", [-1], True)
    assert not ts.members.flags.writeable


def test_rename_reorder_delete_keep_members():
    ts = TagSet(6)
    for name in ("a", "b", "c"):
        ts.add(name)
    ts.set_frames("a", [0], True)
    ts.set_frames("b", [1, 2], True)
    ts.set_frames("c", [3, 4, 5], True)
    ts.rename("b", "bee")
    ts.reorder(["c", "a", "bee"])
    assert ts.names == ("c", "a", "bee") and ts.counts().tolist() == [3, 1, 2]
    assert ts.frames_with("bee").tolist() == [1, 2]
    ts.move("bee", 0)
    assert ts.names == ("bee", "c", "a")
    ts.recolor("a", (9, 9, 9))
    assert ts.delete("c") == 3 and ts.names == ("bee", "a") and ts.color("a") == (9, 9, 9)
    with pytest.raises(TagError):
        ts.reorder([0, 0])


def test_check_5_bulk_clear_in_display_order_is_one_undo_step():
    rng = np.random.default_rng(3)
    ts = TagSet(50)
    ts.add("hit")
    ts.set_frames("hit", np.flatnonzero(rng.random(50) < 0.5), True)
    ts.set_frames("hit", [40], True)
    before = ts.members.copy()
    display = np.array([40, 3, 17, 8, 22, 31])  # the filtered, sorted frames
    ts.toggle_frames("hit", display, clicked=40)  # Shift+click on a frame that has the tag
    after = ts.members.copy()
    assert not after[0, display].any()
    outside = np.setdiff1d(np.arange(50), display)
    assert np.array_equal(after[0, outside], before[0, outside])
    assert ts.undo_text.startswith("clear 'hit' on")
    assert ts.undo() is True
    assert np.array_equal(ts.members, before)
    assert ts.redo() is True and np.array_equal(ts.members, after)


def test_undo_redo_of_structure_edits():
    ts = TagSet(4)
    ts.add("a")
    ts.toggle("a", 1)
    ts.add("b")
    ts.rename("a", "z")
    ts.recolor("b", (1, 1, 1))
    ts.reorder([1, 0])
    ts.delete("z")
    assert ts.names == ("b",)
    for expected in [("b", "z"), ("z", "b"), ("z", "b"), ("a", "b"), ("a",), ("a",), ()]:
        assert ts.undo()
        assert ts.names == expected
    assert not ts.undo() and not ts.can_undo
    while ts.redo():
        pass
    assert ts.names == ("b",) and ts.color("b") == (1, 1, 1)
    ts.undo()
    assert ts.frames_with("z").tolist() == [1] and ts.undo_text == "reorder tags"


def test_dirty_follows_every_change_and_the_saved_state():
    ts = TagSet(3, TagTable(["x"], [[1, 2, 3]], np.zeros((1, 3), bool)))
    seen = []
    ts.changed.connect(lambda change: seen.append(change.kind))
    assert not ts.dirty
    ts.delete("x")  # deleting the last tag is a change too (Owl issues 8, 13)
    assert ts.dirty and len(ts) == 0
    ts.mark_saved()
    assert not ts.dirty
    ts.add("y")
    assert ts.dirty
    ts.undo()
    assert not ts.dirty  # back at the saved state
    ts.redo()
    assert ts.dirty
    ts.undo()
    ts.add("z")  # the redo step (and with it the way back to "saved + y") is gone
    assert ts.dirty
    assert seen == ["delete", "saved", "add", "delete", "add", "delete", "add"]


def test_undo_limit_keeps_recent_steps_and_clean_state_logic():
    ts = TagSet(UNDO_LIMIT + 20)
    ts.add("t")
    for f in range(UNDO_LIMIT + 10):
        ts.toggle("t", f)
    n = 0
    while ts.undo():
        n += 1
    assert n == UNDO_LIMIT
    assert ts.dirty  # the empty initial state is out of reach
    assert ts.counts()[0] == 10


def test_key_helper_names_the_missing_tag():
    ts = TagSet(2)
    ts.add("a")
    ts.add("b")
    assert ts.tag_for_key(2) == 1
    with pytest.raises(TagError) as err:
        ts.tag_for_key(3)
    assert str(err.value) == "No tag 3 — create it in the tag editor"
    assert isinstance(err.value, OwlxError)
    with pytest.raises(ParameterError):
        ts.tag_for_key(0)


def test_resize_grows_members_and_undo_history():
    ts = TagSet(3)
    ts.add("a")
    ts.toggle("a", 2)
    ts.resize(6)
    assert ts.n_frames == 6 and ts.counts().tolist() == [1]
    ts.undo()
    ts.undo()
    ts.redo()
    assert ts.members.shape == (1, 6)
    with pytest.raises(TagError):
        ts.resize(2)


def test_table_helpers_unique_names_and_merge():
    names, warnings = unique_names(["a", "", "a", "a (2)"])
    assert names == ["a", "Tag 2", "a (2)", "a (2) (2)"] and len(warnings) == 2
    data = TagTable(["fail", "good"], [[1, 1, 1], [2, 2, 2]], np.array([[1, 0, 0], [0, 1, 0]], bool))
    side = TagTable(["new", "fail"], [[3, 3, 3], [4, 4, 4]], np.array([[0, 0, 1], [0, 1, 1]], bool))
    merged = merge_tables(data, side)
    assert merged.names == ["fail", "good", "new"]
    assert merged.colors[0].tolist() == [4, 4, 4] and merged.members[0].tolist() == [False, True, True]
    assert merged.members[1].tolist() == [False, True, False]
    merged = merge_tables(data, side, deleted=["good"])
    assert merged.names == ["new", "fail"]  # the sidecar holds every kept row: its order wins


# -- the session: tags, sort and filters ---------------------------------------------------------

@pytest.fixture
def run(tmp_path):
    path = tmp_path / "run.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", data=np.zeros((1000, 2, 2), np.uint8))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        a = np.full(1000, 0.0)
        a[:600] = 1.0
        b = np.full(1000, 0.0)
        b[400:700] = 1.0
        f["entry_1/image_1/a"] = a
        f["entry_1/image_1/b"] = b
        score = np.arange(1000.0)[::-1].copy()
        score[5] = np.nan
        f["entry_1/image_1/score"] = score
        f["entry_1/image_1/vec"] = np.stack([np.arange(1000.0), -np.arange(1000.0)], axis=1)
    return path


def test_session_filters_yields_and_titles(run):
    s = owlx.open(run)
    events = []
    s.filters_changed.connect(lambda: events.append("filters"))
    s.order_changed.connect(lambda: events.append("order"))
    fa = s.add_range_filter("/entry_1/image_1/a", 0.5, 1.5)
    fb = s.add_range_filter("/entry_1/image_1/b", 1, 1)
    assert s.filters_title == "Filters (yield: 20.0% - 200/1000)"
    assert [f.yield_text for f in s.filters] == ["Yield: 60.0% - 600/1000", "Yield: 30.0% - 300/1000"]
    assert s.order.tolist() == list(range(400, 600)) and events[-2:] == ["filters", "order"]
    assert s.frame_index == 400  # frame 0 was filtered out
    s.enable_filter(fb, False)
    assert s.selection_yield.passed == 600
    s.update_filter(fa, lo=None, hi=0.5)
    assert s.order.tolist() == list(range(600, 1000))
    s.remove_filter(fa)
    assert s.order.size == 1000 and len(s.filters) == 1
    with pytest.raises(ParameterError):
        s.update_filter(fb, low=3)
    with pytest.raises(ParameterError):
        s.remove_filter(99)


def test_session_sort_nan_last_columns_and_cache(run):
    s = owlx.open(run)
    s.set_sort("/entry_1/image_1/score")
    assert s.order[:3].tolist() == [0, 1, 2] and s.order[-1] == 5
    s.set_sort("/entry_1/image_1/score", descending=False)
    assert s.order[:2].tolist() == [999, 998] and s.order[-1] == 5
    with pytest.raises(ParameterError, match="choose a column"):
        s.set_sort("/entry_1/image_1/vec")
    assert s.sort.path == "/entry_1/image_1/score"  # a refused sort changed nothing
    s.set_sort("/entry_1/image_1/vec", column=1)
    assert s.order[0] == 0 and s.order[-1] == 999
    values = s.per_frame("/entry_1/image_1/score")
    assert values is s.per_frame("/entry_1/image_1/score") and not values.flags.writeable
    s.set_sort(None)
    assert s.order.tolist() == list(range(1000))


def test_tag_filters_read_unsaved_tags_and_follow_renames(run):
    s = owlx.open(run)
    s.tags.add("fail")
    s.tags.set_frames("fail", np.arange(10), True)
    fid = s.add_tag_filter("fail", invert=True)
    assert s.order[0] == 10 and s.selection_yield.passed == 990 and s.dirty
    s.frame_index = 20
    s.tags.toggle("fail", 20)  # tagged away: the view stays on the frame
    assert s.frame_index == 20 and s.view_position is None and s.selection_yield.passed == 989
    s.next()
    assert s.frame_index == 21
    s.tags.rename("fail", "bad")
    assert s.filters[0].tag == "bad" and s.filters[0].label == "not tag 'bad'"
    s.tags.delete("bad")
    assert s.filters[0].note and s.order.size == 1000  # the filter no longer applies
    s.tags.undo()
    assert not s.filters[0].note and s.order.size == 989
    s.update_filter(fid, invert=False)
    assert s.order.size == 11
    with pytest.raises(TagError):
        s.add_tag_filter("nope")


def test_session_tags_are_kept_per_result_group_and_on_reload(run):
    s = owlx.open(run)
    changes = []
    s.tags_changed.connect(lambda c: changes.append(c.kind))
    dirty = []
    s.dirty_changed.connect(dirty.append)
    s.tags.add("x")
    s.tags.toggle("x", 3)
    s.add_range_filter("/entry_1/image_1/a", 1, 1)
    s.reload()  # F12: unsaved edits and filters survive
    assert s.tags.names == ("x",) and s.tags.has("x", 3) and s.dirty
    assert len(s.filters) == 1 and s.order.size == 600
    assert changes[:2] == ["add", "members"] and dirty == [True]
    s.discard_changes()
    assert len(s.tags) == 0 and not s.dirty and dirty == [True, False]
    s.close()
    assert len(s.tags) == 0 and s.filters == [] and s.result_group is None
