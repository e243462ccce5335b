"""Synthetic sphere frames shared by the sizing tests (spec/sphere.md §2.5, §6, §7)."""

import numpy as np

from owlx.core import sphere as S
from owlx.core.sphere_pixels import Experiment

# §2.5 worked example: 5.5 keV, 75 µm pixels at 0.7 m, d = 30 nm poliovirus, 1 mJ/µm², QE 1.
LAM = S.wavelength_from_energy_eV(5500.0)
P, D = 75e-6, 0.7
DELTA = 9.803711e-6
DIAM = 30e-9
FLUENCE = 1e9  # J/m²
SHAPE = (256, 256)
OFFSET = (3.5, -2.5)

# §6 seed geometry: 110 µm pixels at 2.4 m, QE 0.95.
SEED_P, SEED_D, SEED_QE = 110e-6, 2.4, 0.95


def experiment() -> Experiment:
    return Experiment(LAM, D, P, DELTA, 1.0)


def seed_experiment() -> Experiment:
    return Experiment(LAM, SEED_D, SEED_P, DELTA, SEED_QE)


def spec_mask(shape=SHAPE) -> np.ndarray:
    """§7.6 mask: rows 120–135 invalid."""
    mask = np.ones(shape, dtype=bool)
    mask[120:136] = False
    return mask


def spec_frame(cx=OFFSET[0], cy=OFFSET[1], fluence=FLUENCE, d=DIAM, shape=SHAPE):
    """Expected photons of the §2.5 sphere at centre offset (cx, cy) [px from the middle]."""
    return S.sphere_intensity(shape, cx, cy, d, fluence, LAM, P, D, DELTA)


def poisson(expected, seed):
    # The f² table may undershoot 0 by ~1e-16·A next to a minimum; Poisson needs λ ≥ 0.
    return np.random.default_rng(seed).poisson(np.maximum(expected, 0.0)).astype(np.float64)


def seed_frame(rng, n=1024, photons=None, scaling_a=None, gap=12, beamstop=20, max_offset=8.0):
    """A seed-geometry frame made with the *exact* scattering angle and the cos³ solid angle.

    Diameter uniform in 25–80 nm, centre offset uniform in ±max_offset px, a horizontal gap of
    ``gap`` rows near the middle and a beamstop disc of radius ``beamstop`` px at the array
    middle. The fluence gives either ``photons`` expected photons on the valid pixels or
    ``scaling_a`` photons per pixel at q = 0. Returns (img, mask, d_m, cx, cy, fluence_J_m2).
    """
    d = rng.uniform(25e-9, 80e-9)
    cx, cy = rng.uniform(-max_offset, max_offset, 2)
    mask = np.ones((n, n), dtype=bool)
    g0 = n // 2 - gap // 2 + int(rng.integers(-6, 7))
    mask[g0:g0 + gap] = False
    yy, xx = np.ogrid[:n, :n]
    mid = 0.5 * (n - 1)
    mask[(yy - mid) ** 2 + (xx - mid) ** 2 < beamstop ** 2] = False
    unit = S.sphere_intensity((n, n), cx, cy, d, 1e9, LAM, SEED_P, SEED_D, DELTA, SEED_QE,
                              qmap="exact", solid_angle="cos3")
    if photons is not None:
        scale = photons / unit[mask].sum()
    else:
        scale = scaling_a / S.scaling(1e9, d, LAM, SEED_P, SEED_D, DELTA, SEED_QE)
    img = rng.poisson(np.maximum(unit, 0.0) * scale).astype(np.float32)
    return img, mask, d, cx, cy, 1e9 * scale
