"""Peaks by topological persistence: 0-th persistent homology of the super-level sets (spec/peaks.md §5).

After Huber, "Persistent Homology in Data Science" (Data Science – Analytics and Applications,
Springer 2021) and Edelsbrunner & Harer, *Computational Topology* (AMS 2010), as used by
scikit-ued's ``bragg_peaks_persistence``. Pixels are visited from the highest value down (ties in
ascending raster order). A pixel with no visited 8-neighbour starts a component, born at its
value. A pixel touching several components merges them: all but the oldest (highest birth) die at
the current value, with persistence = birth − death. The component of the global maximum never
dies; by the reference's convention its death is 0, so its persistence is its value.

A peak's *prominence* here is its persistence. Union–find with path halving runs in numba; the
sort is O(N log N) and the merges effectively O(N).

Positions are (row, col). The reference returns ``[col, row]`` despite its docstring (and sorts
those by distance to a (row, col) centre); ``skued_compat=True`` returns ``[col, row]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from owlx.errors import ParameterError

__all__ = ["PersistencePeaks", "bragg_peaks_persistence", "persistence_classes"]


@njit(cache=True, nogil=True)
def _find(parent, p):  # pragma: no cover - numba
    while parent[p] != p:
        parent[p] = parent[parent[p]]
        p = parent[p]
    return p


@njit(cache=True, nogil=True)
def _filtration(values, order, nrows, ncols, active):  # pragma: no cover - numba
    """(birth pixel, birth value, death value, death pixel) per component, in order of death
    (survivors last, death value 0 and death pixel −1)."""
    n = values.size
    parent = np.full(n, -1, dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    birth = np.empty(n, dtype=np.int64)
    death_px = np.empty(n, dtype=np.int64)
    death_val = np.empty(n, dtype=values.dtype)
    count = 0
    roots = np.empty(8, dtype=np.int64)
    for k in range(order.size):
        p = order[k]
        if not active[p]:
            continue
        rank[p] = k
        parent[p] = p
        r, c = p // ncols, p % ncols
        nroots = 0
        oldest = -1
        for dr in range(-1, 2):
            rr = r + dr
            if rr < 0 or rr >= nrows:
                continue
            for dc in range(-1, 2):
                cc = c + dc
                if (dr == 0 and dc == 0) or cc < 0 or cc >= ncols:
                    continue
                q = rr * ncols + cc
                if parent[q] < 0:
                    continue
                root = _find(parent, q)
                dup = False
                for t in range(nroots):
                    if roots[t] == root:
                        dup = True
                        break
                if dup:
                    continue
                roots[nroots] = root
                nroots += 1
                if oldest < 0 or rank[root] < rank[oldest]:
                    oldest = root
        if nroots == 0:
            continue
        parent[p] = oldest
        for t in range(nroots):
            root = roots[t]
            if root != oldest:
                birth[count] = root
                death_val[count] = values[p]
                death_px[count] = p
                count += 1
                parent[root] = oldest
    # survivors: roots of the remaining components (the global maximum among them)
    for k in range(order.size):
        p = order[k]
        if active[p] and parent[p] == p:
            birth[count] = p
            death_val[count] = 0
            death_px[count] = -1
            count += 1
    return birth[:count], death_val[:count], death_px[:count]


class PersistenceClasses(NamedTuple):
    """Every component of the filtration, by persistence (descending)."""

    birth_index: np.ndarray  # flat pixel index of the birth (the component's maximum)
    birth: np.ndarray  # birth value
    death: np.ndarray  # death value (0 for components that never die)
    persistence: np.ndarray  # birth − death
    death_index: np.ndarray  # flat pixel index of the merge (−1 for survivors)


def persistence_classes(image, mask=None, mask_filtration: bool = False) -> PersistenceClasses:
    """All 0-th homology classes of the super-level-set filtration of ``image``, by persistence.

    ``mask_filtration=True`` leaves invalid pixels (mask False) out of the filtration; by default
    they take part, as in the reference."""
    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise ParameterError(f"persistence needs a non-empty 2-D image, got shape {img.shape}")
    values = np.ascontiguousarray(img, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ParameterError("the image has NaN or inf values: replace them (e.g. by the minimum) first")
    if mask_filtration and mask is not None:
        active = np.ascontiguousarray(mask, dtype=np.bool_).reshape(-1)
    else:
        active = np.ones(values.size, dtype=np.bool_)
    order = np.argsort(-values, kind="stable")
    b, dval, dpx = _filtration(values, order, img.shape[0], img.shape[1], active)
    bval = values[b]
    pers = bval - dval
    by = np.argsort(-pers, kind="stable")
    return PersistenceClasses(b[by], bval[by], dval[by], pers[by], dpx[by])


class PersistencePeaks(NamedTuple):
    """Peaks of :func:`bragg_peaks_persistence`, nearest the centre first."""

    peaks: np.ndarray  # (N, 2) int (row, col) of each birth pixel ([col, row] with skued_compat)
    birth_death: np.ndarray  # (N, 2) [birth value, death value]
    birth_indices: np.ndarray  # (N,) index of each peak in the persistence-sorted list of all classes
    persistence: np.ndarray  # (N,) birth − death


def _close_later(points: np.ndarray, min_dist) -> np.ndarray:
    """True for each point that has an earlier point closer than min_dist (scalar: distance
    < min_dist; (row, col) pair: |Δrow| ≤ min_dist[0] and |Δcol| ≤ min_dist[1])."""
    drop = np.zeros(len(points), dtype=bool)
    if len(points) < 2:
        return drop
    md = np.asarray(min_dist, dtype=float)
    if md.ndim == 0:
        pairs = cKDTree(points).query_pairs(np.nextafter(float(md), 0), output_type="ndarray")
    elif md.shape == (2,):
        scaled = points / np.where(md > 0, md, 1e-12)
        pairs = cKDTree(np.nan_to_num(scaled)).query_pairs(1.0, p=np.inf, output_type="ndarray")
    else:
        raise ParameterError(f"min_dist must be a number or a (row, col) pair, got {min_dist!r}")
    if len(pairs):
        drop[pairs.max(axis=1)] = True
    return drop


def bragg_peaks_persistence(image, mask=None, center=None, min_dist=None, bd_threshold: float = 0.0,
                            prominence: float = 0.0, mask_filtration: bool = False,
                            skued_compat: bool = False) -> PersistencePeaks:
    """Peaks of ``image`` whose persistence (prominence) exceeds ``prominence``.

    Args:
        image: 2-D pattern. mask: validity (True = valid); peaks born at invalid pixels are
            dropped. mask_filtration: also leave invalid pixels out of the filtration.
        center: (row, col) for the final sort; default :func:`owlx.core.autocenter.autocenter`.
        min_dist: drop the later (less persistent) of two peaks closer than this: a distance in
            px, or a (row, col) pair of per-axis limits.
        bd_threshold: when non-zero, also require birth − death ≥ bd_threshold.
        prominence: keep peaks with persistence > prominence.
        skued_compat: return positions as [col, row] like scikit-ued 2.2.1.
    """
    img = np.asarray(image)
    valid = None if mask is None else np.asarray(mask, dtype=bool)
    if valid is not None and valid.shape != img.shape:
        raise ParameterError(f"the mask has shape {valid.shape}, the image {img.shape}: they must match")
    classes = persistence_classes(img, valid, mask_filtration)
    keep = classes.persistence > float(prominence)
    if bd_threshold:
        keep &= classes.persistence >= float(bd_threshold)
    idx = np.flatnonzero(keep)
    rc = np.stack(np.divmod(classes.birth_index[idx], img.shape[1]), axis=1)
    if min_dist is not None:
        ok = ~_close_later(rc.astype(float), min_dist)
        idx, rc = idx[ok], rc[ok]
    if valid is not None:
        ok = valid[rc[:, 0], rc[:, 1]]
        idx, rc = idx[ok], rc[ok]
    if center is None:
        from .autocenter import autocenter

        center = autocenter(img, valid)
    centre = np.asarray(center, dtype=float).reshape(2)
    order = np.argsort(np.hypot(*(rc - centre).T), kind="stable")
    idx, rc = idx[order], rc[order]
    peaks = rc[:, ::-1].copy() if skued_compat else rc
    birth_death = np.stack([classes.birth[idx], classes.death[idx]], axis=1)
    return PersistencePeaks(peaks.reshape(-1, 2), birth_death.reshape(-1, 2), idx, classes.persistence[idx])
