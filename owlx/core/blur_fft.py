"""Wide Gaussian blurs by discrete cosine transform, equal to ``scipy.ndimage.gaussian_filter``
(mode "reflect").

The background normalisations of spec/peaks.md (σ = side/20 or side/25, truncated at 2σ) use
kernels of a hundred taps and more; a direct separable filter then costs ~2·100 multiply-adds per
pixel, a transform a few tens of operations. scipy's "reflect" boundary (d c b a | a b c d) is the
half-sample-symmetric extension of period 2n, which the DCT-II diagonalises: filtering it with a
symmetric kernel h of radius r multiplies DCT coefficient k by H(k) = h₀ + 2·Σⱼ hⱼ·cos(πkj/n)
(Martucci's symmetric convolution), for any r. So the blur is idct(dct(image)·H₀·H₁) on the
n₀ × n₁ image itself, with the same normalised, truncated kernel as scipy: equal to scipy's
result to rounding, without padding (a padded FFT convolution is ~2× slower).
"""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=16)
def _response(n: int, sigma: float, truncate: float) -> np.ndarray:
    """H(k), k = 0 … n − 1: the DCT-II eigenvalues of the truncated kernel on length n."""
    k, radius = _kernel(sigma, truncate)
    j = np.arange(1, radius + 1, dtype=np.float64)
    freq = np.arange(n, dtype=np.float64)
    h = k[radius] + 2.0 * (np.cos(np.pi / n * np.outer(freq, j)) @ k[radius + 1:])
    h.setflags(write=False)
    return h


def gaussian_blur(image, sigma: float, truncate: float = 4.0, dtype=np.float64) -> np.ndarray:
    """Gaussian blur of a 2-D image with standard deviation ``sigma`` px (both axes), kernel
    truncated at ``truncate``·σ, reflecting boundaries: ``gaussian_filter(image, sigma,
    truncate=truncate)``, by DCT when σ ≥ 6 px. The transform's error is absolute, ~1e-16
    (float64) or ~1e-7 (``dtype`` float32) of the image maximum: where the image is far below its
    maximum the relative error grows, so normalisations (image / blur) use float64."""
    img = np.asarray(image, dtype=dtype)
    if sigma < DIRECT_BELOW or img.ndim != 2:
        return gaussian_filter(img, sigma, truncate=truncate)
    spec = sfft.dctn(img, type=2, workers=WORKERS)
    h0 = _response(img.shape[0], float(sigma), float(truncate))
    h1 = _response(img.shape[1], float(sigma), float(truncate))
    spec *= h0.astype(spec.dtype, copy=False)[:, None]
    spec *= h1.astype(spec.dtype, copy=False)[None, :]
    return sfft.idctn(spec, type=2, workers=WORKERS, overwrite_x=True)
