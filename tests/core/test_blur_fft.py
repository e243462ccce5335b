"""FFT Gaussian blur equals scipy's; row-range kernels split over threads give the serial result."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from owlx.core.blur_fft import gaussian_blur
from owlx.core.row_split import split_rows


@pytest.mark.parametrize("shape,sigma,truncate", [((128, 128), 12.8, 2.0), ((90, 140), 7.3, 4.0), ((40, 50), 2.0, 4.0)])
def test_equals_scipy_gaussian_filter(shape, sigma, truncate):
    image = np.random.default_rng(0).random(shape)
    expected = gaussian_filter(image, sigma, truncate=truncate)
    np.testing.assert_allclose(gaussian_blur(image, sigma, truncate), expected, atol=1e-13)


def test_split_rows_sums_partial_results_like_one_call():
    data = np.arange(3000.0).reshape(300, 10)

    def column_sums(arr, r0, r1):
        return arr[r0:r1].sum(axis=0)

    np.testing.assert_array_equal(split_rows(column_sums, 300, data, threads=3), data.sum(axis=0))
    np.testing.assert_array_equal(split_rows(column_sums, 300, data, threads=1), data.sum(axis=0))
    out = np.zeros(300)

    def fill(arr, target, r0, r1):
        target[r0:r1] = arr[r0:r1, 0]

    assert split_rows(fill, 300, data, out, threads=2) is None
    np.testing.assert_array_equal(out, data[:, 0])
