"""q map and q rings of the XSVS analysis (spec/xsvs.md §3)."""

import math

import numpy as np
import pytest

from owlx.core.xsvs_rings import (
    make_rings,
    q_map,
    q_of_radius,
    ring_centres,
    ring_radii_px,
)
from owlx.errors import ParameterError

GEOMETRY = {"wavelength_A": 1.53, "pix_mm": 0.055, "sddist_mm": 2140.0}


def test_q_of_radius_check_value():
    # spec §3.1 prints 0.01055447 (7 digits, so ±5e-9); the closed form checks the rest
    q = float(q_of_radius(100.0, **GEOMETRY))
    assert q == pytest.approx(0.01055447, abs=5e-9)
    assert q == pytest.approx(4 * math.pi / 1.53 * math.sin(0.5 * math.atan(100 * 0.055 / 2140)), rel=1e-14)


def test_q_map_is_centred_on_row0_col0():
    qm = q_map((9, 11), 3.0, 7.0, **GEOMETRY)
    assert qm[3, 7] == 0.0
    assert qm[3, 9] == pytest.approx(q_of_radius(2.0, **GEOMETRY), rel=1e-15)
    assert qm[0, 7] == pytest.approx(q_of_radius(3.0, **GEOMETRY), rel=1e-15)
    assert qm[0, 3] == pytest.approx(q_of_radius(5.0, **GEOMETRY), rel=1e-15)


def test_ring_centres_count_and_values():
    q = ring_centres(0.002, 0.010, 0.001)
    assert q.size == 9
    assert q[0] == 0.002 and q[-1] == pytest.approx(0.010, abs=1e-15)
    assert np.allclose(np.diff(q), 0.001)
    with pytest.raises(ParameterError):
        ring_centres(0.002, 0.010, 0.0)
    with pytest.raises(ParameterError, match="rings"):  # a mistyped step, not 8 million rings
        ring_centres(0.002, 0.010, 1e-9)


def test_ring_bounds_are_inclusive_and_masked_pixels_excluded():
    qmap = np.array([[0.9, 1.0, 1.5], [2.0, 2.1, 1.2]])
    valid = np.array([[True, True, True], [True, True, False]])
    rings = make_rings(qmap, valid, np.array([1.5]), 0.5)
    # 1.0 and 2.0 lie exactly on the edges: inside; 1.2 is masked; 0.9 and 2.1 are outside
    assert sorted(rings.pixels(0).tolist()) == [1, 2, 3]
    assert rings.npix.tolist() == [3]
    assert rings.masks()[0].tolist() == [[False, True, True], [True, False, False]]


def test_overlapping_rings_share_pixels():
    qm = q_map((64, 64), 31.5, 31.5, **GEOMETRY)
    q = ring_centres(0.002, 0.004, 0.001)
    rings = make_rings(qm, None, q, 0.0008)  # dq > qs/2
    shared = np.intersect1d(rings.pixels(0), rings.pixels(1))
    assert shared.size > 0
    assert rings.masks().sum(axis=0).max() == 2
    assert rings.ptr[-1] == rings.npix.sum() > len(np.unique(rings.idx))


def test_ring_radii_invert_the_q_map():
    r = np.array([0.0, 10.0, 123.4])
    assert np.allclose(ring_radii_px(q_of_radius(r, **GEOMETRY), **GEOMETRY), r, rtol=1e-10, atol=1e-9)


def test_bad_geometry_is_a_parameter_error():
    with pytest.raises(ParameterError, match="wavelength"):
        q_map((4, 4), 0, 0, wavelength_A=0.0, pix_mm=0.055, sddist_mm=2140)
    with pytest.raises(ParameterError, match="half-width"):
        make_rings(np.zeros((2, 2)), None, np.array([0.1]), -1.0)
    assert math.isnan(ring_radii_px(np.array([100.0]), **GEOMETRY)[0])
