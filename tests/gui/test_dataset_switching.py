"""Choosing datasets in the data tree (spec/viewer.md F8, §8; formats.md §1.3, §1.6): a mask dataset
becomes the mask instead of replacing the image; sort and filters are kept per dataset while the file
is open; leaving a dataset whose sphere batch runs asks first; extra axes of 4-D data get an index
selector beside the frame browser."""

from __future__ import annotations

import re
import shutil
import time

import h5py
import numpy as np
import pytest

import owlx.core.sphere_recipe as recipe
from owlx.core.sphere_records import SphereFitResult
from owlx.demo import make_demo_file
from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

G = "/entry_1/image_1"
N, SIZE = 8, 256


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory):
    """The demo layout, small, plus two more image datasets: one of N frames, one of 5."""
    path = make_demo_file(tmp_path_factory.mktemp("demo") / "demo.cxi", n_frames=N, size=SIZE, seed=5)
    with h5py.File(path, "a") as f:
        f["entry_1/image_2/data"] = np.arange(5 * 16 * 16, dtype=np.float32).reshape(5, 16, 16)
        f["entry_1/image_3/data"] = np.ones((N, 16, 16), np.float32)
    return path


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    made = []

    def make(path):
        w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
        w.ask_recovery = lambda text: False
        w.ask_unsaved = lambda: "discard"
        qtbot.addWidget(w)
        w.resize(1000, 700)
        w.show()
        qtbot.waitExposed(w)
        assert w.open_path(str(path), wait=True)
        qtbot.waitUntil(lambda: w.current is not None, timeout=10000)
        made.append(w)
        return w

    yield make
    for w in made:
        w.cancel_sizing()
        w.jobs.wait(10000)
        w.close()


@pytest.fixture
def window(make_window, tmp_path, demo_master):
    path = tmp_path / "demo.cxi"
    shutil.copy(demo_master, path)
    return make_window(path)


def activate(window, path):
    """What a click (or Enter) on ``path`` in the data tree sends."""
    window.tree.dataset_activated.emit(path, window.session.source.node(path).kind)


def messages(window):
    got = []
    window.session.message.connect(lambda level, text: got.append((level, text)))
    return got


# -- 1. a mask dataset becomes the mask ----------------------------------------------------------
def test_clicking_mask_shared_uses_it_as_mask_and_keeps_image_sort_and_filters(window, qtbot):
    s = window.session
    s.set_sort(f"{G}/hit_score")
    s.add_range_filter(f"{G}/hit_score", lo=0.5)
    order = s.order.copy()
    s.set_mask_dataset(None)
    assert s.mask_stack is None
    activate(window, f"{G}/mask_shared")
    assert s.stack_path == f"{G}/data" and s.n_frames == N  # the image stays
    assert s.mask_stack is not None and s.mask_stack.path == f"{G}/mask_shared"
    assert s.sort is not None and s.sort.path == f"{G}/hit_score" and len(s.filters) == 1
    np.testing.assert_array_equal(s.order, order)
    assert "now the mask" in window.statusBar().currentMessage()


def test_mask_names_follow_cxi_and_owl():
    assert MainWindow._is_mask_dataset("/entry_1/image_1/mask")
    assert MainWindow._is_mask_dataset("/entry_1/image_1/mask_shared")
    assert MainWindow._is_mask_dataset("/entry_1/image_1/Mask_per_frame")
    assert MainWindow._is_mask_dataset("/entry_1/detector_1/pixelmask")  # Owl: ends in "mask"
    assert not MainWindow._is_mask_dataset("/entry_1/image_1/data")
    assert not MainWindow._is_mask_dataset("/entry_1/masked_sum/data")


