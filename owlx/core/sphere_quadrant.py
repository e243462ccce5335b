"""Beam centre by half-plane balance, owlx's ``quadrant`` method (spec/sphere.md §4.2 lists
``quadrant`` as optional; this is an independent design, not the reference's).

Centre convention (spec §1): offsets ``(cx, cy)`` [px] from the array middle ((Nx−1)/2,
(Ny−1)/2).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from owlx.core.cancel import cancel_checker
from owlx.core.sphere_symmetry import (
    FASTMATH,
    CenterResult,
    ScoreImage,
    center_out_of_range,
)
from owlx.errors import ParameterError

__all__ = ["find_center_quadrant"]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _balance(b, v, bf, vf, x0, y0, rx, ry):
    """Half-plane balances about pixel (x0, y0) over point-symmetric valid pairs.

    Returns (Dx, Dy, Σ(a+b)): Dx = Σ(right − left), Dy = Σ(lower − upper), each pair of pixels
    (x0+dx, y0+dy) ↔ (x0−dx, y0−dy), dy = −ry…−1, dx = −rx…rx, counted once.
    """
    ny, nx = b.shape
    dx_sum = 0.0
    dy_sum = 0.0
    den = 0.0
    for d in range(1, ry + 1):
        a_ = b[y0 - d, x0 - rx:x0 + rx + 1]
        va_ = v[y0 - d, x0 - rx:x0 + rx + 1]
        b_ = bf[ny - 1 - y0 - d, nx - 1 - x0 - rx:nx - x0 + rx]
        vb_ = vf[ny - 1 - y0 - d, nx - 1 - x0 - rx:nx - x0 + rx]
        left = np.float32(0.0)
        right = np.float32(0.0)
        both = np.float32(0.0)
        for i in range(rx):
            m = np.float32(1.0) if (va_[i] and vb_[i]) else np.float32(0.0)
            left += m * (a_[i] - b_[i])
            both += m * (a_[i] + b_[i])
        for i in range(rx + 1, 2 * rx + 1):
            m = np.float32(1.0) if (va_[i] and vb_[i]) else np.float32(0.0)
            right += m * (a_[i] - b_[i])
            both += m * (a_[i] + b_[i])
        m = np.float32(1.0) if (va_[rx] and vb_[rx]) else np.float32(0.0)
        centre = m * (a_[rx] - b_[rx])
        both += m * (a_[rx] + b_[rx])
        # a sits in the upper half (row y0 − d); its mirror b in the lower half.
        dx_sum += right - left
        dy_sum -= left + right + centre
        den += both
    return dx_sum, dy_sum, den


def find_center_quadrant(
    img: np.ndarray,
    mask: np.ndarray | None,
    cx: float = 0.0,
    cy: float = 0.0,
    *,
    threshold: float | None = None,
    dmax_px: float = 5.0,
    subpixel: bool = True,
    cancel=None,
) -> CenterResult:
    """Find the beam centre by balancing opposite half-planes (owlx's "quadrant" method).

    For a point-symmetric pattern, the intensity right of the centre equals that left of it and
    the lower half equals the upper half, counting only pixel pairs (p, mirror of p) that are both
    valid, so masks and gaps cancel out. Starting at the pixel nearest the guess ``(cx, cy)``
    (offsets [px] from the array middle), Newton steps on the balances Dx(X), Dy(Y) (slopes from
    ±1 px, windows fixed per step) move the centre up to ``dmax_px`` from the guess; the final
    sub-pixel position is the zero of the balance's linear interpolation.
    ``threshold`` [image units] zeroes faint pixels (as in "blurred"); ``score`` is
    (Dx² + Dy²)/Σ(a+b)² at the integer result.
    """
    check = cancel_checker(cancel)
    img = np.asarray(img)
    if img.ndim != 2:
        raise ParameterError(f"the image must be 2-D, got shape {img.shape}")
    ny, nx = img.shape
    if center_out_of_range(img.shape, cx, cy):
        return CenterResult(float(cx), float(cy), float(cx), float(cy), math.inf, "quadrant",
                            ("center_out_of_range",))
    valid = np.isfinite(img) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(img))
    work = np.where(valid, img, 0).astype(np.float32)
    if threshold is not None:
        work[work < threshold] = 0
    image = ScoreImage(work, valid)
    x_guess, y_guess = 0.5 * (nx - 1) + float(cx), 0.5 * (ny - 1) + float(cy)
    xi, yi = round(x_guess), round(y_guess)
    dmax = float(dmax_px)
    flags = []
    result = None
    for _ in range(int(2 * dmax) + 8):
        check()
        rx, ry = min(xi, nx - 1 - xi) - 1, min(yi, ny - 1 - yi) - 1
        if rx <= 0 or ry <= 0:
            flags.append("center_search_clipped")
            break
        bal = [_balance(image.b, image.v, image.bf, image.vf, x, y, rx, ry)
               for x, y in ((xi, yi), (xi - 1, yi), (xi + 1, yi), (xi, yi - 1), (xi, yi + 1))]
        d0x, d0y, den = bal[0]
        if not den > 0:
            flags.append("center_no_signal")
            break
        steps = []
        for value, minus, plus in ((d0x, bal[1][0], bal[2][0]), (d0y, bal[3][1], bal[4][1])):
            slope = 0.5 * (plus - minus)
            # The balance falls through zero at the centre; a rising slope means a ring, not
            # the centre, is close: step one pixel downhill instead of trusting Newton.
            steps.append(-value / slope if slope < 0 else -math.copysign(1.0, value))
        if abs(steps[0]) <= 0.5 and abs(steps[1]) <= 0.5:
            result = (xi, yi, (d0x * d0x + d0y * d0y) / (den * den), steps)
            break
        nxi = xi + max(-4, min(4, round(steps[0])))
        nyi = yi + max(-4, min(4, round(steps[1])))
        if abs(nxi - x_guess) > dmax + 0.5 or abs(nyi - y_guess) > dmax + 0.5:
            flags.append("center_search_clipped")
            nxi = round(min(max(nxi, x_guess - dmax), x_guess + dmax))
            nyi = round(min(max(nyi, y_guess - dmax), y_guess + dmax))
            if (nxi, nyi) == (xi, yi):
                break
        xi, yi = nxi, nyi
    if result is None:
        if "center_search_clipped" not in flags and "center_no_signal" not in flags:
            flags.append("subpixel_failed")
        ox, oy = xi - 0.5 * (nx - 1), yi - 0.5 * (ny - 1)
        return CenterResult(float(ox), float(oy), float(ox), float(oy), math.inf, "quadrant",
                            tuple(flags))
    xi, yi, score, steps = result
    ox, oy = xi - 0.5 * (nx - 1), yi - 0.5 * (ny - 1)
    fx, fy = (ox + steps[0], oy + steps[1]) if subpixel else (ox, oy)
    return CenterResult(float(fx), float(fy), float(ox), float(oy), float(score), "quadrant",
                        tuple(flags))
