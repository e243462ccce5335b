"""Brillouin zones (spec/peaks.md §6) on a synthetic hexagonal lattice."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from owlx.core.brillouin import brillouin_zones, refine_peaks
from owlx.errors import ParameterError

A = 30.0  # nearest-neighbour distance, px
CENTRE = np.array([127.3, 128.6])  # (row, col), sub-pixel


@functools.lru_cache(maxsize=1)
def hexagonal(size=256, angle_deg=10.0):
    """A pattern of Gaussian spots (σ 2 px) on a hexagonal lattice and its peaks (row, col)."""
    t = np.deg2rad(angle_deg)
    a1 = A * np.array([np.sin(t), np.cos(t)])
    a2 = A * np.array([np.sin(t + np.pi / 3), np.cos(t + np.pi / 3)])
    ij = np.array([(i, j) for i in range(-10, 11) for j in range(-10, 11) if (i, j) != (0, 0)])
    pts = CENTRE + ij[:, :1] * a1 + ij[:, 1:] * a2
    pts = pts[np.all((pts > 4) & (pts < size - 5), axis=1)]
    r, c = np.indices((size, size))
    image = sum(np.exp(-((r - pr) ** 2 + (c - pc) ** 2) / 8.0) for pr, pc in np.vstack([CENTRE, pts]))
    return image, pts


def test_hexagonal_lattice_gives_hexagons_of_equal_area():
    image, peaks = hexagonal()
    bz = brillouin_zones(image, None, peaks, center=CENTRE)
    assert len(bz.zones) >= 7  # the centre's zone and its 6 neighbours at least
    assert all(len(z) == 6 for z in bz.zones)
    assert bz.consistency == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(bz.areas, np.sqrt(3) / 2 * A**2, rtol=1e-9)  # hexagon of inradius A/2
    central = np.argmin(np.hypot(*(bz.zone_centres - CENTRE).T))
    np.testing.assert_allclose(np.hypot(*(bz.zones[central] - CENTRE).T), A / np.sqrt(3), rtol=1e-9)
    assert np.all(np.hypot(*(np.vstack(bz.zones) - CENTRE).T) <= 0.49 * 256)
    q = np.array([3.0, -2.0])
    np.testing.assert_allclose(bz.equivalent_vectors(q), bz.zone_centres + q)
    assert len(brillouin_zones(image, None, peaks, center=CENTRE, symmetry=6).zones) == len(bz.zones)
    none = brillouin_zones(image, None, peaks, center=CENTRE, symmetry=4)
    assert none.zones == [] and np.isnan(none.consistency)


def test_refinement_pulls_rough_peaks_back_onto_the_spots():
    image, peaks = hexagonal()
    rough = peaks + np.random.default_rng(4).uniform(-2, 2, peaks.shape)
    before = brillouin_zones(image, None, rough, center=CENTRE)
    after = brillouin_zones(image, None, rough, center=CENTRE, optimization_radius=3)
    assert np.abs(after.peaks - peaks).max() <= 0.5 + 1e-9  # the brightest pixel: the nearest one
    assert before.consistency < 0.98 and after.consistency > 0.985  # measured: 0.973 → 0.992
    mask = np.ones(image.shape, dtype=bool)
    mask[np.rint(peaks[0, 0]).astype(int), np.rint(peaks[0, 1]).astype(int)] = False
    moved = refine_peaks(image, peaks[:1], 3, mask)
    assert np.hypot(*(moved[0] - np.rint(peaks[0]))) >= 1  # the masked brightest pixel is avoided


def test_default_centre_and_bad_input():
    image, peaks = hexagonal()
    bz = brillouin_zones(image, None, peaks)  # centre from autocenter
    assert np.hypot(*(bz.center - CENTRE)) < 0.3 and bz.consistency > 0.99
    with pytest.raises(ParameterError):
        brillouin_zones(image, None, peaks[:2], center=CENTRE)
