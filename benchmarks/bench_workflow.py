"""The headless Owl workflow: sorting and filtering 10⁶ frames, saving tags of 10⁵ frames.

Prints a table of medians:
  * core: ``display_order`` of 10⁶ frames with a sort (10 % NaN) and two range filters —
    the numpy work alone;
  * session: one filter change (re-filter, re-sort, new display order published with
    ``set_order``) on 10⁶ frames, per-frame values cached — target < 0.5 s (viewer.md R4);
  * session: the first sort + filter after opening (values read from the file once);
  * save: ``session.save()`` of 10 tags over 10⁵ frames into the data file — plan, close the
    reader, write, flush, reopen — for a new ``tags`` dataset and for an edit of one tag
    (only that row rewritten), target ≤ 1 s; and the same into a sidecar.

    python benchmarks/bench_workflow.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import owlx
from owlx.core.selection import display_order, range_filter

G = "/entry_1/image_1"


def write_run(path: Path, n: int) -> Path:
    """A CXI file of ``n`` 1×1 frames with two per-frame scalars (hit score, photon count)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/data", shape=(n, 1, 1), dtype=np.uint8)
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"], dtype="S25")
        score = rng.normal(size=n)
        score[rng.random(n) < 0.1] = np.nan
        f[G + "/hit_score"] = score
        f[G + "/photons"] = rng.poisson(100, n).astype(np.float64)
    return path


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_selection(folder: Path, n: int, runs: int) -> list[tuple[str, float, str]]:
    path = write_run(folder / "million.cxi", n)
    with h5py.File(path, "r") as f:
        score, photons = f[G + "/hit_score"][:], f[G + "/photons"][:]
    core = timed(lambda: display_order(n, score, [range_filter(score, -1, 2), range_filter(photons, 90, None)]), runs)

    def first_open() -> None:
        s = owlx.open(path)
        s.set_sort(G + "/hit_score")
        s.add_range_filter(G + "/photons", 90, None)
        s.close()

    first = timed(first_open, max(3, runs // 3))
    s = owlx.open(path)
    s.set_sort(G + "/hit_score")
    fid = s.add_range_filter(G + "/photons", 90, None)
    s.add_range_filter(G + "/hit_score", -1, 2)
    los = iter(np.linspace(80, 110, 10 * runs))
    change = timed(lambda: s.update_filter(fid, lo=float(next(los))), runs)
    s.close()
    return [
        (f"core display_order, {n:,} frames, sort + 2 filters", core, ""),
        (f"session filter change, {n:,} frames (target < 0.5 s)", change, "ok" if change < 0.5 else "SLOW"),
        (f"session open + first sort + filter, {n:,} frames", first, "includes the file read"),
    ]


def bench_save(folder: Path, n: int, runs: int) -> list[tuple[str, float, str]]:
    template = write_run(folder / "template.cxi", n)
    rng = np.random.default_rng(1)
    members = rng.random((10, n)) < 0.2

    def fill(s) -> None:
        for k in range(10):
            s.tags.add(f"tag{k}")
            s.tags.set_frames(f"tag{k}", members[k], True)

    new_times, edit_times, side_times = [], [], []
    for r in range(runs):
        path = folder / f"save{r}.cxi"
        shutil.copy(template, path)
        s = owlx.open(path)
        fill(s)
        t0 = time.perf_counter()
        s.save()
        new_times.append(time.perf_counter() - t0)
        s.tags.toggle("tag3", r)
        t0 = time.perf_counter()
        s.save()
        edit_times.append(time.perf_counter() - t0)
        s.close()
        os.chmod(path, 0o444)  # the sidecar route
        s = owlx.open(path)
        s.tags.toggle("tag5", r)
        t0 = time.perf_counter()
        report = s.save()
        side_times.append(time.perf_counter() - t0)
        assert report.target == "sidecar"
        s.close()
    new, edit, side = (statistics.median(t) for t in (new_times, edit_times, side_times))
    verdict = lambda t: "ok" if t <= 1.0 else "SLOW"  # noqa: E731
    return [
        (f"save 10 new tags, {n:,} frames, into the data file (target <= 1 s)", new, verdict(new)),
        (f"save an edit of 1 tag, {n:,} frames, into the data file", edit, verdict(edit)),
        (f"save all 10 tags, {n:,} frames, into a new sidecar", side, verdict(side)),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer runs")
    p.add_argument("--frames", type=int, default=1_000_000, help="frames for sort and filter")
    p.add_argument("--save-frames", type=int, default=100_000, help="frames for the tag save")
    args = p.parse_args()
    runs = 5 if args.quick else 15
    folder = Path(tempfile.mkdtemp(prefix="owlx-bench-workflow-"))
    try:
        rows = bench_selection(folder, args.frames, runs) + bench_save(folder, args.save_frames, max(3, runs // 3))
    finally:
        for path in folder.iterdir():
            os.chmod(path, 0o644)
        shutil.rmtree(folder, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'workload':<{width}}  {'median':>10}  note")
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds * 1e3:8.1f} ms  {note}")
    return 0 if all(r[2] != "SLOW" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
