"""Live follow in the window (spec/viewer.md V1–V3, §17 check 14): a writer process grows an
SWMR file while owlx polls it; a QTimer heartbeat measures that no poll blocks the GUI thread."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from PyQt5 import QtCore

from owlx.gui.main_window import MainWindow
from owlx.gui.settings import AppSettings

WRITER = Path(__file__).resolve().parents[1] / "io" / "swmr_writer_helper.py"
START, END = 10, 20


@pytest.fixture
def writer(tmp_path):
    path, go = tmp_path / "live.cxi", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), str(START), str(END), "0.1", str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    yield path, go, proc
    proc.kill()
    proc.wait(10)


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(settings=AppSettings(path=tmp_path / "owlx.ini"))
    qtbot.addWidget(w)
    w.resize(800, 500)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


class Heartbeat:
    """A 5 ms QTimer on the GUI thread records the gaps between its beats, and a watchdog thread
    samples the GUI thread's stack whenever a beat is more than 20 ms late, so that a long gap
    can be told apart: the GUI thread reading a file (h5py or owlx.io on its stack) or the
    machine being busy (other processes on the shared cores)."""

    READING = ("h5py", "/owlx/io/", "session_live.py")

    def __init__(self):
        self.timer = QtCore.QTimer()
        self.timer.setTimerType(QtCore.Qt.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._beat)
        self.last = None
        self.gaps = []
        self.reading_ms = 0.0  # longest lateness seen with the GUI thread inside a read
        self._stop = threading.Event()
        self._gui = threading.get_ident()

    def _beat(self):
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append((now - self.last) * 1000)
        self.last = now

    def _watch(self):
        while not self._stop.is_set():
            time.sleep(0.002)
            last = self.last
            late = (time.perf_counter() - last) * 1000 if last is not None else 0.0
            if late > 20:
                frame = sys._current_frames().get(self._gui)
                files = [f.filename for f in traceback.extract_stack(frame)] if frame is not None else []
                if any(tag in name for name in files for tag in self.READING):
                    self.reading_ms = max(self.reading_ms, late)

    def start(self):
        self.timer.start()
        threading.Thread(target=self._watch, daemon=True).start()

    def stop(self):
        self._stop.set()
        self.timer.stop()

    @property
    def worst_ms(self) -> float:
        return max(self.gaps) if self.gaps else 0.0

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.gaps, 99)) if self.gaps else 0.0


def test_window_follows_a_growing_file_and_auto_last_shows_the_newest(window, qtbot, writer):
    path, go, proc = writer
    assert window.open_path(str(path), live=True, wait=True)  # what `owlx --live` does
    s = window.session
    assert s.source.swmr and s.n_frames == START
    live = window.live
    assert live.active and window.live_action.isChecked()  # polling started by itself
    assert window.live_label.text() == f"Live · {START} frames"
    live.set_interval(0.5)
    qtbot.keyClick(window.view, QtCore.Qt.Key_L, QtCore.Qt.ControlModifier)  # auto-last
    assert live.auto_last and s.frame_index == START - 1
    beat = Heartbeat()
    beat.start()
    go.touch()
    qtbot.waitUntil(lambda: s.n_frames == END and window.current is not None and window.current.index == END - 1,
                    timeout=20000)
    beat.stop()
    assert s.order.size == END and s.tags.n_frames == END
    assert window.current.raw[0, 0] == END - 1
    assert window.live_label.text() == f"Live · {END} frames"
    assert window.tree.item_for_path("/entry_1/image_1/data").text(2) == f"{END}×16×24"
    print(f"heartbeat: {len(beat.gaps)} beats, worst gap {beat.worst_ms:.1f} ms, 99th percentile "
          f"{beat.p99_ms:.1f} ms, longest read on the GUI thread {beat.reading_ms:.0f} ms, {live.polls} polls")
    assert live.polls >= 2 and len(beat.gaps) > 50
    assert beat.reading_ms < 50, f"a read blocked the GUI thread for {beat.reading_ms:.0f} ms"
    assert beat.p99_ms < 50, f"the GUI thread was blocked: gaps up to {beat.worst_ms:.0f} ms"
    # navigating away pauses auto-last; End resumes it
    qtbot.keyClick(window.view, QtCore.Qt.Key_Home)
    assert live.paused and "paused" in window.live_label.text()
    qtbot.keyClick(window.view, QtCore.Qt.Key_End)
    assert not live.paused
    proc.wait(20)
    window.session.tags.add("good")
    window.session.tags.set_frames("good", [END - 1], True)
    assert window.save()  # live: into the sidecar, never the file being written (V3)
    assert Path(str(path) + ".owlx.h5").exists()
