"""The sizing recipe, batch contract and Owl values: spec/sphere.md §4, §5, §7.12–§7.14, and the
accuracy of the whole recipe on ≥ 100 realistic 1024² frames."""

import dataclasses
import math
import threading
import time

import numpy as np
import pytest
from sphere_synthetic import (
    DELTA,
    FLUENCE,
    LAM,
    OFFSET,
    SEED_D,
    SEED_P,
    SEED_QE,
    D,
    P,
    poisson,
    seed_frame,
    spec_frame,
    spec_mask,
)

from owlx.core.sphere_recipe import (
    BatchSummary,
    FitSettings,
    SphereFitResult,
    fit_batch,
    fit_frame,
    owl_general_values,
    owl_model_arrays,
    owl_model_values,
)
from owlx.errors import JobCancelled, ParameterError

# The §2.5 geometry with Owl's recipe (dmax 5, 20 brute points, nrphotons, 3 refinements).
SPEC = FitSettings(wavelength_m=LAM, distance_m=D, pixel_size_m=P, delta=DELTA,
                   material="poliovirus", center_dmax_px=5, n_brute=20,
                   intensity_method="nrphotons", refine_iterations=3, mask_radius_px=128,
                   photon_counting=False)
# The §6 seed recipe in the §6 geometry (FitSettings' defaults).
SEED = FitSettings(wavelength_m=LAM, distance_m=SEED_D, pixel_size_m=SEED_P, delta=DELTA,
                   qe=SEED_QE, material="poliovirus")

SPEC_FIELDS = ["frame", "status", "flags", "stages", "center_x", "center_y", "center_x_int", "center_y_int", "center_score", "diameter_nm", "fluence_mJ_um2", "scaling_photons", "size_s", "mask_radius_px", "n_pixels", "photon_counting", "adu_per_photon", "material", "qmap", "brute_diameter_nm", "brute_cost", "pearson_cost", "chi2_red", "rel_abs_residual", "pearson_r", "stderr_center_x", "stderr_center_y", "stderr_diameter_nm", "stderr_fluence", "error_ref", "pcov_ref", "nfev", "iterations", "elapsed_s", "settings_hash"]


def numbers(rec):
    """A record without its timings, for equality between runs."""
    d = rec.to_dict()
    d.pop("elapsed_s")
    d.pop("timings")
    return d


# ----------------------------------------------------------------------------- settings, record


def test_settings_validate_and_hash():
    assert SPEC.intensity_method == "nrphotons" and SEED.intensity_method == "photons"
    s = dataclasses.replace(SPEC, center_method="Blurred", diameter_method="PEARSON")
    assert (s.center_method, s.diameter_method) == ("blurred", "pearson")
    assert s.settings_hash() == SPEC.settings_hash() and len(s.settings_hash()) == 16
    assert dataclasses.replace(SPEC, n_brute=21).settings_hash() != SPEC.settings_hash()
    for bad in ({"intensity_method": "simplex"}, {"center_method": "pw (slow)"},
                {"diameter_method": "least"}, {"qmap": "polar"}, {"downsampling": 0},
                {"wavelength_m": -1.0}, {"qe": 1.5}, {"mask_radius_px": 0.0}):
        with pytest.raises(ValueError):
            dataclasses.replace(SPEC, **bad)


def test_record_has_every_spec_field_and_a_failed_form():
    names = {f.name for f in dataclasses.fields(SphereFitResult)}
    assert set(SPEC_FIELDS) <= names
    rec = SphereFitResult.failed(7, "boom", SPEC)
    assert rec.status == "failed" and rec.message == "boom" and math.isnan(rec.diameter_nm)
    assert rec.settings_hash == SPEC.settings_hash() and rec.to_dict()["frame"] == 7


# ----------------------------------------------------------------------------- fit_frame


