"""n-fold rotational symmetrisation and mirror symmetrisation of a pattern (spec/peaks.md §8).

``nfold(image, mod)`` averages the image rotated by k·360/mod degrees (k = 0 … mod − 1) about a
centre; ``reflection(image, angle)`` averages it with its mirror image about the line through the
centre at ``angle``. Both sample with bilinear interpolation; a sample outside the frame has
value 0 and weight 0.

Averaging is a normalised sum: out = Σ_k R_k(image·mask) / Σ_k R_k(mask), where R_k samples the
k-th transformed copy. Invalid pixels therefore never leak into the result through the
interpolation, and every output value is a convex combination of valid input values (the range
is preserved). Where the total weight is 0 (a masked region that all copies map onto, or outside
every copy) the output is ``fill_value``.

Where owlx differs from scikit-ued 2.2.1: any positive integer ``mod`` is accepted (7 too;
non-integers raise); out-of-frame pixels have weight 0 with or without a mask
(``skued_compat=True`` restores the plain mean of the rotations, whose out-of-frame zeros darken
the corners); centres are (row, col).

Angles follow the owlx convention: degrees counter-clockwise on screen from the +col direction.
The default centre is the geometric centre ((nrows − 1)/2, (ncols − 1)/2).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numba import njit

from owlx.errors import ParameterError

from .row_split import split_rows

__all__ = ["nfold", "reflection"]


@njit(cache=True, nogil=True)
def _average_maps(image, weight, maps, r0, c0, fill, plain, out, row0, row1):  # pragma: no cover - numba
    """out[u] = Σ_k bilinear(image·w)(M_k (u − c) + c) / Σ_k bilinear(w)(...) (or the plain mean).

    ``maps`` is (K, 2, 2): each M_k maps an output offset (drow, dcol) to a source offset."""
    nr, nc = image.shape
    nk = maps.shape[0]
    for i in range(row0, row1):
        for j in range(nc):
            dr = i - r0
            dc = j - c0
            num = 0.0
            den = 0.0
            for k in range(nk):
                sr = maps[k, 0, 0] * dr + maps[k, 0, 1] * dc + r0
                sc = maps[k, 1, 0] * dr + maps[k, 1, 1] * dc + c0
                # snap round-off so exact grid points (e.g. 90° turns) stay exact
                rr = round(sr)
                if abs(sr - rr) < 1e-9:
                    sr = rr
                cr = round(sc)
                if abs(sc - cr) < 1e-9:
                    sc = cr
                if sr < 0 or sc < 0 or sr > nr - 1 or sc > nc - 1:
                    continue
                a = math.floor(sr)
                b = math.floor(sc)
                fr = sr - a
                fc = sc - b
                a1 = min(a + 1, nr - 1)
                b1 = min(b + 1, nc - 1)
                w00 = (1 - fr) * (1 - fc)
                w01 = (1 - fr) * fc
                w10 = fr * (1 - fc)
                w11 = fr * fc
                num += (w00 * weight[a, b] * image[a, b] + w01 * weight[a, b1] * image[a, b1]
                        + w10 * weight[a1, b] * image[a1, b] + w11 * weight[a1, b1] * image[a1, b1])
                den += w00 * weight[a, b] + w01 * weight[a, b1] + w10 * weight[a1, b] + w11 * weight[a1, b1]
            if plain:
                out[i, j] = num / nk
            elif den > 1e-12:
                v = num / den
                out[i, j] = fill if math.isnan(v) else v
            else:
                out[i, j] = fill


def _prepare(image, mask, center):
    img = np.asarray(image)
    if img.ndim != 2:
        raise ParameterError(f"symmetrisation needs a 2-D image, got shape {img.shape}")
    img = np.array(img, dtype=np.float64)
    weight = np.ones(img.shape) if mask is None else np.asarray(mask, dtype=bool).astype(np.float64)
    if weight.shape != img.shape:
        raise ParameterError(f"the mask has shape {weight.shape}, the image {img.shape}: they must match")
    finite = np.isfinite(img)
    if not finite.all():
        weight[~finite] = 0.0
        img[~finite] = 0.0
    if center is None:
        center = ((img.shape[0] - 1) / 2.0, (img.shape[1] - 1) / 2.0)
    r0, c0 = (float(v) for v in np.asarray(center, dtype=float).reshape(2))
    if not (math.isfinite(r0) and math.isfinite(c0)):
        raise ParameterError(f"the centre must be finite (row, col), got {center!r}")
    return img, weight, r0, c0


def _run(img, weight, maps, r0, c0, fill_value, plain):
    out = np.empty(img.shape)
    split_rows(_average_maps, img.shape[0], img, weight, np.ascontiguousarray(maps, dtype=np.float64), r0, c0,
               float(fill_value), plain, out, work=img.size * len(maps))
    return out


def nfold(image, mod, center=None, mask=None, fill_value: float = 0.0, skued_compat: bool = False) -> np.ndarray:
    """The ``mod``-fold rotational average of ``image`` about ``center`` (row, col), float64.

    Args:
        mod: a positive integer (1 returns a copy of the input).
        center: rotation centre (row, col); default the geometric centre.
        mask: validity (True = valid); invalid pixels get weight 0.
        fill_value: output where no valid pixel contributes.
        skued_compat: plain mean of the rotated copies (out-of-frame zeros included), as
            scikit-ued 2.2.1 without a mask.
    """
    integral = isinstance(mod, numbers.Integral) or (isinstance(mod, float) and mod.is_integer())
    if isinstance(mod, bool) or not integral or mod < 1:
        raise ParameterError(f"mod must be a positive integer (n-fold symmetry), got {mod!r}")
    mod = int(mod)
    img, weight, r0, c0 = _prepare(image, mask, center)
    if mod == 1:
        return img if mask is None else np.where(weight > 0, img, fill_value)
    angles = 2.0 * np.pi * np.arange(mod) / mod
    cos, sin = np.cos(angles), np.sin(angles)
    # rotation by α counter-clockwise on screen, acting on (drow, dcol): the source offsets of the
    # copies (the set of rotations is closed under inversion, so direction does not matter)
    maps = np.stack([np.stack([cos, -sin], axis=1), np.stack([sin, cos], axis=1)], axis=1)
    return _run(img, weight, maps, r0, c0, fill_value, skued_compat and mask is None)


def reflection(image, angle, center=None, mask=None, fill_value: float = 0.0) -> np.ndarray:
    """The average of ``image`` and its mirror about the line through ``center`` (row, col) at
    ``angle`` degrees (counter-clockwise on screen from +col; angle and angle + 180 are the same)."""
    img, weight, r0, c0 = _prepare(image, mask, center)
    t = math.radians(2.0 * float(angle))
    # on screen (x = dcol, y = −drow) the mirror is x' = x·cos2θ + y·sin2θ, y' = x·sin2θ − y·cos2θ
    mirror = np.array([[-math.cos(t), -math.sin(t)], [-math.sin(t), math.cos(t)]])
    maps = np.stack([np.eye(2), mirror])
    return _run(img, weight, maps, r0, c0, fill_value, False)
