"""Registration-quality metrics of consecutive FIB-SEM slices (spec/fibsem.md §10–§11).

I₁ is the previous slice, I₂ the current one, both float64, cropped to the evaluation box
``[top, height, left, width]`` (the reference code's order; 0 = full extent).

* NSAD = mean|I₂ − I₁| / (mean(m) − min(m)), m = |I₁/2 + I₂/2|: invariant to a common scale,
  not to an offset.
* NCC = Σab / sqrt(Σa²·Σb²) of the mean-subtracted images; SNR = NCC/(1 − NCC) (Frank & Al-Ali,
  Nature 256, 376, 1975): for S + independent noise NCC = S²/(S² + σ²), so SNR = S²/σ².
* NMI = (H₁ + H₂)/H₁₂ − 1 from a joint histogram (default 2048 × 2048 bins over each image's
  own range, plus machine ε per cell, normalised); MI = H₁ + H₂ − H₁₂ in nats. Identical
  images give 1; independent ones ≈ 0 plus a positive bias growing with bins²/samples (≈ 0.12
  at 2048 bins on 512² images), so values are only comparable at equal bin counts.
* FRC with the constant 0.143 threshold (or the van Heel & Schatz 2005 curve), after the
  reference's ring definition, minus its NaN-propagating ring 0 (dropped before smoothing).
* Single-image SNR from the autocorrelation (Thong et al., Scanning 23, 328, 2001).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.errors import ParameterError

__all__ = [
    "FrcResult",
    "crop_box",
    "frc",
    "ncc",
    "nmi",
    "nsad",
    "pair_metrics",
    "single_image_snr",
    "snr_from_ncc",
    "summarize",
    "van_heel_threshold",
]

FRC_THRESHOLD = 0.143


def crop_box(image: np.ndarray, box=None) -> np.ndarray:
    """``image`` cropped to ``box`` = [top, height, left, width] (0 height/width = to the end)."""
    if box is None:
        return image
    top, height, left, width = (int(v) for v in box)
    bottom = top + height if height > 0 else image.shape[0]
    right = left + width if width > 0 else image.shape[1]
    return image[top:bottom, left:right]


def _pair(i1, i2) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(i1, dtype=np.float64)
    b = np.asarray(i2, dtype=np.float64)
    if a.shape != b.shape:
        raise ParameterError(f"images of unequal shapes {a.shape} and {b.shape} cannot be compared")
    return a, b


def nsad(i1, i2) -> float:
    """Normalised sum of absolute differences (module doc)."""
    a, b = _pair(i1, i2)
    m = np.abs(a / 2 + b / 2)
    denom = m.mean() - m.min()
    return float(np.abs(b - a).mean() / denom) if denom > 0 else float("nan")


def ncc(i1, i2) -> float:
    """Normalised cross-correlation of the mean-subtracted images."""
    a, b = _pair(i1, i2)
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def snr_from_ncc(value):
    """SNR = NCC/(1 − NCC)."""
    value = np.asarray(value, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = value / (1.0 - value)
    return float(out) if out.ndim == 0 else out


def _bin_index(x: np.ndarray, bins: int) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.size, dtype=np.int64)
    idx = ((x.ravel() - lo) * (bins / (hi - lo))).astype(np.int64)
    return np.minimum(idx, bins - 1)


def nmi(i1, i2, bins: int = 2048) -> tuple[float, float]:
    """(NMI, MI in nats) from the joint histogram with ``bins`` × ``bins`` cells."""
    a, b = _pair(i1, i2)
    bins = int(bins)
    joint = np.bincount(_bin_index(a, bins) * bins + _bin_index(b, bins), minlength=bins * bins).astype(np.float64)
    joint += np.finfo(np.float64).eps
    joint /= joint.sum()
    joint = joint.reshape(bins, bins)
    s1 = joint.sum(axis=1)
    s2 = joint.sum(axis=0)
    h1 = -(s1 * np.log(s1)).sum()
    h2 = -(s2 * np.log(s2)).sum()
    h12 = -(joint * np.log(joint)).sum()
    return float((h1 + h2) / h12 - 1.0), float(h1 + h2 - h12)


def van_heel_threshold(n_pixels, snr: float = 0.2071):
    """The van Heel & Schatz (J. Struct. Biol. 151, 250, 2005) threshold for rings of
    ``n_pixels`` Fourier pixels at the SNR criterion ``snr`` (0.2071 half-bit, 1 one-bit)."""
    n = np.asarray(n_pixels, dtype=np.float64)
    rs = np.sqrt(snr)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (snr + (2 * rs + 1) / np.sqrt(n)) / (snr + 1 + 2 * rs / np.sqrt(n))


def _hann_smooth(values: np.ndarray, w: int = 20) -> np.ndarray:
    """Normalised Hann window of length ``w`` over reflected extensions (w − 1 samples each
    side, end sample not repeated), 'valid' convolution, trimmed to the input length."""
    n = len(values)
    if n < w:
        return values.copy()
    window = np.hanning(w)
    window /= window.sum()
    ext = np.concatenate([values[w - 1:0:-1], values, values[-2:-w - 1:-1]])
    smooth = np.convolve(ext, window, mode="valid")
    return smooth[w // 2 - 1: w // 2 - 1 + n]


@dataclass
class FrcResult:
    """FRC per ring: ``freq`` (cycles/px), ``frc`` raw and ``smooth``, ``n_pixels`` per ring;
    ``bandwidth`` (cycles/px) where the smoothed FRC first falls to the threshold, and
    ``crossed`` (False: no crossing, the last frequency is returned)."""

    freq: np.ndarray
    frc: np.ndarray
    smooth: np.ndarray
    n_pixels: np.ndarray
    bandwidth: float
    crossed: bool

    def resolution(self, pixel_size: float) -> float:
        """Resolution = pixel size / bandwidth (in the pixel size's unit)."""
        return float(pixel_size / self.bandwidth) if self.bandwidth > 0 else float("inf")


def frc(i1, i2, threshold: float | str = FRC_THRESHOLD, fit_data: bool = False,
        subtract_mean: bool = False, apodize: bool = False) -> FrcResult:
    """Fourier ring correlation of two images (module doc). ``threshold`` is a number or
    "half-bit" / "one-bit" (van Heel curves)."""
    a, b = _pair(i1, i2)
    side = 2 * min(a.shape[0] // 2, a.shape[1] // 2)
    if side < 4:
        raise ParameterError(f"images of shape {a.shape} are too small for an FRC")
    r0, c0 = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
    a = a[r0:r0 + side, c0:c0 + side]
    b = b[r0:r0 + side, c0:c0 + side]
    if subtract_mean:
        a, b = a - a.mean(), b - b.mean()
    if apodize:
        win = np.outer(np.hanning(side), np.hanning(side))
        a, b = a * win, b * win
    f1 = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(a)))
    f2 = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(b)))
    power = np.abs(f1 + f2) ** 2
    cy, cx = np.unravel_index(int(np.argmax(power)), power.shape)
    yy, xx = np.indices((side, side))
    dy, dx = yy - cy, xx - cx
    ring = np.floor(np.hypot(dy, dx)).astype(np.int64)
    use = (dx != 0) & (dy != 0)  # off the axes (and off DC): suppresses scan streaks
    n_rings = int(ring.max()) + 1
    cross = f1 * np.conj(f2)
    counts = np.bincount(ring[use], minlength=n_rings).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c_re = np.bincount(ring[use], cross.real[use], n_rings) / counts
        c_im = np.bincount(ring[use], cross.imag[use], n_rings) / counts
        c1 = np.bincount(ring[use], (np.abs(f1) ** 2)[use], n_rings) / counts
        c2 = np.bincount(ring[use], (np.abs(f2) ** 2)[use], n_rings) / counts
        values = np.hypot(c_re, c_im) / np.sqrt(c1 * c2)
    freq = np.arange(n_rings) / side
    freq, values, counts = freq[1:], values[1:], counts[1:]  # ring 0 holds no pixel
    smooth = _hann_smooth(values)
    if isinstance(threshold, str):
        level = {"half-bit": 0.2071, "one-bit": 1.0}.get(threshold)
        if level is None:
            raise ParameterError(f"unknown FRC threshold {threshold!r}; use a number, 'half-bit' or 'one-bit'")
        curve = van_heel_threshold(counts, level)
    else:
        curve = np.full(len(freq), float(threshold))
    m = int(0.9 * len(freq))
    ok = np.isfinite(smooth[:m])
    fq, sm, cv = freq[:m][ok], smooth[:m][ok], curve[:m][ok]
    below = np.nonzero(sm[1:] <= cv[1:])[0]
    if len(below):
        j = int(below[0]) + 1
        d0, d1 = sm[j - 1] - cv[j - 1], sm[j] - cv[j]
        bandwidth = float(fq[j - 1] + (fq[j] - fq[j - 1]) * d0 / (d0 - d1)) if d0 != d1 else float(fq[j])
        crossed = True
    else:
        bandwidth, crossed = float(fq[-1]) if len(fq) else float("nan"), False
    if fit_data and not isinstance(threshold, str):
        from scipy.optimize import curve_fit

        try:
            (a_fit,), _ = curve_fit(lambda f, a_: a_ / (f ** 3 + a_), fq, sm, p0=[bandwidth ** 3 or 1e-3])
            t = float(threshold)
            bandwidth = float((a_fit / t - a_fit) ** (1 / 3))
        except (RuntimeError, ValueError):
            pass
    return FrcResult(freq, values, smooth, counts, bandwidth, crossed)


