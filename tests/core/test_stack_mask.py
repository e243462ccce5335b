"""Masks from a collection of frames, streaming (spec/peaks.md §10, acceptance §14.9)."""

import numpy as np
import pytest

from owlx.core.stack_mask import (
    CollectionMask,
    combine_masks,
    mask_from_collection,
    snr_from_collection,
)
from owlx.errors import ParameterError


def frames_with(value, at=(3, 4), k=2, n=5):
    frames = [np.ones((12, 15)) for _ in range(n)]
    frames[k] = frames[k].copy()
    frames[k][at] = value
    return frames


@pytest.mark.parametrize("value,kwargs", [
    (10.0, {"px_thresh": 9}),
    (-10.0, {"px_thresh": (0, np.inf)}),
    (1000.0, {"px_thresh": (0, np.inf), "std_thresh": 1.0}),
])
def test_each_case_invalidates_exactly_one_pixel(value, kwargs):
    frames = frames_with(value)
    valid = mask_from_collection(frames, **kwargs)  # True = valid
    assert (~valid).sum() == 1 and not valid[3, 4]
    streamed = mask_from_collection((f for f in frames), **kwargs)
    np.testing.assert_array_equal(streamed, valid)
    np.testing.assert_array_equal(mask_from_collection(np.stack(frames), **kwargs), valid)


def test_running_and_final_standard_deviation_differ():
    frames = [np.zeros((4, 4)) for _ in range(50)]
    frames[0] = frames[0].copy()
    frames[0][1, 1] = 10.0  # early spike: large running std after frame 2, small at the end
    assert not mask_from_collection(frames, px_thresh=np.inf, std_thresh=2.0)[1, 1]
    assert mask_from_collection(frames, px_thresh=np.inf, std_thresh=2.0, std_check="final")[1, 1]


def test_single_frame_statistics_and_combination():
    single = np.array([[1.0, 5.0], [np.nan, 2.0]])
    np.testing.assert_array_equal(mask_from_collection(single, px_thresh=(0, 4)), [[True, False], [False, True]])
    acc = CollectionMask(px_thresh=np.inf)
    for k in range(4):
        acc.add(np.full((2, 3), float(k)))
    np.testing.assert_allclose(acc.std(), np.std([0, 1, 2, 3]))
    snr = snr_from_collection([np.full((2, 2), 2.0), np.full((2, 2), 4.0)])
    np.testing.assert_allclose(snr, 3.0)
    a = np.array([True, True, False])
    np.testing.assert_array_equal(combine_masks(a, [True, False, True]), [True, False, False])
    with pytest.raises(ParameterError):
        mask_from_collection([])
    with pytest.raises(ParameterError):
        mask_from_collection([np.ones((2, 2)), np.ones((3, 3))])
