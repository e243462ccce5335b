"""The lazy file tree: listing on expansion (on a worker), order, colours, activation, drag
data, reload."""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import pytest
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.gui.data_tree import (
    FADED_ALPHA,
    KIND_COLOURS,
    LOADING_TEXT,
    MIME_NODE_KIND,
    MIME_NODE_PATH,
    OTHER_COLOUR,
    DataTree,
    kind_from_mime,
    path_from_mime,
)
from owlx.io.source import Kind, Node, Source, sort_children

# -- a small source built from the IO model classes, counting every listing ----------------------

LAYOUT = {
    "/entry_10": Kind.GROUP,
    "/entry_2": Kind.GROUP,
    "/entry_1": Kind.GROUP,
    "/entry_1/data_1": Kind.GROUP,
    "/entry_1/data_1/data": Kind.STACK,
    "/entry_1/data_1/mask": Kind.STACK,
    "/entry_1/sample_1": Kind.GROUP,
    "/entry_1/sample_1/injector_y": Kind.FRAME_SCALAR,
    "/entry_1/sample_1/translation": Kind.FRAME_VECTOR,
    "/entry_1/sample_1/calibration": Kind.ARRAY,
    "/entry_1/sample_1/name": Kind.VALUE,
    "/entry_1/sample_1/background": Kind.IMAGE,
    "/entry_1/empty": Kind.GROUP,
    "/entry_2/data": Kind.IMAGE,
    "/entry_10/data": Kind.STACK,
}
SHAPES = {Kind.STACK: (10, 8, 8), Kind.IMAGE: (8, 8), Kind.FRAME_SCALAR: (10,),
          Kind.FRAME_VECTOR: (10, 3), Kind.ARRAY: (4,), Kind.VALUE: ()}


class FakeSource(Source):
    format = "fake"

    def __init__(self):
        super().__init__("/data/fake_run.cxi")
        self.listed = Counter()
        self._nodes = {"/": self._make("/", Kind.GROUP)}
        for path, kind in LAYOUT.items():
            self._nodes[path] = self._make(path, kind)

    def _make(self, path, kind):
        shape = SHAPES.get(kind, ())
        node = Node(path, kind, shape=shape, dtype=None if kind is Kind.GROUP else np.dtype("float32"),
                    attrs={"units": "m", "long": "x" * 500, "html": "<b>not bold</b>"} if kind is Kind.FRAME_SCALAR else {})
        if kind is Kind.GROUP:
            node._list_children = lambda p=path: self._list(p)
        return node

    def _list(self, path):
        self.listed[path] += 1
        prefix = path.rstrip("/") + "/"
        kids = [n for p, n in self._nodes.items() if p != "/" and p.startswith(prefix) and "/" not in p[len(prefix):]]
        return sort_children(kids)

    @property
    def root(self):
        return self._nodes["/"]

    def node(self, path):
        return self._nodes[path]


@pytest.fixture
def tree(qtbot):
    widget = DataTree()
    qtbot.addWidget(widget)
    widget.resize(500, 600)
    widget.show()
    return widget


def settle(tree, qtbot, timeout=5000):
    """Wait until every listing the tree asked for is in it (listings run on a worker)."""
    qtbot.waitUntil(lambda: not tree.is_loading(), timeout=timeout)


def shown(tree, qtbot, source):
    tree.set_source(source)
    settle(tree, qtbot)


def select(tree, qtbot, path):
    assert tree.select_path(path)
    qtbot.waitUntil(lambda: tree.current_path() == path, timeout=5000)


def names_under(item):
    return [item.child(i).text(0) for i in range(item.childCount())]


def test_only_the_root_level_is_listed_on_open(tree, qtbot):
    src = FakeSource()
    tree.set_source(src)
    root = tree.topLevelItem(0)
    assert names_under(root) == [LOADING_TEXT]  # listed on a worker, not in set_source
    settle(tree, qtbot)
    assert src.listed == Counter({"/": 1})
    assert root.text(0) == "fake_run.cxi"
    # natural order: entry_2 before entry_10
    assert names_under(root) == ["entry_1", "entry_2", "entry_10"]
    entry_1 = root.child(0)
    assert entry_1.childCount() == 1  # the placeholder that gives it an expand arrow
    assert tree.item_for_path("/entry_1/data_1") is None