# -- 2. sort and filters per dataset --------------------------------------------------------------
def test_sort_and_filters_come_back_with_their_dataset(window, qtbot):
    s = window.session
    got = messages(window)
    s.set_sort(f"{G}/hit_score", descending=False)
    fid = s.add_range_filter(f"{G}/hit_score", lo=60000.0)
    order = s.order.copy()
    np.testing.assert_array_equal(order, [1, 5, 3, 7, 2])  # hit_score ≥ 60000, ascending
    activate(window, "/entry_1/image_2/data")  # 5 frames: the hit_score settings cannot apply
    assert s.n_frames == 5 and s.sort is None and s.filters == [] and s.order.size == 5
    assert any("come back when you return" in text for _, text in got)
    activate(window, f"{G}/data")
    assert s.stack_path == f"{G}/data"
    assert s.sort is not None and s.sort.path == f"{G}/hit_score" and not s.sort.descending
    assert [(f.id, f.path, f.lo) for f in s.filters] == [(fid, f"{G}/hit_score", 60000.0)]
    np.testing.assert_array_equal(s.order, order)
    assert got[-1][0] == "info" and "restored" in got[-1][1] and "hit_score" in got[-1][1]
    assert "restored" in window.statusBar().currentMessage()


def test_each_dataset_keeps_its_own_settings(window, qtbot):
    """image_3 has N frames too: the settings carry over to it, but its own edits stay its own."""
    s = window.session
    s.set_sort(f"{G}/hit_score")
    s.add_range_filter(f"{G}/hit_score", hi=60000.0)
    order = s.order.copy()
    np.testing.assert_array_equal(order, [0, 4, 6])  # hit_score ≤ 60000, largest first
    activate(window, "/entry_1/image_3/data")
    assert s.sort is not None and len(s.filters) == 1  # carried over: same number of frames
    s.clear_filters()
    s.set_sort(None)
    activate(window, f"{G}/data")
    assert s.sort is not None and len(s.filters) == 1
    np.testing.assert_array_equal(s.order, order)
    activate(window, "/entry_1/image_3/data")
    assert s.sort is None and s.filters == []
    np.testing.assert_array_equal(s.order, np.arange(N))


def test_the_memory_lasts_while_the_file_is_open(window, qtbot, tmp_path):
    s = window.session
    path = str(s.source.path)
    s.add_range_filter(f"{G}/hit_score", lo=0.5)
    activate(window, "/entry_1/image_2/data")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["entry_1/data_1/data"] = np.zeros((3, 8, 8), np.float32)
    assert window.open_path(str(other), wait=True)
    assert window.open_path(path, dataset="/entry_1/image_2/data", wait=True)
    activate(window, f"{G}/data")
    assert s.filters == []


# -- 3. a running batch is not stopped without asking ------------------------------------------------
def slow_fit(monkeypatch, delay):
    def fit(img, mask, settings, start, cancel=None, frame=0):
        time.sleep(delay)
        return SphereFitResult(frame=frame, center_x=0.5, center_y=-0.5, diameter_nm=30.0 + 2 * frame,
                               fluence_mJ_um2=1.5, mask_radius_px=300.0, error_ref=0.01)

    monkeypatch.setattr(recipe, "fit_frame", fit)


def test_leaving_a_dataset_with_a_running_batch_asks_first(window, qtbot, monkeypatch):
    slow_fit(monkeypatch, 0.4)
    s = window.session
    asked = []
    window.ask_stop_batch = lambda text: asked.append(text) or False
    assert window.run_batch("view", skip_fitted=False)
    qtbot.waitUntil(lambda: window._model_batch_tally.done >= 1, timeout=10000)
    activate(window, "/entry_1/image_2/data")
    assert len(asked) == 1
    m = re.fullmatch(r"A sphere fit batch is running on this dataset \((\d+) / (\d+) done\)\. "
                     r"Switch and stop it\? Results so far are kept\.", asked[0])
    assert m is not None and 1 <= int(m[1]) <= N and int(m[2]) == N
    # Cancel: the batch and the dataset stay; the tree shows the dataset still shown.
    assert s.stack_path == f"{G}/data" and window._model_batch_handle is not None
    assert window.tree.current_path() == f"{G}/data"
    model = s.model
    window.ask_stop_batch = lambda text: asked.append(text) or True
    activate(window, "/entry_1/image_2/data")
    assert len(asked) == 2 and s.stack_path == "/entry_1/image_2/data"
    qtbot.waitUntil(lambda: window._model_batch_handle is None, timeout=10000)
    fitted = int(np.count_nonzero(model.fitted))
    assert 1 <= fitted < N  # stopped, with the frames fitted so far kept
    activate(window, f"{G}/data")
    assert s.model is model and int(np.count_nonzero(s.model.fitted)) == fitted


