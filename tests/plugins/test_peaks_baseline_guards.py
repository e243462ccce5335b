"""The baseline job refuses frames it cannot fit (no valid pixel, not 2-D) and unknown wavelets;
frame results (baseline, symmetrisation) arrive ready for display so the tabs' ``_done`` does no
float64 work on the GUI thread."""

from __future__ import annotations

import numpy as np
import pytest

from owlx.core.baseline import has_pywavelets
from owlx.errors import DatasetError, ParameterError
from owlx.jobs import run_inline
from owlx.session import Session

needs_pywt = pytest.mark.skipif(not has_pywavelets(), reason="PyWavelets is not installed")


class ArrayReader:
    """A frame reader over an array of any shape (a session only holds 2-D frames)."""

    def __init__(self, frames, mask=None):
        self.frames, self._mask = frames, mask
        self.shape, self.name, self.files = frames.shape[1:3], "", []

    def frame(self, index):
        return self.frames[index]

    def mask(self, index):
        return self._mask


class Poison:
    """Stands for a full-size float64 array: any use of it fails the test."""

    def __array__(self, *args, **kwargs):
        raise AssertionError("float64 array work in _done")

    def __getitem__(self, key):
        raise AssertionError("float64 array work in _done")


def smooth_frames(n=2, size=64):
    r, c = np.indices((size, size))
    base = 2.0 + np.sin(r / 20.0) + 0.01 * c
    return np.stack([base + k for k in range(n)])


@needs_pywt
@pytest.mark.parametrize("kind", ["frame", "profile"])
def test_a_frame_without_valid_pixels_is_refused(kind):
    from owlx_peaks.baseline_job import baseline_job

    frames = smooth_frames(3)
    frames[1] = np.nan
    with pytest.raises(DatasetError) as err:
        run_inline(baseline_job(ArrayReader(frames), 1, kind, centre=(32, 32), max_iter=5))
    assert str(err.value) == "frame 1 has no valid pixel (all NaN or masked): nothing to fit a baseline to"
    masked = ArrayReader(frames, mask=np.zeros(frames.shape[1:], dtype=bool))
    with pytest.raises(DatasetError, match="frame 0 has no valid pixel"):
        run_inline(baseline_job(masked, 0, kind, centre=(32, 32), max_iter=5))
    # one valid pixel is enough to run
    one = np.zeros(frames.shape[1:], dtype=bool)
    one[10, 10] = True
    res = run_inline(baseline_job(ArrayReader(frames, one), 0, kind, centre=(32, 32), max_iter=5)).value
    assert res.valid.sum() == 1


@needs_pywt
def test_colour_frames_and_bad_parameters_are_refused():
    from owlx_peaks.baseline_job import baseline_job

    rgb = np.ones((2, 16, 16, 3))
    with pytest.raises(DatasetError, match=r"frame 0 has shape \(16, 16, 3\): baseline removal needs a 2-D"):
        run_inline(baseline_job(ArrayReader(rgb), 0, "frame", max_iter=5))
    reader = ArrayReader(smooth_frames())
    with pytest.raises(ParameterError, match=r"unknown wavelet 'sym99': .* such as sym6, sym8, db4"):
        baseline_job(reader, 0, "frame", wavelet="sym99")
    with pytest.raises(ParameterError, match="unknown wavelet 'morl'"):  # continuous: no DWT
        baseline_job(reader, 0, "frame", wavelet="morl")
    with pytest.raises(ParameterError, match="iterations"):
        baseline_job(reader, 0, "frame", max_iter=0)
    with pytest.raises(ParameterError, match="level"):
        baseline_job(reader, 0, "frame", level=-2)
    assert run_inline(baseline_job(reader, 0, "frame", max_iter=3, wavelet="db4")).ok


@needs_pywt
def test_frame_result_carries_a_float32_display_image_and_levels():
    from owlx_peaks.baseline_job import baseline_job

    frames = smooth_frames()
    frames[0, :, :4] = np.nan
    res = run_inline(baseline_job(ArrayReader(frames), 0, "frame", max_iter=10)).value
    shown = res.shown
    assert shown.image.dtype == np.float32 and shown.image.flags.c_contiguous
    np.testing.assert_array_equal(shown.image, res.subtracted.T.astype(np.float32))  # ImageView is (x, y)
    values = res.subtracted[res.valid]
    lo, hi = np.percentile(values, [0.5, 99.5])
    assert shown.levels[0] == pytest.approx(lo, abs=0.02 * np.ptp(values))
    assert shown.levels[1] == pytest.approx(hi, abs=0.02 * np.ptp(values))
    assert res.mean_baseline == pytest.approx(res.baseline[res.valid].mean())
    prof = run_inline(baseline_job(ArrayReader(frames), 0, "profile", centre=(32, 32), max_iter=10)).value
    assert prof.shown is None


def test_symmetrise_result_carries_its_display_image():
    from owlx_peaks.peak_jobs import FrameReader, symmetrise_job

    session = Session()
    session.show(smooth_frames())
    value = run_inline(symmetrise_job(FrameReader(session), 0, 2, (31.5, 31.5))).value
    assert value.image.shape == (64, 64) and value.shown.image.dtype == np.float32
    np.testing.assert_array_equal(value.shown.image, value.image.T.astype(np.float32))
    finite = value.image[np.isfinite(value.image)]
    assert value.shown.levels[0] == pytest.approx(np.percentile(finite, 0.5), abs=0.02 * np.ptp(finite))


@needs_pywt
def test_done_shows_the_prepared_image_without_float64_work(plugin_window, open_panel):
    from owlx_peaks.baseline_job import baseline_job
    from owlx_peaks.peak_jobs import FrameReader, symmetrise_job

    panel = open_panel(plugin_window, "Peak finding")
    session = plugin_window.session
    session.show(smooth_frames(), name="smooth")
    res = run_inline(baseline_job(FrameReader(session), 1, "frame", max_iter=5)).value
    res.data, res.baseline, res.valid = Poison(), Poison(), Poison()
    panel.baseline._done(res)
    assert panel.baseline.view.image is res.shown.image
    assert panel.baseline.view.imageItem.levels == pytest.approx(res.shown.levels)
    assert f"mean baseline {res.mean_baseline:.4g}" in panel.info.text()

    value = run_inline(symmetrise_job(FrameReader(session), 0, 2, (31.5, 31.5))).value
    value.image = Poison()
    panel.symmetrise._done(value)
    assert panel.symmetrise.view.image is value.shown.image and panel.symmetrise.image is value.image
    assert panel.symmetrise.view.imageItem.levels == pytest.approx(value.shown.levels)
