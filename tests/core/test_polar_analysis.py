"""The polar-correlation chain: spec/polar.md §11.10 (end-to-end on LOKI's test image), the Bragg
rows through pairing and difference correlation, and a synthetic stack with a known symmetry."""

import threading
import time

import numpy as np
import pytest
from polar_data import bragg_rings, loki_image

from owlx.core.correlation import difference_correlation
from owlx.core.polar_analysis import (
    PolarSettings,
    correlate_frames,
    frame_rings,
    make_polar_map,
)
from owlx.core.ring_cleaning import fit_periodic, remove_peaks
from owlx.core.ring_scan import scan_ring_center
from owlx.core.shot_pairing import pair_fits
from owlx.errors import JobCancelled, ParameterError


def loki_chain(img, mask, method, cancel=None, progress=None):
    """§11.10: grid-scan centre, polar 10–70 px × 360, ring 59 ± 2, peaks, fit, autocorrelation."""
    centre = scan_ring_center(img, (152, 151, 16), 4, 4, 0.1, mask=mask, cancel=cancel)
    s = PolarSettings(center_xy=centre.center_xy, r_min=10, r_max=70, n_phi=360, method=method,
                      band_lo=59, band_hi=60, half_width=2, peak_thresh=3.5, thick=1, deg=15,
                      subtract_fit=True, pairing="none")
    rings = frame_rings(img, mask, make_polar_map(s, img.shape), s)
    if progress:
        progress(1, 2)
    res = correlate_frames([rings], s, cancel=cancel)
    if progress:
        progress(2, 2)
    return centre, rings, res


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_end_to_end_on_the_loki_test_image(method):
    img, mask = loki_image()
    loki_chain(img, mask, method)  # JIT warm-up
    t0 = time.perf_counter()
    centre, rings, res = loki_chain(img, mask, method)
    elapsed = time.perf_counter() - t0
    assert (centre.x, round(centre.y, 3)) == (150.0, 149.923)
    assert res.corr.shape == (1, 360) and rings.masks.sum() > 200
    assert np.all(np.isfinite(res.corr[res.counts > 0]))
    assert np.all(np.isnan(res.corr[res.counts == 0]))
    assert np.all(np.isfinite(rings.rings)) and np.all(np.isfinite(rings.radial))
    # the ring minus its fit has zero mean: C(0) is its variance, larger than any other lag
    assert res.corr[0, 0] > 0 and res.corr[0, 0] == np.nanmax(res.corr)
    assert elapsed < 2.0, f"{elapsed:.2f} s"


def test_end_to_end_from_a_worker_thread_with_progress_and_cancel():
    img, mask = loki_image()
    seen, out = [], {}
    worker = threading.Thread(target=lambda: out.setdefault("r", loki_chain(img, mask, "nearest",
                                                                             progress=lambda d, t: seen.append(d))))
    worker.start()
    worker.join(30)
    assert seen == [1, 2] and np.isfinite(out["r"][2].corr[0, 0])
    stop = threading.Event()
    stop.set()
    with pytest.raises(JobCancelled):
        loki_chain(img, mask, "nearest", cancel=stop)


def test_bragg_rows_full_chain_has_no_nan():
    rings, mask = bragg_rings()
    rings = rings.astype(float)
    thick = round(1.0 / (360.0 / 5000))  # make_db: one degree
    cleaned, masks, features = [], [], []
    for ring in rings:
        coef = fit_periodic(ring, None, 15).cheb_raw
        r, m, _ = remove_peaks(ring, mask, thick=thick, peak_thresh=5, coef=coef)
        fit = fit_periodic(r, m, 15)
        features.append(fit_periodic(r / r[m].mean(), m, 15).cheb_raw)
        cleaned.append(r - fit.yfit)
        masks.append(m)
    pairs, _ = pair_fits(np.stack(features))
    assert pairs.shape == (7, 2)
    res = difference_correlation(np.stack(cleaned), np.stack(masks), pairs=pairs)
    assert res.corr.shape == (1, 5000) and not np.isnan(res.corr).any()
    assert res.corr[0, 0] > np.abs(res.corr[0, 50:-50]).max()  # the noise is uncorrelated beyond a few bins


