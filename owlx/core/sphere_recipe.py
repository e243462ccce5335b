"""The sizing recipe on one frame and on many (spec/sphere.md §4, §5).

:func:`fit_frame` runs the FXI recipe of Daurer, Okamoto et al. (IUCrJ 4(3), 2017; repository
cnettel/cxic9714-analysis, README §5) as configured by :class:`FitSettings`:
centre (``blurred``) → diameter (``pearson``) → intensity (``photons`` = ``nrphotons``) → full
refinement. The diameter and intensity stages share one preparation, since the centre does not
change between them; the refinement prepares the pixels again about each new centre.
:func:`fit_batch` applies it to many frames, streaming one :class:`SphereFitResult` per frame.

Centres are offsets (cx, cy) [px] from the array middle ((Nx−1)/2, (Ny−1)/2) throughout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from owlx.core.cancel import cancel_checker
from owlx.core.sphere_center import find_center
from owlx.core.sphere_fit import (
    fit_diameter_pearson,
    fit_diameter_pixelwise,
    fit_intensity,
    intensity_method,
)
from owlx.core.sphere_pixels import (
    QBins,
    masked_abs_sum,
    model_sums,
    prepare_fit_pixels,
)
from owlx.core.sphere_records import (
    FitSettings,
    SphereFitResult,
    _copy_settings,
    owl_general_values,
    owl_model_arrays,
    owl_model_values,
)
from owlx.core.sphere_refine import refine_sphere
from owlx.errors import JobCancelled, ParameterError

__all__ = [
    "DEFAULT_START",
    "BatchSummary",
    "FitSettings",
    "SphereFitResult",
    "fit_batch",
    "fit_frame",
    "owl_general_values",
    "owl_model_arrays",
    "owl_model_values",
]

#: Start values (cx px, cy px, diameter nm, fluence mJ/µm²) when none are given: Owl's defaults.
DEFAULT_START = (0.0, 0.0, 100.0, 1.0)
_NM = 1e-9
_MJ_UM2 = 1e9  # J/m² per mJ/µm²


def _start_values(start):
    cx, cy, d_nm, f_mj = (float(v) for v in start)
    if not (math.isfinite(cx) and math.isfinite(cy)):
        raise ParameterError(f"the start centre must be finite, got ({cx}, {cy})")
    if not (math.isfinite(d_nm) and d_nm > 0):
        raise ParameterError(f"the start diameter must be > 0 nm, got {d_nm}")
    if not (math.isfinite(f_mj) and f_mj >= 0):
        raise ParameterError(f"the start fluence must be ≥ 0 mJ/µm², got {f_mj}")
    return cx, cy, d_nm * _NM, f_mj * _MJ_UM2


class _Clock:
    """Per-stage wall-clock timings [s]."""

    def __init__(self):
        self.times = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + now - self._t
        self._t = now


def fit_frame(
    img: np.ndarray,
    mask: np.ndarray | None,
    settings: FitSettings,
    start: Sequence[float] = DEFAULT_START,
    cancel=None,
    *,
    frame: int = 0,
) -> SphereFitResult:
    """Size the sphere on one frame with the recipe of ``settings`` (spec §4).

    Parameters
    ----------
    img, mask
        (ny, nx) frame in ADU and boolean mask (True = valid; None = all pixels valid).
    settings
        Experiment and recipe, :class:`FitSettings`.
    start
        (cx, cy, diameter_nm, fluence_mJ_um2): starting centre as an offset [px] from the array
        middle ((Nx−1)/2, (Ny−1)/2), diameter [nm] and fluence [mJ/µm²]. The diameter matters
        only without a brute-force stage, the fluence only for ``pixelwise`` diameters and
        stages that are switched off.
    cancel
        Cancel token (:mod:`owlx.core.cancel`), checked between stages, in the brute-force loop
        and in every optimiser evaluation; raises :class:`owlx.errors.JobCancelled`.
    frame
        Index recorded in the result.

    Returns
    -------
    SphereFitResult
        ``status="ok"``; bad input raises :class:`owlx.errors.ParameterError` instead.
    """
    clock = _Clock()
    check = cancel_checker(cancel)
    img = np.asarray(img)
    if img.ndim != 2 or img.size == 0:
        raise ParameterError(f"the frame must be a non-empty 2-D array, got shape {img.shape}")
    if mask is not None and np.shape(mask) != img.shape:
        raise ParameterError(f"mask shape {np.shape(mask)} differs from frame shape {img.shape}")
    s = settings
    ex = s.experiment()
    cx, cy, d, fluence = _start_values(start)
    rec = SphereFitResult(frame=int(frame))
    _copy_settings(rec, s)
    pcov = [math.nan] * 4
    n_est = 0  # parameters estimated by the stages, for χ² without refinement
    rec.center_x_found = rec.center_x_int = cx
    rec.center_y_found = rec.center_y_int = cy
    clock.lap("setup")

    check()
    if s.center_method != "none":
        found = find_center(
            img, mask, cx, cy, s.center_method,
            threshold=s.center_threshold_photons * s.adu_per_photon, sigma_px=s.center_sigma_px,
            dmax_px=s.center_dmax_px, subpixel=s.center_subpixel, edge=s.center_edge,
            cancel=cancel)
        cx, cy = found.cx, found.cy
        rec.center_x_found, rec.center_y_found = found.cx, found.cy
        rec.center_x_int, rec.center_y_int = found.cx_int, found.cy_int
        rec.center_score = found.score
        rec.flags.extend(found.flags)
        rec.stages.append(f"center:{s.center_method}")
        n_est += 2
    clock.lap("center")

    check()
    prep = {"adu_per_photon": s.adu_per_photon, "photon_counting": s.photon_counting,
            "downsampling": s.downsampling, "qmap": s.qmap}
    pixels = prepare_fit_pixels(img, mask, cx, cy, s.mask_radius_px, ex, **prep)
    if pixels.n == 0:
        raise ParameterError("no fit pixels: the mask and the mask radius leave nothing to fit")
    clock.lap("prepare")

    check()
    if s.diameter_method != "none":
        bins = QBins(pixels)
        if s.diameter_method == "pearson":
            dfit = fit_diameter_pearson(pixels, ex, n_brute=s.n_brute, d0_m=d,
                                        brute_dmax_m=s.brute_dmax_m, bins=bins, cancel=cancel)
            rec.pearson_cost = dfit.cost
            rec.brute_diameter_nm = dfit.brute_d_m / _NM
            rec.brute_cost = dfit.brute_cost
        else:
            dfit = fit_diameter_pixelwise(pixels, ex, d, fluence, bins=bins, cancel=cancel)
        d = dfit.d_m
        rec.nfev += dfit.nfev
        rec.error_ref, pcov[2] = dfit.error_ref, dfit.pcov_ref
        rec.flags.extend(dfit.flags)
        rec.stages.append(f"diameter:{s.diameter_method}")
        n_est += 1
    clock.lap("diameter")

    check()
    if s.intensity_method != "none":
        ifit = fit_intensity(pixels, ex, d, s.intensity_method)
        fluence = ifit.fluence_J_m2
        rec.error_ref, pcov[3] = ifit.error_ref, ifit.pcov_ref
        rec.flags.extend(ifit.flags)
        rec.stages.append(f"intensity:{intensity_method(s.intensity_method)}")
        n_est += 1
    clock.lap("intensity")

    check()
    if s.refine_iterations > 0:
        ref = refine_sphere(img, mask, ex, cx, cy, d, fluence, mask_radius_px=s.mask_radius_px,
                            iterations=s.refine_iterations, refine_bg=s.refine_bg,
                            weighting=s.refine_weighting,
                            abs_sum_adu=masked_abs_sum(img, mask, s.downsampling),
                            cancel=cancel, **prep)
        cx, cy, d, fluence = ref.cx, ref.cy, ref.d_m, ref.fluence_J_m2
        rec.background_photons = ref.background if s.refine_bg else math.nan
        rec.n_pixels, rec.nfev, rec.iterations = ref.n_pixels, rec.nfev + ref.nfev, ref.iterations
        rec.chi2_red, rec.rel_abs_residual, rec.pearson_r = (
            ref.chi2_red, ref.rel_abs_residual, ref.pearson_r)
        rec.stderr_center_x, rec.stderr_center_y = float(ref.stderr[0]), float(ref.stderr[1])
        rec.stderr_diameter_nm = float(ref.stderr[2]) / _NM
        rec.stderr_fluence = float(ref.stderr[3]) / _MJ_UM2
        rec.error_ref, pcov = ref.error_ref, [float(v) for v in ref.pcov_ref]
        rec.flags.extend(ref.flags)
        rec.stages.append("refine")
    else:
        _fast_quality(rec, pixels, ex, d, fluence, max(n_est, 1))
    clock.lap("refine")

    rec.center_x, rec.center_y = cx, cy
    rec.diameter_nm, rec.fluence_mJ_um2 = d / _NM, fluence / _MJ_UM2
    rec.size_s = ex.size_parameter(d)
    rec.scaling_photons = ex.unit_scaling(d) * fluence
    rec.mask_radius_px = pixels.mask_radius_px
    rec.pcov_ref = pcov
    rec.timings = clock.times
    rec.elapsed_s = sum(clock.times.values())
    return rec


def _fast_quality(rec, pixels, ex, d, fluence, n_par) -> None:
    """Quality metrics of a recipe without refinement, at the stages' final d and F."""
    sums = model_sums(pixels, ex.size_parameter(d), a=ex.unit_scaling(d) * fluence)
    n = pixels.n
    rec.n_pixels = n
    rec.chi2_red = sums["srr"] / (n - n_par) if n > n_par else math.nan
    rec.rel_abs_residual = sums["sabs_r"] / sums["sabs_y"] if sums["sabs_y"] > 0 else math.nan
    y = pixels.y
    sy, syy = float(y.sum()), float((y * y).sum())
    var_m, var_y = sums["smm"] - sums["sm"] ** 2 / n, syy - sy * sy / n
    rec.pearson_r = ((sums["smy"] - sums["sm"] * sy / n) / math.sqrt(var_m * var_y)
                     if var_m > 0 and var_y > 0 else 0.0)


