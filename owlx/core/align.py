"""Alignment of images to a reference by masked normalised cross-correlation (spec/peaks.md §7).

``register_shift`` finds the (row, col) shift s that, applied to the moving image, aligns it with
the reference: ``aligned(u) = image(u − s)``. ``align`` applies it; ``Aligner`` caches the
reference's transforms and pyramid for a stack, and ``ialign`` streams a stack through it.

Search (spec §13): images of at most 1024 px a side get one full-resolution MNXC by FFT.
Larger ones follow a pyramid: a full FFT search on a block-mean copy of ≤ 512 px a side, then a
direct NCC on ±1 lags (climbing further if the peak sits on the border) at each finer level.
``pyramid=False`` always uses the full-resolution FFT search.

Sub-pixel refinement (``refine``): "parabolic" (3-point parabola per axis through the NCC
peak), "lk" (Gauss–Newton / Lucas–Kanade on the valid overlap, minimising
Σ (I_ref − a·I(u − s) − b)² over s, a, b with cubic-spline interpolation) or "none" (integer
shifts, as scikit-ued). A peak NCC of 1 (to 1e-9) is an exact integer match and is not refined,
so integer shifts are recovered exactly.

Where owlx differs from scikit-ued 2.2.1's ``align``: scikit-ued's masked registration is
integer-only and it applies the shift with an order-2 spline; owlx refines to sub-pixel shifts
and applies integer shifts exactly by slicing (order 3 splines otherwise).

Masks are True = valid; the moving mask defaults to the reference mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from scipy.ndimage import binary_erosion

from owlx.errors import ParameterError

from .image_shift import shift_image
from .mnxc import MaskedCorrelator, parabolic_offset, peak_lag
from .mnxc_direct import PreparedImage, climb_ncc
from .pyramid import block_mean, coarse_factor

__all__ = ["Aligner", "align", "ialign", "register_shift"]

PYRAMID_ABOVE = 1024  # px: larger images use the coarse-to-fine search
COARSE_SIDE = 512
REFINE_METHODS = ("parabolic", "lk", "none")


def _valid_of(image: np.ndarray, mask) -> np.ndarray:
    valid = np.ones(image.shape, dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if valid.shape != image.shape:
        raise ParameterError(f"the mask has shape {valid.shape}, the image {image.shape}: they must match")
    if image.dtype.kind == "f":
        valid &= np.isfinite(image)
    return valid


def _clean(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.dtype.kind == "f" and not valid.all():
        img = np.where(valid, img, 0.0)  # non-finite values at masked pixels must not propagate
    return img


class Aligner:
    """Registration of many images against one reference, with its transforms cached.

    Args:
        reference: 2-D reference image. mask: its validity (True = valid).
        moving_mask: validity of the images to align, the same for all (default: ``mask``).
        refine, max_shift, pyramid, overlap_ratio: see :func:`register_shift`.
    """

    def __init__(self, reference, mask=None, moving_mask=None, refine: str = "parabolic", max_shift=None,
                 pyramid: bool = True, overlap_ratio: float = 0.3):
        ref = np.asarray(reference)
        if ref.ndim != 2 or min(ref.shape) < 4:
            raise ParameterError(f"the reference must be a 2-D image of at least 4 × 4 px, got shape {ref.shape}")
        if refine not in REFINE_METHODS:
            raise ParameterError(f"refine must be one of {REFINE_METHODS}, got {refine!r}")
        self.shape = ref.shape
        self.refine = refine
        self.overlap_ratio = float(overlap_ratio)
        self.ref_valid = _valid_of(ref, mask)
        self.reference = _clean(ref, self.ref_valid)
        self.moving_valid = self.ref_valid.copy() if moving_mask is None else _valid_of(
            np.zeros(self.shape), moving_mask)
        self.max_shift = None if max_shift is None else np.broadcast_to(np.asarray(max_shift, float), (2,)).copy()
        self.factor = coarse_factor(max(self.shape), COARSE_SIDE) if pyramid and max(self.shape) > PYRAMID_ABOVE else 1
        f = self.factor
        coarse_ref, coarse_valid = block_mean(self.reference, self.ref_valid, f)
        self._coarse_moving_valid = block_mean(np.zeros(self.shape), self.moving_valid, f)[1]
        coarse_shift = None if self.max_shift is None else np.ceil(self.max_shift / f) + 1
        self._correlator = MaskedCorrelator(coarse_ref, coarse_valid, coarse_ref.shape, self._coarse_moving_valid,
                                            coarse_shift, overlap_ratio, np.float32 if f > 1 else np.float64)
        # the reference at each finer pyramid level, ready for the direct NCC
        self._levels: list[tuple[int, PreparedImage]] = []
        while f > 1:
            f //= 2
            self._levels.append((f, PreparedImage(*block_mean(self.reference, self.ref_valid, f))))

    def shift(self, image, return_quality: bool = False):
        """The (row, col) shift aligning ``image`` with the reference (and the peak NCC)."""
        img = np.asarray(image)
        if img.shape != self.shape:
            raise ParameterError(f"the image has shape {img.shape}, the reference {self.shape}: they must match")
        valid = self.moving_valid & np.isfinite(img) if img.dtype.kind == "f" else self.moving_valid
        img = _clean(img, valid)
        f = self.factor
        coarse = block_mean(img, valid, f)[0] if f > 1 else img
        ncc, origin = self._correlator.ncc(coarse)
        lag = peak_lag(ncc, origin)
        quality = float(ncc.max())
        exact = quality >= 1.0 - 1e-9
        if f > 1 or (self.refine != "none" and not exact):
            lag = lag + parabolic_offset(ncc, lag + np.asarray(origin))
        for level, fixed in self._levels:
            moving = PreparedImage(*block_mean(img, valid, level))
            lag, quality = climb_ncc(fixed, moving, lag * 2.0, max_walk=4, overlap_ratio=self.overlap_ratio)
            exact = quality >= 1.0 - 1e-9
        if self.refine == "none" or exact:
            lag = np.rint(lag)
        elif self.refine == "lk":
            lag = _lucas_kanade(self.reference, self.ref_valid, img, valid, lag)
        if self.max_shift is not None:
            lag = np.clip(lag, -self.max_shift, self.max_shift)
        lag = np.asarray(lag, dtype=float)
        return (lag, quality) if return_quality else lag

    def align(self, image, fill_value: float = 0.0, order: int = 3, return_shift: bool = False):
        """``image`` moved onto the reference (float64), and optionally the shift."""
        s = self.shift(image)
        out = shift_image(image, s, order=order, fill_value=fill_value)
        return (out, s) if return_shift else out


def _lucas_kanade(ref, ref_valid, img, valid, start, max_iter: int = 10, tol: float = 1e-3) -> np.ndarray:
    """Gauss–Newton on (s, a, b) for Σ_Ω (ref − a·img(u − s) − b)², from ``start``."""
    grads = np.gradient(img)
    support = binary_erosion(valid, np.ones((5, 5), dtype=bool), border_value=0)  # cubic taps reach ±2 px
    s = np.asarray(start, dtype=float).copy()
    a, b = 1.0, 0.0
    for _ in range(max_iter):
        j = shift_image(img, s, order=3, fill_value=0.0)
        gr = shift_image(grads[0], s, order=3, fill_value=0.0)
        gc = shift_image(grads[1], s, order=3, fill_value=0.0)
        ok = ref_valid & (shift_image(support.astype(float), s, order=1, fill_value=0.0) > 0.999)
        if ok.sum() < 16:
            break
        r = ref[ok] - a * j[ok] - b
        # ∂(model)/∂s = −a·∇img(u − s), ∂/∂a = img(u − s), ∂/∂b = 1
        jac = np.stack([-a * gr[ok], -a * gc[ok], j[ok], np.ones(r.size)], axis=1)
        try:
            step = np.linalg.lstsq(jac, r, rcond=None)[0]
        except np.linalg.LinAlgError:
            break
        s += step[:2]
        a += step[2]
        b += step[3]
        if np.max(np.abs(step[:2])) < tol:
            break
    return s


def register_shift(image, reference, mask=None, moving_mask=None, refine: str = "parabolic", max_shift=None,
                   pyramid: bool = True, overlap_ratio: float = 0.3, return_quality: bool = False):
    """The (row, col) shift s in px with ``image(u − s) ≈ reference(u)`` (and the peak NCC).

    Args:
        image: the moving 2-D image. reference: the fixed image, same shape.
        mask: validity of the reference (True = valid). moving_mask: of the image (default: mask).
        refine: "parabolic" (default), "lk" or "none" (integer shift).
        max_shift: bound the search to ±max_shift px (scalar or (row, col)): faster, and no
            spurious far match.
        pyramid: coarse-to-fine search on images larger than 1024 px.
        overlap_ratio: lags whose overlap is below this fraction of the largest get NCC 0.
    """
    aligner = Aligner(reference, mask, moving_mask, refine, max_shift, pyramid, overlap_ratio)
    return aligner.shift(image, return_quality=return_quality)


def align(image, reference, mask=None, fill_value: float = 0.0, refine: str = "parabolic", max_shift=None,
          order: int = 3, return_shift: bool = False, moving_mask=None, pyramid: bool = True):
    """``image`` shifted onto ``reference`` (float64), and optionally the (row, col) shift.

    Integer shifts are applied exactly by slicing, sub-pixel shifts by spline interpolation of
    ``order`` (0, 1 or 3); uncovered pixels get ``fill_value``. See :func:`register_shift`."""
    aligner = Aligner(reference, mask, moving_mask, refine, max_shift, pyramid)
    return aligner.align(image, fill_value=fill_value, order=order, return_shift=return_shift)


def ialign(images: Iterable, reference=None, mask=None, fill_value: float = 0.0, refine: str = "parabolic",
           max_shift=None, order: int = 3, moving_mask=None, pyramid: bool = True) -> Iterator[np.ndarray]:
    """Yield each image aligned onto ``reference`` (default: the first image, yielded as is).

    One output per input; the reference's transforms are computed once."""
    it = iter(images)
    aligner = None
    if reference is not None:
        aligner = Aligner(reference, mask, moving_mask, refine, max_shift, pyramid)
    for image in it:
        if aligner is None:
            aligner = Aligner(image, mask, moving_mask, refine, max_shift, pyramid)
            yield np.array(image, dtype=np.float64)
            continue
        yield aligner.align(image, fill_value=fill_value, order=order)
