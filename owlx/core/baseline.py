"""Iterative wavelet baseline removal (spec/peaks.md §11), after Galloway, Le Ru & Etchegoin,
"An iterative algorithm for background removal in spectroscopy by wavelet transforms",
*Appl. Spectrosc.* 63, 1370 (2009).

The baseline is the approximation-only wavelet reconstruction of a signal whose peaks are cut
down, iteration after iteration, to that reconstruction: narrow features live in the detail
coefficients and are removed, a smooth background survives in the approximation.

Requires PyWavelets (``pywt``, MIT licence), an optional dependency imported only when
:func:`baseline_dwt` runs; without it the function raises ``ImportError`` with the hint
"install PyWavelets (pip install owlx[baseline])". :func:`has_pywavelets` tells a GUI whether
to offer the feature.

Differences from scikit-ued 2.2.1 ``baseline_dwt``: ``mask`` is True = **valid** (scikit-ued:
True = invalid); ``background_regions`` may also be a boolean array (True = background).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from owlx.errors import ParameterError

from .cancel import cancel_checker

__all__ = ["PYWT_HINT", "baseline_dwt", "dwt_max_level", "fill_invalid_nearest", "has_pywavelets"]

PYWT_HINT = "install PyWavelets (pip install owlx[baseline])"


def has_pywavelets() -> bool:
    """True when PyWavelets can be imported (checked without importing it)."""
    return importlib.util.find_spec("pywt") is not None


def _pywt():
    try:
        import pywt  # optional dependency: only baseline removal needs it
    except ImportError as err:
        raise ImportError(f"wavelet baseline removal needs PyWavelets: {PYWT_HINT}") from err
    return pywt


def _axes(axis, ndim: int) -> tuple[int, ...]:
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    if len(axes) not in (1, 2):
        raise ParameterError(f"axis must be an int or a pair of ints, got {axis!r}")
    try:
        axes = tuple(int(a) for a in axes)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"axis must be an int or a pair of ints, got {axis!r}") from err
    if any(not -ndim <= a < ndim for a in axes):
        raise ParameterError(f"axis {axis!r} does not fit an array of {ndim} dimension(s)")
    axes = tuple(a % ndim for a in axes)
    if len(set(axes)) != len(axes):
        raise ParameterError(f"axis {axis!r} names the same axis twice")
    return axes


def dwt_max_level(shape: tuple[int, ...], axis=-1, wavelet: str = "sym6") -> int:
    """The largest useful decomposition level of ``wavelet`` for ``shape`` along ``axis`` (the
    padded, even lengths that :func:`baseline_dwt` transforms; the shortest axis of a pair)."""
    pywt = _pywt()
    axes = _axes(axis, len(shape))
    n = min(int(shape[a]) + int(shape[a]) % 2 for a in axes)
    return int(pywt.dwt_max_level(n, pywt.Wavelet(wavelet).dec_len))


def fill_invalid_nearest(array, valid) -> np.ndarray:
    """A float64 copy of ``array`` whose invalid samples (``valid`` False) take the value of the
    nearest valid sample (Euclidean distance in index space, any dimension).

    :func:`baseline_dwt` follows the reference and transforms invalid samples as they are; a
    masked beam stop left at 0 (or at detector junk) drags the baseline around it. Filling the
    holes from their surroundings first keeps the baseline continuous. No valid sample: zeros."""
    out = np.array(array, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != out.shape:
        raise ParameterError(f"the mask has shape {valid.shape}, the array {out.shape}: they must match")
    if valid.all():
        return out
    if not valid.any():
        return np.zeros_like(out)
    from scipy.ndimage import distance_transform_edt

    nearest = distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return out[tuple(nearest)]


def _region_setter(background_regions, shape: tuple[int, ...]) -> Callable[[np.ndarray, np.ndarray], None]:
    """A function restoring the background regions of ``signal`` (padded) from ``original``."""
    if background_regions is None:
        return lambda signal, original: None
    core = tuple(slice(0, n) for n in shape)  # indices refer to the unpadded array
    if isinstance(background_regions, np.ndarray) and background_regions.dtype == bool:
        if background_regions.shape != shape:
            raise ParameterError(f"background_regions has shape {background_regions.shape}, the array {shape}")
        regions: list[Any] = [background_regions]
    else:
        regions = list(background_regions) if isinstance(background_regions, Iterable) else [background_regions]

    def restore(signal: np.ndarray, original: np.ndarray) -> None:
        view, ref = signal[core], original[core]
        for index in regions:
            view[index] = ref[index]

    return restore


def baseline_dwt(array, max_iter: int, level: int | None = None, wavelet: str = "sym6", background_regions=None,
                 mask=None, mode: str = "constant", axis=-1, cancel=None) -> np.ndarray:
    """The baseline of ``array`` by iterative discrete-wavelet approximation (float64, same shape).

    Args:
        array: 1-D profile, 2-D image or a stack (N-d); not modified.
        max_iter: number of iterations (each one decomposition and reconstruction).
        level: decomposition level; None = the maximum for the (padded) length and wavelet; a
            larger value is clipped to the maximum with a ``UserWarning``; 0 returns the input
            (as float64, masked pixels still set to 0).
        wavelet: PyWavelets discrete wavelet name ("sym6", "db4", …).
        background_regions: samples known to be pure background, restored to their original
            value before every iteration: an iterable of index expressions into ``array`` (e.g.
            ``[slice(0, 20), [500, 501]]``) or a boolean array of its shape (True = background).
        mask: validity (True = valid), shape of ``array``; the baseline is 0 at invalid samples.
        mode: PyWavelets signal extension mode ("constant" repeats the edge value).
        axis: the axis of 1-D transforms (int), or a pair of axes for 2-D transforms
            (``wavedec2``), e.g. ``(0, 1)`` = (row, col) of an image or a stack of images.
        cancel: optional token/Event/callable (see :mod:`owlx.core.cancel`), checked between
            iterations.

    Algorithm (spec §11): odd-length transformed axes are padded by one edge sample; then
    ``max_iter`` times: restore the background regions; ``approx`` = reconstruction from the
    approximation coefficients only (details set to 0), clipped at 0; where ``approx`` exceeds
    the original, it takes the current signal instead; where the signal exceeds ``approx`` the
    signal is lowered to it. The baseline is the last ``approx`` with the padding trimmed. For
    non-negative input it lies between 0 and the input.
    """
    pywt = _pywt()
    original = np.array(array, dtype=np.float64)  # a copy: the input is never modified
    if original.ndim == 0 or original.size == 0:
        raise ParameterError(f"baseline_dwt needs a non-empty array, got shape {original.shape}")
    if int(max_iter) < 0:
        raise ParameterError(f"max_iter must be ≥ 0, got {max_iter}")
    axes = _axes(axis, original.ndim)
    valid = None if mask is None else np.asarray(mask, dtype=bool)
    if valid is not None and valid.shape != original.shape:
        raise ParameterError(f"the mask has shape {valid.shape}, the array {original.shape}: they must match")
    shape = original.shape
    restore = _region_setter(background_regions, shape)
    check = cancel_checker(cancel)

    top = dwt_max_level(shape, axes, wavelet)
    if level is None:
        level = top
    elif int(level) < 0:
        raise ParameterError(f"level must be ≥ 0 (or None for the maximum), got {level}")
    elif int(level) > top:
        warnings.warn(f"baseline_dwt: level {level} exceeds the maximum {top} for this length and wavelet; "
                      f"using {top}", UserWarning, stacklevel=2)
        level = top
    level = int(level)

    pad = [(0, 0)] * original.ndim
    for a in axes:
        pad[a] = (0, shape[a] % 2)  # wavelet transforms of odd lengths do not round-trip in size
    padded = np.pad(original, pad, mode="edge")
    trim = tuple(slice(0, n) for n in shape)

    if level == 0:
        baseline = original
    else:
        if len(axes) == 1:
            def approx_rec(x):
                coeffs = pywt.wavedec(x, wavelet, mode=mode, level=level, axis=axes[0])
                coeffs[1:] = [np.zeros_like(d) for d in coeffs[1:]]
                return pywt.waverec(coeffs, wavelet, mode=mode, axis=axes[0])
        else:
            def approx_rec(x):
                coeffs = pywt.wavedec2(x, wavelet, mode=mode, level=level, axes=axes)
                coeffs[1:] = [tuple(np.zeros_like(d) for d in details) for details in coeffs[1:]]
                return pywt.waverec2(coeffs, wavelet, mode=mode, axes=axes)

        signal = padded.copy()
        approx = np.zeros_like(padded)  # max_iter = 0: no baseline
        full = tuple(slice(0, n) for n in padded.shape)
        for _ in range(int(max_iter)):
            check()
            restore(signal, padded)
            approx = np.maximum(approx_rec(signal)[full], 0.0)
            over = approx > padded
            approx[over] = signal[over]
            high = signal > approx
            signal[high] = approx[high]
        baseline = approx[trim]
    baseline = np.array(baseline, dtype=np.float64)
    if valid is not None:
        baseline[~valid] = 0.0
    return baseline
