"""Unbiased sub-pixel centre of a diffraction pattern (spec/peaks.md §3).

A diffraction pattern is point-symmetric about its centre (Friedel's law and the symmetry of
powder rings), so the centre c makes I(u) ≈ I(2c − u). The pattern is cropped to a square about a
first guess, correlated with its point reflection by masked NCC (owlx.core.mnxc), and the lag d of
the best match moves the reflection centre p to c = p + d/2.

owlx differs from scikit-ued's ``autocenter`` (Liu, *Making Molecular Movies with Ultrafast
Electron Diffraction and Data Science*, Springer 2020, ch. 2) in one respect: the reference crops
an even square [r₀−s, r₀+s) whose reflection centre is r₀ − 0.5, not r₀, so its result is biased by
+0.5 px on both axes and quantised to 0.5 px. owlx uses the true reflection centre, and refines at
full resolution on an odd crop centred on a pixel with a parabolic sub-pixel peak.

Large images follow a coarse-to-fine pyramid: the full search runs by FFT on a block-mean copy
of at most 256 px a side, then each finer level (×2) evaluates the NCC directly on a few lags
around the propagated estimate (owlx.core.mnxc_direct).

Coordinates are (row, col), 0-based, pixel centres at integers. Masks are True = valid.
"""

from __future__ import annotations

import warnings

import numpy as np

from owlx.errors import ParameterError

from .blur_fft import gaussian_blur
from .mnxc import masked_ncc, peak_lag, reflection_ncc
from .mnxc_direct import PreparedImage, climb_ncc
from .pyramid import block_mean, coarse_factor

__all__ = ["autocenter"]

COARSE_SIDE = 256  # px: the FFT search runs on at most this size


