"""Pixel → scattering-vector readout for a flat detector (spec/viewer.md P2).

Conventions: pixel coordinates are ``(x, y)`` = (column, row); the beam centre is given in the
same absolute pixel coordinates. Lengths are SI (metres); q is returned in 1/m and the
resolution d in m. The GUI converts to nm⁻¹ / nm (or Å⁻¹ / Å).
"""

from __future__ import annotations

import math


def beam_center(shape: tuple[int, int], off_center_x: float = 0.0, off_center_y: float = 0.0):
    """Absolute beam centre ``(cx, cy)`` in pixels from Owl's offsets from the array middle
    ``((W−1)/2, (H−1)/2)``; ``shape`` is ``(H, W)``."""
    h, w = shape
    return (w - 1) / 2.0 + off_center_x, (h - 1) / 2.0 + off_center_y


def q_resolution(
    x: float,
    y: float,
    center_x: float,
    center_y: float,
    wavelength_m: float,
    distance_m: float,
    pixel_size_m: float,
) -> tuple[float, float]:
    """Momentum transfer q = 4π sin(θ)/λ [1/m] and resolution d = λ/(2 sin θ) [m] of pixel
    ``(x, y)``, with 2θ = atan(r/D) and r = p·|pixel − centre|. At the centre d is inf."""
    r = pixel_size_m * math.hypot(x - center_x, y - center_y)
    theta = 0.5 * math.atan2(r, distance_m)
    s = math.sin(theta)
    q = 4.0 * math.pi * s / wavelength_m
    d = wavelength_m / (2.0 * s) if s > 0 else math.inf
    return q, d
