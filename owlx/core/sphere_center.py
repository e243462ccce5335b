"""Beam-centre finding for sphere diffraction patterns (spec/sphere.md §4.2).

Centre convention (spec §1): every centre here is an *offset* ``(cx, cy)`` in pixels from the
array middle, i.e. the beam hits column X = (Nx−1)/2 + cx and row Y = (Ny−1)/2 + cy, pixel centres
at integer indices. Owl's ``offCenterX/Y`` and libspimage use the same convention.

Methods
-------
``"blurred"``
    The recipe of libspimage's ``find_center_blurred`` (FXIhub/libspimage, ``find_center.c``),
    independently implemented: threshold, masked normalised Gaussian blur
    (:mod:`owlx.core.masked_blur`), then an integer search minimising the point-symmetry score

        S(X, Y) = Σ (a − b)² / Σ (a + b)

    over pairs a = B[Y+dy, X+dx], b = B[Y−dy, X−dx] (dy = −ry…−1, dx = −rx…rx, both pixels valid,
    rx = min(X, Nx−1−X), ry = min(Y, Ny−1−Y)), first on the 4× decimated image, then at full
    resolution with radius 4, then (owlx's addition) a parabolic sub-pixel step per axis.
``"quadrant"``
    Balances the intensity of opposite half-planes: at the centre of a point-symmetric pattern
    the right half equals the left half and the top equals the bottom, counting only pixels whose
    point mirror is valid. Newton steps on the two balances, then a linear sub-pixel zero.
``"none"``
    Keeps the given centre.
"""

from __future__ import annotations

import math

import numpy as np

from owlx.core.cancel import cancel_checker
from owlx.core.masked_blur import masked_blur
from owlx.core.sphere_quadrant import find_center_quadrant
from owlx.core.sphere_symmetry import (
    CenterResult,
    ScoreImage,
    center_out_of_range,
    pair_score,
)
from owlx.errors import ParameterError

__all__ = ["CenterResult", "find_center", "find_center_blurred", "find_center_quadrant",
           "pair_score"]

CENTER_METHODS = ("blurred", "quadrant", "none")
_FINE_RADIUS = 4


def _candidates(start: float, radius: float) -> list:
    """Integers from trunc(start − radius) while ≤ start + radius (the reference's loop)."""
    out = []
    c = math.trunc(start - radius)
    while c <= start + radius:
        out.append(c)
        c += 1
    return out


def _search(image: ScoreImage, x0: float, y0: float, radius: float):
    """Integer search around (x0, y0) [array index units]; returns (X, Y, S, clipped).

    Candidates whose symmetric window is empty (on or beyond the image edge) are skipped and
    reported as clipped. Ties go to the first candidate with X the outer and Y the inner loop.
    """
    xs_all, ys_all = _candidates(x0, radius), _candidates(y0, radius)
    xs = [x for x in xs_all if min(x, image.nx - 1 - x) > 0]
    ys = [y for y in ys_all if min(y, image.ny - 1 - y) > 0]
    clipped = len(xs) < len(xs_all) or len(ys) < len(ys_all)
    if not xs or not ys:
        return None, None, np.inf, clipped
    s = image.scores(xs, ys)  # (len(ys), len(xs))
    best = (None, None, np.inf)
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            if s[j, i] < best[2]:
                best = (x, y, float(s[j, i]))
    return best[0], best[1], best[2], clipped


def _parabola_vertex(s_minus: float, s0: float, s_plus: float):
    """Vertex offset of the parabola through (−1, s₋), (0, s₀), (1, s₊); None if not a minimum."""
    curv = s_minus - 2.0 * s0 + s_plus
    if not (math.isfinite(curv) and curv > 0):
        return None
    return max(-0.5, min(0.5, (s_minus - s_plus) / (2.0 * curv)))