def test_no_question_without_a_batch_or_for_the_mask(window, qtbot, monkeypatch):
    slow_fit(monkeypatch, 0.4)
    window.ask_stop_batch = lambda text: pytest.fail("asked without a batch running")
    activate(window, "/entry_1/image_3/data")
    activate(window, f"{G}/data")
    assert window.run_batch("view", skip_fitted=False)
    activate(window, f"{G}/mask_shared")  # the mask does not leave the dataset
    assert window._model_batch_handle is not None and window.session.stack_path == f"{G}/data"


# -- 4. extra axes ----------------------------------------------------------------------------------
@pytest.fixture
def four_d(tmp_path):
    """(2, 3, 16, 16): frame e, module m is 100·e + 10·m + a ramp, so every (e, m) differs."""
    ramp = np.arange(16 * 16, dtype=np.float32).reshape(16, 16) / 1000
    data = np.stack([np.stack([100 * e + 10 * m + ramp for m in range(3)]) for e in range(2)])
    path = tmp_path / "four_d.cxi"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", data=data)
        ds.attrs["axes"] = np.array([b"experiment_identifier:module:y:x"])
        f["entry_1/image_2/data"] = np.zeros((2, 16, 16), np.float32)
    return path


def test_extra_axis_index_selector_changes_the_frames_shown(make_window, qtbot, four_d):
    window = make_window(four_d)
    b, s = window.browser, window.session
    assert not b.extra_box.isHidden() and list(b.extra_spins) == [1]
    spin = b.extra_spins[1]
    assert b.extra_labels[1].text() == "module" and (spin.minimum(), spin.maximum(), spin.value()) == (0, 2, 0)
    qtbot.waitUntil(lambda: "extra axis" in window.statusBar().currentMessage(), timeout=5000)
    assert "module 0 of 3" in window.statusBar().currentMessage()
    assert window.current.raw[0, 0] == 0.0
    spin.setValue(2)
    assert s.stack.extra_index == {1: 2}
    qtbot.waitUntil(lambda: window.current is not None and window.current.raw[0, 0] == 20.0, timeout=5000)
    np.testing.assert_allclose(window.current.raw[3, 4], 20.0 + (3 * 16 + 4) / 1000, rtol=1e-6)
    np.testing.assert_allclose(s.frame(0)[0, 0], 20.0)  # scripts and fits read the same index
    s.frame_index = 1
    qtbot.waitUntil(lambda: window.current is not None and window.current.index == 1, timeout=5000)
    assert window.current.raw[0, 0] == 120.0
    spin.setValue(1)
    qtbot.waitUntil(lambda: window.current is not None and window.current.raw[0, 0] == 110.0, timeout=5000)
    # A stack without extra axes hides the selector.
    activate(window, "/entry_1/image_2/data")
    assert b.extra_box.isHidden() and b.extra_spins == {}


def test_loader_drop_frames_forgets_raw_frames_and_renders(make_window, qtbot, four_d):
    window = make_window(four_d)
    loader = window.loader
    assert len(loader.cache) > 0
    token = loader.stack_token
    loader.drop_frames()
    assert len(loader.cache) == 0 and loader.stack_token != token and loader.stack is window.session.stack
