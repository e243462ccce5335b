import math

import pytest

from owlx.core.geometry import beam_center, q_resolution


def test_readout_check_10():
    """spec/viewer.md §17 check 10: 100 px right of the centre reads q = 0.1278 nm⁻¹, d = 49.18 nm."""
    cx, cy = beam_center((414, 414))
    q, d = q_resolution(cx + 100, cy, cx, cy, 0.2254e-9, 2.4, 110e-6)
    assert q * 1e-9 == pytest.approx(0.1278, abs=5e-5)
    assert d * 1e9 == pytest.approx(49.18, abs=5e-3)
    assert q * d == pytest.approx(2 * math.pi)


def test_center_is_infinite_resolution_and_offsets():
    assert beam_center((4, 6), 1.5, -0.5) == (4.0, 1.0)
    q, d = q_resolution(3, 2, 3, 2, 1e-10, 1.0, 1e-4)
    assert q == 0 and math.isinf(d)
