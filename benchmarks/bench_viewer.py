"""Viewer latency and memory, measured through the real owlx window (offscreen Qt).

Prints a table of medians:
  * open-to-first-frame of a 2 GB CXI (500 × 1024² float32, chunked per frame), target ≤ 0.3 s;
  * frame step (key press → frame read, levelled, mapped and painted) at 1024², target ≤ 5 ms,
    and 4096², target ≤ 20 ms — sequential steps (prefetch at work, as when a user holds →)
    and random jumps (nothing prefetched: read + levels + map + paint all on the clock);
  * pyqtgraph's bare ImageView floor in the same run: ``setImage`` of an in-memory frame with
    fixed levels, plus the paint;
  * peak RSS growth while stepping through all 500 frames, against the image-cache budget
    + 300 MB.

The files are written once into ``--data-dir`` (default: a folder under the system temp dir)
and reused. The OS page cache is warm after writing; cold-disk figures depend on the disk.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_viewer.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PyQt5 import QtCore, QtWidgets  # noqa: E402
from bench_data import write_stack  # noqa: E402 - the scripts run from benchmarks/


class Probe:
    """Drives a MainWindow and times frames until they are painted."""

    def __init__(self, window):
        self.window = window
        self.app = QtWidgets.QApplication.instance()
        self.shown = None
        self._loop: QtCore.QEventLoop | None = None
        self._awaited: int | None = None
        window.frame_displayed.connect(self._shown)
        self.viewport = window.view.findChild(QtWidgets.QGraphicsView).viewport()

    def _shown(self, index: int) -> None:
        self.shown = index
        if self._loop is not None and index == self._awaited:
            self._loop.quit()

    def wait_painted(self, index: int, timeout_s: float = 30.0) -> None:
        if self.shown != index:
            # Sleep in a real event loop until the frame arrives, as Qt's own loop does. A loop
            # of processEvents(…, maxtime) would spin (Qt ignores WaitForMoreEvents there) and
            # take one of the two cores away from the workers, distorting every figure.
            self._loop, self._awaited = QtCore.QEventLoop(), index
            timer = QtCore.QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(self._loop.quit)
            timer.start(int(timeout_s * 1000))
            self._loop.exec_()
            timer.stop()
            self._loop = None
            if self.shown != index:
                raise TimeoutError(f"frame {index} never arrived")
        self.viewport.repaint()  # synchronous paint: the frame is on screen when this returns

    def step_times(self, targets) -> list[float]:
        times = []
        for i in targets:
            t0 = time.perf_counter()
            self.window.session.frame_index = int(i)
            self.wait_painted(int(i))
            times.append(time.perf_counter() - t0)
        return times


def settle(app, seconds: float) -> None:
    """Let ``seconds`` pass in an idle event loop (sleeping, not spinning: the workers need the
    cores)."""
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(max(int(seconds * 1000), 0), loop.quit)
    loop.exec_()


def bench_open(window, probe, path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        window.session.close()
        settle(probe.app, 0.2)
        probe.shown = None
        t0 = time.perf_counter()
        window.open_path(str(path))
        probe.wait_painted(0)
        times.append(time.perf_counter() - t0)
    return times


def open_and_show(window, probe, path: Path) -> None:
    """Open ``path`` (opening runs on a worker) and wait until its first frame is painted."""
    probe.shown = None
    assert window.open_path(str(path), wait=True), window.last_error
    probe.wait_painted(0)


def bench_steps(window, probe, path: Path, n_seq: int, n_rand: int):
    open_and_show(window, probe, path)
    n = window.session.n_frames
    seq = []
    for i in range(1, min(n, n_seq + 1)):
        # A user holding → sees frames at key-repeat rate (~30 ms): give prefetch that time.
        settle(probe.app, 0.03)
        seq += probe.step_times([i])
    rng = np.random.default_rng(0)
    rand = []
    for i in rng.choice(n, size=min(n_rand, n), replace=False):
        # A jump to a frame nobody prefetched (typed into the frame field): wait until the
        # workers are idle, so the figure is read + levels + map + paint, not queueing.
        window.loader.runner.pool.waitForDone(10000)
        settle(probe.app, 0.05)
        window.loader.cache.clear()
        rand += probe.step_times([int(i)])
    return seq, rand


def bench_floor(size: int, runs: int) -> list[float]:
    import pyqtgraph as pg

    app = QtWidgets.QApplication.instance()
    rng = np.random.default_rng(2)
    frames = [rng.poisson(50, (size, size)).astype(np.float32) for _ in range(4)]
    view = pg.ImageView()
    view.resize(1000, 800)
    view.show()
    view.setImage(frames[0])
    settle(app, 0.2)
    viewport = view.ui.graphicsView.viewport()
    times = []
    for k in range(runs):
        t0 = time.perf_counter()
        view.setImage(frames[k % 4], autoRange=False, autoLevels=False, levels=(0, 100), autoHistogramRange=False)
        app.processEvents()
        viewport.repaint()
        times.append(time.perf_counter() - t0)
    view.close()
    return times


def bench_rss(window, probe, path: Path) -> tuple[float, float]:
    open_and_show(window, probe, path)
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    for i in range(1, window.session.n_frames):
        window.session.frame_index = i
        probe.wait_painted(i)
        if i % 5 == 0:
            peak = max(peak, proc.memory_info().rss)
    settle(probe.app, 0.5)
    peak = max(peak, proc.memory_info().rss)
    return base / 2**20, (peak - base) / 2**20


def med(times: list[float]) -> str:
    return f"{statistics.median(times) * 1e3:8.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "owlx-bench"))
    ap.add_argument("--quick", action="store_true", help="smaller files and fewer runs (a smoke test)")
    args = ap.parse_args()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    n_big, n_4k = (60, 8) if args.quick else (500, 24)
    print(f"writing/reusing benchmark files in {data} …", file=sys.stderr)
    big = write_stack(data / f"stack_{n_big}x1024.cxi", n_big, 1024)
    huge = write_stack(data / f"stack_{n_4k}x4096.cxi", n_4k, 4096)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])  # noqa: F841 - kept alive
    from owlx.gui.main_window import MainWindow
    from owlx.gui.settings import AppSettings

    window = MainWindow(settings=AppSettings(fresh=True))
    window.resize(1400, 900)
    window.show()
    probe = Probe(window)
    budget_mb = window.loader.cache.max_bytes / 2**20

    runs = 3 if args.quick else 7
    t_open = bench_open(window, probe, big, runs)
    seq1, rand1 = bench_steps(window, probe, big, 30 if args.quick else 100, 10 if args.quick else 30)
    seq4, rand4 = bench_steps(window, probe, huge, n_4k - 1, min(n_4k, 8 if args.quick else 20))
    floor1 = bench_floor(1024, 15 if args.quick else 40)
    floor4 = bench_floor(4096, 8 if args.quick else 20)
    window.loader.cache.clear()
    base_mb, growth_mb = bench_rss(window, probe, big)
    window.close()

    gb = big.stat().st_size / 1e9
    print()
    print(f"owlx viewer benchmark (medians, ms; {os.cpu_count()} cores; offscreen Qt)")
    print("| measurement | owlx | pyqtgraph ImageView floor | target |")
    print("|---|---:|---:|---:|")
    print(f"| open-to-first-frame, {gb:.1f} GB CXI ({n_big}×1024² f32) | {med(t_open)} | – | ≤ 300 |")
    print(f"| frame step 1024², sequential (prefetched) | {med(seq1)} | {med(floor1)} | ≤ 5 |")
    print(f"| frame step 1024², jump to an uncached frame | {med(rand1)} | {med(floor1)} | – |")
    print(f"| frame step 4096², sequential (prefetched) | {med(seq4)} | {med(floor4)} | ≤ 20 |")
    print(f"| frame step 4096², jump to an uncached frame | {med(rand4)} | {med(floor4)} | – |")
    print()
    ok = growth_mb <= budget_mb + 300
    print(
        f"peak RSS growth stepping through all {n_big} frames: {growth_mb:.0f} MB "
        f"(baseline {base_mb:.0f} MB; budget {budget_mb:.0f} MB cache + 300 MB) -> {'OK' if ok else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
