"""Restartable FIB-SEM stages 1–3 (spec/fibsem.md §1): first run vs rerun through the cache folder.

Data: ``--frames`` (default 16) synthetic ``--size``² (default 1024) two-channel int16 ``.dat``
files of a drifting texture (the generator of ``bench_fibsem.py``), in a temporary folder.

Rows (stages 1–3 plus cumulation, ``fast`` preset, RegularizedAffine + RANSAC, a pool of
``--threads`` threads; medians over ``--repeat`` runs; the machine is shared and noisy):

* no cache — the baseline;
* first run into an empty cache folder — the cost of hashing and writing the files;
* rerun, nothing changed (only post-processing/output settings may differ) — stage 1 reads and
  hashes each frame, stages 2–3 read the pair files only;
* rerun with the Lowe ratio changed — every pair re-matched from the cached keypoints, no SIFT.

    python benchmarks/bench_fibsem_cache.py [--frames 16] [--size 1024] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np
from bench_fibsem import make_stack
from owlx_fibsem.executor import ThreadPool
from owlx_fibsem.frames import FileFrames, clear_cache
from owlx_fibsem.pipeline import register_stack

from owlx.core.fibsem_settings import RegistrationSettings


def run_once(folder: str, settings, threads: int, cache: str | None):
    clear_cache()
    pool = ThreadPool(threads)
    try:
        t = time.perf_counter()
        run = register_stack(FileFrames.of(folder), settings, pool=pool, cache_dir=cache)
        return time.perf_counter() - t, run
    finally:
        pool.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="owlx-bench-cache-")
    try:
        folder = os.path.join(tmp, "stack")
        os.makedirs(folder)
        make_stack(folder, args.frames, args.size)
        s = RegistrationSettings.preset("fast")
        rows, reference = [], None
        times, first = [], []
        for k in range(args.repeat):  # interleaved, so that load changes hit both alike
            times.append(run_once(folder, s, args.threads, None)[0])
            cache = os.path.join(tmp, f"cold{k}")
            dt, reference = run_once(folder, s, args.threads, cache)
            first.append(dt)
        rows.append(("no cache (baseline)", times))
        rows.append(("first run, empty cache folder", first))
        again = []
        for _ in range(args.repeat):
            dt, run = run_once(folder, s.with_changes(zbin=2, dtype="float32"), args.threads, cache)
            assert np.array_equal(run.registration.cumulative, reference.registration.cumulative)
            assert run.cache_reused == {"ranges": args.frames, "pairs": args.frames - 1}
            again.append(dt)
        rows.append(("rerun, output settings changed", again))
        ratio = []
        for k in range(args.repeat):  # alternate so that every run re-matches
            dt, run = run_once(folder, s.with_changes(ratio=0.65 if k % 2 == 0 else 0.7), args.threads, cache)
            assert run.cache_reused["pairs"] == 0 and run.cache_reused["ranges"] == args.frames
            ratio.append(dt)
        rows.append(("rerun, Lowe ratio changed (re-match)", ratio))
        size_mb = sum(os.path.getsize(os.path.join(cache, f)) for f in os.listdir(cache)) / 1e6
        base = statistics.median(first)
        print(f"stages 1–3, {args.frames} frames {args.size}², fast preset, {args.threads} threads, "
              f"median of {args.repeat}; cache folder {size_mb:.1f} MB ({len(os.listdir(cache))} files)")
        print(f"{'case':40s} {'median s':>9s} {'frames/s':>9s} {'vs first':>9s}   runs")
        for name, ts in rows:
            m = statistics.median(ts)
            print(f"{name:40s} {m:9.3f} {args.frames / m:9.1f} {base / m:8.1f}×   "
                  + " ".join(f"{t:.3f}" for t in ts))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