def checked_image(image, mask, what: str, fill_min: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A float64 copy of a 2-D ``image`` (at least 8 × 8 px) and its validity (a copy of ``mask``,
    True = valid; all valid when None) with non-finite pixels made invalid and set to 0, or with
    ``fill_min`` to the smallest finite value. ``what`` names the caller in the error messages."""
    img = np.array(image, dtype=np.float64)  # a copy: the input is never modified
    if img.ndim != 2 or min(img.shape) < 8:
        raise ParameterError(f"{what} needs a 2-D image of at least 8 × 8 px, got shape {img.shape}")
    valid = np.ones(img.shape, dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if valid.shape != img.shape:
        raise ParameterError(f"the mask has shape {valid.shape}, the image {img.shape}: they must match")
    finite = np.isfinite(img)
    if not finite.all():
        valid &= finite
        img[~finite] = np.nanmin(img[finite]) if fill_min and finite.any() else 0.0
    return img, valid


def _prepare(image, mask) -> tuple[np.ndarray, np.ndarray]:
    img, valid = checked_image(image, mask, "autocenter")
    if not valid.any():
        raise ParameterError("the mask leaves no valid pixel to find the centre with")
    img -= img[valid].min()
    return img, valid


def _centre_of_mass(img, valid) -> tuple[int, int]:
    w = np.where(valid, img, 0.0)
    total = w.sum()
    if not total > 0:
        raise ParameterError("the image has no intensity above its minimum at valid pixels: no centre to find")
    r = float((w.sum(axis=1) * np.arange(img.shape[0])).sum() / total)
    c = float((w.sum(axis=0) * np.arange(img.shape[1])).sum() / total)
    return int(r), int(c)  # truncated, as the reference does


def _normalise_background(img: np.ndarray) -> np.ndarray:
    """Divide by a heavy blur (σ = side/25, truncated at 2σ): flattens walk-off gradients."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = img / gaussian_blur(img, sigma=min(img.shape) / 25, truncate=2)
    return np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def _coarse_centre(img, valid, r0, c0, normalize_bg, pyramid) -> tuple[np.ndarray, int, float]:
    """FFT search on the even crop about (r0 − 0.5, c0 − 0.5): (centre, factor, peak NCC)."""
    s = min(r0, img.shape[0] - r0, c0, img.shape[1] - c0)
    f = coarse_factor(2 * s, COARSE_SIDE) if pyramid else 1
    s -= s % max(1, f // 2)  # 2s must be a multiple of f so blocks tile the crop symmetrically
    if s < 4:
        raise ParameterError(
            f"the intensity centre of mass ({r0}, {c0}) is within {s} px of the image edge: "
            "mask the bright off-centre features or pass the centre")
    crop = img[r0 - s:r0 + s, c0 - s:c0 + s]
    cmask = valid[r0 - s:r0 + s, c0 - s:c0 + s]
    coarse, cvalid = block_mean(crop, cmask, f)
    if normalize_bg:
        coarse = _normalise_background(coarse)
    # float64: float32 transforms made spurious peaks on nearly flat (background-normalised) patterns
    ncc, origin = reflection_ncc(coarse, cvalid, max_fraction=0.7)
    d = peak_lag(ncc, origin)
    quality = float(ncc.max())
    return np.array([r0 - 0.5, c0 - 0.5]) + d * f / 2.0, f, quality


def _refine_level(img, valid, est, f, max_walk) -> tuple[np.ndarray, float]:
    """One pyramid level: NCC of a crop about p with its reflection, near the lag implied by est.

    f = 1: odd crop centred on the pixel p nearest est; f > 1: even crop about the pixel corner
    p nearest est, block-averaged by f (its reflection centre stays p)."""
    n = np.array(img.shape)
    if f == 1:
        p = np.rint(est)
        s = int(min(p[0], p[1], n[0] - 1 - p[0], n[1] - 1 - p[1]))
        lo, hi = p.astype(int) - s, p.astype(int) + s + 1
    else:
        p = np.rint(est - 0.5) + 0.5
        edge = (p + 0.5).astype(int)  # first pixel index right/below the corner
        s = int(min(edge[0], edge[1], n[0] - edge[0], n[1] - edge[1]))
        s -= s % (f // 2)
        lo, hi = edge - s, edge + s
    if s < 2:
        raise ParameterError(f"the centre estimate ({est[0]:.1f}, {est[1]:.1f}) is at the image edge")
    crop = img[lo[0]:hi[0], lo[1]:hi[1]]
    cmask = valid[lo[0]:hi[0], lo[1]:hi[1]]
    coarse, cvalid = block_mean(crop, cmask, f)
    fixed = PreparedImage(coarse, cvalid)
    start = 2.0 * (est - p) / f
    d, value = climb_ncc(fixed, fixed.flipped(), start, max_walk=max_walk)
    return p + d * f / 2.0, value


def _skued_autocenter(img, valid, normalize_bg) -> np.ndarray:
    """The reference procedure, biases included (spec §3.1)."""
    r0, c0 = _centre_of_mass(img, valid)
    s = min(r0, img.shape[0] - r0, c0, img.shape[1] - c0)
    crop = img[r0 - s:r0 + s, c0 - s:c0 + s]
    cmask = valid[r0 - s:r0 + s, c0 - s:c0 + s]
    if normalize_bg:
        crop = _normalise_background(crop)
    step = 2 if min(crop.shape) > 1024 else 1
    fixed, fmask = crop[::step, ::step], cmask[::step, ::step]
    moving, mmask = crop[::-1, ::-1][::step, ::step], cmask[::-1, ::-1][::step, ::step]
    ncc, origin = masked_ncc(fixed, moving, fmask, mmask)
    return np.array([r0, c0], dtype=float) + peak_lag(ncc, origin) * step / 2.0


def autocenter(image, mask=None, normalize_bg: bool = True, refine: bool = True, skued_compat: bool = False,
               method: str = "reflection", pyramid: bool = True, return_quality: bool = False):
    """Centre ``(row, col)`` (floats, px) of a diffraction pattern, by its point symmetry.

    Args:
        image: 2-D pattern. mask: validity (True = valid), e.g. False on the beam block.
        normalize_bg: divide the coarse search image by a heavy blur, which makes it robust to
            intensity gradients such as Ewald-sphere walk-off (the refinement never does: that
            biases masked patterns).
        refine: full-resolution sub-pixel refinement (otherwise the coarse result, to ½ px, or
            to the coarse pixel on large images).
        skued_compat: return scikit-ued 2.2.1's result, its +0.5 px bias included.
        method: "reflection" (default) or "friedel": for single-crystal patterns, the mean
            midpoint of Friedel pairs of Bragg peaks (p, p′ with p + p′ ≈ 2c within 2 px), started
            from the reflection centre and iterated twice.
        pyramid: coarse-to-fine search on crops larger than 256 px (False: one full-resolution
            FFT search, slower).
        return_quality: also return the peak NCC (1 = perfectly point-symmetric).

    Returns:
        ``(row, col)`` as a float ndarray, or ``((row, col), quality)``.
    """
    if method not in ("reflection", "friedel"):
        raise ParameterError(f"autocenter method must be 'reflection' or 'friedel', got {method!r}")
    img, valid = _prepare(image, mask)
    if skued_compat:
        centre, quality = _skued_autocenter(img, valid, normalize_bg), float("nan")
    else:
        r0, c0 = _centre_of_mass(img, valid)
        centre, f, quality = _coarse_centre(img, valid, r0, c0, normalize_bg, pyramid)
        if refine:
            while f > 2:
                f //= 2
                centre, quality = _refine_level(img, valid, centre, f, max_walk=4)
            # full resolution: climb from the lag implied by the estimate (±6 lags at most);
            # re-crop while the nearest pixel moves, at most 3 times
            for _ in range(3):
                before = np.rint(centre)
                centre, quality = _refine_level(img, valid, centre, 1, max_walk=6)
                if np.array_equal(np.rint(centre), before):
                    break
        if method == "friedel":
            from .bragg_peaks import friedel_centre

            centre = friedel_centre(img, valid, centre)
    centre = np.asarray(centre, dtype=float)
    return (centre, quality) if return_quality else centre
