"""Gallery latency, measured through the real GalleryView (offscreen Qt).

Prints a table of medians:
  * fill: a 6 × 4 gallery of 1024² float32 frames from a cold file — owlx's caches empty, the
    OS page cache warm — from ``set_stack`` until all 24 cells are painted; target ≤ 0.5 s;
  * scroll one row: from the scroll until the 6 newly visible cells are painted (nothing is
    prefetched: only visible cells are ever requested, spec/viewer.md G4); target ≤ 50 ms.

Default display settings (log norm, percentile 0.5 / 99.5 levels of each full frame). The file is
an uncompressed CXI chunked per frame, written once into ``--data-dir`` and reused.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gallery.py [--quick]
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

from PyQt5 import QtCore, QtWidgets
from bench_data import write_stack  # noqa: E402 - the scripts run from benchmarks/

COLUMNS, ROWS, CELL = 6, 4, 190  # 190 px cells + 10 px gaps: a 1200 × 800 viewport


def warm_page_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(64 * 2**20):
            pass


def wait_painted(app, gallery, timeout_s: float = 30.0) -> None:
    """Until every visible cell shows its current thumbnail, then one synchronous paint."""
    t_end = time.perf_counter() + timeout_s
    while gallery.is_loading():
        # Sleep until an event arrives, as the real event loop does: a spinning wait would hold
        # the GIL and a core that the loader's workers need.
        app.processEvents(QtCore.QEventLoop.AllEvents | QtCore.QEventLoop.WaitForMoreEvents)
        if time.perf_counter() > t_end:
            raise TimeoutError("the gallery never finished loading")
    gallery.viewport().repaint()


def bench_fill(app, gallery, stack, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        gallery.set_stack(None)
        gallery.loader.runner.wait()
        t0 = time.perf_counter()
        gallery.set_stack(stack)  # new stack token: the thumbnail cache starts empty
        wait_painted(app, gallery)
        times.append(time.perf_counter() - t0)
        assert len(gallery.visible_positions()) == COLUMNS * ROWS
    return times


def bench_scroll(app, gallery, stack, passes: int) -> list[float]:
    times = []
    n_rows = -(-len(stack) // COLUMNS)
    for _ in range(passes):
        gallery.set_stack(stack)
        wait_painted(app, gallery)
        for _ in range(n_rows - ROWS):
            time.sleep(0.05)  # a user reads a row before scrolling on; lets the pool go idle
            t0 = time.perf_counter()
            gallery.scroll_rows(1)
            wait_painted(app, gallery)
            times.append(time.perf_counter() - t0)
    return times


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1e3:8.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "owlx-bench"))
    ap.add_argument("--quick", action="store_true", help="fewer frames and runs (a smoke test)")
    args = ap.parse_args()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    n = 60 if args.quick else 120
    print(f"writing/reusing the benchmark file in {data} …", file=sys.stderr)
    path = write_stack(data / f"gallery_{n}x1024.cxi", n, 1024, variants=6)
    warm_page_cache(path)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # others' work skews the figures

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    from owlx.core.display import warm_up
    from owlx.gui.gallery import GalleryView
    from owlx.io.open import open_source

    warm_up()
    gallery = GalleryView()
    gallery.set_columns(COLUMNS)
    bar_width = gallery.verticalScrollBar().sizeHint().width()
    gallery.resize(COLUMNS * (CELL + 10) + bar_width, ROWS * (CELL + 10))
    gallery.show()
    source = open_source(str(path))
    stack = source.set_image("/entry_1/image_1/data")
    gallery.set_stack(stack)  # compiles or loads the numba kernels before the clock runs
    wait_painted(app, gallery)

    fill = bench_fill(app, gallery, stack, 3 if args.quick else 9)
    scroll = bench_scroll(app, gallery, stack, 1 if args.quick else 3)
    threads = gallery.loader.runner.pool.maxThreadCount()
    gallery.shutdown()
    source.close()

    print()
    print(f"owlx gallery benchmark (medians, ms; {os.cpu_count()} cores, load average {load:.1f} "
          f"before the run; {threads} loader threads; offscreen Qt)")
    print("| measurement | owlx | min | max | runs | target |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, times, target in (
        (f"fill a {COLUMNS}×{ROWS} gallery of 1024² f32 (cold owlx caches)", fill, "≤ 500"),
        (f"scroll one row ({COLUMNS} new cells painted)", scroll, "≤ 50"),
    ):
        print(f"| {name} | {ms(times)} | {min(times) * 1e3:.1f} | {max(times) * 1e3:.1f} | {len(times)} | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