def test_children_are_listed_once_on_first_expansion(tree, qtbot):
    src = FakeSource()
    shown(tree, qtbot, src)
    entry_1 = tree.item_for_path("/entry_1")
    assert names_under(entry_1) == ["…"]
    with qtbot.waitSignal(tree.group_listed, timeout=5000) as blocker:
        entry_1.setExpanded(True)
        assert names_under(entry_1) == [LOADING_TEXT] and tree.is_loading("/entry_1")
    assert blocker.args == ["/entry_1"]
    assert src.listed["/entry_1"] == 1
    assert names_under(entry_1) == ["data_1", "empty", "sample_1"]  # groups, natural order
    entry_1.setExpanded(False)
    entry_1.setExpanded(True)
    assert not tree.is_loading()
    assert src.listed["/entry_1"] == 1
    assert "/entry_1/data_1" not in src.listed  # siblings stay unlisted
    empty = tree.item_for_path("/entry_1/empty")
    empty.setExpanded(True)
    settle(tree, qtbot)
    assert empty.childCount() == 0


def test_groups_first_then_datasets(tree, qtbot):
    src = FakeSource()
    src._nodes["/entry_1/aaa_value"] = src._make("/entry_1/aaa_value", Kind.VALUE)
    shown(tree, qtbot, src)
    tree.item_for_path("/entry_1").setExpanded(True)
    settle(tree, qtbot)
    assert names_under(tree.item_for_path("/entry_1")) == ["data_1", "empty", "sample_1", "aaa_value"]


def test_colours_fading_bold_and_columns(tree, qtbot):
    tree.set_source(FakeSource())
    select(tree, qtbot, "/entry_1/sample_1/name")
    select(tree, qtbot, "/entry_1/data_1/data")

    def colour(path):
        return tree.item_for_path(path).foreground(0).color()

    assert colour("/entry_1/sample_1/injector_y").rgb() == KIND_COLOURS[Kind.FRAME_SCALAR].rgb()
    assert colour("/entry_1/sample_1/translation").rgb() == KIND_COLOURS[Kind.FRAME_VECTOR].rgb()
    assert colour("/entry_1/data_1/data").rgb() == KIND_COLOURS[Kind.STACK].rgb()
    assert colour("/entry_1/sample_1/calibration").rgb() == OTHER_COLOUR.rgb()
    assert colour("/entry_1/sample_1/name").rgb() == OTHER_COLOUR.rgb()
    # frame-aligned data are opaque, the rest faded
    for path in ("/entry_1/data_1/data", "/entry_1/sample_1/injector_y", "/entry_1/sample_1/translation"):
        assert colour(path).alpha() == 255
    for path in ("/entry_1/sample_1/calibration", "/entry_1/sample_1/name", "/entry_1/sample_1/background"):
        assert colour(path).alpha() == FADED_ALPHA
    assert tree.item_for_path("/entry_1/data_1/data").font(0).bold()
    assert not tree.item_for_path("/entry_1/data_1/mask").font(0).bold()
    item = tree.item_for_path("/entry_1/data_1/data")
    assert (item.text(1), item.text(2)) == ("stack", "10×8×8")


def test_tooltip_shows_dtype_shape_attributes_and_link(tree, qtbot):
    src = FakeSource()
    src._nodes["/entry_1/data_1/data"].link_target = "/entry_1/instrument_1/detector_1/data"
    tree.set_source(src)
    select(tree, qtbot, "/entry_1/sample_1/injector_y")
    tip = tree.tooltip_text(tree.item_for_path("/entry_1/sample_1/injector_y"))
    assert "float32 (10)" in tip
    assert "units = m" in tip
    assert "x" * 500 not in tip and "…" in tip  # long values truncated
    assert "&lt;b&gt;not bold&lt;/b&gt;" in tip  # attribute text is escaped, not rendered
    select(tree, qtbot, "/entry_1/data_1/data")
    assert "link → /entry_1/instrument_1/detector_1/data" in tree.tooltip_text(tree.item_for_path("/entry_1/data_1/data"))
    assert tree.tooltip_text(tree.topLevelItem(0)) == "/data/fake_run.cxi"


