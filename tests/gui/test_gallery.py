"""GalleryView: visible-only requests, dropping what scrolled away, selection, activation, tag
squares, block-max thumbnails, display order, columns, lock levels and worker-only reads
(spec/viewer.md G1–G6, S3, T4–T6, W6)."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest
from PyQt5 import QtCore, QtGui

from owlx.core.display import DisplaySettings, MaskSettings
from owlx.frames import FrameCache
from owlx.gui.colormaps import colour_table
from owlx.gui.gallery import GalleryView
from owlx.io.open import open_source
from owlx.io.source import ArrayStack

N, NY, NX = 60, 64, 64
GRAY = colour_table("gray")
# Frame k is filled with the value k: with these levels its cells are grey level k / 59.
FLAT = DisplaySettings(norm="linear", lo_unit="value", lo=0.0, hi_unit="value", hi=N - 1.0)


class CountingStack(ArrayStack):
    """An in-memory stack that records which frames were read, and whether any read ran on the
    GUI thread; ``gate`` (when set) holds every read until it is opened."""

    def __init__(self, array):
        super().__init__(array)
        self.reads: list[int] = []
        self.main_thread_reads = 0
        self.gate: threading.Event | None = None
        self.started = threading.Semaphore(0)
        self.fail: set[int] = set()
        self._lock = threading.Lock()

    def _read(self, i):
        if threading.current_thread() is threading.main_thread():
            self.main_thread_reads += 1
        with self._lock:
            self.reads.append(i)
        self.started.release()
        if self.gate is not None:
            self.gate.wait(10)
        if i in self.fail:
            raise OSError(f"frame {i} is damaged")
        return super()._read(i)


def flat_frames() -> np.ndarray:
    return np.repeat(np.arange(N, dtype=np.float32), NY * NX).reshape(N, NY, NX)


@pytest.fixture
def stack():
    s = CountingStack(flat_frames())
    yield s
    assert s.main_thread_reads == 0  # W6: the GUI thread never reads frames


@pytest.fixture
def gallery(qtbot):
    g = GalleryView(threads=2)
    qtbot.addWidget(g)
    g.resize(420, 330)  # 4 columns of 90 px cells: rows 0–2 visible, row 3 cut off
    g.set_display(FLAT, MaskSettings(), GRAY)
    g.show()
    qtbot.waitExposed(g)
    yield g
    g.shutdown()


def settle(qtbot, g):
    qtbot.waitUntil(lambda: not g.is_loading() and not g.loader.pending, timeout=10000)


def grab(g) -> QtGui.QImage:
    g.viewport().repaint()
    return g.viewport().grab().toImage()


def grey_at(g, point: QtCore.QPoint) -> int:
    return QtGui.QColor(grab(g).pixel(point)).red()


def visible_frames(g) -> set[int]:
    return {g.frame_at(p) for p in g.visible_positions()}


def test_only_visible_cells_are_requested(gallery, stack, qtbot):
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    visible = visible_frames(gallery)
    assert visible == set(range(16))  # 4 columns, rows 0–3 (row 3 partly visible)
    assert sorted(stack.reads) == sorted(visible)
    rect = gallery.cell_rect(0)
    th, tw = gallery.thumbnail(0).index.shape
    dpr = gallery.devicePixelRatioF()
    assert (th, tw) == (min(NY, round(rect.height() * dpr)), min(NX, round(rect.width() * dpr)))


def test_scrolling_to_the_bottom_drops_the_old_requests(gallery, stack, qtbot):
    stack.gate = threading.Event()
    gallery.set_stack(stack)
    # One worker is inside a read; the other waits for the io lock (reads are serialised so a
    # save can close the file between them), the other requests wait in the queue.
    assert stack.started.acquire(timeout=5)
    gallery.verticalScrollBar().setValue(gallery.verticalScrollBar().maximum())
    bottom = visible_frames(gallery)
    assert bottom == set(range(44, 60))
    assert {key[2] for key in gallery.loader.pending} <= bottom | set(stack.reads)
    stack.gate.set()
    settle(qtbot, gallery)
    first_two = set(stack.reads[:1])
    assert first_two <= set(range(16))
    # Reads already under way finish; every other request for the top rows was dropped.
    assert set(stack.reads) == first_two | bottom
    assert len(stack.reads) == len(set(stack.reads))
    for p in gallery.visible_positions():
        assert gallery.thumbnail(gallery.frame_at(p)) is not None


def test_click_selects_and_double_click_activates(gallery, stack, qtbot):
    gallery.set_stack(stack)
    gallery.set_order(np.arange(N)[::-1])
    settle(qtbot, gallery)
    centre = gallery.cell_rect(6).center()
    with qtbot.waitSignal(gallery.frame_selected) as sel:
        qtbot.mouseClick(gallery.viewport(), QtCore.Qt.LeftButton, pos=centre)
    assert sel.args == [N - 1 - 6]
    assert gallery.selected() == N - 1 - 6
    activated = []
    gallery.frame_activated.connect(activated.append)
    qtbot.mouseDClick(gallery.viewport(), QtCore.Qt.LeftButton, pos=gallery.cell_rect(9).center())
    assert activated == [N - 1 - 9]
    # a click in the gap between cells selects nothing
    gap = QtCore.QPoint(gallery.cell_rect(0).right() + 5, gallery.cell_rect(0).center().y())
    assert gallery.position_at(gap) is None
    with qtbot.assertNotEmitted(gallery.frame_selected):
        qtbot.mouseClick(gallery.viewport(), QtCore.Qt.LeftButton, pos=gap)


def test_selected_cell_has_a_white_border(gallery, stack, qtbot):
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    gallery.set_selected(5)
    r = gallery.cell_rect(5)
    img = grab(gallery)
    border = QtGui.QColor(img.pixel(r.left() - 1, r.center().y()))
    assert (border.red(), border.green(), border.blue()) == (255, 255, 255)
    other = gallery.cell_rect(6)
    assert QtGui.QColor(img.pixel(other.left() - 1, other.center().y())).red() < 100


def test_tag_square_click_toggles_only(gallery, stack, qtbot):
    gallery.set_stack(stack)
    tags = {f: [f % 2 == 0, False, True] for f in range(N)}
    gallery.set_tags(lambda f: tags[f])
    gallery.set_tag_colours([(52, 102, 164), (245, 121, 0), (117, 80, 123)])
    settle(qtbot, gallery)
    square = gallery.tag_rect(5, 1)
    cell = gallery.cell_rect(5)
    # T4: 5 % of the cell width, 1 % padding, stacked downwards
    assert square.width() == pytest.approx(0.05 * cell.width(), abs=0.5)
    assert square.left() - cell.left() == pytest.approx(0.01 * cell.width(), abs=1.0)
    assert square.top() > gallery.tag_rect(5, 0).bottom()
    with (qtbot.assertNotEmitted(gallery.frame_selected), qtbot.assertNotEmitted(gallery.frame_activated),
          qtbot.waitSignal(gallery.tag_square_clicked) as clicked):
        qtbot.mouseClick(gallery.viewport(), QtCore.Qt.LeftButton, QtCore.Qt.ShiftModifier, pos=square.center())
    assert clicked.args == [5, 1, True]
    with qtbot.waitSignal(gallery.tag_square_clicked) as clicked:
        qtbot.mouseClick(gallery.viewport(), QtCore.Qt.LeftButton, pos=gallery.tag_rect(2, 0).center())
    assert clicked.args == [2, 0, False]
    assert gallery.selected() is None
    # filled when set, outlined when not, in the tag's colour
    img = grab(gallery)
    set_square, unset_square = gallery.tag_rect(4, 0), gallery.tag_rect(5, 0)
    assert QtGui.QColor(img.pixel(set_square.center())).getRgb()[:3] == (52, 102, 164)
    assert QtGui.QColor(img.pixel(unset_square.center())).getRgb()[:3] != (52, 102, 164)
    assert QtGui.QColor(img.pixel(unset_square.topLeft())).getRgb()[:3] == (52, 102, 164)
    gallery.set_tag_squares_visible(False)
    with qtbot.waitSignal(gallery.frame_selected):  # hidden squares are not clickable
        qtbot.mouseClick(gallery.viewport(), QtCore.Qt.LeftButton, pos=square.center())


def test_thumbnails_keep_a_lone_bright_pixel(gallery, qtbot):
    a = np.zeros((4, 512, 512), np.float32)
    a[1, 301, 177] = 1000.0
    stack = CountingStack(a)
    gallery.set_display(DisplaySettings(norm="linear", lo_unit="value", lo=0, hi_unit="value", hi=1000),
                        MaskSettings(), GRAY)
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    thumb = gallery.thumbnail(1)
    th, tw = thumb.index.shape
    assert (th, tw) < (512, 512)  # downsampled to the cell
    assert np.count_nonzero(thumb.index == 253) == 1
    # on screen: the block holding the bright pixel is white (nearest-neighbour painting)
    r = gallery.cell_rect(1)
    x = r.left() + (177 * tw // 512 + 0.5) * r.width() / tw
    y = r.top() + (301 * th // 512 + 0.5) * r.height() / th
    assert grey_at(gallery, QtCore.QPoint(int(x), int(y))) == 255
    assert grey_at(gallery, QtCore.QPoint(int(x) + 5, int(y) + 5)) == 0


def test_changing_the_order_reorders_the_cells(gallery, stack, qtbot):
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    first = gallery.cell_rect(0).center()
    assert grey_at(gallery, first) == 0  # frame 0
    order = np.array([59, 30, 2] + [f for f in range(N) if f not in (59, 30, 2)])
    gallery.set_order(order)
    settle(qtbot, gallery)
    assert grey_at(gallery, gallery.cell_rect(0).center()) == 255  # frame 59
    assert grey_at(gallery, gallery.cell_rect(1).center()) == round(30 / 59 * 253 / 253 * 255)
    assert gallery.frame_at(2) == 2 and gallery.position_of(59) == 0


def test_set_columns_changes_the_cell_size(gallery, stack, qtbot):
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    w4 = gallery.cell_rect(0).width()
    with qtbot.waitSignal(gallery.columns_changed) as changed:
        gallery.set_columns(2)
    assert changed.args == [2]
    w2 = gallery.cell_rect(0).width()
    assert w2 > 1.9 * w4
    assert gallery.cell_rect(1).left() > gallery.cell_rect(0).right()
    assert gallery.cell_rect(2).top() - gallery.cell_rect(0).bottom() - 1 == 10  # 10 px between rows
    settle(qtbot, gallery)
    assert gallery.thumbnail(0).index.shape == (min(NY, gallery.cell_rect(0).height()), min(NX, w2))
    gallery.set_columns(8)
    assert gallery.columns() == 8
    assert set(range(8 * 4)) <= visible_frames(gallery)


def test_keyboard_api_moves_the_selection_and_scrolls(gallery, stack, qtbot):
    gallery.set_stack(stack)
    gallery.set_selected(0)
    selected = []
    gallery.frame_selected.connect(selected.append)
    assert gallery.select_relative(1) == 1
    assert gallery.row_step(1) == 5
    assert gallery.select_relative(-10) == 0  # clamped at the start
    assert gallery.select_position(-1) == N - 1
    assert selected == [1, 5, 0, N - 1]
    assert N - 1 in visible_frames(gallery)
    gallery.scroll_rows(-2)
    assert N - 1 not in visible_frames(gallery) and gallery.selected() == N - 1
    gallery.set_selected(3)  # from the session: scrolls the cell back into view
    assert 3 in visible_frames(gallery)


def test_wheel_direction(gallery, stack, qtbot):
    gallery.set_stack(stack)

    def wheel(dy):
        pos = QtCore.QPointF(gallery.cell_rect(0).center())
        event = QtGui.QWheelEvent(pos, pos, QtCore.QPoint(), QtCore.QPoint(0, dy), QtCore.Qt.NoButton,
                                  QtCore.Qt.NoModifier, QtCore.Qt.NoScrollPhase, False)
        QtCore.QCoreApplication.sendEvent(gallery.viewport(), event)

    bar = gallery.verticalScrollBar()
    wheel(-120)  # the wheel's top towards the user: traditional scrolls down
    assert bar.value() > 0
    down = bar.value()
    gallery.set_wheel_direction("natural")
    wheel(-120)
    assert bar.value() < down


def test_lock_levels_uses_the_selected_frame_levels_without_rereading(gallery, qtbot):
    rng = np.random.default_rng(1)
    a = rng.random((N, NY, NX)).astype(np.float32) * (1 + np.arange(N, dtype=np.float32))[:, None, None]
    stack = CountingStack(a)
    gallery.set_display(DisplaySettings(norm="linear"), MaskSettings(), GRAY)  # percentile levels
    gallery.set_stack(stack)
    gallery.set_selected(3)
    settle(qtbot, gallery)
    own = {f: (gallery.thumbnail(f).lo, gallery.thumbnail(f).hi) for f in visible_frames(gallery)}
    assert len({hi for _, hi in own.values()}) == len(own)  # every cell its own levels
    reads = len(stack.reads)
    gallery.set_lock_levels(True)
    settle(qtbot, gallery)
    assert {(gallery.thumbnail(f).lo, gallery.thumbnail(f).hi) for f in visible_frames(gallery)} == {own[3]}
    gallery.set_selected(7)
    settle(qtbot, gallery)
    assert {(gallery.thumbnail(f).lo, gallery.thumbnail(f).hi) for f in visible_frames(gallery)} == {own[7]}
    assert len(stack.reads) == reads  # re-mapped from the cached downsampled frames
    gallery.set_lock_levels(False)
    settle(qtbot, gallery)
    assert (gallery.thumbnail(7).lo, gallery.thumbnail(7).hi) == own[7]
    assert (gallery.thumbnail(9).lo, gallery.thumbnail(9).hi) == own[9]


def test_display_changes_remap_without_reading(gallery, qtbot):
    rng = np.random.default_rng(2)
    stack = CountingStack(rng.gamma(2.0, 50.0, (N, NY, NX)).astype(np.float32))
    gallery.set_display(DisplaySettings(norm="linear"), MaskSettings(), GRAY)
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    reads = len(stack.reads)
    linear = gallery.thumbnail(0).index.copy()
    gallery.set_display(DisplaySettings(norm="log"), MaskSettings(), GRAY)
    settle(qtbot, gallery)
    assert (gallery.thumbnail(0).index != linear).mean() > 0.3
    assert len(stack.reads) == reads
    before = grey_at(gallery, gallery.cell_rect(0).center())
    gallery.set_display(DisplaySettings(norm="log", colormap="gray", invert_colormap=True), MaskSettings(),
                        colour_table("gray", invert=True))
    assert not gallery.loader.pending and not gallery.is_loading()  # a recolour, no jobs
    assert grey_at(gallery, gallery.cell_rect(0).center()) == 255 - before


def test_info_overlay_value_comes_from_the_full_frame_when_cached(gallery, qtbot):
    a = np.zeros((N, 256, 256), np.float32)
    a[:, 10, 20] = 7.0
    a[:, 10, 21] = 9.0
    stack = CountingStack(a)
    gallery.set_stack(stack)
    settle(qtbot, gallery)
    lines = gallery.info_lines(0, 20, 10)
    assert "frame 0" in lines and "view position 0" in lines and "pixel (20, 10)" in lines
    assert "block max 9" in lines  # no full-resolution frame available
    assert "max 9" in lines and "sum 16" in lines
    raw_cache = FrameCache(64 * 2**20)
    gallery.share_raw_cache(raw_cache, lambda i: ("raw", i))
    gallery.set_stack(stack)  # the shared cache fills as the cells are read
    settle(qtbot, gallery)
    assert ("raw", 0) in raw_cache
    assert "value 7" in gallery.info_lines(0, 20, 10)
    hovered = []
    gallery.pixel_hovered.connect(lambda *args: hovered.append(args))
    r = gallery.cell_rect(1)
    qtbot.mouseMove(gallery.viewport(), QtCore.QPoint(r.left() + r.width() // 2, r.top() + 2))
    qtbot.waitUntil(lambda: bool(hovered))
    frame, x, y = hovered[-1]
    assert frame == 1 and abs(x - 128) <= 2 and y <= 2.5 * 256 / r.height() + 1


def test_an_unreadable_frame_shows_a_message_and_the_rest_load(gallery, stack, qtbot):
    stack.fail = {2}
    with qtbot.waitSignal(gallery.load_failed) as failed:
        gallery.set_stack(stack)
    assert failed.args == [2, "frame 2 is damaged"]
    settle(qtbot, gallery)
    assert gallery.thumbnail(2) is None and gallery.thumbnail(3) is not None
    assert not gallery.is_loading()  # a failed cell is not waiting


def test_real_cxi_file_with_a_shared_mask(gallery, qtbot, tmp_path, monkeypatch):
    path = tmp_path / "hits.cxi"
    frames = np.ones((24, 128, 128), np.float32)
    mask = np.zeros((128, 128), np.uint16)
    mask[:64, :64] = 1  # "invalid": masked by default
    with h5py.File(path, "w") as f:
        f.create_dataset("entry_1/image_1/data", data=frames, chunks=(1, 128, 128))
        f.create_dataset("entry_1/image_1/mask_shared", data=mask)
    source = open_source(str(path))
    try:
        stack = source.set_image("/entry_1/image_1/data")
        mask_stack = source.mask_stack("/entry_1/image_1/data")
        assert mask_stack is not None
        threads = []  # of the frame reads (the mask is an Hdf5Stack too: read once, not counted)
        original = type(stack)._read

        def read(self, i):
            if self is stack:
                threads.append(threading.current_thread())
            return original(self, i)

        monkeypatch.setattr(type(stack), "_read", read)
        gallery.set_display(DisplaySettings(norm="linear", lo_unit="value", lo=0, hi_unit="value", hi=2),
                            MaskSettings(colour=(255, 0, 0), opacity=1.0), GRAY)
        gallery.set_stack(stack, mask_stack)
        settle(qtbot, gallery)
        assert len(threads) == len(visible_frames(gallery)) and threading.main_thread() not in threads
        r = gallery.cell_rect(0)
        img = grab(gallery)
        masked = QtGui.QColor(img.pixel(r.left() + r.width() // 4, r.top() + r.height() // 4))
        data = QtGui.QColor(img.pixel(r.left() + 3 * r.width() // 4, r.top() + 3 * r.height() // 4))
        assert masked.getRgb()[:3] == (255, 0, 0)  # the masked quarter in the mask colour
        assert data.getRgb()[:3] == (128, 128, 128)  # value 1 of 0…2, linear grey
        assert gallery.thumbnail(0).base.stats.n_valid == 128 * 128 - 64 * 64
    finally:
        gallery.shutdown()
        source.close()


def test_big_raw_frames_are_not_pushed_into_the_shared_cache(gallery, qtbot, monkeypatch):
    """A thumbnail of a frame bigger than SHARED_RAW_MAX_BYTES borrows the raw frame: the single
    view's cache keeps its own frames (64 MB frames would evict them)."""
    import owlx.gui.gallery_loader as gl

    monkeypatch.setattr(gl, "SHARED_RAW_MAX_BYTES", 1000)
    a = np.zeros((3, 64, 64), np.float32)  # 16 kB frames: "big" here
    a[:, 10, 20] = 7.0
    raw_cache = FrameCache(64 * 2**20)
    gallery.share_raw_cache(raw_cache, lambda i: ("raw", i))
    gallery.set_stack(CountingStack(a))
    settle(qtbot, gallery)
    assert gallery.thumbnail(2) is not None and len(raw_cache) == 0
