"""Synthetic FIB-SEM stacks for tests and benchmarks (spec/fibsem.md §14).

Texture: Σ_{σ ∈ {1.5, 3, 6}} σ·G_σ * white noise, normalised to zero mean and unit variance.
Frame k is the texture moved by a known transform (cubic spline) plus white noise σₙ.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def texture(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape)
    t = sum(s * ndimage.gaussian_filter(noise, s, mode="wrap") for s in (1.5, 3.0, 6.0))
    return (t - t.mean()) / t.std()


def random_walk(n_frames: int, sigma: float = 1.2, seed: int = 1) -> np.ndarray:
    """(n_frames − 1, 2) per-step (x, y) displacements N(0, σ)."""
    return np.random.default_rng(seed).normal(0.0, sigma, (n_frames - 1, 2))


def warp_texture(tex: np.ndarray, matrix: np.ndarray, out_shape, origin) -> np.ndarray:
    """Frame whose pixel (x, y) shows the texture at matrix⁻¹·(x, y) + origin: the texture
    content moves by ``matrix`` (frame 0 = identity). Cubic spline, (row, col) for scipy."""
    inv = np.linalg.inv(matrix)
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    rc = swap @ inv @ swap
    offset = rc[:2, 2] + np.asarray(origin[::-1], dtype=np.float64)
    return ndimage.affine_transform(tex, rc[:2, :2], offset=offset, output_shape=out_shape, order=3, mode="wrap")


def drift_stack(n_frames=16, shape=(256, 256), sigma=1.2, noise=0.3, seed=0, steps=None, margin=32):
    """(frames float32 (n, ny, nx), true step matrices (n − 1, 3, 3)).

    Step k maps frame-k (x, y) to frame k+1: a feature at p in frame k is at M_k·p in k+1.
    ``steps`` (n − 1, 3, 3) overrides the random-walk shifts.
    """
    ny, nx = shape
    tex = texture((ny + 2 * margin, nx + 2 * margin), seed)
    if steps is None:
        d = random_walk(n_frames, sigma, seed + 1)
        steps = np.repeat(np.eye(3)[None], n_frames - 1, axis=0)
        steps[:, 0, 2], steps[:, 1, 2] = d[:, 0], d[:, 1]
    rng = np.random.default_rng(seed + 2)
    frames = []
    cum = np.eye(3)
    for k in range(n_frames):
        if k:
            cum = steps[k - 1] @ cum
        frame = warp_texture(tex, cum, shape, (margin, margin))
        frames.append(frame + rng.normal(0.0, noise, shape))
    return np.asarray(frames, dtype=np.float32), np.asarray(steps)


def to_int16(frames: np.ndarray) -> np.ndarray:
    """Scale float frames to a detector-like int16 range."""
    return np.clip(np.rint(frames * 1500.0 + 2000.0), -32768, 32767).astype(np.int16)
