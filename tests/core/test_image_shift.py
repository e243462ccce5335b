"""Translation of images: exact integer shifts, separable splines equal to scipy.ndimage.shift."""

import numpy as np
import pytest
from peaks_synthetic import texture
from scipy import ndimage

from owlx.core.image_shift import shift_image
from owlx.errors import ParameterError


@pytest.mark.parametrize("shift", [(2.3, -4.6), (-0.4, 0.7), (0.0, 1.5), (2.5, 0.0), (0.0, -40.25)])
@pytest.mark.parametrize("order", [1, 3])
def test_equals_scipy_shift_with_constant_fill(shift, order):
    image = texture((60, 50), 2.0, seed=1)
    expected = ndimage.shift(image, shift, order=order, mode="constant", cval=-3.0)
    np.testing.assert_allclose(shift_image(image, shift, order=order, fill_value=-3.0), expected, atol=1e-12)


def test_integer_shift_is_exact_slicing_and_fills_the_rest():
    image = np.arange(20.0).reshape(4, 5)
    out = shift_image(image, (1, -2), fill_value=np.nan)
    np.testing.assert_array_equal(out[1:, :3], image[:3, 2:])
    assert np.isnan(out[0]).all() and np.isnan(out[:, 3:]).all()
    np.testing.assert_array_equal(shift_image(image, (0, 0)), image)
    assert np.all(shift_image(image, (10, 0)) == 0.0)  # shifted out of the frame


def test_nearest_order_rounds_the_shift():
    image = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(shift_image(image, (0.4, 1.6), order=0), shift_image(image, (0, 2)))


def test_bad_arguments():
    with pytest.raises(ParameterError):
        shift_image(np.zeros((3, 3)), (0.5, 0), order=2)
    with pytest.raises(ParameterError):
        shift_image(np.zeros((3, 3)), (np.nan, 0))
    with pytest.raises(ParameterError):
        shift_image(np.zeros(3), (1, 0))
