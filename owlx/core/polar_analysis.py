"""The polar-correlation chain over a set of frames (spec/polar.md §3–§9, as LOKI's scripts
``make_db`` / ``cheby_pair_dif_cor`` chain the steps), shared by the Polar panel, scripts and
batch jobs.

Per frame (:func:`frame_rings`):

1. polar resampling with a precomputed :class:`~owlx.core.polar.PolarMap` (mask honoured);
2. the radial profile (mean over valid φ of every polar row);
3. ring profiles of every radius of the band ``[band_lo, band_hi)`` px, each averaged over
   ``±half_width`` rows;
4. per ring: a periodic fit, then peak/outlier removal (modified z-score of ring − fit at
   ``peak_thresh``, windows of ``±thick`` bins), then (``subtract_fit``) the refit is subtracted;
5. the pairing feature: the periodic fit of the ring at ``pair_radius``, after peak removal and
   before any fit subtraction, divided by its mean (LOKI's "cheby_fit_compare"), as
   ``cheb_raw`` (LOKI) or ``cheb_unit``; NaN when that ring has too few valid bins or a zero
   mean (such frames are left out of the pairing).

Over frames (:func:`correlate_frames`): optional polarisation correction, pairing of shots by
feature distance (or consecutive shots, or no differences), the mask-normalised difference
autocorrelation C(r, Δφ) of every band ring, and, when the geometry is known, the mean over
rings of C against cos ψ.

Centres are absolute pixel coordinates ``(x, y)`` = (column, row); radii in px; geometry in SI
(m); q in m⁻¹.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from owlx.core.cancel import cancel_checker
from owlx.core.correlation import AVERAGES, difference_correlation
from owlx.core.polar import POLAR_METHODS, PolarMap, polar_map, radial_profile
from owlx.core.polar_angles import (
    correct_polarization,
    correlation_vs_cos_psi,
    q_of_radius,
)
from owlx.core.ring_cleaning import fit_periodic, remove_peaks
from owlx.core.ring_profiles import NORMALIZATIONS, ring_profile
from owlx.core.shot_pairing import PAIR_METHODS, pair_fits
from owlx.errors import ParameterError

__all__ = [
    "FEATURES",
    "PAIRINGS",
    "FrameRings",
    "PolarCorrelation",
    "PolarSettings",
    "correlate_frames",
    "frame_rings",
    "make_polar_map",
]

PAIRINGS = ("fits", "consecutive", "none")
FEATURES = ("cheb_raw", "cheb_unit")


@dataclass(frozen=True)
class PolarSettings:
    """Every parameter of the chain (see the module doc). ``band_hi`` is excluded;
    ``pair_radius`` None means the middle of the band; ``peak_thresh`` None skips peak removal;
    ``polarization_y`` None skips the polarisation correction."""

    center_xy: tuple[float, float]
    r_min: int = 10
    r_max: int = 200
    n_phi: int = 360
    method: str = "nearest"
    band_lo: int = 50
    band_hi: int = 60
    half_width: int = 2
    peak_thresh: float | None = 3.5
    thick: int | None = 1
    deg: int = 15
    overlap: float = 0.2
    subtract_fit: bool = False
    pair_radius: int | None = None
    pairing: str = "fits"
    pair_method: str = "greedy"
    feature: str = "cheb_raw"
    delta: int = 1
    norm: str = "mean_sub"
    average: str = "mean"
    wavelength_m: float | None = None
    distance_m: float | None = None
    pixel_size_m: float | None = None
    polarization_y: float | None = None
    n_cos_bins: int = 100

    def validate(self) -> None:
        """Raise :class:`ParameterError` for settings the chain cannot use."""
        choices = (("method", self.method, POLAR_METHODS), ("pairing", self.pairing, PAIRINGS),
                   ("pair_method", self.pair_method, PAIR_METHODS), ("feature", self.feature, FEATURES),
                   ("norm", self.norm, NORMALIZATIONS), ("average", self.average, AVERAGES))
        for name, value, allowed in choices:
            if value not in allowed:
                raise ParameterError(f"unknown {name} '{value}'; use one of {', '.join(allowed)}")
        if not 0 <= self.r_min < self.r_max:
            raise ParameterError(f"polar radii need 0 ≤ r_min < r_max, got {self.r_min}, {self.r_max}")
        if not self.r_min <= self.band_lo < self.band_hi <= self.r_max:
            raise ParameterError(f"the radius band {self.band_lo}–{self.band_hi} px must lie within the polar "
                                 f"radii {self.r_min}–{self.r_max} px and hold at least one radius")
        if not self.band_lo <= self.pair_row_radius < self.band_hi:
            raise ParameterError(f"the pairing radius {self.pair_radius} px lies outside the band "
                                 f"{self.band_lo}–{self.band_hi} px")

    @property
    def band_radii(self) -> np.ndarray:
        """Radii [px] of the band rings."""
        return np.arange(self.band_lo, self.band_hi)

    @property
    def pair_row_radius(self) -> int:
        return int(self.pair_radius) if self.pair_radius is not None else (self.band_lo + self.band_hi - 1) // 2

    @property
    def geometry_known(self) -> bool:
        return None not in (self.wavelength_m, self.distance_m, self.pixel_size_m)

    def q(self, radii) -> np.ndarray | None:
        """q [1/m] of radii [px], or None without geometry."""
        if not self.geometry_known:
            return None
        return q_of_radius(radii, self.pixel_size_m, self.distance_m, self.wavelength_m)


@dataclass
class FrameRings:
    """What one frame contributes: ``rings`` / ``masks`` (n_band, n_phi) cleaned ring profiles
    (masked bins 0) and validity, ``feature`` (deg + 1,) for pairing, ``radial`` (n_r,) the
    radial profile of the whole polar image, ``n_removed`` bins masked by peak removal."""

    rings: np.ndarray
    masks: np.ndarray
    feature: np.ndarray
    radial: np.ndarray
    n_removed: int = 0


@dataclass
class PolarCorrelation:
    """Result of :func:`correlate_frames`. ``corr`` (n_band, n_phi) is C(r, Δφ) at ``radii``
    [px] and lags ``dphi`` [rad]; ``counts`` the valid bin pairs per lag summed over pairs;
    ``q`` [1/m] per ring (None without geometry); ``pairs`` (n_pairs, 2) as positions in the frame
    list (consecutive/none pairings give their implied pairs) and ``frames`` the frame indices;
    ``cos_axis`` / ``cos_mean`` the mean correlation against cos ψ (None without geometry)."""

    corr: np.ndarray
    counts: np.ndarray
    dphi: np.ndarray
    radii: np.ndarray
    q: np.ndarray | None
    pairs: np.ndarray
    dists: np.ndarray
    frames: np.ndarray
    mean_radial: np.ndarray
    polar_radii: np.ndarray
    cos_axis: np.ndarray | None = None
    cos_mean: np.ndarray | None = None
    settings: PolarSettings | None = None
    notes: list[str] = field(default_factory=list)


def make_polar_map(settings: PolarSettings, shape: tuple[int, int]) -> PolarMap:
    """The :class:`PolarMap` of ``settings`` for frames of ``shape`` (ny, nx)."""
    settings.validate()
    return polar_map(settings.center_xy, settings.r_min, settings.r_max, settings.n_phi, shape, settings.method)


def _remove_peaks(ring, mask, s: PolarSettings):
    """Peak removal against a first periodic fit (LOKI ``make_db``); returns (ring, mask, n removed)."""
    if s.peak_thresh is None or np.count_nonzero(ring[mask]) <= s.deg:
        return ring, mask, 0
    coef = fit_periodic(ring, mask, s.deg, s.overlap).cheb_raw
    ring, new_mask, _ = remove_peaks(ring, mask, s.thick, s.peak_thresh, coef=coef, wrap=True)
    return ring, new_mask, int(np.count_nonzero(mask & ~new_mask))


def _pair_feature(ring, mask, s: PolarSettings) -> np.ndarray:
    """The periodic fit of ``ring``/its mean over the valid bins (NaN when it cannot be fitted)."""
    valid = ring[mask]
    mean = valid.mean() if valid.size else 0.0
    if valid.size <= s.deg or mean == 0 or np.count_nonzero(valid) <= s.deg:
        return np.full(s.deg + 1, np.nan)
    fit = fit_periodic(ring / mean, mask, s.deg, s.overlap)
    return fit.cheb_raw if s.feature == "cheb_raw" else fit.cheb_unit


def frame_rings(image: np.ndarray, mask: np.ndarray | None, pmap: PolarMap, settings: PolarSettings) -> FrameRings:
    """Steps 1–5 of the module doc for one frame."""
    polar, pmask = pmap.resample(image, mask)
    s = settings
    rows = s.band_radii - pmap.r_min
    rings = np.zeros((rows.size, pmap.n_phi))
    masks = np.zeros((rows.size, pmap.n_phi), bool)
    removed = 0
    feature = np.full(s.deg + 1, np.nan)
    for k, row in enumerate(rows):
        ring, m = ring_profile(polar, pmask, row, s.half_width)
        ring, m, n_rm = _remove_peaks(ring, m, s)
        if s.band_lo + k == s.pair_row_radius and s.pairing == "fits":
            # the feature comes from the cleaned ring, so a Bragg peak does not decide the pairing
            feature = _pair_feature(ring, m, s)
        if s.subtract_fit and np.count_nonzero(ring[m]) > s.deg:
            ring = (ring - fit_periodic(ring, m, s.deg, s.overlap).yfit) * m
        rings[k], masks[k] = ring, m
        removed += n_rm
    return FrameRings(rings, masks, feature, radial_profile(polar, pmask), removed)


def correlate_frames(per_frame: list[FrameRings], settings: PolarSettings, frames=None, workers: int = 1,
                     cancel=None, progress=None) -> PolarCorrelation:
    """Pair, difference and correlate the band rings of ``per_frame`` (in the given order;
    ``frames`` names their frame indices). ``progress(done, total)`` and ``cancel`` as in
    :func:`owlx.core.correlation.difference_correlation`."""
    s = settings
    s.validate()
    check = cancel_checker(cancel)
    n = len(per_frame)
    frames = np.arange(n) if frames is None else np.asarray(frames, np.int64)
    need = 1 if s.pairing == "none" else 2
    if n < need:
        raise ParameterError(f"a {'difference ' if need == 2 else ''}correlation needs at least {need} frames, got {n}")
    rings = np.stack([f.rings for f in per_frame])
    masks = np.stack([f.masks for f in per_frame])
    radii = s.band_radii.astype(np.float64)
    q = s.q(radii)
    notes = []
    if s.polarization_y is not None:
        if q is None:
            raise ParameterError("the polarisation correction needs the wavelength, distance and pixel size")
        rings = correct_polarization(rings, q, s.wavelength_m, s.polarization_y) * masks
    check()
    dists = np.zeros(0)
    if s.pairing == "fits":
        features = np.stack([f.feature for f in per_frame])
        usable = np.flatnonzero(np.isfinite(features).all(axis=1))
        if usable.size < 2:
            raise ParameterError(f"only {usable.size} frame(s) have a usable ring at {s.pair_row_radius} px to pair "
                                 "by; choose another pairing radius or band, or more frames")
        if usable.size < n:
            notes.append(f"{n - usable.size} frame(s) without a usable ring at {s.pair_row_radius} px were left out")
        sub_pairs, dists = pair_fits(features[usable], s.pair_method, check=check)
        pairs = usable[sub_pairs]
        if usable.size % 2:
            notes.append("one frame stays unpaired (odd number of usable frames)")
        kw = {"pairs": pairs}
    else:
        delta = int(s.delta) if s.pairing == "consecutive" else 0
        if s.pairing == "consecutive" and not 1 <= delta < n:
            raise ParameterError(f"consecutive differences {delta} apart need more than {delta} frames (got {n})")
        kw = {"delta": delta}
        a = np.arange(n - delta)
        pairs = np.stack([a, a + delta], axis=1) if delta else np.stack([a, np.full(n, -1)], axis=1)
    result = difference_correlation(rings, masks, norm=s.norm, average=s.average, workers=workers,
                                    cancel=cancel, progress=progress, **kw)
    cos_axis = cos_mean = None
    if q is not None:
        cos_axis, cos_mean, _ = correlation_vs_cos_psi(result.corr, result.dphi, q, s.wavelength_m, s.n_cos_bins)
    radial = np.stack([f.radial for f in per_frame])
    finite = np.isfinite(radial)
    n_finite = finite.sum(axis=0)
    mean_radial = np.full(radial.shape[1], np.nan)
    np.divide(np.where(finite, radial, 0.0).sum(axis=0), n_finite, out=mean_radial, where=n_finite > 0)
    polar_radii = np.arange(s.r_min, s.r_max, dtype=np.float64)
    return PolarCorrelation(result.corr, result.counts, result.dphi, radii, q, np.asarray(pairs, np.int64),
                            np.asarray(dists), frames, mean_radial, polar_radii, cos_axis, cos_mean, s, notes)
