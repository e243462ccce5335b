"""Pairing shots by fit distance: spec/polar.md §7 and acceptance check §11.7."""

import itertools

import numpy as np
import pytest
from polar_data import bragg_rings

from owlx.core.ring_cleaning import fit_periodic
from owlx.core.shot_pairing import pair_fits
from owlx.errors import ParameterError


def test_greedy_toy_cases():
    pairs, dists = pair_fits([[0], [1], [10], [11.5]])
    assert pairs.tolist() == [[0, 1], [2, 3]] and dists.tolist() == [1.0, 1.5]
    pairs, dists = pair_fits([[0], [1], [1.5]])
    assert pairs.tolist() == [[0, 1]] and dists.tolist() == [1.0]


def test_greedy_and_optimal_differ_where_the_spec_says():
    pairs, dists = pair_fits([[5], [0], [6], [11]])
    assert pairs.tolist() == [[0, 2], [1, 3]] and dists.tolist() == [1, 11]
    pairs, dists = pair_fits([[5], [0], [6], [11]], method="optimal")
    assert pairs.tolist() == [[0, 1], [2, 3]] and dists.tolist() == [5, 5]


def brute_force_best(d):
    n = len(d)
    best = np.inf
    for perm in itertools.permutations(range(n)):
        used = perm[: n - n % 2]
        total = sum(d[used[k], used[k + 1]] for k in range(0, len(used), 2))
        best = min(best, total)
    return best


@pytest.mark.parametrize("n", [6, 7])
def test_optimal_matches_brute_force(n):
    f = np.random.default_rng(n).normal(size=(n, 3))
    d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
    pairs, dists = pair_fits(f, method="optimal")
    assert len(pairs) == n // 2 and len(set(pairs.ravel())) == 2 * (n // 2)
    assert dists.sum() == pytest.approx(brute_force_best(d))
    assert dists.sum() <= pair_fits(f)[1].sum() + 1e-12


def test_pairing_of_the_bragg_rows():
    rings, mask = bragg_rings()
    features = np.stack([fit_periodic(r.astype(float), mask, 15, 0.2).cheb_raw for r in rings])
    pairs, dists = pair_fits(features)
    assert pairs.shape == (7, 2) and sorted(pairs.ravel().tolist()) == list(range(14))
    assert np.all(pairs[:, 0] < pairs[:, 1]) and np.all(np.diff(pairs[:, 0]) > 0)
    assert np.all(dists > 0)


def test_bad_input():
    with pytest.raises(ParameterError):
        pair_fits([[0], [np.nan]])
    with pytest.raises(ParameterError):
        pair_fits([[0], [1]], method="roommates")
    assert pair_fits([[1.0]])[0].shape == (0, 2)


@pytest.mark.parametrize("n", [15, 18, 19])
def test_the_integer_programme_agrees_with_the_subset_dynamic_programme(n):
    """Above MAX_DP shots the matching is an integer programme: on sizes both can solve, both
    must find the same least total (for odd N, with the best shot left out)."""
    from owlx.core.shot_pairing import _matching_dp, _matching_milp

    f = np.random.default_rng(n).normal(size=(n, 4))
    d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
    totals = []
    for solve in (_matching_dp, _matching_milp):
        partner = solve(d, n % 2 == 1)
        paired = partner >= 0
        assert paired.sum() == n - n % 2 and np.all(partner[partner[paired]] == np.flatnonzero(paired))
        totals.append(sum(d[i, partner[i]] for i in range(n) if partner[i] > i))
    assert totals[0] == pytest.approx(totals[1], rel=1e-9)


def test_optimal_pairing_beyond_the_subset_limit():
    f = np.random.default_rng(3).normal(size=(61, 5))
    pairs, dists = pair_fits(f, method="optimal")
    assert pairs.shape == (30, 2) and len(set(pairs.ravel())) == 60
    assert np.all(pairs[:, 0] < pairs[:, 1]) and np.all(np.diff(pairs[:, 0]) > 0)
    assert dists.sum() < pair_fits(f)[1].sum()  # greedy leaves distance on the table here
    with pytest.raises(ParameterError, match="limited to 400"):
        pair_fits(np.zeros((401, 1)), method="optimal")
