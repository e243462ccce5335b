"""Evaluation boxes (spec/fibsem.md §10.1): the sliding box interpolated from a start to a stop
box over the output slices, and boxes that follow the content of a registered stack."""

import numpy as np
import pytest

from owlx.core.fibsem_register import cumulate
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_warp import (
    Canvas,
    canvas_for,
    full_box,
    moving_boxes,
    sliding_boxes,
)
from owlx.errors import ParameterError


def shift(dx, dy):
    return np.array([[1.0, 0, dx], [0, 1.0, dy], [0, 0, 1]])


def test_sliding_box_first_middle_last_slice():
    start, stop = (10, 40, 20, 50), (30, 60, 0, 50)  # [top, height, left, width]
    boxes = sliding_boxes(start, stop, 5, (100, 100))
    assert boxes[0].tolist() == [10, 40, 20, 50]
    assert boxes[2].tolist() == [20, 50, 10, 50]  # middle slice: halfway
    assert boxes[4].tolist() == [30, 60, 0, 50]
    # integer interpolation start + (stop − start)·k // (n − 1), floored as in the reference
    boxes = sliding_boxes(start, stop, 4, (100, 100))
    assert boxes[1].tolist() == [16, 46, 13, 50] and boxes[2].tolist() == [23, 53, 6, 50]
    assert boxes[-1].tolist() == list(stop)
    assert sliding_boxes(start, stop, 1, (100, 100)).tolist() == [list(start)]


def test_zero_means_full_extent_before_interpolating():
    assert full_box((20, 0, 10, 0), (100, 80)) == (20, 80, 10, 70)
    boxes = sliding_boxes((0, 0, 0, 0), (20, 0, 10, 0), 3, (100, 80))
    assert boxes.tolist() == [[0, 100, 0, 80], [10, 90, 5, 75], [20, 80, 10, 70]]


def test_sliding_boxes_follow_the_content():
    boxes = sliding_boxes((10, 20, 10, 30), (40, 20, 30, 30), 6, (100, 100))
    identity = np.repeat(np.eye(3)[None], 6, axis=0)
    assert np.array_equal(moving_boxes(identity, Canvas((100, 100), 0, 0), boxes, (100, 100)), boxes)
    cum = cumulate([shift(2.0, -3.0)] * 5)  # frame k shows the output at (x + 2k, y − 3k)
    canvas = canvas_for(cum, (100, 100))
    got = moving_boxes(cum, canvas, boxes, (100, 100))
    k = np.arange(6)
    # the corner (left, top) in frame k sits at output (left − 2k + xi, top + 3k + yi)
    assert got[:, 0].tolist() == (boxes[:, 0] + 3 * k + canvas.yi).tolist()
    assert got[:, 2].tolist() == (boxes[:, 2] - 2 * k + canvas.xi).tolist()
    assert np.array_equal(got[:, [1, 3]], boxes[:, [1, 3]])
    # one fixed box is the same as that box repeated
    assert np.array_equal(moving_boxes(cum, canvas, boxes[0], (100, 100)),
                          moving_boxes(cum, canvas, np.tile(boxes[0], (6, 1)), (100, 100)))
    with pytest.raises(ParameterError, match="6 slices need 6 evaluation boxes"):
        moving_boxes(cum, canvas, boxes[:3], (100, 100))


def test_sliding_box_settings():
    s = RegistrationSettings(sliding_evaluation_box=True, start_evaluation_box=(1, 2, 3, 4),
                             stop_evaluation_box=(5, 6, 7, 8))
    assert RegistrationSettings.from_dict(s.to_dict()) == s
    with pytest.raises(ParameterError, match="stop_evaluation_box"):
        RegistrationSettings(stop_evaluation_box=(1, 2, 3))