def find_center_blurred(
    img: np.ndarray,
    mask: np.ndarray | None,
    cx: float = 0.0,
    cy: float = 0.0,
    *,
    threshold: float | None = None,
    sigma_px: float = 4.0,
    dmax_px: float = 5.0,
    subpixel: bool = True,
    edge: str = "zero",
    cancel=None,
) -> CenterResult:
    """Find the beam centre by point symmetry of the blurred image (spec §4.2, "blurred").

    Parameters
    ----------
    img, mask
        (ny, nx) image in image units (ADU) and boolean mask (True = valid; None = all valid).
    cx, cy
        Start guess as an offset [px] from the array middle ((Nx−1)/2, (Ny−1)/2).
    threshold
        Pixels below it [image units] count as 0 (Owl passes 0.5 × ADU-per-photon); None = off.
    sigma_px
        Gaussian blur σ [px] (kernel side int(8σ + 1)).
    dmax_px
        Search range [px]: the coarse 4× stage searches int(1 + dmax/4) coarse pixels.
    subpixel
        Parabolic sub-pixel step on the score; False reproduces the reference's integer result.
    edge
        ``"zero"`` (no wrap-around, owlx) or ``"wrap"`` (the reference's circular FFT blur).
    cancel
        Cancel token (see :mod:`owlx.core.cancel`), checked between steps.

    Returns
    -------
    CenterResult
        Offsets from the array middle. When no candidate can be scored the guess is kept.
    """
    check = cancel_checker(cancel)
    img = np.asarray(img)
    if img.ndim != 2:
        raise ParameterError(f"the image must be 2-D, got shape {img.shape}")
    ny, nx = img.shape
    flags = []
    if center_out_of_range(img.shape, cx, cy):
        return CenterResult(float(cx), float(cy), float(cx), float(cy), math.inf, "blurred",
                            ("center_out_of_range",))
    dmax = float(dmax_px)
    if not math.isfinite(dmax) or dmax < 0:
        raise ParameterError(f"the centre search range must be ≥ 0 px, got {dmax_px!r}")
    blurred, valid = masked_blur(img, mask, sigma_px, threshold, edge, zero_invalid=True)
    check()
    full = ScoreImage(blurred, valid)
    # Coarse stage on the plainly decimated image (every 4th pixel from 0, as the reference).
    coarse = ScoreImage(blurred[0:ny - 3:4, 0:nx - 3:4], valid[0:ny - 3:4, 0:nx - 3:4])
    x_start, y_start = 0.5 * (nx - 1) + float(cx), 0.5 * (ny - 1) + float(cy)
    if coarse.nx > 2 and coarse.ny > 2:
        xc, yc, _, clipped = _search(coarse, x_start / 4, y_start / 4, int(1 + dmax / 4))
        if clipped:
            flags.append("center_search_clipped")
        x_fine, y_fine = (4 * xc, 4 * yc) if xc is not None else (x_start, y_start)
    else:
        x_fine, y_fine = x_start, y_start
    check()
    xb, yb, score, clipped = _search(full, x_fine, y_fine, _FINE_RADIUS)
    if clipped and "center_search_clipped" not in flags:
        flags.append("center_search_clipped")
    if xb is None or not math.isfinite(score):
        flags.append("center_no_signal")
        return CenterResult(float(cx), float(cy), float(cx), float(cy), math.inf, "blurred",
                            tuple(flags))
    # Scored candidates lie inside the image, so the result is never out of range (the guess
    # was checked above); the reference's reset to 0 has no counterpart here.
    ox, oy = xb - 0.5 * (nx - 1), yb - 0.5 * (ny - 1)
    fx, fy = ox, oy
    if subpixel:
        check()
        dx, dy = _subpixel_blurred(full, xb, yb)
        if dx is None or dy is None:
            flags.append("subpixel_failed")
        fx += dx or 0.0
        fy += dy or 0.0
    return CenterResult(float(fx), float(fy), float(ox), float(oy), float(score), "blurred",
                        tuple(flags))


def _subpixel_blurred(image: ScoreImage, xb: int, yb: int):
    """Per-axis parabolic vertex of S around the best integer position (fixed windows)."""
    rx = min(xb, image.nx - 1 - xb) - 1
    ry = min(yb, image.ny - 1 - yb) - 1
    if rx <= 0 or ry <= 0:
        return None, None
    sx = image.scores([xb - 1, xb, xb + 1], [yb], rx, ry)[0]
    sy = image.scores([xb], [yb - 1, yb + 1], rx, ry)[:, 0]
    return _parabola_vertex(sx[0], sx[1], sx[2]), _parabola_vertex(sy[0], sx[1], sy[1])


def find_center(
    img: np.ndarray,
    mask: np.ndarray | None,
    cx: float = 0.0,
    cy: float = 0.0,
    method: str = "blurred",
    **options,
) -> CenterResult:
    """Dispatch to a centre method: ``blurred``, ``quadrant`` or ``none`` (case-insensitive).

    ``(cx, cy)`` is the guess as an offset [px] from the array middle; ``options`` go to the
    method (see :func:`find_center_blurred`, :func:`find_center_quadrant`); ``none`` returns the
    guess with score NaN.
    """
    key = str(method).strip().lower()
    if key == "blurred":
        return find_center_blurred(img, mask, cx, cy, **options)
    if key == "quadrant":
        options.pop("sigma_px", None)
        options.pop("edge", None)
        return find_center_quadrant(img, mask, cx, cy, **options)
    if key == "none":
        return CenterResult(float(cx), float(cy), float(cx), float(cy), math.nan, "none", ())
    raise ParameterError(f"unknown centre method {method!r}: use blurred, quadrant or none")
