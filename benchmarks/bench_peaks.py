"""Pattern-tool speed (spec/peaks.md §13): owlx beside scikit-ued (and pyFAI) or their anchors.

Workloads (float64 unless said, timings exclude I/O):

* autocenter, 2048² masked: a ring pattern about (1030.3, 1010.7) with a beam-block arm;
* align, 2048² masked: a smooth texture shifted by (5.3, −7.6) px, a 200-row block masked;
* azimuthal average, 2048² float32, no mask: owlx's first call with a new geometry and the
  cached call, beside scikit-ued and pyFAI ``integrate1d`` (1000 bins, no splitting) with the
  histogram and CSR Cython engines (the faster is the anchor's "fastest CPU path");
* bragg_peaks, 512²: ewald_walkoff.tif with its mask (a synthetic lattice when the data are
  absent), centre found by each tool's own autocenter; owlx keeps the mask's transforms for the
  next call with the same mask (a series), so a second row gives it a new mask on every call;
* bragg_peaks_persistence, 250²: ewald_walkoff block-averaged 2× and cropped, centre given.

Each figure is the median of several runs after one warm-up call (numba compilation excluded;
owlx's first call in this process, which loads the cached kernels, is shown separately). Without
scikit-ued (optional extra ``bench``) the anchors of spec §13 stand in (2-core AMD EPYC VM).

    python benchmarks/bench_peaks.py [--runs 5] [--ref-runs 3] [--quick] [--no-reference] [--only bragg_peaks]

The machines are shared and noisy: scikit-ued and owlx run alternately on the same machine, so
the speed-up column is the steadier figure.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from owlx.core.align import align
from owlx.core.autocenter import autocenter
from owlx.core.azimuthal import azimuthal_average
from owlx.core.bragg_peaks import bragg_peaks
from owlx.core.image_shift import shift_image
from owlx.core.persistence import bragg_peaks_persistence

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "skued"
# spec/peaks.md §13: scikit-ued 2.2.1 on the anchor machine (s), and pyFAI's fastest CPU path
ANCHOR = {"autocenter": 2.4, "align": 12.7, "azimuthal": 0.082, "bragg_peaks": 0.61, "persistence": 0.75}
PYFAI_ANCHOR = 0.039


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def ring_pattern(n=2048):
    r, c = np.indices((n, n))
    radius = np.hypot(r - 1030.3, c - 1010.7)
    image = np.exp(-radius / 300) + 0.5 * np.exp(-((radius - 400) ** 2) / 200) + 0.3 * np.exp(-((radius - 700) ** 2) / 300)
    mask = np.ones(image.shape, dtype=bool)
    mask[1000:1060, :1030] = False
    return image, mask


def drift_pair(n=2048):
    rng = np.random.default_rng(0)
    big = ndimage.gaussian_filter(rng.normal(size=(n + 40, n + 40)).astype(np.float32), 3).astype(np.float64)
    ref = big[20:20 + n, 20:20 + n]
    mov = shift_image(big, (-5.3, 7.6))[20:20 + n, 20:20 + n]
    mask = np.ones(ref.shape, dtype=bool)
    mask[900:1100, : n // 2] = False
    return mov, ref, mask


def ewald():
    try:
        import tifffile

        return tifffile.imread(DATA / "ewald_walkoff.tif"), tifffile.imread(DATA / "ewald_walkoff_mask.tif") != 0
    except (ImportError, OSError):
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
        from peaks_synthetic import hex_lattice

        image, mask, _, _ = hex_lattice()
        return image, mask


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ref-runs", type=int, default=3, help="runs of the (slow) reference on 2048² images")
    ap.add_argument("--quick", action="store_true", help="3 owlx runs, 1 reference run on 2048²")
    ap.add_argument("--no-reference", action="store_true", help="anchors only, do not run scikit-ued/pyFAI")
    ap.add_argument("--only", default=",".join(ANCHOR), help=f"comma-separated workloads of {', '.join(ANCHOR)}")
    args = ap.parse_args()
    want = set(args.only.split(","))
    if not want <= set(ANCHOR):
        ap.error(f"unknown workload(s) {', '.join(sorted(want - set(ANCHOR)))}: choose from {', '.join(ANCHOR)}")
    runs, ref_runs = (3, 1) if args.quick else (args.runs, args.ref_runs)
    skued = pyfai = None
    if not args.no_reference:
        try:
            import skued
        except ImportError:
            skued = None
        try:
            from pyFAI.integrator.azimuthal import AzimuthalIntegrator as pyfai
        except ImportError:
            try:
                from pyFAI.azimuthalIntegrator import AzimuthalIntegrator as pyfai
            except ImportError:
                pyfai = None
    warnings.simplefilter("ignore")

    ring, ring_mask = ring_pattern() if want & {"autocenter", "azimuthal"} else (None, None)
    mov, ref, drift_mask = drift_pair() if "align" in want else (None, None, None)
    powder = ring.astype(np.float32) if "azimuthal" in want else None
    ew, ew_mask = ewald()
    # masks that differ by one corner pixel, cycled: more of them than owlx keeps transforms of
    new_masks = []
    for k in range(3):
        new_masks.append(ew_mask.copy())
        new_masks[-1][0, k] = False
    next_mask = itertools.cycle(new_masks).__next__
    small = ndimage.zoom(ew, 0.5, order=1)[:250, :250] if ew.shape[0] >= 500 else ew[:250, :250]
    small_centre = (161.3, 67.2)

    cases = [
        ("autocenter 2048² masked", "autocenter", lambda: autocenter(ring, ring_mask),
         (lambda: skued.autocenter(ring, ring_mask)) if skued else None, ref_runs),
        ("align 2048² masked", "align", lambda: align(mov, ref, drift_mask),
         (lambda: skued.align(mov, ref, drift_mask)) if skued else None, ref_runs),
        ("azimuthal 2048² (cached geometry)", "azimuthal", lambda: azimuthal_average(powder, (1030.3, 1010.7)),
         (lambda: skued.azimuthal_average(powder, (1010.7, 1030.3))) if skued else None, runs),
        ("bragg_peaks 512² (own centre)", "bragg_peaks", lambda: bragg_peaks(ew, ew_mask),
         (lambda: skued.bragg_peaks(ew, ew_mask)) if skued else None, runs),
        ("bragg_peaks 512² (new mask each call)", "bragg_peaks", lambda: bragg_peaks(ew, next_mask()),
         (lambda: skued.bragg_peaks(ew, next_mask())) if skued else None, runs),
        ("persistence 250²", "persistence", lambda: bragg_peaks_persistence(small, center=small_centre),
         (lambda: skued.bragg_peaks_persistence(small, center=small_centre)) if skued else None, runs),
    ]
    cases = [case for case in cases if case[1] in want]
    print(f"{'workload':36s} {'owlx first':>11s} {'owlx median':>12s} {'reference':>11s} {'speed-up':>9s}  source")
    rows = []
    for title, key, ours, theirs, n_ref in cases:
        t0 = time.perf_counter()
        ours()
        first = time.perf_counter() - t0
        owlx_t = median_time(ours, runs)
        if theirs is not None:
            theirs()  # warm-up (imports, FFT plans)
            ref_t, source = median_time(theirs, n_ref), f"scikit-ued, median of {n_ref}"
        else:
            ref_t, source = ANCHOR[key], "anchor (spec §13)"
        rows.append((key, first, owlx_t, ref_t, source))
        print(f"{title:36s} {first * 1e3:9.1f} ms {owlx_t * 1e3:9.1f} ms {ref_t * 1e3:8.1f} ms {ref_t / owlx_t:8.1f}×  {source}",
              flush=True)

    if "azimuthal" not in want:
        return 0
    cached = next(row[2] for row in rows if row[0] == "azimuthal")
    # azimuthal average with a new geometry on every call, and pyFAI's engines
    centres = [(1030.3 + 0.01 * k, 1010.7) for k in range(runs)]
    it = iter(centres)
    new_geo = median_time(lambda: azimuthal_average(powder, next(it)), runs)
    print(f"{'azimuthal 2048² (new geometry)':36s} {'':11s} {new_geo * 1e3:9.1f} ms")
    if pyfai is not None:
        ai = pyfai(dist=0.1, poni1=1030.3 * 1e-4, poni2=1010.7 * 1e-4, pixel1=1e-4, pixel2=1e-4)
        best = None
        for method in (("no", "histogram", "cython"), ("no", "csr", "cython")):
            def run(method=method):
                return ai.integrate1d(powder, 1000, method=method, unit="r_mm", correctSolidAngle=False)

            run()
            t = median_time(run, runs)
            best = t if best is None else min(best, t)
            print(f"{'  pyFAI integrate1d ' + method[1]:36s} {'':11s} {t * 1e3:9.1f} ms")
        print(f"azimuthal vs pyFAI's fastest: cached {best / cached:.1f}×, new geometry {best / new_geo:.1f}×")
    else:
        print(f"pyFAI not installed: anchor {PYFAI_ANCHOR * 1e3:.0f} ms; owlx cached {cached * 1e3:.1f} ms, "
              f"new geometry {new_geo * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