def symmetric_stack(n_frames=8, m=6, size=160, seed=0):
    """Frames with a ring at 40 px whose intensity varies as 1 + 0.5·cos(m(φ − φ_s)), φ_s random."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cx, cy = 80.4, 78.6
    r = np.hypot(xx - cx, yy - cy)
    phi = np.arctan2(yy - cy, xx - cx)
    ring = np.exp(-((r - 40) ** 2) / (2 * 2.0**2))
    frames = [rng.poisson(50 * ring * (1 + 0.5 * np.cos(m * (phi - rng.uniform(0, 2 * np.pi)))) + 1)
              for _ in range(n_frames)]
    mask = np.ones((size, size), bool)
    mask[75:82, :] = False  # a detector gap
    return np.array(frames, np.float32), mask, (cx, cy)


def test_synthetic_sixfold_ring_gives_a_sixfold_correlation():
    frames, mask, centre = symmetric_stack()
    s = PolarSettings(center_xy=centre, r_min=20, r_max=60, n_phi=180, band_lo=37, band_hi=44, half_width=1,
                      deg=6, wavelength_m=1e-10, distance_m=0.1, pixel_size_m=100e-6, n_cos_bins=50)
    pmap = make_polar_map(s, frames.shape[1:])
    per = [frame_rings(f, mask, pmap, s) for f in frames]
    res = correlate_frames(per, s, frames=np.arange(10, 18))
    assert res.corr.shape == (7, 180) and res.pairs.shape == (4, 2) and res.frames[0] == 10
    row = res.corr[3]
    assert np.all(np.isfinite(row))
    model = np.cos(6 * res.dphi)
    assert np.corrcoef(row, model)[0, 1] > 0.9
    assert res.q is not None and np.all(np.diff(res.q) > 0)
    assert res.cos_axis.shape == (50,) and np.isfinite(res.cos_mean).sum() > 25
    assert np.argmax(res.mean_radial) + s.r_min in (39, 40, 41)
    consecutive = correlate_frames(per, PolarSettings(**{**s.__dict__, "pairing": "consecutive"}))
    assert consecutive.pairs.tolist()[0] == [0, 1] and np.corrcoef(consecutive.corr[3], model)[0, 1] > 0.9


def test_settings_are_validated():
    with pytest.raises(ParameterError):
        PolarSettings(center_xy=(0, 0), r_min=10, r_max=50, band_lo=45, band_hi=60).validate()
    with pytest.raises(ParameterError):
        PolarSettings(center_xy=(0, 0), norm="zscore").validate()
    frames, mask, centre = symmetric_stack(n_frames=1)
    s = PolarSettings(center_xy=centre, r_min=20, r_max=60, n_phi=90, band_lo=38, band_hi=42, deg=4)
    one = frame_rings(frames[0], mask, make_polar_map(s, frames.shape[1:]), s)
    with pytest.raises(ParameterError):
        correlate_frames([one], s)
    with pytest.raises(ParameterError):
        correlate_frames([one, one], PolarSettings(**{**s.__dict__, "polarization_y": 0.0}))


def test_frames_without_a_usable_ring_are_left_out_of_the_pairing():
    frames, mask, centre = symmetric_stack(n_frames=5)
    frames[2] = 0  # a blank shot: no ring to fit
    s = PolarSettings(center_xy=centre, r_min=20, r_max=60, n_phi=90, band_lo=38, band_hi=42, deg=4)
    pmap = make_polar_map(s, frames.shape[1:])
    per = [frame_rings(f, mask, pmap, s) for f in frames]
    assert np.isnan(per[2].feature).all() and np.isfinite(per[0].feature).all()
    res = correlate_frames(per, s)
    assert 2 not in res.pairs and res.pairs.shape == (2, 2)
    assert any("left out" in note for note in res.notes)
    with pytest.raises(ParameterError):
        correlate_frames([per[2], per[2], per[0]], s)


def test_the_pairing_feature_comes_from_the_ring_after_peak_removal():
    """A Bragg spot on the pairing ring must not decide the pairing (LOKI make_db: features are
    fitted after remove_peaks)."""
    frames, mask, centre = symmetric_stack(n_frames=1)
    s = PolarSettings(center_xy=centre, r_min=20, r_max=60, n_phi=180, band_lo=38, band_hi=42, half_width=1,
                      deg=6, feature="cheb_unit", thick=2)
    pmap = make_polar_map(s, frames.shape[1:])
    clean = frame_rings(frames[0], mask, pmap, s)
    yy, xx = np.mgrid[:160, :160]
    spiky = frames[0].copy()
    spiky[np.hypot(xx - centre[0], yy - (centre[1] + s.pair_row_radius)) < 2.5] += 2000  # below the gap
    out = frame_rings(spiky, mask, pmap, s)
    assert clean.n_removed == 0 and out.n_removed > 0
    # measured 0.011 (0.5 when the feature was fitted before the peak was removed)
    assert np.abs(out.feature - clean.feature).max() < 0.03 * np.abs(clean.feature).max()
