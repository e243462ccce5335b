"""The pixel peeper's block (viewer.md P3): exact values, edges, mask, sizes."""

import numpy as np
import pytest

from owlx.core.pixel_block import pixel_block
from owlx.errors import ParameterError


def test_block_values_edges_and_mask():
    img = np.arange(60, dtype=np.int32).reshape(6, 10)
    valid = np.ones((6, 10), bool)
    valid[2, 3] = False
    b = pixel_block(img, 3, 2, 5, valid)
    np.testing.assert_array_equal(b.values, img[0:5, 1:6])
    assert b.inside.all() and not b.valid[2, 2] and b.valid.sum() == 24 and (b.x0, b.y0) == (1, 0)
    corner = pixel_block(img, 9, 5, 3)  # bottom-right corner: a 2×2 piece of the image
    assert corner.inside.sum() == 4 and corner.values[1, 1] == 59 and corner.values[2, 2] == 0
    assert not corner.valid[2, :].any()  # cells off the image are never "valid"
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[1, 1] = (1, 2, 3)
    assert pixel_block(rgb, 1, 1, 3).values[1, 1].tolist() == [1, 2, 3]


@pytest.mark.parametrize("size", [2, 1, 13, 4])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ParameterError, match="odd size 3–11"):
        pixel_block(np.zeros((4, 4)), 0, 0, size)
