"""Registration accuracy on synthetic drift stacks (spec/fibsem.md §14, acceptance check 10).

16 frames of 256² texture (the spec's 1024² scaled down to keep the test fast), random-walk drift
N(0, 1.2 px) per step, white noise σₙ = 0.3; the default chain: CDF 8-bit conversion, SIFT,
FLANN, ratio 0.7, RANSAC with drmax 1.5 and 1000 trials.
"""

import numpy as np
import pytest
from fibsem_synthetic import drift_stack

from owlx.core.fibsem_features import SiftSettings, detect_keypoints, match_keypoints
from owlx.core.fibsem_range import get_min_max_thresholds, stack_range, to_uint8
from owlx.core.fibsem_register import PostSettings, postprocess
from owlx.core.fibsem_transforms import FitSettings, fit_pair

SIZE = 256
CENTRE = np.array([(SIZE - 1) / 2, (SIZE - 1) / 2, 1.0])


def keypoints(frames, preset):
    mm = np.array([get_min_max_thresholds(f) for f in frames])
    lo, hi = stack_range(mm[:, 0], mm[:, 1])
    return [detect_keypoints(to_uint8(f, a, b), SiftSettings(preset)) for f, a, b in zip(frames, lo, hi)]


def fitted_steps(kps, model):
    fits = [fit_pair(j, *match_keypoints(kps[j], kps[j + 1], "flann"), FitSettings(model=model), seed=0)
            for j in range(len(kps) - 1)]
    assert all(f.ok for f in fits)
    return fits, np.array([f.matrix for f in fits])


@pytest.fixture(scope="module")
def drift():
    return drift_stack(16, (SIZE, SIZE), sigma=1.2, noise=0.3, seed=0)


@pytest.fixture(scope="module")
def drift_keypoints(drift):
    cache = {}

    def get(preset):
        if preset not in cache:
            cache[preset] = keypoints(drift[0], preset)
        return cache[preset]

    return get


@pytest.mark.parametrize("preset", ["reference", "fast"])
def test_shift_steps_and_cumulative_error(drift, drift_keypoints, preset):
    _, truth = drift
    assert np.abs(truth[:, :2, 2]).max() > 1.5  # a real random walk
    fits, est = fitted_steps(drift_keypoints(preset), "Shift")
    err = est[:, :2, 2] - truth[:, :2, 2]
    rms = np.sqrt((err ** 2).sum(axis=1).mean())
    assert rms < 0.05
    assert np.abs(np.cumsum(err, axis=0)).max() < 0.2  # after 15 steps
    reg = postprocess(range(16), fits, PostSettings(preserve_scales=False, subtract_linear_fit=(False, False)))
    np.testing.assert_allclose(reg.shifts[1:], np.cumsum(est[:, :2, 2], axis=0), atol=1e-12)


def test_regularized_affine_centre_displacement(drift, drift_keypoints):
    _, truth = drift
    _, est = fitted_steps(drift_keypoints("reference"), "RegularizedAffine")
    err = (est @ CENTRE - truth @ CENTRE)[:, :2]
    assert np.abs(err).max() < 0.05


def test_affine_scale_ramp_is_recovered():
    size = 384  # scales need more keypoints than shifts: 384² with the fast preset
    c = (size - 1) / 2
    centre = np.array([c, c, 1.0])
    about_centre = np.array([[1, 0, c], [0, 1, c], [0, 0, 1.0]])
    a = np.array([[1.002, 1e-3, 0.4], [-1e-3, 0.998, -0.3], [0, 0, 1]])
    step = about_centre @ a @ np.linalg.inv(about_centre)
    frames, truth = drift_stack(8, (size, size), noise=0.3, seed=4, steps=np.repeat(step[None], 7, axis=0))
    fits, est = fitted_steps(keypoints(frames, "fast"), "Affine")
    assert np.abs(est[:, :2, :2] - truth[:, :2, :2]).max() < 5e-4  # the step deviates 2e-3 from identity
    assert np.abs(est[:, 0, 0].mean() - 1.002) < 1.5e-4 and np.abs(est[:, 1, 1].mean() - 0.998) < 1.5e-4
    assert np.abs((est @ centre - truth @ centre)[:, :2]).max() < 0.1
    reg = postprocess(range(8), fits, PostSettings(preserve_scales=False, subtract_linear_fit=(False, False)))
    assert reg.scales[-1, 0] == pytest.approx(1.002 ** 7, abs=1e-3)  # the ramp of the cumulative scale
    assert reg.scales[-1, 1] == pytest.approx(0.998 ** 7, abs=1e-3)
    kept = postprocess(range(8), fits, PostSettings(scale_fit=("LF",), subtract_linear_fit=(False, False)))
    assert np.abs(kept.scales - 1).max() < 1e-3  # preserve_scales removes the ramp
