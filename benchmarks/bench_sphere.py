"""Sphere sizing speed: the fit recipe per frame and per stage, and batch throughput.

Frames: the §6 seed geometry of spec/sphere.md (5.5 keV, 2.4 m, 110 µm, poliovirus, QE 0.95),
spheres of 30, 45 and 70 nm off-centre by a few pixels, 300 photons/px at q = 0 with Poisson
noise, a 12-row gap and a 20 px beamstop. Recipe as the reference anchor of spec §8 (Owl's:
blurred centre with dmax 5, pearson with 20 brute-force points, nrphotons, one full
refinement; mask radius 300 px; photon counting on), and the seed recipe of §6 (dmax 40,
40 points, photons).

Per frame size it prints the median over all runs (≥ 7 per diameter) of every stage and of the
whole recipe, wall clock and CPU time of the fitting thread, beside the libspimage anchor of
spec §8 (2.1–2.7 s per 1024² frame, 1.0–1.4 s per 512² frame on a 2-core machine) and the
speed-up. Then frames per second of ``fit_batch`` with 1 and 2 threads.

    python benchmarks/bench_sphere.py [--runs 7] [--sizes 1024 512] [--batch 16] [--quick]

The machines are shared and noisy: CPU time is the steadier figure; run twice and compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from owlx.core import sphere as S
from owlx.core.sphere_recipe import FitSettings, fit_batch, fit_frame

LAM = S.wavelength_from_energy_eV(5500.0)
DELTA = 9.803711e-6  # poliovirus at 5.5 keV
P, D, QE = 110e-6, 2.4, 0.95
DIAMETERS = (30e-9, 45e-9, 70e-9)

OWL = FitSettings(wavelength_m=LAM, distance_m=D, pixel_size_m=P, delta=DELTA, qe=QE,
                  material="poliovirus", center_dmax_px=5, n_brute=20,
                  intensity_method="nrphotons", refine_iterations=1, mask_radius_px=300,
                  photon_counting=True)
SEED = dataclasses.replace(OWL, center_dmax_px=40, n_brute=40, intensity_method="photons")

# spec §8: libspimage driven with Owl's recipe, seconds per frame (low, high).
ANCHOR = {
    1024: {"center": (0.23, 0.28), "diameter": (1.3, 1.9), "intensity": (0.17, 0.24),
           "refine": (0.23, 0.39), "total": (2.1, 2.7)},
    512: {"center": (0.03, 0.06), "diameter": (0.75, 1.05), "intensity": (0.08, 0.14),
          "refine": (0.17, 0.23), "total": (1.0, 1.4)},
}
STAGES = ("center", "prepare", "diameter", "intensity", "refine", "total")


def make_frame(n: int, d: float, seed: int):
    """(img, mask, truth) of one synthetic seed-geometry frame, float32 photons."""
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(-4, 4, 2)
    mask = np.ones((n, n), dtype=bool)
    mask[n // 2 - 6:n // 2 + 6] = False
    yy, xx = np.ogrid[:n, :n]
    mask[(yy - 0.5 * (n - 1)) ** 2 + (xx - 0.5 * (n - 1)) ** 2 < 20 ** 2] = False
    fluence = 300.0 / S.scaling(1.0, d, LAM, P, D, DELTA, QE)
    expected = S.sphere_intensity((n, n), cx, cy, d, fluence, LAM, P, D, DELTA, QE)
    img = rng.poisson(np.maximum(expected, 0.0)).astype(np.float32)
    return img, mask, (cx, cy, d)


def time_recipe(frames, settings, runs: int):
    """Per-stage wall medians [s], CPU median [s] and the worst errors over all runs."""
    for img, mask, _ in frames:  # compile and warm caches
        fit_frame(img, mask, settings)
    stage_times = {k: [] for k in STAGES}
    cpu = []
    d_err = c_err = 0.0
    for _ in range(runs):
        for img, mask, (cx, cy, d) in frames:
            t0 = time.thread_time()
            rec = fit_frame(img, mask, settings)
            cpu.append(time.thread_time() - t0)
            t = rec.timings
            stage_times["center"].append(t["center"])
            stage_times["prepare"].append(t["prepare"])
            stage_times["diameter"].append(t["diameter"])
            stage_times["intensity"].append(t["intensity"])
            stage_times["refine"].append(t["refine"])
            stage_times["total"].append(rec.elapsed_s)
            d_err = max(d_err, abs(rec.diameter_nm * 1e-9 / d - 1))
            c_err = max(c_err, float(np.hypot(rec.center_x - cx, rec.center_y - cy)))
    med = {k: float(np.median(v)) for k, v in stage_times.items()}
    return med, float(np.median(cpu)), d_err, c_err


def recipe_table(sizes, runs: int) -> None:
    print("Fit recipe per frame, median ms (wall clock; cpu = CPU time of the fitting thread)")
    print(f"{'frame':>6} {'recipe':>6} {'stage':>10} {'owlx ms':>9} {'reference s':>12} "
          f"{'speed-up':>11}")
    for n in sizes:
        frames = [make_frame(n, d, i) for i, d in enumerate(DIAMETERS)]
        for name, settings in (("owl", OWL), ("seed", SEED)):
            med, cpu, d_err, c_err = time_recipe(frames, settings, runs)
            for stage in STAGES:
                ref = ANCHOR.get(n, {}).get(stage) if name == "owl" else None
                ref_s = f"{ref[0]:.2f}–{ref[1]:.2f}" if ref else ""
                ratio = (f"{ref[0] / med[stage]:.0f}–{ref[1] / med[stage]:.0f}×"
                         if ref and med[stage] > 0 else "")
                print(f"{n:>5}² {name:>6} {stage:>10} {med[stage] * 1e3:>9.1f} {ref_s:>12} "
                      f"{ratio:>11}")
            print(f"{n:>5}² {name:>6} {'cpu':>10} {cpu * 1e3:>9.1f}   worst error: diameter "
                  f"{d_err * 100:.3f} %, centre {c_err:.3f} px")


def batch_table(n_frames: int, size: int) -> None:
    frames = [make_frame(size, DIAMETERS[i % 3], 100 + i) for i in range(n_frames)]

    def load(i):
        img, mask, _ = frames[i]
        return img.copy(), mask.copy()

    fit_batch(range(2), load, OWL, n_threads=2)  # warm up both threads' numba dispatch
    print(f"\nBatch fit_batch of {n_frames} frames of {size}², Owl's recipe "
          "(cores used = process CPU time / wall time; below the thread count when the GIL "
          "or other processes on the machine hold the cores)")
    print(f"{'threads':>8} {'frames/s':>9} {'speed-up':>9} {'cores used':>11}")
    base = None
    for threads in (1, 2):
        t0, c0 = time.perf_counter(), time.process_time()
        summary = fit_batch(range(n_frames), load, OWL, n_threads=threads)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rate = summary.n_ok / wall
        base = base or rate
        print(f"{threads:>8} {rate:>9.1f} {rate / base:>8.2f}× {cpu / wall:>11.2f}")


def dask_table(n_frames: int, size: int) -> None:
    """Frames/s of owlx.jobs.run_on_dask on a LocalCluster of 1 and 2 worker processes; the
    workers read their frames from an HDF5 file themselves (owlx.sizing.fit_frames_from_file)."""
    import os
    import tempfile
    from functools import partial

    import h5py
    from distributed import Client, LocalCluster

    from owlx.jobs import run_on_dask
    from owlx.sizing import fit_frames_from_file

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.cxi")
        with h5py.File(path, "w") as f:
            data = f.create_dataset("entry_1/image_1/data", shape=(n_frames, size, size),
                                    dtype=np.float32, chunks=(1, size, size))
            data.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
            for i in range(n_frames):
                data[i] = make_frame(size, DIAMETERS[i % 3], 100 + i)[0]
        fn = partial(fit_frames_from_file, path, "/entry_1/image_1/data", settings=OWL)
        print(f"\nBatch on dask.distributed of {n_frames} frames of {size}², Owl's recipe, "
              "LocalCluster(processes=True, 1 thread per worker), 1 frame per task, "
              "frames read by the workers (start-up and numba warm-up not timed)")
        print(f"{'workers':>8} {'frames/s':>9} {'speed-up':>9}")
        base = None
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
                run_on_dask(fn, [(i,) for i in range(min(n_frames, 2 * workers))], client=client)  # warm up
                t0 = time.perf_counter()
                run_on_dask(fn, [(i,) for i in range(n_frames)], client=client)
                rate = n_frames / (time.perf_counter() - t0)
            base = base or rate
            print(f"{workers:>8} {rate:>9.1f} {rate / base:>8.2f}×")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per frame (≥ 7 unless --quick)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 512])
    ap.add_argument("--batch", type=int, default=16, help="frames in the batch test")
    ap.add_argument("--quick", action="store_true", help="3 runs, 6 batch frames")
    ap.add_argument("--no-dask", action="store_true", help="skip the dask.distributed batch table")
    args = ap.parse_args()
    runs = 3 if args.quick else max(7, args.runs)
    recipe_table(args.sizes, runs)
    batch_table(6 if args.quick else args.batch, max(args.sizes))
    if not args.no_dask:
        dask_table(6 if args.quick else args.batch, max(args.sizes))


if __name__ == "__main__":
    main()
