"""q map and q rings of an XSVS analysis (spec/xsvs.md §3).

Units follow the pyxsvs input file, not SI, because every number a user types and every number
in the outputs is in these units: wavelength λ in Å, pixel size and sample–detector distance in
mm, q in Å⁻¹. The beam centre is ``(row0, col0)``: 0-based pixel-centre coordinates (row = axis
0, col = axis 1), the centre of pixel (0, 0) at (0, 0). Converting the file's ``cenx``/``ceny``
(1-based in pyxsvs) is the project reader's business (:mod:`owlx.io.xsvs_project`).

Rings may overlap (``dq > qs/2``), so a ring is an index list, not a label image. The index
lists are packed as CSR (``ptr``, ``idx``): ring j holds the flat (row-major) pixel indices
``idx[ptr[j]:ptr[j+1]]``, ascending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from owlx.core.polar_angles import q_of_radius as polar_q_of_radius
from owlx.errors import ParameterError

MAX_RINGS = 10_000  # far beyond any analysis; a mistyped q step would otherwise exhaust memory


def q_of_radius(r_px, wavelength_A: float, pix_mm: float, sddist_mm: float):
    """q [Å⁻¹] at ``r_px`` pixels from the beam: ``(4π/λ)·sin(½·arctan(r·pix/sddist))``, in the
    argument order and units of pyxsvs files (the formula is :func:`owlx.core.polar_angles.q_of_radius`)."""
    return polar_q_of_radius(r_px, pix_mm, sddist_mm, wavelength_A)


def q_map(shape: tuple[int, int], row0: float, col0: float, wavelength_A: float, pix_mm: float,
          sddist_mm: float) -> np.ndarray:
    """q [Å⁻¹] of every pixel of an image of ``shape`` (rows, cols), float64, for a beam at
    ``(row0, col0)`` (0-based pixel-centre coordinates)."""
    _check_geometry(wavelength_A, pix_mm, sddist_mm)
    ny, nx = int(shape[0]), int(shape[1])
    dy = np.arange(ny, dtype=np.float64)[:, None] - row0
    dx = np.arange(nx, dtype=np.float64)[None, :] - col0
    return q_of_radius(np.sqrt(dy**2 + dx**2), wavelength_A, pix_mm, sddist_mm)


def ring_centres(q1: float, q2: float, qs: float) -> np.ndarray:
    """Ring centres ``q1 + j·qs`` for j = 0 … n−1 with ``n = round((q2 − q1)/qs) + 1`` [Å⁻¹].

    Computed as pyxsvs's ``arange`` computes its elements (start + j·step), so that the ring
    edges, and with them the ring populations, agree to the last bit."""
    if not (qs > 0 and math.isfinite(qs)):
        raise ParameterError(f"the q step qs = {qs} must be a positive number")
    if not (q1 >= 0 and q2 >= q1):
        raise ParameterError(f"the q range q1 = {q1} … q2 = {q2} must satisfy 0 ≤ q1 ≤ q2")
    n = round((q2 - q1) / qs) + 1
    if n > MAX_RINGS:
        raise ParameterError(f"q1 = {q1} … q2 = {q2} in steps of qs = {qs} gives {n} rings (at most {MAX_RINGS}): "
                             "check the q step")
    return q1 + np.arange(n, dtype=np.float64) * qs


@dataclass(frozen=True)
class Rings:
    """q rings of one detector geometry (spec §3.3).

    Attributes:
        q: ring centres [Å⁻¹], (nq,)
        dq: ring half-width [Å⁻¹]
        ptr, idx: CSR index lists; ``idx`` are flat row-major pixel indices (int64)
        shape: image shape (rows, cols)
    """

    q: np.ndarray
    dq: float
    ptr: np.ndarray
    idx: np.ndarray
    shape: tuple[int, int]

    @property
    def n_rings(self) -> int:
        return int(self.q.size)

    @property
    def npix(self) -> np.ndarray:
        """Valid pixels per ring, (nq,) int64."""
        return np.diff(self.ptr).astype(np.int64)

    def pixels(self, j: int) -> np.ndarray:
        """Flat pixel indices of ring ``j``."""
        return self.idx[self.ptr[j]:self.ptr[j + 1]]

    def masks(self) -> np.ndarray:
        """Boolean ring masks, (nq, rows, cols) (True = pixel in the ring)."""
        out = np.zeros((self.n_rings, self.shape[0] * self.shape[1]), dtype=bool)
        for j in range(self.n_rings):
            out[j, self.pixels(j)] = True
        return out.reshape(self.n_rings, *self.shape)


def make_rings(qmap: np.ndarray, valid: np.ndarray | None, q: np.ndarray, dq: float) -> Rings:
    """Ring j = valid pixels with ``q[j] − dq ≤ qmap ≤ q[j] + dq`` (both ends inclusive).

    ``valid`` is a boolean image (True = valid) or None (all valid). Invalid pixels are removed
    explicitly, so a ring reaching q = 0 stays correct (pyxsvs sets q = 0 on masked pixels
    instead)."""
    if not (dq > 0 and math.isfinite(dq)):
        raise ParameterError(f"the ring half-width dq = {dq} must be a positive number")
    flat_q = np.ascontiguousarray(qmap, dtype=np.float64).ravel()
    ok = np.ones(flat_q.size, dtype=bool) if valid is None else np.asarray(valid, dtype=bool).ravel()
    if ok.size != flat_q.size:
        raise ParameterError(f"the mask has {ok.size} pixels but the q map has {flat_q.size}")
    candidates = np.flatnonzero(ok)
    qc = flat_q[candidates]
    order = np.argsort(qc, kind="stable")
    q_sorted = qc[order]
    lists = []
    for qj in np.asarray(q, dtype=np.float64):
        lo = np.searchsorted(q_sorted, qj - dq, side="left")
        hi = np.searchsorted(q_sorted, qj + dq, side="right")
        lists.append(np.sort(candidates[order[lo:hi]]))
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(a) for a in lists])
    idx = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, dtype=np.int64)
    return Rings(np.asarray(q, dtype=np.float64), float(dq), ptr, idx, (int(qmap.shape[0]), int(qmap.shape[1])))


def ring_radii_px(q: np.ndarray, wavelength_A: float, pix_mm: float, sddist_mm: float) -> np.ndarray:
    """Radius [px] at which the q map reaches ``q`` [Å⁻¹] (inverse of :func:`q_of_radius`);
    used to draw ring boundaries. q beyond the backscattering limit 4π/λ gives NaN."""
    _check_geometry(wavelength_A, pix_mm, sddist_mm)
    s = np.asarray(q, dtype=np.float64) * wavelength_A / (4.0 * math.pi)
    with np.errstate(invalid="ignore"):
        two_theta = 2.0 * np.arcsin(s)
        r = np.tan(two_theta) * sddist_mm / pix_mm
    return np.where((s >= 0) & (s < math.sqrt(0.5)), r, np.nan)


def _check_geometry(wavelength_A: float, pix_mm: float, sddist_mm: float) -> None:
    for name, value in (("wavelength", wavelength_A), ("pixel size", pix_mm), ("sample–detector distance", sddist_mm)):
        if not (value > 0 and math.isfinite(value)):
            raise ParameterError(f"the {name} must be a positive number, not {value}")
