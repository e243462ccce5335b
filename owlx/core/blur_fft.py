"""Wide Gaussian blurs by FFT, equal to ``scipy.ndimage.gaussian_filter`` (mode "reflect").

The background normalisations of spec/peaks.md (σ = side/20 or side/25, truncated at 2σ) use
kernels of a hundred taps and more; a direct separable filter then costs ~2·100 multiply-adds per
pixel, a padded FFT convolution a few tens of operations. The image is padded by the kernel
radius with the same reflection scipy uses (d c b a | a b c d), convolved circularly with the
same normalised, truncated kernel, and cropped, so the result equals scipy's to rounding.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import gaussian_filter

from .mnxc import WORKERS

__all__ = ["gaussian_blur"]

DIRECT_BELOW = 6.0  # px: narrower kernels are cheaper as a direct separable filter


def _kernel(sigma: float, truncate: float) -> tuple[np.ndarray, int]:
    radius = int(truncate * float(sigma) + 0.5)  # scipy's kernel radius
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum(), radius


def gaussian_blur(image, sigma: float, truncate: float = 4.0, dtype=np.float64) -> np.ndarray:
    """Gaussian blur of a 2-D image with standard deviation ``sigma`` px (both axes), kernel
    truncated at ``truncate``·σ, reflecting boundaries: ``gaussian_filter(image, sigma,
    truncate=truncate)``, by FFT when σ ≥ 6 px. The FFT's error is absolute, ~1e-16 (float64) or
    ~1e-7 (``dtype`` float32) of the image maximum: where the image is far below its maximum the
    relative error grows, so normalisations (image / blur) use float64."""
    img = np.asarray(image, dtype=dtype)
    if sigma < DIRECT_BELOW or img.ndim != 2:
        return gaussian_filter(img, sigma, truncate=truncate)
    k, radius = _kernel(sigma, truncate)
    padded = np.pad(img, radius, mode="symmetric")
    shape = tuple(sfft.next_fast_len(n, real=True) for n in padded.shape)
    spectra = []
    for axis, n in enumerate(shape):
        circ = np.zeros(n)
        circ[: radius + 1] = k[radius:]  # the kernel centred on index 0, wrapped around
        circ[n - radius:] = k[:radius]
        spectra.append((sfft.rfft(circ) if axis == 1 else sfft.fft(circ)).astype(np.result_type(dtype, np.complex64)))
    spec = sfft.rfft2(padded, s=shape, workers=WORKERS)
    spec *= spectra[0][:, None]
    spec *= spectra[1][None, :]
    out = sfft.irfft2(spec, s=shape, workers=WORKERS)
    return np.ascontiguousarray(out[radius:radius + img.shape[0], radius:radius + img.shape[1]])