def test_hovering_shows_the_tooltip(tree, qtbot):
    tree.set_source(FakeSource())
    select(tree, qtbot, "/entry_1/data_1/data")
    item = tree.item_for_path("/entry_1/data_1/data")
    pos = tree.visualItemRect(item).center()
    event = QtGui.QHelpEvent(QtCore.QEvent.ToolTip, pos, tree.viewport().mapToGlobal(pos))
    QtWidgets.QApplication.sendEvent(tree.viewport(), event)
    qtbot.waitUntil(lambda: "float32 (10×8×8)" in QtWidgets.QToolTip.text(), timeout=2000)
    QtWidgets.QToolTip.hideText()


def test_click_emits_dataset_activated(tree, qtbot):
    tree.set_source(FakeSource())
    select(tree, qtbot, "/entry_1/sample_1/injector_y")
    item = tree.item_for_path("/entry_1/sample_1/injector_y")
    rect = tree.visualItemRect(item)
    with qtbot.waitSignal(tree.dataset_activated, timeout=2000) as blocker:
        qtbot.mouseClick(tree.viewport(), QtCore.Qt.LeftButton, pos=rect.center())
    assert blocker.args == ["/entry_1/sample_1/injector_y", Kind.FRAME_SCALAR]


def test_groups_and_select_path_do_not_activate(tree, qtbot):
    tree.set_source(FakeSource())
    got = []
    tree.dataset_activated.connect(lambda p, k: got.append(p))
    select(tree, qtbot, "/entry_1/data_1/data")
    group = tree.item_for_path("/entry_1/sample_1")
    qtbot.mouseClick(tree.viewport(), QtCore.Qt.LeftButton, pos=tree.visualItemRect(group).center())
    assert got == []


def test_arrow_keys_move_in_the_tree_and_enter_activates(tree, qtbot):
    tree.set_source(FakeSource())
    select(tree, qtbot, "/entry_1/data_1/data")
    tree.setFocus()
    got = []
    tree.dataset_activated.connect(lambda p, k: got.append(p))
    qtbot.keyClick(tree, QtCore.Qt.Key_Down)
    assert tree.current_path() == "/entry_1/data_1/mask"
    assert got == []  # moving does not load
    qtbot.keyClick(tree, QtCore.Qt.Key_Return)
    assert got == ["/entry_1/data_1/mask"]


def test_select_path_of_missing_dataset(tree, qtbot):
    tree.set_source(FakeSource())
    tree.select_path("/entry_1/nothing/here")  # pending: /entry_1 is not listed yet
    settle(tree, qtbot)
    assert tree.current_path() is None
    assert not tree.select_path("/entry_1/nothing/here")  # now known to be missing
    tree.select_path("/entry_1/data_1/data/below_a_dataset")
    settle(tree, qtbot)
    assert not tree.select_path("/entry_1/data_1/data/below_a_dataset")
    assert tree.current_path() is None


def test_select_path_of_a_deep_dataset_on_a_fresh_source(tree, qtbot):
    src = FakeSource()
    tree.set_source(src)
    assert tree.select_path("/entry_1/sample_1/translation")  # nothing is listed yet
    assert tree.current_path() is None
    qtbot.waitUntil(lambda: tree.current_path() == "/entry_1/sample_1/translation", timeout=5000)
    settle(tree, qtbot)
    for group in ("/", "/entry_1", "/entry_1/sample_1"):
        assert tree.item_for_path(group).isExpanded(), group
    assert set(src.listed) == {"/", "/entry_1", "/entry_1/sample_1"}  # nothing else was walked
    # a later request replaces a pending one
    tree.select_path("/entry_2/data")
    tree.select_path("/entry_10/data")
    qtbot.waitUntil(lambda: tree.current_path() == "/entry_10/data", timeout=5000)
    settle(tree, qtbot)
    assert tree.current_path() == "/entry_10/data"


def test_drag_mime_data(tree, qtbot):
    tree.set_source(FakeSource())
    select(tree, qtbot, "/entry_1/sample_1/injector_y")
    mime = tree.mimeData([tree.item_for_path("/entry_1/sample_1/injector_y")])
    assert bytes(mime.data(MIME_NODE_PATH)).decode() == "/entry_1/sample_1/injector_y"
    assert mime.text() == "/entry_1/sample_1/injector_y"
    assert path_from_mime(mime) == "/entry_1/sample_1/injector_y"
    assert kind_from_mime(mime) is Kind.FRAME_SCALAR
    assert MIME_NODE_KIND in tree.mimeTypes()
    assert tree.supportedDropActions() == QtCore.Qt.CopyAction  # a drop never removes the item


