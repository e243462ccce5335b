"""Synthetic patterns with known answers for the peak-finding tests (spec/peaks.md §14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

SKUED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "skued"


def gaussian(shape, centre, fwhm: float) -> np.ndarray:
    """A 2-D Gaussian of peak 1 at ``centre`` (row, col)."""
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    r, c = np.indices(shape)
    return np.exp(-((r - centre[0]) ** 2 + (c - centre[1]) ** 2) / (2 * sigma**2))


def texture(shape, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian-filtered white noise (a smooth random texture)."""
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=shape), sigma)


def hex_lattice(shape=(512, 512), spacing: float = 40.0, sigma: float = 2.0, seed: int = 0, noise: float = 0.05):
    """Hexagonal lattice of Gaussian spots about a sub-pixel centre, randomly rotated, with additive
    noise (``noise`` × spot peak) and a beam-block strip: (image, mask, centre, visible spots)."""
    rng = np.random.default_rng(seed)
    centre = np.array(shape, dtype=float) / 2 + rng.uniform(-3, 3, 2)
    angle = rng.uniform(0, np.pi / 3)
    a1 = spacing * np.array([np.cos(angle), np.sin(angle)])
    a2 = spacing * np.array([np.cos(angle + np.pi / 3), np.sin(angle + np.pi / 3)])
    n = int(max(shape) / spacing) + 3
    ij = np.array([(i, j) for i in range(-n, n + 1) for j in range(-n, n + 1)], dtype=float)
    spots = centre + ij[:, :1] * a1 + ij[:, 1:] * a2
    margin = 4 * sigma
    inside = np.all((spots > margin) & (spots < np.array(shape) - 1 - margin), axis=1)
    spots = spots[inside]
    image = np.zeros(shape)
    r, c = np.indices(shape)
    for pr, pc in spots:
        lo_r, hi_r = int(pr - 5 * sigma), int(pr + 5 * sigma) + 2
        lo_c, hi_c = int(pc - 5 * sigma), int(pc + 5 * sigma) + 2
        sl = (slice(max(lo_r, 0), hi_r), slice(max(lo_c, 0), hi_c))
        image[sl] += np.exp(-((r[sl] - pr) ** 2 + (c[sl] - pc) ** 2) / (2 * sigma**2))
    image += noise * rng.normal(size=shape)
    mask = np.ones(shape, dtype=bool)
    strip = (np.abs(c - centre[1]) < 6) & (r > centre[0])  # the beam block's arm
    mask[strip] = False
    mask[np.hypot(r - centre[0], c - centre[1]) < 12] = False  # and its disc
    visible = spots[mask[np.rint(spots[:, 0]).astype(int), np.rint(spots[:, 1]).astype(int)]]
    # the central spot is under the beam block; spots touching the strip are not "visible"
    far = np.array([np.all(mask[int(p[0]) - 3:int(p[0]) + 4, int(p[1]) - 3:int(p[1]) + 4]) for p in visible])
    return image, mask, centre, visible[far]
