"""Beam (centre) finding on the static image of an XSVS exposure (spec/xsvs.md §8).

The default finder is :func:`owlx.core.autocenter.autocenter` (masked point-reflection
cross-correlation) on the static (time-averaged) image; optionally the result is refined by
sector symmetry (:mod:`owlx.core.xsvs_sectors`).

**Uncertainty.** The frames are split into ``n`` consecutive blocks, the same finder is run on
each block's static, and the uncertainty of the full-data centre is the standard error of the
block centres, ``σ = std(block centres, ddof=1)/√n`` per axis. This measures the statistical
(photon and speckle) scatter and any beam drift between blocks; it does *not* measure a
systematic bias of the method shared by all blocks (for example from an asymmetric mask or a
non-isotropic sample), and for a static (non-fluctuating) speckle pattern the blocks are not
independent, so σ is then a lower bound. Blocks where the finder fails are left out (at least
two must succeed).

At low counts the finder is biased on the (noisier) blocks, so the block centres may sit off
the full-data centre as a group; :attr:`CentreEstimate.block_offset` reports that shift and
:attr:`CentreEstimate.count_limited` flags it (then σ understates the error: use an exposure
with more counts). The autocenter background normalisation is off here: the static of an XSVS
exposure is a smooth isotropic blob, and dividing by a heavy blur leaves mostly the mask edges.

Coordinates: the centre is ``(row0, col0)``, 0-based pixel-centre coordinates (row = axis 0,
col = axis 1; the centre of pixel (0, 0) is (0, 0)). Converting to a project's ``cenx``/``ceny``
is :func:`owlx.io.xsvs_project.center_to_file`'s business. Masks are True = valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from owlx.errors import OwlxError, ParameterError

from .autocenter import autocenter
from .xsvs_sectors import refine_centre_sectors

METHODS = ("autocenter", "autocenter+sectors")


@dataclass(frozen=True)
class CentreEstimate:
    """A beam centre with its uncertainty.

    Attributes:
        row0, col0: centre [px], 0-based pixel-centre coordinates (row = axis 0, col = axis 1)
        sigma_row, sigma_col: standard error [px] from the spread of the block centres
            (see the module docstring); NaN when fewer than two blocks gave a centre
        method: "autocenter" or "autocenter+sectors"
        n_blocks: blocks that gave a centre; block_centres: their (row, col), (n_blocks, 2)
        quality: peak NCC of autocenter on the full static (1 = perfectly point-symmetric)
        rms: RMS log10 residual of the sector refinement (NaN without it)
    """


    row0: float
    col0: float
    sigma_row: float
    sigma_col: float
    method: str
    n_blocks: int
    block_centres: np.ndarray
    quality: float
    rms: float = math.nan

    @property
    def block_offset(self) -> np.ndarray:
        """Mean of the block centres minus the full-data centre, (drow, dcol) [px]."""
        return self.block_centres.mean(axis=0) - np.array([self.row0, self.col0])

    @property
    def count_limited(self) -> bool:
        """The blocks sit off the full-data centre by more than max(3σ, 0.2 px) on an axis."""
        sigma = np.array([self.sigma_row, self.sigma_col])
        return bool(np.any(np.abs(self.block_offset) > np.maximum(3.0 * sigma, 0.2)))

    @property
    def center(self) -> tuple[float, float]:
        """``(row0, col0)`` [px]."""
        return self.row0, self.col0

    def describe(self) -> str:
        """One line for people: ``row 117.32 ± 0.05, col 124.01 ± 0.04 px (0-based)``."""
        text = (f"row {self.row0:.2f} ± {self.sigma_row:.2f}, col {self.col0:.2f} ± {self.sigma_col:.2f} px "
                f"(0-based pixel centres; {self.method}, {self.n_blocks} blocks)")
        if self.count_limited:
            dr, dc = self.block_offset
            text += (f"; low counts: the block centres are off by ({dr:+.2f}, {dc:+.2f}) px, the error may be "
                     "larger than shown")
        return text


def find_centre_once(static: np.ndarray, valid: np.ndarray | None, refine_sectors: bool = False,
                     start=None, r_min: float = 25.0, r_max: float = 100.0) -> tuple[np.ndarray, float, float]:
    """Centre (row, col) [px] of one static image: autocenter, then optionally the sector
    refinement started from ``start`` (default: the autocenter result). Returns ``(centre,
    quality, rms)`` (quality: autocenter's peak NCC; rms: NaN without refinement)."""
    centre, quality = autocenter(static, valid, normalize_bg=False, return_quality=True)
    rms = math.nan
    if refine_sectors:
        centre, rms = refine_centre_sectors(static, valid, centre if start is None else start, r_min, r_max)
    return np.asarray(centre, dtype=np.float64), float(quality), rms


def find_centre(block_statics, valid: np.ndarray | None = None, weights=None, refine_sectors: bool = False,
                r_min: float = 25.0, r_max: float = 100.0, check=None) -> CentreEstimate:
    """Beam centre of the mean of ``block_statics`` with its uncertainty from the blocks.

    Args:
        block_statics: (n, rows, cols) static images of n ≥ 2 disjoint frame blocks (each the
            mean of raw/flat over its frames, unrounded).
        valid: (rows, cols) bool, True = valid (mask and flat field), or None for all valid.
        weights: frames per block (n,), for the weighted mean static; None = equal.
        refine_sectors: refine every centre by sector symmetry (radii ``r_min … r_max`` px).
        check: optional callable run between blocks (a job's ``ctx.check``, to cancel).

    Returns:
        :class:`CentreEstimate`. Raises ParameterError when the full static gives no centre
        or fewer than two blocks do.
    """
    blocks = np.asarray(block_statics, dtype=np.float64)
    if blocks.ndim != 3 or blocks.shape[0] < 2:
        raise ParameterError(f"centre finding needs at least two frame blocks (n, rows, cols), got shape {blocks.shape}")
    w = np.ones(blocks.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (blocks.shape[0],) or not np.all(w > 0):
        raise ParameterError("block weights must be one positive number per block")
    static = np.tensordot(w / w.sum(), blocks, axes=1)
    centre, quality, rms = find_centre_once(static, valid, refine_sectors, r_min=r_min, r_max=r_max)
    found = []
    for block in blocks:
        if check is not None:
            check()
        try:
            # blocks start the refinement from the full-data centre: a noisy block's autocenter
            # may be further off than the refinement's bound
            c, _, _ = find_centre_once(block, valid, refine_sectors, start=centre, r_min=r_min, r_max=r_max)
        except OwlxError:
            continue  # a block too noisy to give a centre is left out, as documented
        found.append(c)
    if len(found) < 2:
        raise ParameterError(f"only {len(found)} of {blocks.shape[0]} frame blocks gave a centre: too few counts "
                             "to estimate the uncertainty; use an exposure with more counts or fewer blocks")
    found = np.array(found)
    sigma = found.std(axis=0, ddof=1) / math.sqrt(found.shape[0])
    return CentreEstimate(float(centre[0]), float(centre[1]), float(sigma[0]), float(sigma[1]),
                          METHODS[1] if refine_sectors else METHODS[0], int(found.shape[0]), found, quality, rms)
