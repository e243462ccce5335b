"""Benchmark input shared by the benchmark scripts: uncompressed CXI stacks written once."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_stack(path: Path, n: int, size: int, variants: int = 4) -> Path:
    """An uncompressed CXI stack of ``n`` float32 frames of ``size``², chunked per frame, filled
    with a few distinct noisy diffraction-like frames. Reused when it already exists whole."""
    if path.exists() and path.stat().st_size >= n * size * size * 4:
        return path
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) + 1
    base = (1e4 / r**1.5).astype(np.float32)
    frames = [rng.poisson(base * (0.5 + k / 4)).astype(np.float32) for k in range(variants)]
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        ds = f.create_dataset("entry_1/image_1/data", (n, size, size), np.float32, chunks=(1, size, size))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        for i in range(n):
            ds.write_direct(frames[i % variants], dest_sel=np.s_[i])
    tmp.rename(path)
    return path