def test_expanded_paths_survive_reload(tree, qtbot):
    tree.set_source(FakeSource())
    select(tree, qtbot, "/entry_1/sample_1/name")
    tree.item_for_path("/entry_10").setExpanded(True)
    settle(tree, qtbot)
    saved = tree.expanded_paths()
    assert saved == ["/", "/entry_1", "/entry_10", "/entry_1/sample_1"]
    fresh = FakeSource()
    tree.set_source(fresh)
    tree.restore_expanded(saved + ["/entry_1/gone"])
    assert set(tree.expanded_paths()) == set(saved) | {"/entry_1/gone"}  # some still waiting
    settle(tree, qtbot)
    assert tree.expanded_paths() == saved
    for path in saved:
        assert tree.item_for_path(path).isExpanded()
    assert "/entry_1/data_1" not in fresh.listed  # restoring lists only what was open


def test_listing_errors_are_shown_not_raised(tree, qtbot):
    src = FakeSource()

    def broken():
        raise OSError("external file missing")

    src._nodes["/entry_2"]._list_children = broken
    shown(tree, qtbot, src)
    item = tree.item_for_path("/entry_2")
    item.setExpanded(True)
    settle(tree, qtbot)
    assert item.childCount() == 1
    assert "external file missing" in item.child(0).text(0)


def test_set_source_none_clears(tree, qtbot):
    tree.set_source(FakeSource())
    tree.set_source(None)
    assert not tree.is_loading()
    assert not tree.select_path("/entry_1/data_1/data")
    tree.restore_expanded(["/", "/entry_1"])
    qtbot.wait(50)  # the abandoned root listing arrives and is dropped
    assert tree.topLevelItemCount() == 0
    assert tree.expanded_paths() == []


# -- the same through the real HDF5 reader, when it is there -------------------------------------


