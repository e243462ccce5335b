"""Pairing of shots by the similarity of their ring fits (spec/polar.md §7, LOKI ``pair_fits``).

Difference correlations subtract two shots whose slowly varying ring profiles are alike, so the
pair's common (detector, beam, polarisation) modulation cancels. The feature vector of a shot
is usually the ``cheb_raw`` (or ``cheb_unit``) of :func:`owlx.core.ring_cleaning.fit_periodic`.

* ``method="greedy"`` (LOKI): shots in index order each take their nearest unused partner.
* ``method="optimal"``: the perfect matching of least total distance (for odd N the shot whose
  omission gives the least total stays out). Up to ``MAX_DP`` shots it is found by dynamic
  programming over subsets; beyond, as a 0/1 integer programme (one variable per pair, every
  shot in exactly one pair; for odd N a free "nobody" partner) solved exactly by HiGHS
  (``scipy.optimize.milp``): about 1 s for 200 shots, 8 s for 400 (``MAX_OPTIMAL``).

Memory: the (n, n) float64 distance matrix (``scipy.spatial.distance.cdist``; 32 MB for 2000
shots) and O(n) per greedy row, never an (n, n, k) difference array. ``check`` (optional, e.g.
a job's ``ctx.check``) is called between greedy rows and before an exact solve, so a long
pairing can be cancelled by raising from it.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial.distance import cdist

from owlx.errors import ParameterError

__all__ = ["MAX_OPTIMAL", "PAIR_METHODS", "pair_fits"]

PAIR_METHODS = ("greedy", "optimal")
MAX_DP = 20  # 2^20 subsets: the dynamic programme's limit
MAX_OPTIMAL = 400  # pairs grow as N²/2: beyond this the integer programme takes too long
MILP_TIME_LIMIT_S = 120.0


def _distances(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    if f.ndim != 2:
        raise ParameterError(f"features must have shape (n_shots, n_features), got {np.shape(features)}")
    if not np.all(np.isfinite(f)):
        raise ParameterError("the shot features contain NaN or inf; check the ring fits")
    # (n, n) only: broadcasting f[:, None] - f[None] would hold n²·k floats (1.4 GB at 3000 × 10)
    return cdist(f, f, "euclidean")


def _greedy(d: np.ndarray, check=None):
    """Shots in index order each take the nearest shot still free (ties: the lowest index, as a
    stable sort of the row would). One row at a time: O(n) memory besides ``d``."""
    n = d.shape[0]
    free = np.ones(n, bool)
    pairs, dists = [], []
    for i in range(n):
        if not free[i]:
            continue
        if check is not None:
            check()
        free[i] = False
        others = np.flatnonzero(free)
        if others.size == 0:  # odd n: the last free shot stays out
            break
        j = int(others[np.argmin(d[i, others])])  # argmin: the first (lowest index) of equal minima
        free[j] = False
        pairs.append((i, j))  # i < j: every shot below i is taken already
        dists.append(d[i, j])
    return pairs, dists


@numba.njit(cache=True, nogil=True)
def _matching_dp(d, odd):
    """Least total matching over subsets: best[s] covers exactly the shots of bit set s (for odd
    n, one shot of s may stay out). Returns the partner of each shot (−1: unpaired)."""
    n = d.shape[0]
    size = 1 << n
    best = np.full(size, np.inf)
    choice = np.full(size, -1, np.int64)  # partner of the lowest shot in s, or n = left out
    best[0] = 0.0
    for s in range(1, size):
        i = 0
        while not (s >> i) & 1:
            i += 1
        rest = s & ~(1 << i)
        pop = 0
        t = s
        while t:
            pop += t & 1
            t >>= 1
        if odd and pop % 2 == 1 and best[rest] < best[s]:
            best[s] = best[rest]
            choice[s] = n
        for j in range(i + 1, n):
            if (rest >> j) & 1:
                v = best[rest & ~(1 << j)] + d[i, j]
                if v < best[s]:
                    best[s] = v
                    choice[s] = j
    partner = np.full(n, -1, np.int64)
    s = size - 1
    while s:
        i = 0
        while not (s >> i) & 1:
            i += 1
        j = choice[s]
        if j == n:
            s &= ~(1 << i)
        else:
            partner[i] = j
            partner[j] = i
            s &= ~((1 << i) | (1 << j))
    return partner


def _matching_milp(d: np.ndarray, odd: bool) -> np.ndarray:
    """The least total matching as a 0/1 programme; returns the partner of each shot (−1:
    unpaired). For odd n an extra vertex joins at zero cost: its partner is the shot left out,
    so the optimum is the best matching over all choices of that shot."""
    n = d.shape[0]
    m = n + 1 if odd else n
    iu, ju = np.triu_indices(m, 1)
    cost = np.zeros(iu.size)
    real = ju < n
    cost[real] = d[iu[real], ju[real]]
    rows = np.concatenate([iu, ju])
    cols = np.concatenate([np.arange(iu.size)] * 2)
    degree = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(m, iu.size))
    res = milp(cost, constraints=LinearConstraint(degree, 1, 1), integrality=np.ones(iu.size),
               bounds=Bounds(0, 1), options={"time_limit": MILP_TIME_LIMIT_S})
    if res.status != 0 or res.x is None:
        raise ParameterError(f"optimal pairing of {n} shots did not finish ({res.message}); use 'greedy'")
    chosen = res.x > 0.5
    partner = np.full(n, -1, np.int64)
    for i, j in zip(iu[chosen], ju[chosen]):
        if j < n:
            partner[i], partner[j] = j, i
    return partner


def pair_fits(features: np.ndarray, method: str = "greedy", check=None) -> tuple[np.ndarray, np.ndarray]:
    """Pair shots by the Euclidean distance of their ``features`` (shape (n_shots, k)).

    Returns ``(pairs, dists)``: ``pairs`` (n_pairs, 2) int64 with i < j in each row, ordered by
    the first element; ``dists`` the distance of each pair. Even N pairs everyone; odd N leaves
    exactly one shot out. ``check`` (a callable or None) is called between greedy rows and
    before the exact solvers; whatever it raises (e.g. ``JobCancelled``) ends the pairing."""
    if method not in PAIR_METHODS:
        raise ParameterError(f"unknown pairing method '{method}'; use one of {', '.join(PAIR_METHODS)}")
    d = _distances(features)
    n = d.shape[0]
    if n < 2:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    if method == "greedy":
        pairs, dists = _greedy(d, check)
    else:
        if n > MAX_OPTIMAL:
            raise ParameterError(f"optimal pairing is limited to {MAX_OPTIMAL} shots (got {n}); use 'greedy'")
        if check is not None:
            check()  # the solvers cannot be interrupted: the last chance to cancel
        solve = _matching_dp if n <= MAX_DP else _matching_milp
        partner = solve(d, n % 2 == 1)
        pairs = [(i, int(partner[i])) for i in range(n) if partner[i] > i]
        dists = [d[i, j] for i, j in pairs]
    return np.asarray(pairs, np.int64).reshape(-1, 2), np.asarray(dists, np.float64)
