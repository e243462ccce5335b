"""Beam-centre finding for an XSVS project as a job (spec/xsvs.md §8).

:func:`centre_job` reads the first ``static_frames`` frames of one exposure (flat-field
divided, unrounded, as the static of §6), averages them in ``n_blocks`` consecutive blocks and
runs :func:`owlx.core.xsvs_center.find_centre` (autocenter, optionally refined by sector
symmetry; the uncertainty is the standard error of the block centres). The job's value is a
:class:`CentreFinding`; nothing is written anywhere (the ``.ini`` is never touched: putting the
centre into a project is a separate, explicit user action). In pyxsvs-compatible mode the file's
centre is used unchanged, so the job refuses to run.

Coordinates: ``estimate.row0/col0`` are 0-based pixel centres (row = axis 0, col = axis 1);
``cenx``/``ceny`` are the same centre in the project's ``center_convention`` (cenx = column,
ceny = row).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .core.xsvs_analysis import XsvsSettings
from .core.xsvs_center import CentreEstimate, find_centre
from .errors import DatasetError, ParameterError
from .io.xsvs_project import XsvsExposure, XsvsProject, center_to_file, open_exposure
from .jobs import Job, JobContext
from .xsvs import XsvsSetup, _frames_in_order, prepare

__all__ = ["CentreFinding", "centre_job", "find_project_centre", "static_blocks"]


@dataclass(frozen=True)
class CentreFinding:
    """A centre found on one exposure: the estimate (0-based (row0, col0) ± σ), the same centre
    as file values ``cenx`` (column), ``ceny`` (row) in ``center_convention``, the exposure and
    the number of frames used, and the project's own centre ``file_center`` (0-based) to compare."""

    estimate: CentreEstimate
    cenx: float
    ceny: float
    center_convention: str
    exposure: str
    n_frames: int
    file_center: tuple[float, float]

    def describe(self) -> str:
        e = self.estimate
        return (f"{self.exposure} ({self.n_frames} frames): {e.describe()}; "
                f"cenx = {self.cenx:.2f}, ceny = {self.ceny:.2f} ({self.center_convention})")


def static_blocks(exposure: XsvsExposure, setup: XsvsSetup, n_frames: int, n_blocks: int,
                  ctx: JobContext | None = None, n_threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean of raw/flat (unrounded) over ``n_blocks`` consecutive blocks of the first
    ``n_frames`` readable frames of ``exposure``: ``(blocks (n, rows, cols) float64, frames per
    block (n,))``. Unreadable frames are skipped; blocks left empty are dropped."""
    if not exposure.present_files:
        raise DatasetError(f"{exposure.name}: none of its {len(exposure.files)} frame files is on disk")
    with open_exposure(exposure) as source:
        stack = source.stack()
        if stack.frame_shape != setup.rings.shape:
            raise DatasetError(f"{exposure.name}: frames are {stack.frame_shape[0]}×{stack.frame_shape[1]} pixels, "
                               f"the mask/flat field {setup.rings.shape[0]}×{setup.rings.shape[1]}")
        n = min(len(stack), int(n_frames))
        n_blocks = max(1, min(int(n_blocks), n))
        sums = np.zeros((n_blocks, *setup.rings.shape))
        counts = np.zeros(n_blocks)
        flat = None if setup.flat is None else np.where(setup.valid, setup.flat, 1.0)
        with ThreadPoolExecutor(max_workers=max(1, n_threads), thread_name_prefix="owlx-xsvs-centre") as pool:
            try:
                for i, frame in _frames_in_order(stack, n, pool, ahead=4 * max(1, n_threads)):
                    if ctx is not None:
                        ctx.check()
                    if not isinstance(frame, Exception):
                        b = i * n_blocks // n
                        sums[b] += frame / flat if flat is not None else frame
                        counts[b] += 1
                    if ctx is not None and (i % 8 == 7 or i == n - 1):
                        ctx.progress(i + 1, n + 1)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    keep = counts > 0
    if not keep.any():
        raise DatasetError(f"{exposure.name}: no frame could be read")
    return sums[keep] / counts[keep, None, None], counts[keep]


def find_project_centre(project: XsvsProject, settings: XsvsSettings | None = None, exposure: str | None = None,
                        n_blocks: int = 8, refine_sectors: bool = False, ctx: JobContext | None = None,
                        n_threads: int = 2) -> CentreFinding:
    """Find the beam centre on ``exposure`` (a name; default: the exposure with the most photons
    in its static, i.e. the largest exposure time × frames used, ties to the first) of
    ``project``. See the module docstring."""
    settings = settings or XsvsSettings()
    if settings.pyxsvs_compat:
        raise ParameterError("pyxsvs-compatible mode uses the centre of the file unchanged: switch compat off "
                             "to find the beam centre")
    if int(n_blocks) < 2:
        raise ParameterError(f"n_blocks = {n_blocks}: at least two frame blocks are needed for the uncertainty")
    present = [e for e in project.exposures if e.present_files]
    if exposure is None:
        if not present:
            raise DatasetError("no exposure of the project has a frame file on disk")
        # The centre is only as good as the static's counts: on the short first exposures of a
        # sweep the blocks scatter by pixels, on the longest by hundredths of one.
        chosen = max(present, key=lambda e: e.exp_time_s * min(len(e.present_files), settings.static_frames))
    else:
        chosen = next((e for e in project.exposures if e.name == exposure), None)
        if chosen is None:
            raise ParameterError(f"no exposure {exposure!r} in the project: "
                                 f"{', '.join(e.name for e in project.exposures)}")
    setup = prepare(project, settings)
    blocks, counts = static_blocks(chosen, setup, settings.static_frames, n_blocks, ctx, n_threads)
    if blocks.shape[0] < 2:
        raise DatasetError(f"{chosen.name}: only {int(counts.sum())} readable frame(s); at least two are needed")
    estimate = find_centre(blocks, setup.valid, counts, refine_sectors=refine_sectors,
                           check=ctx.check if ctx is not None else None)
    if ctx is not None:
        ctx.progress(1, 1)
    cenx, ceny = center_to_file(estimate.row0, estimate.col0, project.center_convention)
    return CentreFinding(estimate, cenx, ceny, project.center_convention, chosen.name, int(counts.sum()),
                         tuple(float(v) for v in project.center))


def centre_job(project: XsvsProject, settings: XsvsSettings | None = None, exposure: str | None = None,
               n_blocks: int = 8, refine_sectors: bool = False, n_threads: int = 2) -> Job:
    """:func:`find_project_centre` as a :class:`Job` (progress in frames read, cancellable
    between frames and between blocks); its value is the :class:`CentreFinding`."""

    def work(ctx: JobContext) -> CentreFinding:
        return find_project_centre(project, settings, exposure, n_blocks, refine_sectors, ctx, n_threads)

    return Job(work, name="XSVS beam centre")
