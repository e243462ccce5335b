"""Patterson map and live-poll latency.

    python benchmarks/bench_patterson.py

* ``patterson_map`` (scipy.fft, 1 and 2 threads, and with the mask's kernel reused, as the
  Patterson view does while browsing frames with a shared mask) on a masked diffraction-like frame of 1024²
  and 2048², beside the anchor: the same recipe written with numpy.fft and scipy.ndimage as Owl
  computes it (FXIhub/owl, patterson.py), which also checks that both agree;
* one live poll of an SWMR file (worker half, :func:`poll_live`) and the GUI-thread half
  (:func:`apply_live`) that adopts 100 new frames.

Medians over several runs (the machine is shared and noisy).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import scipy.ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import owlx
from owlx.core.patterson import (
    PattersonParams,
    kernel_params,
    patterson_kernel,
    patterson_map,
)
from owlx.session_live import apply_live, poll_live, probe_session

RUNS = 5


def median_ms(fn, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def owl_recipe(image, valid, p: PattersonParams) -> np.ndarray:
    """The anchor: Owl's recipe with numpy.fft (no dark field)."""
    img = np.clip(image - p.image_threshold, 0, np.inf)
    k = scipy.ndimage.gaussian_filter(valid.astype(float), p.mask_smooth)
    k[k < k.max() * p.mask_threshold] = 0
    k = scipy.ndimage.gaussian_filter(k, p.mask_smooth)
    k /= k.max()
    out = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.fftshift(k * img))))
    return out / (10 * np.median(out))


def frame(size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) + 1
    image = rng.poisson(1e5 / r**1.5).astype(np.float32)
    valid = np.ones((size, size), bool)
    valid[size // 2 - 8:size // 2 + 8, :] = False  # a gap
    valid[r < 20] = False  # the beam stop
    return image, valid


def bench_maps() -> None:
    print(f"{'Patterson map':<24}{'owlx 1 thr':>12}{'owlx 2 thr':>12}{'kernel reused':>15}{'Owl recipe':>12}"
          f"{'max rel diff':>14}")
    p = PattersonParams()
    for size in (1024, 2048):
        image, valid = frame(size)
        ours = patterson_map(image, valid, p)
        ref = owl_recipe(image.astype(float), valid, p)
        diff = float(np.max(np.abs(ours - ref)) / np.max(ref))
        kernel = patterson_kernel(valid, *kernel_params(p))
        t1 = median_ms(lambda im=image, v=valid: patterson_map(im, v, p, workers=1))
        t2 = median_ms(lambda im=image, v=valid: patterson_map(im, v, p, workers=2))
        tk = median_ms(lambda im=image, v=valid, k=kernel: patterson_map(im, v, p, workers=2, kernel=k))
        t0 = median_ms(lambda im=image, v=valid: owl_recipe(im.astype(float), v, p))
        print(f"{f'{size}² float32, masked':<24}{t1:>10.0f}ms{t2:>10.0f}ms{tk:>13.0f}ms{t0:>10.0f}ms{diff:>14.1e}")


def bench_live() -> None:
    n0, n1, size = 100, 200, 256
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "live.cxi"
        f = h5py.File(path, "w", libver="latest")
        ds = f.create_dataset("entry_1/image_1/data", (n0, size, size), np.float32, maxshape=(None, size, size),
                              chunks=(1, size, size))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        score = f.create_dataset("entry_1/image_1/hit_score", data=np.arange(n0, dtype=float), maxshape=(None,),
                                 chunks=(1000,))
        f.swmr_mode = True
        s = owlx.open(str(path), swmr=True)
        s.set_sort("/entry_1/image_1/hit_score")
        s.tags.add("hit")
        ds.resize((n1, size, size))
        score.resize((n1,))
        score[n0:] = np.arange(n0, n1)
        f.flush()
        t = time.perf_counter()
        update = poll_live(probe_session(s))
        t_poll = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        added = apply_live(s, update)
        t_apply = (time.perf_counter() - t) * 1000
        assert added == n1 - n0 and s.n_frames == n1
        s.close()
        f.close()
    print(f"\n{'Live poll (+100 frames)':<28}{'worker':>12}{'GUI thread':>12}")
    print(f"{'poll_live / apply_live':<28}{t_poll:>10.1f}ms{t_apply:>10.1f}ms")


if __name__ == "__main__":
    bench_maps()
    bench_live()
