"""XSVS speed: the histogram kernel per frame, frame decoding, and the whole example project.

Data: the pyxsvs example (../shared/data/pyxsvs, spec/xsvs.md §15), 256 × 256 Maxipix frames,
the 9 rings of ``xsvs_input_subset.txt`` (23 333 ring pixels).

1. Histogramming (spec §14 "required": ≤ 0.2 ms per frame): Exp_1's 360 frames (and Exp_8's 180,
   the highest counts) decoded into memory first, then ``RingHistograms.add`` over all of them:
   flat-field division, rounding, all ring histograms, trace and accumulation, excluding file
   decoding and the first-call compilation. Median over ``--runs`` passes, one frame at a time
   (as the job calls it) and as one block.
2. Decoding one gzip EDF frame (``stack[i]``), one thread, for scale.
3. End to end: ``run_project`` on the subset (6 exposures, 1980 frames: reading, static,
   histograms, fits), 2 decoding threads, then writing HDF5 + CSV, median over ``--e2e-runs``;
   per 360-frame exposure beside the pyxsvs anchor of spec §14 (1.52–2.22 s per 360-frame
   exposure with gzip-EDF reading, 2014 hardware) and the "should" target (≤ 0.5 s).
4. Batch on dask.distributed (spec §14): the same subset on a LocalCluster of 2 worker processes
   (1 thread each; ``run_project(client=…)``, frame chunks of 80), median over ``--e2e-runs``
   after one warm-up run, beside the inline run of 3.; cluster start-up timed apart.

    python benchmarks/bench_xsvs.py [--runs 7] [--e2e-runs 3] [--quick] [--no-dask]

The machines are shared and noisy: run twice and compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from owlx.core.xsvs_analysis import XsvsSettings
from owlx.core.xsvs_histogram import RingHistograms, n_edges_from_static
from owlx.io.xsvs_project import open_exposure, read_project
from owlx.xsvs import prepare, run_project, write_outputs

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pyxsvs" / "examples"
SUBSET = DATA / "analysis" / "xsvs" / "xsvs_input_subset.txt"
PYXSVS_PER_EXPOSURE = (1.52, 2.22)  # s per 360-frame exposure, spec §14
TARGET_KERNEL_MS = 0.2
TARGET_EXPOSURE_S = 0.5


def load_frames(exposure, n=None):
    with open_exposure(exposure) as source:
        stack = source.stack()
        n = len(stack) if n is None else min(n, len(stack))
        return np.stack([stack[i] for i in range(n)])


def time_kernel(setup, frames, mode, runs, per_frame=True):
    """Median ms per frame of histogramming ``frames``, wall clock and CPU time of this thread
    (warm-up pass first)."""
    rings = setup.rings
    flat_ring = setup.flat.ravel()[rings.idx] if setup.flat is not None else None
    static = (frames[:200] / (setup.flat if setup.flat is not None else 1.0)).mean(axis=0).ravel()
    edges = [n_edges_from_static(float(static[rings.pixels(j)].mean())) for j in range(rings.n_rings)]
    wall, cpu = [], []
    for rep in range(runs + 1):
        hist = RingHistograms.empty(rings, edges, len(frames), mode)
        t0, c0 = time.perf_counter(), time.thread_time()
        if per_frame:
            for i in range(len(frames)):
                hist.add(frames[i], i, rings, flat_ring)
        else:
            hist.add(frames, 0, rings, flat_ring)
        if rep:  # the first pass includes loading the compiled kernel
            wall.append((time.perf_counter() - t0) / len(frames) * 1e3)
            cpu.append((time.thread_time() - c0) / len(frames) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def time_decoding(exposure, n, runs):
    with open_exposure(exposure) as source:
        stack = source.stack()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for i in range(n):
                stack[i]
            times.append((time.perf_counter() - t0) / n * 1e3)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--e2e-runs", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="fewer runs (3 kernel, 1 end to end)")
    p.add_argument("--no-dask", action="store_true", help="skip the dask.distributed rows")
    args = p.parse_args()
    if args.quick:
        args.runs, args.e2e_runs = 3, 1
    if not SUBSET.is_file():
        print(f"bench_xsvs: the pyxsvs example data is missing ({SUBSET}); nothing measured")
        return 0
    project = read_project(SUBSET)
    settings = XsvsSettings()
    setup = prepare(project, settings)
    exp1, exp8 = project.exposures[0], project.exposures[-1]
    print(f"XSVS benchmark: {setup.rings.n_rings} rings, {int(setup.rings.npix.sum())} ring pixels, "
          f"256×256 frames; medians of {args.runs} passes (kernel) / {args.e2e_runs} runs (end to end)")

    f1, f8 = load_frames(exp1), load_frames(exp8)
    print()
    print(f"{'histogramming, ms per frame':<52}{'wall':>10}{'CPU':>10}{'target':>10}")
    target = "≤ " + str(TARGET_KERNEL_MS)
    for label, frames in (("Exp_1 (360 frames, K≈0.05)", f1), ("Exp_8 (180 frames, K≈2–4)", f8)):
        for mode, per_frame in (("exact", True), ("pyxsvs", True), ("exact", False)):
            wall, cpu = time_kernel(setup, frames, mode, args.runs, per_frame)
            how = "frame by frame" if per_frame else "one block"
            print(f"  {label + ', ' + mode + ', ' + how:<50}{wall:>10.3f}{cpu:>10.3f}{target:>10}")
    dec = time_decoding(exp1, 120, max(1, args.runs // 2))
    print(f"  {'decoding one gzip EDF frame (1 thread), for scale':<50}{dec:>10.3f}")
    print("  (CPU = time.thread_time of the benchmark thread: steadier than wall clock on a shared machine)")

    print()
    n_frames = sum(len(e.present_files) for e in project.exposures)
    totals, writes = [], []
    run = None
    for _ in range(args.e2e_runs):
        t0 = time.perf_counter()
        run = run_project(project, settings, n_threads=2)
        totals.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_outputs(run, os.path.join(tmp, "res.h5"))
            writes.append(time.perf_counter() - t0)
    total = statistics.median(totals)
    per_exp = total / (n_frames / 360)
    print(f"{'end to end, subset project (' + str(n_frames) + ' frames)':<52}{'owlx':>10}{'pyxsvs':>14}{'target':>10}")
    print(f"  {'analysis, s (read, static, histograms, fits)':<50}{total:>10.2f}")
    print(f"  {'per 360-frame exposure, s':<50}{per_exp:>10.2f}"
          f"{f'{PYXSVS_PER_EXPOSURE[0]:.2f}–{PYXSVS_PER_EXPOSURE[1]:.2f}':>14}{'≤ ' + str(TARGET_EXPOSURE_S):>10}")
    print(f"  {'speed-up over the pyxsvs anchor':<50}"
          f"{f'{PYXSVS_PER_EXPOSURE[0] / per_exp:.1f}–{PYXSVS_PER_EXPOSURE[1] / per_exp:.1f}×':>10}")
    print(f"  {'writing HDF5 + CSV (54 rings), s':<50}{statistics.median(writes):>10.2f}")
    beta = run.exposures[0].rings[1].beta
    print(f"  check: Exp_1, q = 0.003 Å⁻¹, β = {beta:.4f} (default mode; pyxsvs 0.220)")
    if not args.no_dask:
        time_dask(project, settings, run, total, args.e2e_runs)
    return 0


def time_dask(project, settings, inline_run, inline_s, runs, n_workers=2):
    """Rows 4: the subset on a LocalCluster of ``n_workers`` processes beside the inline run."""
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    client = Client(cluster)
    startup = time.perf_counter() - t0
    try:
        run = run_project(project, settings, client=client)  # warm-up: imports and kernels in the workers
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run = run_project(project, settings, client=client)
            times.append(time.perf_counter() - t0)
    finally:
        client.close()
        cluster.close()
    same = all(a.beta == b.beta for ea, eb in zip(inline_run.exposures, run.exposures)
               for a, b in zip(ea.rings, eb.rings))
    dask_s = statistics.median(times)
    print()
    print(f"{'batch on dask.distributed, subset project':<52}{'s':>10}{'inline/dask':>14}")
    print(f"  {'inline (2 decoding threads), from 3.':<50}{inline_s:>10.2f}")
    print(f"  {f'{n_workers} worker processes × 1 thread, chunks of 80 frames':<50}{dask_s:>10.2f}"
          f"{inline_s / dask_s:>13.2f}×")
    print(f"  {'LocalCluster start-up (not included above)':<50}{startup:>10.2f}")
    print(f"  check: every β equal to the inline run bit for bit: {same}")


if __name__ == "__main__":
    sys.exit(main())