def _profile_peak(p: np.ndarray, c: int, method: str) -> float:
    """Noise-free value at lag 0 of profile ``p`` centred at index ``c``."""
    am1, am2, ap1, ap2 = p[c - 1], p[c - 2], p[c + 1], p[c + 2]
    if method == "parabolic":
        return 0.5 * ((4 * am1 - am2) / 3 + (4 * ap1 - ap2) / 3)
    if method == "linear":
        return 0.5 * ((2 * am1 - am2) + (2 * ap1 - ap2))
    if method == "nearest":
        return 0.5 * (am1 + ap1)
    if method == "gaussian":
        import warnings

        from scipy.optimize import OptimizeWarning, curve_fit

        lags = np.array([-3, -2, -1, 1, 2, 3], dtype=np.float64)
        vals = np.array([p[c - 3], am2, am1, ap1, ap2, p[c + 3]])
        try:
            with warnings.catch_warnings():  # 4 parameters on 6 lags: no covariance, which is not used
                warnings.simplefilter("ignore", OptimizeWarning)
                (a, _x0, _s, b), _ = curve_fit(lambda x, a, x0, s, b: a * np.exp(-(x - x0) ** 2 / (2 * s * s)) + b,
                                             lags, vals, p0=[am1 - vals.min(), 0.0, 2.0, vals.min()], maxfev=2000)
            return float(a + b)
        except RuntimeError:
            return 0.5 * ((4 * am1 - am2) / 3 + (4 * ap1 - ap2) / 3)
    raise ParameterError(f"unknown extrapolation {method!r}; use parabolic, linear, nearest or gaussian")


