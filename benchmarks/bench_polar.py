"""Polar-correlation speed: owlx beside plain numpy done the way LOKI does it, in the same run.

Workloads (spec/polar.md, issue 6):

1. polar resampling of a 2048² float32 frame to 1000 radii × 5000 angles (nearest pixel);
   owlx precomputes a :class:`~owlx.core.polar.PolarMap` once per geometry and gathers values and
   mask per frame in a numba kernel (bounds checked, mask resampled); the reference is LOKI's
   ``InterpSimple``: float coordinate grids, ``trunc + round(x − floor x)`` indices, flat
   ``ravel()[indices]`` gathering (no mask, no bounds check), written here in plain numpy;
2. the difference correlation of 100 shots × 100 radii × 5000 angles (consecutive differences,
   masked mean subtraction per shot and ring, one shared mask): owlx's
   :func:`~owlx.core.correlation.difference_correlation` beside the LOKI route of ``DiffCorr``
   plus its scripts (normalise, ``shots[:-1] − shots[1:]``, per-difference ``np.fft.rfft`` /
   ``irfft`` autocorrelation, division by the mask autocorrelation, ``mean(0)``).

Both routes get identical inputs and their results are compared. Medians over ``--runs``; the
machine is shared and noisy, so run it twice and compare.

    python benchmarks/bench_polar.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from owlx.core.correlation import difference_correlation
from owlx.core.polar import polar_map

SIZE = 2048
R_MIN, R_MAX, N_PHI = 24, 1024, 5000
N_SHOTS, N_Q = 100, 100


# -- the numpy reference, written the way LOKI does it --------------------------------------------
def loki_polar_setup(a, b, r_min, r_max, n_phi, shape):
    """LOKI InterpSimple.__init__: coordinate grids and flat nearest indices."""
    phis = np.arange(n_phi) * 2 * np.pi / n_phi
    q = np.vstack([np.ones(n_phi) * iq for iq in np.arange(r_min, r_max)])
    phi = np.vstack([phis for _ in np.arange(r_min, r_max)])
    x = q * np.cos(phi - np.pi) + a
    y = q * np.sin(phi - np.pi) + b
    xn = x.astype(int) + np.round(x - np.floor(x)).astype(int)
    yn = y.astype(int) + np.round(y - np.floor(y)).astype(int)
    return shape[1] * yn + xn


def loki_polar(indices, image):
    """LOKI InterpSimple.nearest: one flat gather."""
    return image.ravel()[indices]


def loki_diff_corr(shots, mask):
    """Masked mean subtraction, consecutive differences, per-difference FFT autocorrelation,
    mask-autocorrelation normalisation, mean over differences."""
    m = mask.astype(np.float64)
    xm = shots * m
    norm = (xm - xm.sum(-1, keepdims=True) / m.sum(-1, keepdims=True)) * m
    diffs = norm[:-1] - norm[1:]
    n = shots.shape[-1]
    corrs = []
    for d in diffs:
        f = np.fft.rfft(d, n=n, axis=-1)
        corrs.append(np.fft.irfft(f * np.conjugate(f), n=n, axis=-1))
    fm = np.fft.rfft(m, n=n, axis=-1)
    mask_corr = np.fft.irfft(fm * np.conjugate(fm), n=n, axis=-1)
    return (np.array(corrs) / mask_corr).mean(0)


# -- timing -------------------------------------------------------------------------------------
def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def row(label, owlx_s, ref_s, note=""):
    ref = f"{ref_s * 1e3:>11.1f}" if ref_s is not None else f"{'—':>11}"
    speed = f"{ref_s / owlx_s:>8.1f}×" if ref_s is not None else f"{'':>9}"
    print(f"{label:<44} {owlx_s * 1e3:>10.1f} {ref} {speed}  {note}")


def bench_polar(runs):
    rng = np.random.default_rng(0)
    image = rng.poisson(20.0, (SIZE, SIZE)).astype(np.float32)
    mask = np.ones((SIZE, SIZE), bool)
    mask[SIZE // 2 - 10:SIZE // 2 + 10] = False
    a = b = (SIZE - 1) / 2.0
    shape = (SIZE, SIZE)
    print(f"Polar resampling: {SIZE}² float32 frame → {R_MAX - R_MIN} radii × {N_PHI} angles, median ms")
    print(f"{'step':<44} {'owlx':>10} {'numpy/LOKI':>11} {'speed-up':>9}")
    pmap = polar_map((a, b), R_MIN, R_MAX, N_PHI, shape)  # compile
    pmap.resample(image, mask)
    idx = loki_polar_setup(a, b, R_MIN, R_MAX, N_PHI, shape)
    ours, ours_mask = pmap.resample(image)
    assert np.array_equal(ours, loki_polar(idx, image)) and ours_mask.all(), "nearest samples differ from LOKI's"
    t_map = median_time(lambda: polar_map((a, b), R_MIN, R_MAX, N_PHI, shape), runs)
    t_ref_map = median_time(lambda: loki_polar_setup(a, b, R_MIN, R_MAX, N_PHI, shape), runs)
    row("index map (once per centre)", t_map, t_ref_map)
    t_frame = median_time(lambda: pmap.resample(image), runs)
    t_ref = median_time(lambda: loki_polar(idx, image), runs)
    row("per frame: values", t_frame, t_ref, "identical samples")
    t_frame_m = median_time(lambda: pmap.resample(image, mask), runs)
    row("per frame: values + mask resampled", t_frame_m, t_ref, "(LOKI has no mask)")
    row("one-shot: map + frame", t_map + t_frame_m, t_ref_map + t_ref)
    bil = polar_map((a, b), R_MIN, R_MAX, N_PHI, shape, method="bilinear")
    bil.resample(image, mask)
    row("per frame: bilinear + mask (owlx only)", median_time(lambda: bil.resample(image, mask), runs), None)


def bench_correlation(runs):
    rng = np.random.default_rng(1)
    print(f"\nDifference correlation: {N_SHOTS} shots × {N_Q} radii × {N_PHI} angles (float64), "
          f"{N_SHOTS - 1} consecutive differences, shared mask, median ms")
    print(f"{'step':<44} {'owlx':>10} {'numpy/LOKI':>11} {'speed-up':>9}")
    shots = rng.normal(100.0, 10.0, (N_SHOTS, N_Q, N_PHI))
    mask = rng.random((N_Q, N_PHI)) > 0.05
    ours = difference_correlation(shots, mask, delta=1, norm="mean_sub")  # compile
    ref = loki_diff_corr(shots, mask)
    err = np.abs(ours.corr - ref).max() / np.abs(ref).max()
    t_ref = median_time(lambda: loki_diff_corr(shots, mask), runs)
    t1 = median_time(lambda: difference_correlation(shots, mask, delta=1, norm="mean_sub"), runs)
    row("mean_sub + differences + FFT correlation", t1, t_ref, f"max rel. difference {err:.1e}")
    t2 = median_time(lambda: difference_correlation(shots, mask, delta=1, norm="mean_sub", workers=2), runs)
    row("  same, owlx FFTs on 2 threads", t2, t_ref)
    single = difference_correlation(shots, mask, delta=1, norm="mean_sub", precision="single")
    err32 = np.abs(single.corr - ref).max() / np.abs(ref).max()
    t4 = median_time(lambda: difference_correlation(shots, mask, delta=1, norm="mean_sub", precision="single"), runs)
    row("  same, owlx single-precision FFTs", t4, t_ref, f"max rel. difference {err32:.1e}")
    masks = np.broadcast_to(mask, shots.shape).copy()
    masks[::2, :, :50] = False  # per-shot masks: every pair normalised on its own
    t3 = median_time(lambda: difference_correlation(shots, masks, delta=1, norm="mean_sub"), runs)
    row("  per-shot masks, mean of ratios (owlx only)", t3, None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    bench_polar(runs)
    bench_correlation(max(3, runs // 2 + 1))


if __name__ == "__main__":
    main()
