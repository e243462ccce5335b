"""Shot pairing in bounded memory (no (n, n, k) difference array) with a cancel check, and the
same pairs as the former argsort-based greedy pass."""

import tracemalloc

import numpy as np
import pytest

from owlx.core.shot_pairing import pair_fits
from owlx.errors import JobCancelled


def former_greedy(f):
    """The former implementation: full differences, per-row stable argsort preferences."""
    f = np.asarray(f, dtype=np.float64).reshape(len(f), -1)
    diff = f[:, None, :] - f[None, :, :]
    d = np.sqrt((diff * diff).sum(axis=-1))
    n = len(d)
    shifted = d.copy()
    shifted[np.arange(n), np.arange(n)] += 1.1 * d.max(axis=1)
    prefs = np.argsort(shifted, axis=1, kind="stable")
    used = np.zeros(n, bool)
    pairs = []
    for i in range(n):
        if not used[i]:
            for j in prefs[i]:
                if j != i and not used[j]:
                    used[i] = used[j] = True
                    pairs.append((min(i, j), max(i, j)))
                    break
    return np.array(pairs).reshape(-1, 2), np.array([d[i, j] for i, j in pairs])


@pytest.mark.parametrize("n, k, seed", [(40, 3, 0), (41, 1, 1), (30, 2, 2), (25, 10, 3)])
def test_greedy_pairs_equal_the_former_implementation(n, k, seed):
    rng = np.random.default_rng(seed)
    # small integers: many exactly equal distances, so the tie-break (lowest index) is exercised
    f = rng.integers(0, 4, (n, k)).astype(float) if seed != 3 else rng.normal(size=(n, k))
    pairs, dists = pair_fits(f)
    old_pairs, old_dists = former_greedy(f)
    np.testing.assert_array_equal(pairs, old_pairs)
    np.testing.assert_allclose(dists, old_dists, rtol=1e-14, atol=0)
    same = np.zeros((6, 2))  # all alike: index order, 0–1, 2–3, 4–5
    assert pair_fits(same)[0].tolist() == [[0, 1], [2, 3], [4, 5]]


def test_two_thousand_shots_in_bounded_memory():
    f = np.random.default_rng(7).normal(size=(2000, 10))
    calls = []
    tracemalloc.start()
    try:
        pairs, dists = pair_fits(f, check=lambda: calls.append(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the (n, n) distances are 32 MB; the former (n, n, k) differences alone were 320 MB
    assert peak < 100e6, peak / 1e6
    assert pairs.shape == (1000, 2) and sorted(pairs.ravel().tolist()) == list(range(2000))
    assert len(calls) == 1000  # once per greedy row that takes a partner
    i, j = pairs[0]
    assert i == 0 and dists[0] == pytest.approx(np.linalg.norm(f[0] - f[j]), rel=1e-12)
    assert dists[0] == pytest.approx(np.min(np.linalg.norm(f[1:] - f[0], axis=1)), rel=1e-12)


@pytest.mark.parametrize("method, n", [("greedy", 50), ("optimal", 12), ("optimal", 30)])
def test_check_cancels_the_pairing(method, n):
    f = np.random.default_rng(1).normal(size=(n, 3))
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3 or method == "optimal":
            raise JobCancelled("cancelled")

    with pytest.raises(JobCancelled):
        pair_fits(f, method, check=check)
    assert len(calls) == (3 if method == "greedy" else 1)
    assert pair_fits(f, method, check=lambda: None)[0].shape == (n // 2, 2)
