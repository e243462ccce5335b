"""Run every owlx benchmark and print their tables (medians of several runs).

    QT_QPA_PLATFORM=offscreen python benchmarks/run_all.py [--quick]

Each benchmark runs in its own interpreter so that one's caches and threads do not colour the
next one's figures. The machines are shared and noisy: run it twice and compare.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_render.py",
    "bench_viewer.py",
    "bench_gallery.py",
    "bench_workflow.py",
    "bench_sphere.py",
]


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    status = 0
    for name in BENCHMARKS:
        args = [sys.executable, str(HERE / name)]
        if quick:
            args += ["--runs", "5"] if name == "bench_render.py" else ["--quick"]
        print(f"\n## {name}\n", flush=True)
        status |= subprocess.call(args, env=env)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