def test_fit_frame_runs_the_recipe_on_the_worked_example():
    rec = fit_frame(spec_frame(), spec_mask(), SPEC, (0, 0, 100, 1))
    assert rec.status == "ok" and rec.flags == []
    assert rec.stages == ["center:blurred", "diameter:pearson", "intensity:nrphotons", "refine"]
    assert (rec.center_x_int, rec.center_y_int) == OFFSET
    assert abs(rec.center_x - OFFSET[0]) < 1e-6 and abs(rec.center_y - OFFSET[1]) < 1e-6
    assert abs(rec.diameter_nm - 30) < 1e-6 and abs(rec.fluence_mJ_um2 - 1) < 1e-6
    assert rec.scaling_photons == pytest.approx(3.825642, abs=1e-5)
    assert rec.size_s == pytest.approx(7.129365e-3, rel=1e-6)
    assert rec.iterations == 3 and rec.nfev > 20 and rec.n_pixels > 40000
    assert abs(rec.brute_diameter_nm - 26.646) < 1e-3 and rec.pearson_cost < 1e-6
    assert set(rec.timings) >= {"center", "prepare", "diameter", "intensity", "refine"}
    assert rec.elapsed_s > 0 and rec.settings_hash == SPEC.settings_hash()


def test_fit_frame_without_brute_force_and_refinement():
    s = dataclasses.replace(SPEC, n_brute=0, refine_iterations=0)
    rec = fit_frame(poisson(spec_frame(), 1), spec_mask(), s, (*OFFSET, 32, 1))
    assert math.isnan(rec.brute_diameter_nm) and math.isnan(rec.brute_cost)
    assert abs(rec.diameter_nm - 30) < 0.5 and "refine" not in rec.stages
    assert math.isnan(rec.stderr_diameter_nm) and 0.5 < rec.pearson_r < 1


def test_fit_frame_downsampling_and_no_mask():
    rec = fit_frame(spec_frame(), None, dataclasses.replace(SPEC, downsampling=2))
    assert abs(rec.diameter_nm - 30) < 1e-6 and abs(rec.center_x - OFFSET[0]) < 1e-6


def test_fit_frame_in_adu_with_photon_counting():
    adu = 10.0
    img = poisson(spec_frame(fluence=10 * FLUENCE), 2) * adu
    s = dataclasses.replace(SPEC, adu_per_photon=adu, photon_counting=True)
    rec = fit_frame(img, spec_mask(), s)
    assert abs(rec.diameter_nm - 30) < 0.3 and abs(rec.fluence_mJ_um2 - 10) < 0.4


def test_fit_frame_rejects_bad_input_and_honours_cancel():
    with pytest.raises(ParameterError):
        fit_frame(np.zeros(5), None, SPEC)
    with pytest.raises(ParameterError):
        fit_frame(spec_frame(), np.ones((3, 3), bool), SPEC)
    with pytest.raises(ParameterError):
        fit_frame(spec_frame(), np.zeros((256, 256), bool), SPEC)  # no fit pixels
    for after in (1, 3, 30):
        calls = []
        with pytest.raises(JobCancelled):
            fit_frame(spec_frame(), spec_mask(), SPEC,
                      cancel=lambda c=calls, a=after: c.append(1) or len(c) > a)


# ----------------------------------------------------------------------------- Owl values


def test_owl_model_values_convert_like_owl():
    rec = fit_frame(poisson(spec_frame(fluence=10 * FLUENCE), 5), spec_mask(), SPEC)
    v = owl_model_values(rec)
    assert (v["offCenterX"], v["offCenterY"]) == (rec.center_x, rec.center_y)
    assert (v["diameterNM"], v["intensityMJUM2"]) == (rec.diameter_nm, rec.fluence_mJ_um2)
    assert v["maskRadius"] == 128 and v["fitError"] == rec.error_ref > 0
    assert v["fitErrorOffCenterX"] == rec.pcov_ref[0]
    assert v["fitErrorDiameterNM"] == pytest.approx(rec.pcov_ref[2] / 1e-9)
    assert v["fitErrorIntensityMJUM2"] == pytest.approx(rec.pcov_ref[3] / 1e9)
    assert v["owlx_stderrDiameterNM"] == rec.stderr_diameter_nm > 0
    failed = owl_model_values(SphereFitResult.failed(0, "x"))
    assert all(math.isnan(x) for x in failed.values())
    general = owl_general_values(SPEC)
    assert general["photonWavelengthNM"] == pytest.approx(0.2254258, rel=1e-6)
    assert general["detectorDistanceMM"] == pytest.approx(700.0)
    assert general["detectorPixelSizeUM"] == pytest.approx(75.0)
    assert (general["_nrEval"], general["_maximumShift"], general["_fitModelMethod"]) == (
        20, 5, "refine")


