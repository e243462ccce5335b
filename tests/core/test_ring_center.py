"""Beam centre from a ring: spec/polar.md §2 and acceptance checks §11.2 (ring fit), §11.3 (grid scan)."""

import threading
import warnings

import numpy as np
import pytest
from polar_data import loki_image

from owlx.core.ring_center import _select, fit_circle, fit_ring_center
from owlx.core.ring_scan import scan_ring_center
from owlx.errors import JobCancelled, ParameterError

TRUE = (151.3, 148.7, 60.0)
START = (150, 150, 58)


def synthetic_ring(seed, shape=(300, 300)):
    """§2.3: Poisson, mean 2 + 20·exp(−(r − 60)²/(2·1.5²)) around (151.3, 148.7)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(xx - TRUE[0], yy - TRUE[1])
    return rng.poisson(2 + 20 * np.exp(-((r - TRUE[2]) ** 2) / (2 * 1.5**2))).astype(np.float64)


def test_ring_fit_recovers_the_noisy_ring_within_a_tenth_of_a_pixel():
    errors = []
    for seed in range(20):
        fit = fit_ring_center(synthetic_ring(seed), START, ring_width=20, n_points=1000)
        errors.append(max(abs(fit.x - TRUE[0]), abs(fit.y - TRUE[1]), abs(fit.r - TRUE[2])))
        assert fit.n_used == 1000 and fit.flags == ()
    assert max(errors) < 0.1
    assert max(errors) > 0.005  # noisy data: a fit that ignored the pixels would not land this close by chance


def test_ring_fit_equals_an_implicit_odr_fit_of_the_same_points():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        odr = pytest.importorskip("scipy.odr")
    img = synthetic_ring(3)
    xs, ys, _ = _select(img, None, *START, 20.0, 1000, 0)
    model = odr.Model(lambda b, x: (x[0] - b[0]) ** 2 + (x[1] - b[1]) ** 2 - b[2] ** 2, implicit=True)
    ref = odr.ODR(odr.Data(np.vstack([xs, ys]), y=1), model, beta0=list(START)).run().beta
    fit = fit_ring_center(img, START, 20, 1000)
    np.testing.assert_allclose([fit.x, fit.y, fit.r], ref, atol=1e-5)
    a, b, r, res = fit_circle(xs, ys)
    assert res == pytest.approx(np.sum((np.hypot(xs - a, ys - b) - r) ** 2))
    assert fit.residual == pytest.approx(res)


def test_too_many_points_are_flagged_and_pull_the_centre():
    img = synthetic_ring(0)
    fit = fit_ring_center(img, START, 20, 5000)
    assert "n_points_exceeds_ring" in fit.flags
    assert np.hypot(fit.x - TRUE[0], fit.y - TRUE[1]) > 0.2  # background pixels drag it towards the start


def test_mask_and_hot_pixels():
    img = synthetic_ring(1)
    hot = img.copy()
    hot[10, 10] = hot[150, 92] = 1e6  # one far away, one inside the annulus
    fit_hot = fit_ring_center(hot, START, 20, 1000)
    assert abs(fit_hot.mean_intensity - fit_ring_center(img, START, 20, 1000).mean_intensity) > 100
    dropped = fit_ring_center(hot, START, 20, 1000, drop_brightest=1)
    mask = np.ones(img.shape, bool)
    mask[150, 92] = False
    masked = fit_ring_center(hot, START, 20, 1000, mask=mask)
    assert dropped.mean_intensity < 30 and masked.mean_intensity < 30
    assert abs(dropped.x - TRUE[0]) < 0.1 and abs(masked.x - TRUE[0]) < 0.1


def test_point_count_halves_when_the_annulus_is_too_small():
    img = np.zeros((50, 50))
    yy, xx = np.mgrid[:50, :50]
    img[np.abs(np.hypot(xx - 25, yy - 24) - 10) < 0.7] = 5.0
    n_lit = int(np.count_nonzero(img))
    fit = fit_ring_center(img, (25, 24, 10), 6, 10_000)
    assert fit.n_used == n_lit // 2
    with pytest.raises(ParameterError):
        fit_ring_center(np.zeros((50, 50)), (25, 24, 10), 6, 100)


def test_iterations_recentre_the_annulus():
    img = synthetic_ring(2)
    once = fit_ring_center(img, (146, 153, 58), 8, 600)
    twice = fit_ring_center(img, (146, 153, 58), 8, 600, iterations=3)
    err = lambda f: np.hypot(f.x - TRUE[0], f.y - TRUE[1])
    assert err(twice) < 0.1 < err(once)


def test_grid_scan_reproduces_the_loki_example():
    img, mask = loki_image()
    ny, nx = img.shape
    start = (2 + nx / 2, 1 + ny / 2, 16)
    assert start == (152, 151, 16)
    for kw in ({}, {"mask": mask}):
        res = scan_ring_center(img, start, ring_scan_width=4, center_scan_width=4, resolution=0.1, **kw)
        assert (res.x, res.y, res.r) == (pytest.approx(150.0, abs=1e-3), pytest.approx(149.923, abs=1e-3), 16)
        assert res.at_scan_edge


def test_grid_scan_interior_winner_and_cancel():
    img = synthetic_ring(5, shape=(200, 200))
    res = scan_ring_center(img, (151, 149, 60), 6, 4, 0.5)
    assert not res.at_scan_edge
    assert abs(res.x - TRUE[0]) <= 0.6 and abs(res.y - TRUE[1]) <= 0.6 and abs(res.r - 60) <= 1
    stop = threading.Event()
    stop.set()
    with pytest.raises(JobCancelled):
        scan_ring_center(img, (151, 149, 60), 6, 4, 0.5, cancel=stop)
