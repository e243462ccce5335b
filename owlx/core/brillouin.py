"""Brillouin zones of a single-crystal diffraction pattern (spec/peaks.md §6).

The zones are the Voronoi cells (``scipy.spatial.Voronoi``) of the pattern centre and the Bragg
peaks: each cell holds the points of the detector closer to its peak than to any other, i.e. the
Brillouin zone around that reciprocal-lattice vector, as seen on the detector.

All coordinates are (row, col) px, 0-based, pixel centres at integers. Masks are True = valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import Voronoi

from owlx.errors import ParameterError

__all__ = ["BrillouinZones", "brillouin_zones", "refine_peaks"]


@dataclass
class BrillouinZones:
    """The visible Brillouin zones of a pattern.

    ``center`` (row, col) px; ``peaks`` (N, 2) the peaks used (after refinement);
    ``zone_centres`` (M, 2) the lattice point of each visible zone (the centre is one of them
    when its zone is visible); ``zones`` M arrays (k, 2) of vertices (row, col), ordered around
    their zone; ``areas`` (M,) px² (shoelace); ``consistency`` = 1 − std(areas)/mean(areas)
    (1 for a perfect lattice, NaN without visible zones).
    """

    center: np.ndarray
    peaks: np.ndarray
    zone_centres: np.ndarray
    zones: list[np.ndarray]
    areas: np.ndarray
    consistency: float

    def equivalent_vectors(self, q) -> np.ndarray:
        """The reduced wave vector ``q`` (row, col) px, taken from a zone's lattice point, in
        every visible zone: ``zone_centres + q`` (M, 2)."""
        q = np.asarray(q, dtype=float).reshape(2)
        return self.zone_centres + q


def refine_peaks(image, peaks, radius: float, mask=None) -> np.ndarray:
    """Each peak moved to the brightest valid pixel within ``radius`` px of it (a peak with no
    valid pixel in its disk stays where it is). Returns float (N, 2) (row, col)."""
    img = np.asarray(image, dtype=float)
    valid = np.ones(img.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.array(peaks, dtype=float).reshape(-1, 2)
    r = int(np.ceil(radius))
    dr, dc = np.mgrid[-r:r + 1, -r:r + 1]
    disk = dr**2 + dc**2 <= radius**2
    dr, dc = dr[disk], dc[disk]
    for k, (pr, pc) in enumerate(np.rint(out).astype(int)):
        rr, cc = pr + dr, pc + dc
        inside = (rr >= 0) & (rr < img.shape[0]) & (cc >= 0) & (cc < img.shape[1])
        rr, cc = rr[inside], cc[inside]
        ok = valid[rr, cc] & np.isfinite(img[rr, cc])
        if ok.any():
            best = np.argmax(np.where(ok, img[rr, cc], -np.inf))
            out[k] = rr[best], cc[best]
    return out


def _shoelace(vertices: np.ndarray) -> float:
    r, c = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(float(np.dot(r, np.roll(c, -1)) - np.dot(c, np.roll(r, -1))))


def brillouin_zones(image, mask, peaks, center=None, optimization_radius: float | None = None,
                    symmetry: int | None = None) -> BrillouinZones:
    """Visible Brillouin zones from the Voronoi diagram of ``[center] + peaks``.

    Args:
        image: 2-D pattern (used for the default centre and the peak refinement).
        mask: validity (True = valid) or None.
        peaks: (N, 2) Bragg peaks (row, col) px, e.g. from ``bragg_peaks``.
        center: pattern centre (row, col); default ``autocenter(image, mask)``.
        optimization_radius: first move each peak to the intensity maximum within this radius (px).
        symmetry: keep only zones with exactly this many vertices (e.g. 6 for hexagonal).

    A zone is visible when its Voronoi region is finite and all its vertices lie within
    ``0.49 · nrows`` px of the centre (spec §6, as scikit-ued).
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ParameterError(f"brillouin_zones needs a 2-D image, got shape {img.shape}")
    pts = np.asarray(peaks, dtype=float).reshape(-1, 2)
    if center is None:
        from .autocenter import autocenter

        center = autocenter(img, mask)
    center = np.asarray(center, dtype=float).reshape(2)
    if optimization_radius:
        pts = refine_peaks(img, pts, float(optimization_radius), mask)
    sites = np.vstack([center, pts])
    if len(np.unique(np.round(sites, 6), axis=0)) < 4:
        raise ParameterError("brillouin_zones needs at least 3 distinct peaks besides the centre")
    vor = Voronoi(sites)
    limit = 0.49 * img.shape[0]
    centres, zones, areas = [], [], []
    for site, region_index in enumerate(vor.point_region):
        region = vor.regions[region_index]
        if not region or -1 in region:
            continue  # unbounded cell: not a whole zone
        verts = vor.vertices[region]
        if np.any(np.hypot(*(verts - center).T) > limit):
            continue
        if symmetry is not None and len(verts) != int(symmetry):
            continue
        angles = np.arctan2(verts[:, 0] - sites[site, 0], verts[:, 1] - sites[site, 1])
        verts = verts[np.argsort(angles)]
        centres.append(sites[site])
        zones.append(verts)
        areas.append(_shoelace(verts))
    areas = np.asarray(areas, dtype=float)
    consistency = float(1.0 - areas.std() / areas.mean()) if areas.size and areas.mean() > 0 else float("nan")
    return BrillouinZones(center, pts, np.asarray(centres, dtype=float).reshape(-1, 2), zones, areas, consistency)