def test_owl_arrays_follow_owls_reading_rule():
    recs = [fit_frame(spec_frame(), spec_mask(), SPEC, frame=2),
            SphereFitResult.failed(0, "bad")]
    arrays = owl_model_arrays(recs, 4, existing={"diameterNM": np.array([55.0])})
    for arr in arrays.values():
        assert arr.dtype == np.float64 and arr.shape == (4,)
    assert arrays["diameterNM"].tolist()[:2] == [55.0, 100.0]  # kept, then Owl's default
    assert abs(arrays["diameterNM"][2] - 30) < 1e-6 and arrays["offCenterX"][2] == recs[0].center_x
    assert np.isnan(arrays["fitError"][[0, 1, 3]]).all() and np.isfinite(arrays["fitError"][2])


# ----------------------------------------------------------------------------- batch §7.13


@pytest.fixture(scope="module")
def small_frames():
    """50 Poisson frames of the §2.5 sphere with varied centres, diameters and fluences."""
    rng = np.random.default_rng(13)
    frames = []
    for i in range(50):
        cx, cy = np.round(rng.uniform(-4, 4, 2) * 2) / 2
        d = rng.uniform(26e-9, 34e-9)
        frames.append(poisson(spec_frame(cx, cy, fluence=rng.uniform(5, 15) * FLUENCE, d=d), i))
    return frames


def loader(frames, bad=()):
    def load(i):
        if i in bad:
            raise RuntimeError(f"frame {i} is unreadable")
        return frames[i].copy(), spec_mask()
    return load


@pytest.mark.parametrize("n_threads", [1, 2])
def test_batch_streams_records_and_survives_a_bad_frame(small_frames, n_threads):
    got, progress = [], []
    summary = fit_batch(range(50), loader(small_frames, bad={13}), SPEC, got.append,
                        lambda done, total: progress.append((done, total)), n_threads=n_threads)
    assert isinstance(summary, BatchSummary)
    assert (summary.total, summary.n_ok, summary.n_failed, summary.n_not_run) == (50, 49, 1, 0)
    assert not summary.cancelled
    assert sorted(r.frame for r in got) == list(range(50))
    bad = [r for r in got if r.status == "failed"]
    assert [r.frame for r in bad] == [13] and "unreadable" in bad[0].message
    assert progress == [(i, 50) for i in range(1, 51)]
    if n_threads == 1:
        assert [r.frame for r in got] == list(range(50))


def test_batch_with_threads_equals_single_frame_fits(small_frames):
    got = []
    fit_batch(range(12), loader(small_frames), SPEC, got.append, n_threads=2)
    for rec in got:
        single = fit_frame(small_frames[rec.frame], spec_mask(), SPEC, frame=rec.frame)
        assert numbers(rec) == numbers(single)


@pytest.fixture(scope="module")
def big_frames():
    rng = np.random.default_rng(99)
    return [seed_frame(rng, scaling_a=100.0)[:2] for _ in range(26)]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_batch_cancel_keeps_completed_records_and_drops_the_frame_in_flight(big_frames,
                                                                           n_threads):
    token = threading.Event()
    started, got, when = [], [], {}

    def load(i):
        started.append(i)
        img, mask = big_frames[i]
        return img.copy(), mask.copy()

    def on_result(rec):
        assert not token.is_set() or n_threads > 1  # nothing is emitted after a serial cancel
        got.append(rec)
        if len(got) == 20:
            # Cancel from another thread while the next frame is being fitted.
            def fire():
                time.sleep(0.03)
                when["t"] = time.perf_counter()
                token.set()
            threading.Thread(target=fire).start()

    summary = fit_batch(range(26), load, SEED, on_result, cancel=token, n_threads=n_threads)
    latency = time.perf_counter() - when["t"]
    assert summary.cancelled and latency <= 0.5, latency
    done = {r.frame for r in got}
    in_flight = set(started) - done
    assert in_flight and not in_flight & done
    assert summary.n_ok == len(got) >= 20 and all(r.status == "ok" for r in got)
    assert summary.n_not_run == 26 - len(got)


