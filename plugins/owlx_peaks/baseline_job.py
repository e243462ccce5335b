"""Wavelet baseline removal of one frame or of its azimuthal profile, as a job (no Qt).

:func:`baseline_job` runs :func:`owlx.core.baseline.baseline_dwt` (spec/peaks.md §11) on

* ``kind="frame"``: the frame itself, 2-D transforms over (row, col); masked pixels (the
  session mask, True = valid) are filled from their nearest valid neighbour for the transforms
  (``fill_invalid_nearest``), get baseline 0 and are shown as 0 after subtraction;
* ``kind="profile"``: the azimuthal average of the frame about ``centre`` (row, col) px, radii
  without valid pixels get baseline 0.

The frame must be 2-D (rows, cols) and hold at least one valid pixel (finite and not masked),
else :class:`~owlx.errors.DatasetError`. A frame result also carries its baseline-subtracted image
made ready for display (:class:`~owlx_peaks.display_image.DisplayImage`), so the tab does no
array work on the GUI thread.

PyWavelets is optional: :data:`AVAILABLE` says whether it is installed and :data:`HINT` what to
do when it is not (the panel disables the tool and shows the hint).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.core.azimuthal import azimuthal_average
from owlx.core.baseline import (
    PYWT_HINT,
    baseline_dwt,
    dwt_max_level,
    fill_invalid_nearest,
    has_pywavelets,
)
from owlx.errors import DatasetError, ParameterError
from owlx.jobs import Job
from owlx.stack_reader import StackReader

from .display_image import DisplayImage, display_image

__all__ = ["AVAILABLE", "HINT", "KINDS", "BaselineResult", "baseline_job"]

AVAILABLE = has_pywavelets()
HINT = PYWT_HINT
KINDS = ("frame", "profile")


@dataclass
class BaselineResult:
    """``data`` (a frame (rows, cols) or a profile over ``radius`` px), its ``baseline`` and
    ``valid`` (True = valid). :attr:`subtracted` is ``data − baseline``, 0 where invalid."""

    index: int
    kind: str
    data: np.ndarray
    baseline: np.ndarray
    valid: np.ndarray
    radius: np.ndarray | None = None
    level: int = 0  # the decomposition level used (a larger request is clipped to the maximum)
    mean_baseline: float = 0.0  # over the valid pixels / radii
    shown: DisplayImage | None = None  # kind "frame": the subtracted frame, ready for the image view

    @property
    def subtracted(self) -> np.ndarray:
        return np.where(self.valid, self.data - self.baseline, 0.0)


def baseline_job(reader: StackReader, index: int, kind: str = "frame", centre=None, max_iter: int = 50,
                 level: int | None = None, wavelet: str = "sym6") -> Job:
    """Baseline of frame ``index`` (``kind`` "frame") or of its azimuthal average about
    ``centre`` (row, col) px (``kind`` "profile"); the value is a :class:`BaselineResult`.
    ``level`` None is the maximum; a larger level is clipped to it. Cancel is checked between
    iterations."""
    if kind not in KINDS:
        raise ParameterError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "profile" and centre is None:
        raise ParameterError("the profile baseline needs a centre: find the centre first")
    if int(max_iter) < 1:
        raise ParameterError(f"the number of iterations must be at least 1, got {max_iter}")
    if level is not None and int(level) < 1:
        raise ParameterError(f"the decomposition level must be at least 1 (or None for the maximum), got {level}")
    _check_wavelet(wavelet)

    def work(ctx):
        frame = np.asarray(reader.frame(index), dtype=np.float64)
        if frame.ndim != 2:
            raise DatasetError(f"frame {index} has shape {frame.shape}: baseline removal needs a 2-D (rows, cols) "
                               "image, not colour (RGB) or multi-channel data")
        mask = reader.mask(index)
        valid = np.isfinite(frame) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(frame))
        if not valid.any():
            raise DatasetError(f"frame {index} has no valid pixel (all NaN or masked): nothing to fit a baseline to")
        data = np.where(valid, frame, 0.0)  # non-finite values must not reach the transforms
        radius, axis = None, (0, 1)
        if kind == "profile":
            radius, data, count = azimuthal_average(data, centre, valid)
            valid, axis = count > 0, -1
        ctx.progress(0, 1)
        top = dwt_max_level(data.shape, axis, wavelet)
        used = top if level is None else min(int(level), top)  # clipped here: no warning from a worker thread
        # holes (beam stop, bad pixels) take their neighbours' values so they do not drag the baseline
        baseline = baseline_dwt(fill_invalid_nearest(data, valid), max_iter, level=used, wavelet=wavelet, mask=valid,
                                axis=axis, cancel=ctx)
        data = np.asarray(data, dtype=np.float64)
        res = BaselineResult(int(index), kind, data, baseline, valid, radius, used, float(baseline[valid].mean()))
        if kind == "frame":  # float32, (x, y) order and levels here, not on the GUI thread
            res.shown = display_image(res.subtracted, valid)
        ctx.progress(1, 1)
        return res

    return Job(work, name=f"peaks: baseline of the {kind} of frame {index}")


def _check_wavelet(wavelet: str) -> None:
    """Raise :class:`ParameterError` for a name PyWavelets has no discrete wavelet of (checked
    only when PyWavelets is installed: without it the job reports the install hint)."""
    if not AVAILABLE:
        return
    import pywt  # optional dependency, present here

    names = pywt.wavelist(kind="discrete")
    if wavelet not in names:
        raise ParameterError(f"unknown wavelet {wavelet!r}: use a discrete PyWavelets wavelet such as "
                             f"sym6, sym8, db4, db8, coif3 or haar ({len(names)} in all: pywt.wavelist('discrete'))")
