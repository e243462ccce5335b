"""Frame rendering latency: ``owlx.core.display.render`` and ``map_to_index`` alone.

Prints the median (and 10th–90th percentile span) of ≥ 15 runs per norm for synthetic
diffraction-like float32 frames of 1024² and 4096² (a Poisson speckle pattern on a weak
background with a few NaN and hot pixels, default settings: percentile 0.5 / 99.5), and the
direct-table path for uint16. Targets (spec brief): a frame step ≤ 5 ms at 1024² and ≤ 20 ms at
4096² end to end when the frame is in memory.

    python benchmarks/bench_render.py [--runs 21] [--sizes 1024 4096] [--gui]

``--gui`` adds the GUI side of a frame step: ``FrameView.set_index_image`` (Indexed8 hand-over
to Qt) plus the repaint, headless (QT_QPA_PLATFORM=offscreen unless set).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from owlx.core.display import NORMS, DisplaySettings, map_to_index, render


def diffraction_frame(n: int, dtype=np.float32, seed: int = 0) -> np.ndarray:
    """Airy-like rings times speckle, Poisson counted, with NaN gaps and hot pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.ogrid[-n // 2:n - n // 2, -n // 2:n - n // 2]
    r = np.hypot(x, y).astype(np.float32) + 1.0
    envelope = 1e5 * (np.sinc(r / (n / 40)) ** 2) / (1 + (r / 20) ** 2)
    lam = envelope * rng.exponential(1.0, (n, n)).astype(np.float32) + 0.05
    frame = rng.poisson(lam).astype(dtype)
    frame[:, n // 2 - 2:n // 2 + 2] = np.nan if np.dtype(dtype).kind == "f" else 0
    frame.flat[rng.integers(0, n * n, 50)] = 6e4
    return frame


def timed(fn, runs: int) -> np.ndarray:
    fn()  # compile / warm caches
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return np.array(out) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--gui", action="store_true", help="also time the hand-over to the view")
    args = ap.parse_args()
    runs = max(15, args.runs)
    print(f"{'size':>6} {'dtype':>8} {'norm':>8} {'render ms':>11} {'p10-p90':>13} "
          f"{'map_to_index ms':>16} {'p10-p90':>13}")
    for n in args.sizes:
        for dtype in (np.float32, np.uint16):
            frame = diffraction_frame(n, dtype)
            valid = np.ones(frame.shape, bool)
            valid[:8] = False
            for norm in NORMS:
                settings = DisplaySettings(norm=norm)
                r = render(frame, valid, settings)
                out = np.empty(frame.shape, np.uint8)
                t_render = timed(lambda: render(frame, valid, settings), runs)
                t_map = timed(lambda: map_to_index(frame, r.lo, r.hi, norm, 0.25, True, out), runs)
                print(f"{n:>5}² {np.dtype(dtype).name:>8} {norm:>8} {np.median(t_render):>11.2f} "
                      f"{np.percentile(t_render, 10):>6.2f}-{np.percentile(t_render, 90):<6.2f} "
                      f"{np.median(t_map):>16.2f} "
                      f"{np.percentile(t_map, 10):>6.2f}-{np.percentile(t_map, 90):<6.2f}")
    if args.gui:
        gui_table(args.sizes, runs)


def gui_table(sizes, runs: int) -> None:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt5 import QtWidgets

    from owlx.gui.colormaps import colour_table
    from owlx.gui.image_view import FrameView

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    view = FrameView()
    view.resize(1000, 1000)
    view.show()
    table = colour_table("inferno")
    print(f"\n{'size':>6} {'set_index_image ms':>19} {'repaint 1000² view ms':>22}")
    for n in sizes:
        frames = [render(diffraction_frame(n, seed=s), None, DisplaySettings()).index for s in (1, 2)]
        state = {"i": 0}

        def step():
            state["i"] ^= 1
            view.set_index_image(frames[state["i"]], table)

        def paint():
            view.graphics.viewport().repaint()

        app.processEvents()
        t_set, t_paint = timed(step, runs), timed(paint, runs)
        print(f"{n:>5}² {np.median(t_set):>19.3f} {np.median(t_paint):>22.2f}")


if __name__ == "__main__":
    main()