# ----------------------------------------------------------------------------- accuracy


def run_accuracy(n_frames, seed, settings=(SEED,), **frame_args):
    """Fit ``n_frames`` seed frames with each of ``settings``; errors per settings as arrays
    (|relative diameter error|, centre distance [px]) and the photons per pattern."""
    rng = np.random.default_rng(seed)
    d_err = [[] for _ in settings]
    c_err = [[] for _ in settings]
    photons = []
    for _ in range(n_frames):
        img, mask, d, cx, cy, _ = seed_frame(rng, **frame_args)
        photons.append(float(img[mask].sum()))
        for i, s in enumerate(settings):
            rec = fit_frame(img, mask, s)
            assert rec.status == "ok"
            d_err[i].append(abs(rec.diameter_nm * 1e-9 / d - 1))
            c_err[i].append(math.hypot(rec.center_x - cx, rec.center_y - cy))
    return np.array(d_err), np.array(c_err), np.array(photons)


@pytest.mark.slow
def test_accuracy_on_100_realistic_frames():
    """Exact scattering angle and cos³ solid angle in the data (the fit uses the reference's
    per-axis map without cos³), Poisson noise, a gap and a beamstop, d = 25–80 nm, beam off by
    up to ±8 px, seed geometry and recipe; 300 photons/px at q = 0 (the anchor of spec §8),
    i.e. 1.2e6 to 1.5e7 photons per pattern."""
    (d_err,), (c_err,), photons = run_accuracy(100, 2024, scaling_a=300.0)
    assert photons.min() >= 2e4
    assert np.mean(d_err <= 0.01) >= 0.98, np.sort(d_err)[-5:]
    assert np.mean(c_err <= 0.3) >= 0.98, np.sort(c_err)[-5:]


@pytest.mark.slow
def test_accuracy_at_twenty_thousand_photons():
    """2e4 photons per pattern. The Cramér–Rao bounds (all four parameters free) are 0.16–0.26 %
    for the diameter but 0.16–0.57 px for the centre (1σ, d = 80–25 nm), so "0.3 px on 98 % of
    frames" is out of any estimator's reach here and the centre is checked for gross failures
    only. The spec's unweighted refinement scatters the diameter by ~0.5 % (1 % ≈ 2σ); the
    Poisson-weighted option by ~0.27 %."""
    weighted = dataclasses.replace(SEED, refine_weighting="poisson", refine_iterations=2)
    d_err, c_err, photons = run_accuracy(50, 7, (SEED, weighted), photons=2e4)
    assert np.all(np.abs(photons / 2e4 - 1) < 0.05)
    assert np.mean(d_err[0] <= 0.01) >= 0.94, np.sort(d_err[0])[-5:]
    assert np.mean(d_err[1] <= 0.01) >= 0.98, np.sort(d_err[1])[-5:]
    assert np.sqrt(np.mean(d_err[1] ** 2)) < 0.7 * np.sqrt(np.mean(d_err[0] ** 2))
    for c in c_err:
        assert np.mean(c <= 2.0) >= 0.98 and np.median(c) < 0.8, np.sort(c)[-5:]


def test_owl_variances_become_standard_errors_in_user_units():
    from owlx.core.sphere_records import owl_standard_errors

    # σ_d = 2 nm is a variance of 4e-18 m², stored by Owl as 4e-18 / 1e-9; σ_I = 0.5 mJ/µm² is
    # 5e8 J/m², a variance of 2.5e17 (J/m²)², stored as 2.5e17 / 1e9
    s = owl_standard_errors({"fitErrorOffCenterX": 0.25, "fitErrorOffCenterY": float("nan"),
                             "fitErrorDiameterNM": 4e-18 / 1e-9, "fitErrorIntensityMJUM2": 2.5e17 / 1e9})
    assert s["centre_x"] == pytest.approx(0.5)
    assert np.isnan(s["centre_y"])
    assert s["diameter"] == pytest.approx(2.0)
    assert s["intensity"] == pytest.approx(0.5)
