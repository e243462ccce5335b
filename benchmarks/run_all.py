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
    "bench_patterson.py",
    "bench_polar.py",
    "bench_xsvs.py",
    "bench_peaks.py",
    "bench_fibsem.py",
    "bench_fibsem_cache.py",
]

# A smoke run of each (--quick): fewer repetitions, smaller inputs where the script allows.
QUICK = {
    "bench_render.py": ["--runs", "5"],
    "bench_patterson.py": [],  # already short
    "bench_fibsem.py": ["--frames", "8", "--ref-frames", "2", "--repeat", "1", "--size", "1024"],
    "bench_fibsem_cache.py": ["--frames", "6", "--size", "512", "--repeat", "1"],
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    status = 0
    for name in BENCHMARKS:
        args = [sys.executable, str(HERE / name)]
        if quick:
            args += QUICK.get(name, ["--quick"])
        print(f"\n## {name}\n", flush=True)
        status |= subprocess.call(args, env=env)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
