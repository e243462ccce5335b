"""Beam-centre finding on XSVS statics (spec/xsvs.md §8): autocenter with a block-spread
uncertainty and the sector-symmetry refinement, on synthetic speckle with a known centre."""

import math

import numpy as np
import pytest

from owlx.core.xsvs_center import find_centre
from owlx.core.xsvs_sectors import (
    refine_centre_sectors,
    sector_profiles,
    symmetry_residuals,
)
from owlx.errors import ParameterError

TRUE = (61.37, 66.72)  # (row, col), 0-based pixel centres
SHAPE = (128, 128)


def speckle_blocks(n_blocks=4, frames=10, seed=0, mean=4.0):
    """Block statics of gamma-Poisson speckle (M = 3 modes per pixel, new speckle every frame)
    on a SAXS-like profile (decay + a ring at r = 35 px) about TRUE, with a beam stop and its
    arm, a detector gap and 2 % dead pixels masked (valid = True)."""
    rng = np.random.default_rng(seed)
    rr, cc = np.indices(SHAPE, dtype=float)
    r = np.hypot(rr - TRUE[0], cc - TRUE[1])
    profile = mean * (np.exp(-r / 30.0) + 0.6 * np.exp(-0.5 * ((r - 35.0) / 4.0) ** 2) + 0.05)
    valid = np.ones(SHAPE, dtype=bool)
    valid[r < 6] = False  # beam stop
    valid[int(TRUE[0]):, 62:71] = False  # its arm, down from the beam (asymmetric, as on the example)
    valid[:, 100:103] = False  # a detector gap
    valid &= rng.random(SHAPE) > 0.02
    blocks = np.zeros((n_blocks, *SHAPE))
    for b in range(n_blocks):
        for _ in range(frames):
            blocks[b] += rng.poisson(profile * rng.gamma(3.0, 1 / 3.0, SHAPE))
    return blocks / frames, valid


@pytest.fixture(scope="module")
def data():
    return speckle_blocks()


def test_autocenter_finds_the_known_centre_with_an_honest_uncertainty(data):
    blocks, valid = data
    est = find_centre(blocks, valid)
    err = np.array([est.row0 - TRUE[0], est.col0 - TRUE[1]])
    assert np.all(np.abs(err) < 0.3), err
    assert est.method == "autocenter" and est.n_blocks == 4 and est.block_centres.shape == (4, 2)
    sigma = np.array([est.sigma_row, est.sigma_col])
    assert np.all((sigma > 0) & (sigma < 0.3))
    # σ is the standard error of the block centres
    assert sigma == pytest.approx(est.block_centres.std(axis=0, ddof=1) / 2.0, rel=1e-12)
    assert np.all(np.abs(err) < 5 * sigma + 0.05)  # consistent with the truth
    assert not est.count_limited
    assert "0-based" in est.describe()


def test_sector_refinement_converges_from_an_offset_start(data):
    blocks, valid = data
    static = blocks.mean(axis=0)
    start = np.array(TRUE) + (1.6, -1.2)
    centre, rms = refine_centre_sectors(static, valid, start, r_min=12, r_max=55)
    assert np.all(np.abs(centre - TRUE) < 0.3), centre - TRUE
    assert 0 < rms < 0.2
    est = find_centre(blocks, valid, refine_sectors=True, r_min=12, r_max=55)
    assert est.method == "autocenter+sectors" and math.isfinite(est.rms)
    assert abs(est.row0 - TRUE[0]) < 0.3 and abs(est.col0 - TRUE[1]) < 0.3
    assert 0 < est.sigma_row < 0.3 and 0 < est.sigma_col < 0.3


def test_sector_residuals_vanish_at_the_centre_of_a_symmetric_image():
    rr, cc = np.indices((101, 101), dtype=float)
    image = 100 * np.exp(-np.hypot(rr - 50, cc - 50) / 20)
    res = symmetry_residuals(image, None, (50.0, 50.0), 10, 40)
    assert res.size == 4 * 31 and np.abs(res).max() < 1e-12
    # assuming the centre 1 px left of the true one (col 49), the 45° sector (col > c0, up) lies
    # nearer the true centre than the 135° one, so it is brighter at every radius
    radii, mean, weight = sector_profiles(image, None, (50.0, 49.0), 10, 40)
    assert radii[0] == 10 and radii[-1] == 40
    assert np.all(mean[0] > mean[1]) and np.all(weight > 0.5)
    assert np.all(np.abs(symmetry_residuals(image, None, (50.0, 49.0), 10, 40)[:31]) > 0)


def test_centre_errors_a_user_can_fix(data):
    blocks, valid = data
    with pytest.raises(ParameterError, match="two frame blocks"):
        find_centre(blocks[:1], valid)
    with pytest.raises(ParameterError, match="too few valid pixels"):
        refine_centre_sectors(blocks[0], valid, TRUE, r_min=200, r_max=300)
