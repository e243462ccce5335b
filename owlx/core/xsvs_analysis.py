"""One XSVS exposure from frames to contrast: static, bins, histograms, fits (spec/xsvs.md §4–§10).

:class:`ExposureAnalysis` takes the frames of one exposure in order (``add(index, frame)``):
the first ``static_frames`` frames are kept and summed into the static image (``raw/flat``,
unrounded); once they are in, the histogram bins of every ring follow from the static's ring
mean, the kept frames are histogrammed and every later frame is histogrammed as it arrives
(:mod:`owlx.core.xsvs_histogram`). :meth:`ExposureAnalysis.finish` fits every ring
(:mod:`owlx.core.xsvs_fit`) and returns :class:`RingResult` records.

:class:`XsvsSettings` holds the switches of spec §13; :meth:`XsvsSettings.compat` reproduces
pyxsvs's numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from owlx.core.xsvs_fit import (
    FIT_METHODS,
    R1_FORMS,
    FitResult,
    fit_bins_owlx,
    fit_bins_pyxsvs,
    fit_lsq,
    fit_mle,
    moment_M,
    r_minus_1_with_error,
)
from owlx.core.xsvs_histogram import (
    HISTOGRAM_MODES,
    RingHistograms,
    n_edges_from_static,
)
from owlx.core.xsvs_rings import Rings
from owlx.errors import ParameterError

FIT_BIN_RULES = ("owlx", "pyxsvs")


@dataclass(frozen=True)
class XsvsSettings:
    """Analysis switches (spec §13). ``fit_bins``: "owlx" or "pyxsvs" bin rule (§9.3).
    ``both_fits``: also run the fit method not chosen, for side-by-side display."""

    pyxsvs_compat: bool = False
    histogram_mode: str = "exact"
    fit_method: str = "lsq"
    fit_bins: str = "owlx"
    r1_form: str = "exact"
    use_flat_field: bool = True
    static_frames: int = 200
    both_fits: bool = True

    @classmethod
    def compat(cls, **changes) -> XsvsSettings:
        """pyxsvs-compatible settings (pyxsvs histogram, its fit-bin rule and LM solver, its R−1)."""
        base = cls(pyxsvs_compat=True, histogram_mode="pyxsvs", fit_method="lsq", fit_bins="pyxsvs",
                   r1_form="pyxsvs", use_flat_field=True, static_frames=200)
        return dataclasses.replace(base, **changes)

    def __post_init__(self) -> None:
        for name, value, allowed in (("histogram_mode", self.histogram_mode, HISTOGRAM_MODES),
                                     ("fit_method", self.fit_method, FIT_METHODS),
                                     ("fit_bins", self.fit_bins, FIT_BIN_RULES),
                                     ("r1_form", self.r1_form, R1_FORMS)):
            if value not in allowed:
                raise ParameterError(f"{name} = {value!r} is not one of {', '.join(allowed)}")
        if int(self.static_frames) < 1:
            raise ParameterError(f"static_frames = {self.static_frames} must be at least 1")


@dataclass
class RingResult:
    """Results of one (exposure, q ring), named after pyxsvs's result dictionary.

    ``bins`` are the left edges (``histogramBins``); ``histogram``/``hist_std`` the mean and
    population spread of the per-frame histograms; ``overflow`` the mean fraction of pixels
    with n ≥ E−1 (exact mode, else NaN); ``trace`` the ring mean per frame; ``fit`` the chosen
    fit of M, ``fits`` every fit computed by method; β = 1/M."""

    q: float
    npix: int
    bins: np.ndarray
    histogram: np.ndarray
    hist_std: np.ndarray
    overflow: float
    trace: np.ndarray
    fit_bins: np.ndarray
    K: float
    K_stddev: float
    fit: FitResult
    fits: dict[str, FitResult]
    M_moment: float
    r1: float
    r1_stddev: float
    n_frames_used: int

    @property
    def M(self) -> float:
        return self.fit.M

    @property
    def M_stddev(self) -> float:
        return self.fit.M_stddev

    @property
    def beta(self) -> float:
        return self.fit.beta

    @property
    def beta_stddev(self) -> float:
        return self.fit.beta_stddev


@dataclass
class ExposureResult:
    """One exposure's results. ``status``: "ok", "partial" (files missing, analysed with the
    frames present), "missing" (no frame: ``rings`` empty) or "cancelled". ``static`` is the
    mean of raw/flat over the static frames, (rows, cols) float64 (None when missing)."""

    name: str
    exp_time_s: float
    first_file: int
    last_file: int
    n_frames: int
    n_missing: int
    status: str
    static: np.ndarray | None = None
    rings: list[RingResult] = field(default_factory=list)

    @property
    def analysed(self) -> bool:
        return bool(self.rings)


def analyse_ring(hist: RingHistograms, j: int, q: float, settings: XsvsSettings) -> RingResult:
    """Fit ring ``j`` of ``hist`` (spec §9, §10)."""
    valid_frames = ~np.isnan(hist.trace[j])
    trace = hist.trace[j, valid_frames]
    K = float(trace.mean()) if trace.size else math.nan
    K_std = float(trace.std()) if trace.size else math.nan
    x = hist.bins(j)
    y, s = hist.histogram(j)
    if settings.fit_bins == "pyxsvs":
        use = fit_bins_pyxsvs(y)
    else:
        use = fit_bins_owlx(y, s, merged_last=hist.mode == "pyxsvs")
    fits: dict[str, FitResult] = {}
    methods = FIT_METHODS if settings.both_fits else (settings.fit_method,)
    for method in methods:
        if method == "lsq":
            fits[method] = fit_lsq(x, y, s, K, use, compat=settings.pyxsvs_compat)
        else:
            counts, tail = hist.pooled_counts(j)
            fits[method] = fit_mle(counts, tail, K)
    mean3, cov3 = hist.first_three_cov(j)
    r1, r1_std = r_minus_1_with_error(mean3, cov3, settings.r1_form)
    mean, var = hist.pooled_moments(j)
    return RingResult(
        q=float(q), npix=int(hist.npix[j]), bins=x, histogram=y, hist_std=s, overflow=hist.overflow(j),
        trace=trace, fit_bins=use, K=K, K_stddev=K_std, fit=fits[settings.fit_method], fits=fits,
        M_moment=moment_M(mean, var), r1=r1, r1_stddev=r1_std, n_frames_used=int(hist.n_used[j]),
    )


@dataclass
class ExposureAnalysis:
    """Streams the frames of one exposure (spec §1): see the module docstring.

    ``flat`` is the flat field (rows, cols) or None; flat pixels ≤ 0 or non-finite must already
    be excluded from ``rings`` (:func:`flat_field_valid`). ``n_frames`` is the most frames
    that will be added (frame indices 0 … n_frames−1)."""

    rings: Rings
    flat: np.ndarray | None
    settings: XsvsSettings
    n_frames: int
    static_sum: np.ndarray = field(init=False)
    hist: RingHistograms | None = field(init=False, default=None)
    n_static: int = field(init=False, default=0)
    n_added: int = field(init=False, default=0)
    _kept: list = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.static_sum = np.zeros(self.rings.shape, dtype=np.float64)
        use_flat = self.settings.use_flat_field and self.flat is not None
        if use_flat:
            flat = np.asarray(self.flat, dtype=np.float64)
            if flat.shape != self.rings.shape:
                raise ParameterError(f"the flat field is {flat.shape}, the frames are {self.rings.shape}")
            # invalid flat pixels are outside every ring; dividing by 1 keeps the static finite there
            self._flat_safe = np.where(flat_field_valid(flat), flat, 1.0)
            self._flat_ring = self._flat_safe.ravel()[self.rings.idx]
        else:
            self._flat_safe = None
            self._flat_ring = None

    @property
    def static(self) -> np.ndarray:
        """Mean of raw/flat (unrounded) over the static frames, (rows, cols) float64."""
        return self.static_sum / max(self.n_static, 1)

    def add(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` (0-based within the exposure) of shape (rows, cols)."""
        frame = np.asarray(frame)
        if frame.shape != self.rings.shape:
            raise ParameterError(f"frame {index} has shape {frame.shape}, expected {self.rings.shape}")
        self.n_added += 1
        if self.hist is None and self.n_static < self.settings.static_frames:
            self.static_sum += frame / self._flat_safe if self._flat_safe is not None else frame
            self.n_static += 1
            self._kept.append((index, frame))
            if self.n_static == self.settings.static_frames:
                self.start_histograms()
            return
        if self.hist is None:
            self.start_histograms()
        self.hist.add(frame, index, self.rings, self._flat_ring)

    def start_histograms(self) -> None:
        """Fix the histogram bins from the static image of the frames kept so far and histogram
        them (done by the first frame past ``static_frames``, or by :meth:`finish`; callers that
        stop adding frames early and reduce histograms elsewhere call it themselves)."""
        static = self.static.ravel()
        edges = [n_edges_from_static(float(static[self.rings.pixels(j)].mean())) if self.rings.npix[j] else 20
                 for j in range(self.rings.n_rings)]
        self.hist = RingHistograms.empty(self.rings, edges, self.n_frames, self.settings.histogram_mode)
        for index, frame in self._kept:
            self.hist.add(frame, index, self.rings, self._flat_ring)
        self._kept = []

    def finish(self) -> list[RingResult]:
        """Fit every ring; call after the last frame (at least one frame must have been added)."""
        if self.n_added == 0:
            raise ParameterError("no frame was added to the exposure")
        if self.hist is None:
            self.start_histograms()
        return [analyse_ring(self.hist, j, self.rings.q[j], self.settings) for j in range(self.rings.n_rings)]


def flat_field_valid(flat: np.ndarray) -> np.ndarray:
    """Pixels whose flat-field value can divide: finite and > 0 (spec §4)."""
    flat = np.asarray(flat, dtype=np.float64)
    return np.isfinite(flat) & (flat > 0)