# ----------------------------------------------------------------------------- batch


@dataclass
class BatchSummary:
    """How a batch ended: frames asked for, records ok/failed, frames not run, cancelled."""

    total: int
    n_ok: int = 0
    n_failed: int = 0
    n_not_run: int = 0
    cancelled: bool = False
    elapsed_s: float = 0.0


def fit_batch(
    frames: Iterable[int],
    load_frame: Callable[[int], tuple],
    settings: FitSettings,
    on_result: Callable[[SphereFitResult], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel=None,
    n_threads: int = 1,
    start=None,
) -> BatchSummary:
    """Fit many frames, streaming each frame's record as it finishes (spec §5.3).

    ``load_frame(i)`` returns ``(img, mask)`` (copies) of frame ``i``. Each finished frame —
    ``ok``, or ``failed`` when loading or fitting raised — goes to ``on_result(record)``, then
    ``on_progress(done, total)``. With ``n_threads`` > 1 frames run on a thread pool (the numba
    kernels release the GIL) and records may arrive out of order; callbacks are always called
    from the calling thread. ``start`` is a (cx, cy, d_nm, F_mJ_um2) tuple or a callable
    ``frame -> tuple`` (default :data:`DEFAULT_START`).

    Cancel (a token, see :mod:`owlx.core.cancel`) is checked before every frame and inside the
    fits; frames in flight when it fires are discarded without a record. Results are
    deterministic: a frame's record equals that of :func:`fit_frame` on the same frame (apart
    from the timings).
    """
    t0 = time.perf_counter()
    frames = list(frames)
    summary = BatchSummary(total=len(frames))
    check = cancel_checker(cancel)
    start_of = start if callable(start) else (lambda _i, _s=start or DEFAULT_START: _s)

    def run(i: int) -> SphereFitResult:
        check()
        try:
            img, mask = load_frame(i)
            return fit_frame(img, mask, settings, start_of(i), cancel=cancel, frame=i)
        except JobCancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the batch
            return SphereFitResult.failed(i, f"{type(exc).__name__}: {exc}", settings)

    def emit(rec: SphereFitResult) -> None:
        if rec.status == "ok":
            summary.n_ok += 1
        else:
            summary.n_failed += 1
        if on_result is not None:
            on_result(rec)
        if on_progress is not None:
            on_progress(summary.n_ok + summary.n_failed, summary.total)

    try:
        if int(n_threads) <= 1:
            for i in frames:
                emit(run(i))
        else:
            _run_pool(frames, run, emit, int(n_threads), check)
    except JobCancelled:
        summary.cancelled = True
    summary.n_not_run = summary.total - summary.n_ok - summary.n_failed
    summary.elapsed_s = time.perf_counter() - t0
    return summary


def _run_pool(frames, run, emit, n_threads, check) -> None:
    """Keep at most ``n_threads`` frames in flight; emit records on this thread as they finish.
    Raises JobCancelled once cancelled, after the workers in flight have stopped."""
    pending = {}
    queue = iter(frames)
    cancelled = False
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="owlx-sphere") as pool:

        def submit_next() -> None:
            i = next(queue, None)
            if i is not None:
                pending[pool.submit(run, i)] = i

        for _ in range(n_threads):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                pending.pop(fut)
                try:
                    rec = fut.result()
                except JobCancelled:
                    cancelled = True
                    continue
                emit(rec)
                if not cancelled:
                    try:
                        check()
                    except JobCancelled:
                        cancelled = True
                        continue
                    submit_next()
    if cancelled:
        raise JobCancelled("cancelled")