@pytest.fixture
def h5_file(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "small.cxi"
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = np.zeros((5, 6, 7), dtype=np.int16)
        f["entry_1/sample_1/injector_y"] = np.arange(5.0)
        for i in (10, 2, 1):
            f.create_group(f"entry_{i}/deep/deeper")
        f["entry_2/deep/deeper/value"] = 3
        f["entry_1/data_1/data"].attrs["axes"] = "experiment_identifier:y:x"
    return path


def test_real_hdf5_file(tree, h5_file, qtbot):
    from owlx.io.open import open_source

    src = open_source(str(h5_file))
    try:
        shown(tree, qtbot, src)
        root = tree.topLevelItem(0)
        assert names_under(root)[:3] == ["entry_1", "entry_2", "entry_10"]
        deep = tree.item_for_path("/entry_2")
        assert deep.childCount() == 1 and tree.item_for_path("/entry_2/deep") is None
        select(tree, qtbot, src.default_stack_path())
        stack = tree.item_for_path(src.default_stack_path())
        assert stack.foreground(0).color().rgb() == KIND_COLOURS[Kind.STACK].rgb()
        assert "int16 (5×6×7)" in tree.tooltip_text(stack)
        assert "axes = experiment_identifier:y:x" in tree.tooltip_text(stack)
        with qtbot.waitSignal(tree.dataset_activated, timeout=2000) as blocker:
            qtbot.mouseClick(tree.viewport(), QtCore.Qt.LeftButton, pos=tree.visualItemRect(stack).center())
        assert blocker.args == [src.default_stack_path(), Kind.STACK]
    finally:
        src.close()


def test_select_path_of_a_deep_hdf5_dataset_on_a_fresh_source(tree, h5_file, qtbot):
    from owlx.io.open import open_source

    with open_source(str(h5_file)) as src:
        tree.set_source(src)
        select(tree, qtbot, "/entry_2/deep/deeper/value")
        settle(tree, qtbot)
        for group in ("/entry_2", "/entry_2/deep", "/entry_2/deep/deeper"):
            assert tree.item_for_path(group).isExpanded()
        assert tree.item_for_path("/entry_10/deep") is None  # no other group was listed


# -- a big group: listed on a worker, filled in batches ------------------------------------------

N_BIG = 20_000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    h5py = pytest.importorskip("h5py")
    path = tmp_path_factory.mktemp("big") / "big_group.h5"
    with h5py.File(path, "w") as f:
        f["entry_1/data_1/data"] = np.zeros((4, 8, 8), np.float32)
        many = f.create_group("entry_1/many")
        scalar, f8 = h5py.h5s.create(h5py.h5s.SCALAR), h5py.h5t.IEEE_F64LE
        for i in range(N_BIG):  # the low-level call: 20 000 datasets in a fraction of a second
            h5py.h5d.create(many.id, f"value_{i}".encode(), f8, scalar)
    return path


def test_expanding_a_group_of_20000_datasets_returns_at_once(tree, big_file, qtbot):
    from owlx.io.open import open_source

    with open_source(str(big_file)) as src:
        tree.set_source(src)
        select(tree, qtbot, "/entry_1/data_1/data")
        settle(tree, qtbot)
        many = tree.item_for_path("/entry_1/many")
        ticks = []
        timer = QtCore.QTimer()
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(5)
        t0 = time.perf_counter()
        many.setExpanded(True)
        elapsed = time.perf_counter() - t0
        assert elapsed < 0.050, f"expanding took {elapsed * 1000:.0f} ms"
        assert names_under(many) == [LOADING_TEXT]
        qtbot.waitUntil(lambda: not tree.is_loading("/entry_1/many"), timeout=60_000)
        timer.stop()
        assert many.childCount() == N_BIG
        assert names_under(many)[:3] == ["value_0", "value_1", "value_2"]
        assert many.child(N_BIG - 1).text(0) == f"value_{N_BIG - 1}"  # natural order
        assert many.child(10).text(1) == "value"
        # the event loop kept turning while the group was listed and filled in
        gaps = np.diff([t0] + ticks)
        assert len(ticks) > 10 and gaps.max() < 1.0, f"longest event-loop gap {gaps.max():.2f} s"


# -- asynchronous listings: replaced sources, clicks while loading --------------------------------


class GatedSource(FakeSource):
    """A FakeSource whose listings wait until the test opens the gate."""

    def __init__(self, extra=None):
        super().__init__()
        self.gate = threading.Event()
        self.finished = threading.Event()
        if extra:
            self._nodes[extra] = self._make(extra, Kind.GROUP)

    def _list(self, path):
        self.gate.wait(10)
        try:
            return super()._list(path)
        finally:
            self.finished.set()


def test_listing_of_a_replaced_source_is_dropped(tree, qtbot):
    old = GatedSource(extra="/only_in_old")
    tree.set_source(old)
    assert tree.select_path("/entry_1/data_1/data")
    new = FakeSource()
    tree.set_source(new)
    settle(tree, qtbot)
    old.gate.set()
    qtbot.waitUntil(old.finished.is_set, timeout=5000)
    qtbot.wait(100)  # the old listing's result is delivered, and must be ignored
    settle(tree, qtbot)
    assert names_under(tree.topLevelItem(0)) == ["entry_1", "entry_2", "entry_10"]
    assert tree.item_for_path("/only_in_old") is None
    assert tree.current_path() is None  # the pending selection belonged to the old source
    assert tree.topLevelItemCount() == 1


def test_the_tree_works_while_a_group_is_listed(tree, qtbot):
    src = GatedSource()
    src.gate.set()
    shown(tree, qtbot, src)
    src.gate.clear()
    tree.item_for_path("/entry_1").setExpanded(True)
    tree.item_for_path("/entry_2").setExpanded(True)
    assert tree.is_loading("/entry_1") and tree.is_loading("/entry_2")
    assert tree.expanded_paths() == ["/", "/entry_1", "/entry_2"]
    tree.setCurrentItem(tree.item_for_path("/entry_10"))
    assert tree.current_path() == "/entry_10"
    src.gate.set()
    settle(tree, qtbot)
    assert names_under(tree.item_for_path("/entry_2")) == ["data"]
    assert names_under(tree.item_for_path("/entry_1")) == ["data_1", "empty", "sample_1"]
