"""Patterson (autocorrelation) map of one diffraction frame (spec/viewer.md A1; FXIhub/owl,
patterson.py).

A diffraction pattern is |F|², so its Fourier transform is the autocorrelation of the object
(the Patterson function): a pair of scatterers separated by d gives side peaks at ±d from the
centre of the map. Owl's recipe, kept here:

* the image is thresholded, ``I' = max(I − imageThreshold, 0)`` (detector background);
* the kernel K is the good-pixel mask (True = valid) Gaussian-smoothed with σ = ``maskSmooth``
  px, set to 0 below ``maskThreshold``·max, smoothed again with the same σ and normalised to a
  maximum of 1, so that gaps and edges of the detector roll off smoothly instead of ringing;
* optionally K is multiplied by a "dark-field" Gaussian of σ = ``darkfieldSigma`` px centred
  at (``darkfieldX``, ``darkfieldY``) px from the array middle, which selects a region of the
  pattern (a dark-field image of the corresponding part of the object);
* the map is ``|fftshift(FFT2(fftshift(K·I')))|``, divided by 10 × its median (computed in
  single precision: the map is for display).

Conventions: images are ``(ny, nx)``; the middle is ((nx−1)/2, (ny−1)/2) as (x, y); the zero
offset of the map is at pixel (row ny//2, col nx//2) (``fftshift``), and a separation of
(dx, dy) px in the object shows at (row ny//2 ± dy, col nx//2 ± dx) in map pixels
(1 map pixel = 1/(N·Δq) in object space).

[Owl→] Owl centred the dark-field Gaussian at row (nx−1)/2 + darkfieldX and column
(nx−1)/2 + darkfieldY (x and y swapped and the row middle taken from the width). owlx puts it at
column (nx−1)/2 + darkfieldX and row (ny−1)/2 + darkfieldY, as the names say; for a square frame
with darkfieldX = darkfieldY both agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import scipy.fft
import scipy.ndimage

from ..errors import ParameterError

__all__ = ["OWL_NAMES", "PattersonParams", "kernel_params", "patterson_kernel", "patterson_map"]


@dataclass(frozen=True)
class PattersonParams:
    """The parameters of one frame's map, Owl's defaults (formats.md §2.4).

    ``image_threshold`` in data units; ``mask_smooth`` and ``darkfield_sigma`` in px (σ of the
    Gaussians); ``mask_threshold`` a fraction 0…1 of the smoothed mask's maximum;
    ``darkfield_x``/``darkfield_y`` the dark-field centre in px from the array middle
    (x = towards higher column index, y = towards higher row index).
    """

    image_threshold: float = 30.0
    mask_smooth: float = 5.0
    mask_threshold: float = 0.2
    darkfield: bool = False
    darkfield_x: float = 0.0
    darkfield_y: float = 0.0
    darkfield_sigma: float = 100.0

    def validate(self) -> PattersonParams:
        """Raise :class:`ParameterError` for values the map cannot be computed with."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "darkfield" and not math.isfinite(float(v)):
                raise ParameterError(f"Patterson parameter {OWL_NAMES[f.name]} must be a finite number (got {v})")
        if self.mask_smooth < 0:
            raise ParameterError(f"maskSmooth is a Gaussian σ in pixels and cannot be negative (got {self.mask_smooth})")
        if not 0 <= self.mask_threshold <= 1:
            raise ParameterError(f"maskThreshold is a fraction of the maximum, 0…1 (got {self.mask_threshold})")
        if self.darkfield and self.darkfield_sigma <= 0:
            raise ParameterError(f"darkfieldSigma must be positive (got {self.darkfield_sigma} px)")
        return self

    def to_owl(self) -> dict[str, float]:
        """Owl's dataset names and values (``darkfield`` as 0.0/1.0, as Owl stored it)."""
        return {OWL_NAMES[k]: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_owl(cls, values: dict) -> PattersonParams:
        """Parameters from Owl's names; missing names keep the defaults, unknown ones are ignored."""
        by_owl = {owl: name for name, owl in OWL_NAMES.items()}
        kw = {}
        for owl, value in values.items():
            name = by_owl.get(owl)
            if name is not None:
                kw[name] = bool(value) if name == "darkfield" else float(value)
        return cls(**kw)


#: owlx field name -> Owl's dataset name in ``<group>/patterson/``
OWL_NAMES = {
    "image_threshold": "imageThreshold",
    "mask_smooth": "maskSmooth",
    "mask_threshold": "maskThreshold",
    "darkfield": "darkfield",
    "darkfield_x": "darkfieldX",
    "darkfield_y": "darkfieldY",
    "darkfield_sigma": "darkfieldSigma",
}


def patterson_kernel(valid: np.ndarray, smooth: float, threshold: float,
                     darkfield: tuple[float, float, float] | None = None) -> np.ndarray:
    """The window K (float32, max 1) applied to the image before the transform.

    ``valid``: bool (ny, nx), True = good pixel. ``smooth``: σ in px (0 = no smoothing).
    ``threshold``: fraction of the first smoothing's maximum below which K is cut to 0.
    ``darkfield``: (x, y, σ) in px, centre as an offset from the array middle (x = column,
    y = row), or None. An all-masked frame gives K = 0 everywhere. The Gaussians use
    ``scipy.ndimage.gaussian_filter`` (edges reflected, 4σ truncation), as Owl did.
    """
    valid = np.asarray(valid)
    if valid.ndim != 2:
        raise ParameterError(f"the mask must be 2-D, got shape {valid.shape}")
    k = valid.astype(np.float32)
    if smooth > 0:
        k = scipy.ndimage.gaussian_filter(k, smooth)
    top = float(k.max()) if k.size else 0.0
    if top <= 0:
        return np.zeros(valid.shape, np.float32)
    k[k < top * threshold] = 0.0
    if smooth > 0:
        k = scipy.ndimage.gaussian_filter(k, smooth)
    top = float(k.max())
    if top > 0:
        k /= np.float32(top)
    if darkfield is not None:
        x0, y0, sigma = (float(v) for v in darkfield)
        ny, nx = valid.shape
        cx, cy = (nx - 1) / 2 + x0, (ny - 1) / 2 + y0
        rows = np.exp(-((np.arange(ny) - cy) ** 2) / (2 * sigma**2)).astype(np.float32)
        cols = np.exp(-((np.arange(nx) - cx) ** 2) / (2 * sigma**2)).astype(np.float32)
        # separable: exp(-(dx² + dy²)/2σ²) = exp(-dy²/2σ²)·exp(-dx²/2σ²), no (ny, nx) radius array
        k *= rows[:, None] * cols[None, :]
    return k


def kernel_params(params: PattersonParams) -> tuple:
    """The parameters the kernel depends on: maps whose mask and these agree share one kernel
    (a caller browsing frames with a shared mask computes it once)."""
    dark = (params.darkfield_x, params.darkfield_y, params.darkfield_sigma) if params.darkfield else None
    return (params.mask_smooth, params.mask_threshold, dark)


def patterson_map(image: np.ndarray, valid: np.ndarray | None = None, params: PattersonParams | None = None,
                  normalize: bool = True, workers: int = 1, kernel: np.ndarray | None = None) -> np.ndarray:
    """The Patterson map of one frame, float32 (ny, nx), zero offset at (ny//2, nx//2).

    ``image``: the frame (any real dtype; complex frames use their amplitude). ``valid``: bool
    mask, True = good pixel (None: all good). With ``normalize`` the map is divided by 10 × its
    median (Owl's display scaling; a map whose median is 0 is returned unscaled). ``workers``:
    threads of the FFT. ``kernel``: a window made by :func:`patterson_kernel` for this mask and
    :func:`kernel_params` (computing it is half the cost of a map), else it is made here.

    Single precision throughout (the map is for display; relative error ~1e-6 of the largest
    value), which halves memory and the FFT's time against Owl's float64.
    """
    params = (params or PattersonParams()).validate()
    img = np.asarray(image)
    if img.ndim != 2:
        raise ParameterError(f"a Patterson map needs a 2-D frame, got shape {img.shape}")
    if valid is not None and np.shape(valid) != img.shape:
        raise ParameterError(f"the mask {np.shape(valid)} does not match the frame {img.shape}")
    if kernel is None:
        smooth, threshold, dark = kernel_params(params)
        kernel = patterson_kernel(np.ones(img.shape, bool) if valid is None else valid, smooth, threshold, dark)
    elif kernel.shape != img.shape:
        raise ParameterError(f"the kernel {kernel.shape} does not match the frame {img.shape}")
    signal = (np.abs(img) if np.iscomplexobj(img) else img).astype(np.float32)
    signal -= np.float32(params.image_threshold)
    np.fmax(signal, 0, out=signal)  # also turns NaN (a bad read) into 0
    if not np.isfinite(signal).all():  # +inf would spread over the whole transform
        signal[~np.isfinite(signal)] = 0
    signal *= kernel
    field = scipy.fft.fft2(scipy.fft.fftshift(signal), workers=workers, overwrite_x=True)
    out = scipy.fft.fftshift(np.abs(field))
    if normalize:
        median = float(np.median(out))
        if median > 0:
            out /= np.float32(10 * median)
    return out
