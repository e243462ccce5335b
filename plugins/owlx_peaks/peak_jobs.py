"""The peak panel's work as :class:`owlx.jobs.Job` objects (no Qt; they run inline in tests).

Each job reads frames through a :class:`FrameReader` (:class:`owlx.stack_reader.StackReader`: reads
hold the session's ``io_lock``) made when the job is made, so switching the
dataset while a job runs cannot mix two stacks. The algorithms are those of ``owlx.core``:

* :func:`peaks_job` — centre (``autocenter``) and peaks (``bragg_peaks`` or
  ``bragg_peaks_persistence``) of one frame, as a :class:`PeakResult`;
* :func:`azimuthal_job` — ``azimuthal_average`` of one frame;
* :func:`symmetrise_job` — ``nfold`` of one frame (with its display image, :class:`Symmetrised`);
* :func:`align_stack_job` — every listed frame aligned onto a reference frame (``Aligner``) and
  streamed to a file (:class:`owlx.io.aligned_write.AlignedStackWriter`); the value is an
  :class:`AlignedStack` (shifts, quality, files); progress per frame, cancel between frames;
* :func:`mask_job` — ``CollectionMask`` streamed over the listed frames (True = valid).

Coordinates are (row, col) px.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from owlx.core.align import Aligner
from owlx.core.autocenter import autocenter
from owlx.core.azimuthal import azimuthal_average
from owlx.core.bragg_peaks import bragg_peaks
from owlx.core.image_shift import shift_image
from owlx.core.nfold import nfold
from owlx.core.persistence import bragg_peaks_persistence
from owlx.core.stack_mask import CollectionMask
from owlx.errors import ParameterError
from owlx.io.aligned_write import AlignedStackWriter
from owlx.io.output_paths import refuse_input_as_output
from owlx.jobs import Job
from owlx.stack_reader import StackReader as FrameReader

from .display_image import DisplayImage, display_image

__all__ = [
    "AlignedStack", "FrameReader", "PeakResult", "Symmetrised", "align_stack_job", "azimuthal_job", "centre_job",
    "find_peaks", "mask_job", "peaks_job", "symmetrise_job",
]


@dataclass
class PeakResult:
    """Centre and peaks of one frame. ``prominence`` is the persistence (NaN for the
    autocorrelation method); ``intensity`` the frame value at the nearest pixel."""

    index: int
    centre: np.ndarray  # (row, col)
    peaks: np.ndarray  # (N, 2) float (row, col)
    intensity: np.ndarray
    prominence: np.ndarray
    method: str


def _pixel_values(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    if not len(points):
        return np.zeros(0)
    rc = np.clip(np.rint(points).astype(int), 0, np.array(frame.shape) - 1)
    return frame[rc[:, 0], rc[:, 1]].astype(float)


def find_peaks(frame, mask, method: str = "autocorrelation", centre=None, prominence: float = 0.0,
               min_dist: float | None = None, index: int = 0) -> PeakResult:
    """Centre and peaks of one frame (what :func:`peaks_job` runs)."""
    frame = np.asarray(frame, dtype=np.float64)
    if centre is None:
        centre = autocenter(frame, mask)
    centre = np.asarray(centre, dtype=float)
    if method == "autocorrelation":
        peaks = bragg_peaks(frame, mask, center=centre, min_dist=min_dist)
        prom = np.full(len(peaks), np.nan)
    elif method == "persistence":
        res = bragg_peaks_persistence(frame, mask, center=centre, min_dist=min_dist, prominence=prominence)
        peaks, prom = res.peaks.astype(float), res.persistence
    else:
        raise ParameterError(f"peak method must be 'autocorrelation' or 'persistence', got {method!r}")
    return PeakResult(int(index), centre, peaks, _pixel_values(frame, peaks), prom, method)


def peaks_job(reader: FrameReader, index: int, method: str = "autocorrelation", centre=None,
              prominence: float = 0.0, min_dist: float | None = None) -> Job:
    """Centre (unless given) and peaks of frame ``index``; the value is a :class:`PeakResult`."""

    def work(ctx):
        ctx.progress(0, 1)
        res = find_peaks(reader.frame(index), reader.mask(index), method, centre, prominence, min_dist, index)
        ctx.progress(1, 1)
        return res

    return Job(work, name=f"peaks: {method} on frame {index}")


def centre_job(reader: FrameReader, index: int, normalize_bg: bool = True) -> Job:
    """``autocenter`` of frame ``index``: the value is ((row, col), quality)."""

    def work(ctx):
        return autocenter(reader.frame(index), reader.mask(index), normalize_bg=normalize_bg, return_quality=True)

    return Job(work, name=f"peaks: centre of frame {index}")


def azimuthal_job(reader: FrameReader, index: int, centre, angular_bounds=None) -> Job:
    """``azimuthal_average`` of frame ``index``: the value is (radius, average, count)."""

    def work(ctx):
        return azimuthal_average(reader.frame(index), centre, reader.mask(index), angular_bounds=angular_bounds)

    return Job(work, name=f"peaks: azimuthal average of frame {index}")


@dataclass
class Symmetrised:
    """The ``nfold`` image of a frame (rows, cols) and the same made ready for an image view
    (float32, (x, y), levels: built by the job, not on the GUI thread)."""

    image: np.ndarray
    shown: DisplayImage


def symmetrise_job(reader: FrameReader, index: int, mod: int, centre) -> Job:
    """``nfold`` of frame ``index`` about ``centre``: the value is a :class:`Symmetrised`."""

    def work(ctx):
        image = nfold(reader.frame(index), mod, center=centre, mask=reader.mask(index))
        return Symmetrised(image, display_image(image))

    return Job(work, name=f"peaks: {mod}-fold symmetrisation of frame {index}")


@dataclass
class AlignedStack:
    """Frames aligned onto ``reference`` (a frame index): frame ``frames[k]`` moved by
    ``shifts[k]`` (row, col) px, ``aligned(u) = frame(u − shift)``; ``quality`` is the peak NCC
    of each registration. The aligned frames themselves are on disk in ``files`` (empty when
    only the shifts were computed), never held in memory."""

    frames: np.ndarray
    reference: int
    shifts: np.ndarray
    quality: np.ndarray
    files: list[Path] = field(default_factory=list)
    source: str = ""
    settings: dict = field(default_factory=dict)


def align_stack_job(reader: FrameReader, frames, reference: int, refine: str = "parabolic",
                    max_shift: float | None = None, fill_value: float = 0.0, order: int = 3,
                    output=None, fmt: str | None = None, inputs=None) -> Job:
    """Align every frame of ``frames`` (indices, in that order) onto frame ``reference``.

    The reference's transforms are computed once; each frame is read, registered, shifted and
    streamed to ``output`` (HDF5 or TIFF, see :mod:`owlx.io.aligned_write`) in turn, so memory
    holds a few frames whatever the stack length. The file appears under its name only when the
    run completes; cancel (checked between frames) or an error deletes the partial file. With
    ``output`` None only the shifts are computed. The value is an :class:`AlignedStack`.

    ``output`` must not be one of ``inputs`` (default: the files ``reader`` reads,
    ``reader.files``): the finished file is renamed onto its name, which would replace the open
    data file; that raises :class:`ParameterError` here, before the job exists."""
    frames = np.asarray(list(frames), dtype=np.int64)
    if frames.size == 0:
        raise ParameterError("no frames to align")
    inputs = list(getattr(reader, "files", ())) if inputs is None else inputs
    refuse_input_as_output(output, inputs)
    settings = {"refine": refine, "max_shift": max_shift, "fill_value": fill_value, "order": order}

    def work(ctx):
        total = len(frames)
        ctx.progress(0, total)
        aligner = Aligner(reader.frame(reference), reader.mask(reference), refine=refine, max_shift=max_shift)
        writer = None if output is None else AlignedStackWriter(output, total, reader.shape, fmt, inputs=inputs)
        with writer if writer is not None else nullcontext():
            shifts, quality = np.zeros((total, 2)), np.zeros(total)
            for k, i in enumerate(frames):
                ctx.check()
                img = reader.frame(int(i))
                shifts[k], quality[k] = aligner.shift(img, return_quality=True)
                if writer is not None:
                    writer.write(k, shift_image(img, shifts[k], order=order, fill_value=fill_value),
                                 shifts[k], quality[k])
                del img  # keep at most one source frame alive between iterations
                ctx.progress(k + 1, total)
            ctx.check()  # a cancel during the last frame must not publish the file
            files = [] if writer is None else writer.finish(frames, reference, reader.name, settings)
        return AlignedStack(frames, int(reference), shifts, quality, files, reader.name, settings)

    return Job(work, name=f"peaks: align {len(frames)} frames")


def mask_job(reader: FrameReader, frames, px_thresh=(0, 3e4), std_thresh: float | None = None) -> Job:
    """A validity mask (True = valid) from ``frames`` (indices), streamed one frame at a time."""
    frames = [int(i) for i in frames]
    if not frames:
        raise ParameterError("no frames to build a mask from")

    def work(ctx):
        acc = CollectionMask(px_thresh, std_thresh)
        ctx.progress(0, len(frames))
        for k, i in enumerate(frames):
            ctx.check()
            acc.add(reader.frame(i))
            ctx.progress(k + 1, len(frames))
        return acc.valid()

    return Job(work, name=f"peaks: mask from {len(frames)} frames")