def single_image_snr(image, method: str = "parabolic") -> tuple[float, float, float]:
    """(x, y, r) single-image SNR from the autocorrelation's central row, column and radial
    average (Thong et al. 2001): ``(NF − μ)/(1 − NF)`` with NF the noise-free peak extrapolated
    from lags ±1, ±2 and μ the mean of the far 10 % of the profile. For FIB-SEM the y value is
    the robust one (scan-line streaks)."""
    img = np.asarray(image, dtype=np.float64)
    ny, nx = ((s + 1) // 2 * 2 - 1 for s in img.shape)
    if ny < 7 or nx < 7:
        raise ParameterError(f"an image of shape {img.shape} is too small for the autocorrelation SNR")
    img = img[:ny, :nx]
    f = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(img - img.mean())))
    p = np.abs(f) ** 2 / (nx * ny)
    acr = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(p))))
    cy, cx = ny // 2, nx // 2
    acr /= acr[cy, cx]
    row, col = acr[cy, :], acr[:, cx]
    yy, xx = np.indices(acr.shape)
    r = np.rint(np.hypot(yy - cy, xx - cx)).astype(np.int64)
    radial = np.bincount(r.ravel(), acr.ravel()) / np.bincount(r.ravel())
    radial = radial[: min(cy, cx) + 1]
    mirrored = np.concatenate([radial[:0:-1], radial])
    out = []
    for prof, c in ((row, cx), (col, cy), (mirrored, len(radial) - 1)):
        nf = _profile_peak(prof, c, method)
        mu = prof[: max(1, int(0.1 * len(prof)))].mean()
        out.append(float((nf - mu) / (1.0 - nf)))
    return out[0], out[1], out[2]


def pair_metrics(i1, i2, box=None, invert: bool = False, nmi_bins: int = 2048, with_frc: bool = True) -> dict:
    """NSAD, NCC, SNR, NMI, MI (and the FRC bandwidth, cycles/px) of two slices in ``box``."""
    a, b = _pair(crop_box(np.asarray(i1), box), crop_box(np.asarray(i2), box))
    if invert:
        a, b = -a, -b
    c = ncc(a, b)
    nmi_value, mi_value = nmi(a, b, nmi_bins)
    out = {"nsad": nsad(a, b), "ncc": c, "snr": snr_from_ncc(c), "nmi": nmi_value, "mi": mi_value,
           "nmi_bins": int(nmi_bins)}
    if with_frc:
        out["frc_bandwidth"] = frc(a, b).bandwidth
    return out


def summarize(values) -> tuple[float, float]:
    """(mean, spread) of a metric along the stack: spread = std(metric − SG(metric, window 501
    if len > 1000 else len//2·2 − 1, order 3, mode "mirror")); for fewer than 5 values the
    plain standard deviation."""
    from scipy.signal import savgol_filter

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    window = 501 if len(v) > 1000 else len(v) // 2 * 2 - 1
    if window <= 3:
        return float(v.mean()), float(v.std())
    return float(v.mean()), float(np.std(v - savgol_filter(v, window, 3, mode="mirror")))
