"""Cheetah peak lists (formats.md §1.8): group discovery, raw/assembled choice, one row per frame."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from owlx.io.cheetah_peaks import (
    PeakList,
    choose_peak_list,
    find_peak_lists,
    kind_for_image,
    read_frame_peaks,
    resolve_kind,
)

N, MAXP = 6, 8


def write_result(f, name, n_peaks, with_raw=True, with_npix=True):
    g = f.create_group(f"entry_1/{name}")
    g["nPeaks"] = np.asarray(n_peaks, np.int32)
    x = np.full((N, MAXP), -1.0, np.float32)
    y = np.full((N, MAXP), -1.0, np.float32)
    for i, k in enumerate(n_peaks):
        k = min(k, MAXP)
        x[i, :k] = 10 * i + np.arange(k)
        y[i, :k] = 100 + np.arange(k)
    g["peakXPosAssembled"], g["peakYPosAssembled"] = x, y
    if with_raw:
        g["peakXPosRaw"], g["peakYPosRaw"] = x + 0.25, y + 0.5
    if with_npix:
        g["peakNPixels"] = np.ones((N, MAXP), np.float32) * 3
    return g


@pytest.fixture
def peaks_file(tmp_path):
    path = tmp_path / "cheetah.cxi"
    with h5py.File(path, "w") as f:
        f["entry_1/image_1/data"] = np.zeros((N, 4, 4), np.float32)
        write_result(f, "result_1", [1] * N, with_raw=False, with_npix=False)
        write_result(f, "result_2", [0, 3, 8, 2, 20, 1])  # 20 > maxPeaks: clipped
        f.create_group("entry_1/result_10")  # not a peak list
    return path


def test_groups_are_found_and_the_one_with_peakNPixels_is_chosen(peaks_file):
    with h5py.File(peaks_file, "r") as f:
        lists = find_peak_lists(f, "/entry_1")
        assert [pl.group for pl in lists] == ["/entry_1/result_1", "/entry_1/result_2"]
        assert lists[0].kinds == ("assembled",) and lists[1].kinds == ("raw", "assembled")
        chosen = choose_peak_list(lists)
        assert chosen.group == "/entry_1/result_2" and chosen.n_frames == N and chosen.max_peaks == MAXP
        assert find_peak_lists(f, None) == lists  # every entry_<n> when none is named


def test_rows_are_cut_at_nPeaks(peaks_file):
    with h5py.File(peaks_file, "r") as f:
        pl = choose_peak_list(find_peak_lists(f))
        for frame, count in enumerate([0, 3, 8, 2, 8, 1]):
            p = read_frame_peaks(f, pl, frame, "assembled")
            assert len(p) == count
            np.testing.assert_array_equal(p.x, 10 * frame + np.arange(count))
            np.testing.assert_array_equal(p.y, 100 + np.arange(count))
        raw = read_frame_peaks(f, pl, 1, "raw")
        np.testing.assert_array_equal(raw.x, [10.25, 11.25, 12.25])
        np.testing.assert_array_equal(raw.extras["peakNPixels"], [3, 3, 3])
        assert len(read_frame_peaks(f, pl, N + 5, "raw")) == 0  # results lag behind (live)


def test_raw_or_assembled_follows_the_image_path():
    assert kind_for_image("/entry_1/instrument_1/detector_1/data") == "raw"
    assert kind_for_image("/entry_1/image_1/data") == "assembled"
    assert kind_for_image("/entry_1/data_1/data") is None
    both = PeakList("/entry_1/result_1", ("raw", "assembled"), (), N, MAXP)
    only = PeakList("/entry_1/result_1", ("assembled",), (), N, MAXP)
    assert resolve_kind(both, "/entry_1/instrument_1/detector_1/data") == ("raw", "")
    assert resolve_kind(both, "/entry_1/image_1/data") == ("assembled", "")
    assert resolve_kind(both, "/entry_1/image_1/data", "raw") == ("raw", "")
    kind, why = resolve_kind(only, "/entry_1/instrument_1/detector_1/data")
    assert kind == "assembled" and "no raw" in why
    with pytest.raises(ValueError):
        resolve_kind(both, "/x", "sideways")
