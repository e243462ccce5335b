"""Sphere fits: preparation §4.1, diameter §4.3, intensity §4.4, refinement §4.5, quality §4.6,
and acceptance checks §7.8–§7.12 of spec/sphere.md."""

import math

import numpy as np
import pytest
from sphere_synthetic import (
    DIAM,
    FLUENCE,
    LAM,
    OFFSET,
    experiment,
    poisson,
    seed_experiment,
    spec_frame,
    spec_mask,
)

from owlx.core import sphere as S
from owlx.core import sphere_refine
from owlx.core.sphere_fit import (
    brute_range,
    fit_diameter_pearson,
    fit_diameter_pixelwise,
    fit_intensity,
    prepare_fit_pixels,
    refine_bounds,
    refine_sphere,
)
from owlx.core.sphere_pixels import QBins, masked_abs_sum, model_sums
from owlx.errors import JobCancelled, ParameterError

EX = experiment()


def pixels(img, radius=128, center=OFFSET, **kw):
    return prepare_fit_pixels(img, spec_mask(img.shape), *center, radius, EX, **kw)


# ----------------------------------------------------------------------------- §4.1


@pytest.mark.parametrize("radius", [50, 100])
def test_fit_pixels_are_mask_and_disc(radius):
    img = spec_frame()
    px = pixels(img, radius)
    yy, xx = np.mgrid[:256, :256]
    disc = (xx - 127.5 - OFFSET[0]) ** 2 + (yy - 127.5 - OFFSET[1]) ** 2 <= radius ** 2
    assert px.n == np.count_nonzero(disc & spec_mask())
    assert np.array_equal(np.sort(px.iy * 256 + px.ix), np.flatnonzero(disc & spec_mask()))
    q = S.qmap((256, 256), *OFFSET, 75e-6, 0.7)
    np.testing.assert_allclose(px.q, q[px.iy, px.ix], rtol=1e-13)
    np.testing.assert_array_equal(px.y, img[px.iy, px.ix])


def test_photon_counting_rounds_half_to_even_after_adu_conversion():
    img = np.array([[-3.0, 5.0, 15.0, 25.0, 24.9, 35.0]])  # ADU, 10 ADU/photon
    px = prepare_fit_pixels(img, None, 0, 0, 10, EX, adu_per_photon=10, photon_counting=True)
    np.testing.assert_array_equal(px.y, [0.0, 0.0, 2.0, 2.0, 2.0, 4.0])
    np.testing.assert_array_equal(px.y[1:], np.round(img[0, 1:] / 10))
    raw = prepare_fit_pixels(img, None, 0, 0, 10, EX, adu_per_photon=10)
    np.testing.assert_allclose(raw.y, img[0] / 10)


def test_downsampling_keeps_original_coordinates():
    img = spec_frame()
    px = pixels(img, 100, downsampling=2)
    assert np.all(px.ix % 2 == 0) and np.all(px.iy % 2 == 0)
    q = S.qmap((256, 256), *OFFSET, 75e-6, 0.7)
    np.testing.assert_allclose(px.q, q[px.iy, px.ix], rtol=1e-13)
    assert px.n_img == 128 * 128
    with pytest.raises(ParameterError):
        pixels(img, 100, downsampling=0)


def test_binned_sums_equal_the_exact_sums():
    px = pixels(poisson(spec_frame(), 0))
    bins = QBins(px)
    # Second-order Taylor per 0.1 q-px bin: the error grows as (2πs)³; ~1e-11 at 30 nm here,
    # ~1e-7 at the top of the brute-force range (s = 1/20 px⁻¹, a dozen rings in the disc).
    for d, rtol in ((16e-9, 1e-10), (30e-9, 1e-10), (80e-9, 3e-9), (210e-9, 1e-6)):
        s = EX.size_parameter(d)
        exact = model_sums(px, s)
        np.testing.assert_allclose(bins.sums(s), [exact["sm"], exact["smm"], exact["smy"]],
                                   rtol=rtol)


def test_brute_range_endpoints():
    lo, hi = brute_range(EX, 256)
    assert lo * 1e9 == pytest.approx(16.437, abs=1e-3)
    assert hi * 1e9 == pytest.approx(210.397, abs=1e-3)
    lo, hi = brute_range(seed_experiment(), 414)
    assert (lo * 1e9, hi * 1e9) == (pytest.approx(23.760, abs=1e-3),
                                    pytest.approx(491.84, abs=1e-2))


# ----------------------------------------------------------------------------- §7.8, §7.12


def test_pearson_noise_free():
    fit = fit_diameter_pearson(pixels(spec_frame()), EX, n_brute=20)
    assert abs(fit.d_m * 1e9 - 30) < 0.01
    assert fit.brute_d_m * 1e9 == pytest.approx(16.437 + (210.397 - 16.437) / 19, abs=1e-3)
    assert fit.cost < 1e-6 and fit.flags == []


def test_pearson_poisson_ten_seeds():
    clean = spec_frame()
    for seed in range(10):
        px = pixels(poisson(clean, seed))
        for n_brute in (10, 20):
            fit = fit_diameter_pearson(px, EX, n_brute=n_brute)
            assert abs(fit.d_m * 1e9 - 30) < 0.5, (seed, n_brute)


def test_pearson_does_not_depend_on_the_data_scale():
    img = poisson(spec_frame(), 4)
    d1 = fit_diameter_pearson(pixels(img), EX, n_brute=20).d_m
    d7 = fit_diameter_pearson(pixels(7 * img), EX, n_brute=20).d_m
    assert abs(d1 - d7) * 1e9 < 1e-3


def test_pearson_without_brute_force():
    fit = fit_diameter_pearson(pixels(spec_frame()), EX, n_brute=0, d0_m=33e-9)
    assert math.isnan(fit.brute_d_m) and math.isnan(fit.brute_cost)
    assert abs(fit.d_m * 1e9 - 30) < 0.01
    with pytest.raises(ParameterError):
        fit_diameter_pearson(pixels(spec_frame()), EX, n_brute=0)


def test_pearson_reference_values_and_cancel():
    px = pixels(poisson(spec_frame(), 1))
    fit = fit_diameter_pearson(px, EX, n_brute=20)
    assert fit.chi2_ref == pytest.approx(fit.cost ** 2 / (256 * 256 - 1))
    assert fit.error_ref == pytest.approx(abs(fit.cost) / (256 * 256 - 1) / px.y.sum())
    assert fit.pcov_ref > 0 and fit.nfev > 20
    calls = []
    with pytest.raises(JobCancelled):
        fit_diameter_pearson(px, EX, n_brute=20, cancel=lambda: calls.append(1) or len(calls) > 5)
    assert len(calls) == 6  # checked inside the brute-force loop


def test_pixelwise_diameter():
    px = pixels(spec_frame())
    # A₀ is fixed at the start diameter: give the fluence that makes A₀ the true scaling.
    f0 = FLUENCE * (30 / 31) ** 6
    fit = fit_diameter_pixelwise(px, EX, 31e-9, f0)
    assert abs(fit.d_m * 1e9 - 30) < 1e-3 and fit.flags == []
    assert fit.pcov_ref > 0
    wrong = fit_diameter_pixelwise(px, EX, 33e-9, 2 * FLUENCE)  # A₀ far too high
    assert "diameter_at_bound" in wrong.flags


# ----------------------------------------------------------------------------- §7.9


def test_intensity_noise_free_closed_forms():
    px = pixels(spec_frame())
    for method in ("pixelwise", "nrphotons"):
        fit = fit_intensity(px, EX, DIAM, method)
        assert abs(fit.fluence_J_m2 / FLUENCE - 1) < 1e-9
        assert fit.scaling_A == pytest.approx(3.825642, abs=2e-6)


def test_intensity_nrphotons_poisson_and_alias():
    clean = spec_frame()
    for seed in range(20):
        px = pixels(poisson(clean, seed))
        fit = fit_intensity(px, EX, DIAM, "nrphotons")
        assert abs(fit.fluence_J_m2 / FLUENCE - 1) < 0.03, seed
        alias = fit_intensity(px, EX, DIAM, "photons")
        assert alias.fluence_J_m2 == fit.fluence_J_m2 and alias.method == "nrphotons"
    assert fit_intensity(px, EX, DIAM, "NRPhotons").fluence_J_m2 == fit.fluence_J_m2


def test_intensity_unknown_method_and_no_signal():
    px = pixels(spec_frame())
    with pytest.raises(ValueError):
        fit_intensity(px, EX, DIAM, "simple-ish")
    empty = pixels(np.zeros((256, 256)))
    for method in ("pixelwise", "nrphotons"):
        fit = fit_intensity(empty, EX, DIAM, method)
        assert fit.fluence_J_m2 == 0.0 and fit.flags == ["no_signal"]


# ----------------------------------------------------------------------------- §7.10, §7.11


START = {"cx": OFFSET[0] + 2, "cy": OFFSET[1] - 1, "d0_m": 33e-9,
         "fluence0_J_m2": 2 * FLUENCE}


def refine(img, **kw):
    args = dict(START, mask_radius_px=128, iterations=3)
    args.update(kw)
    return refine_sphere(img, spec_mask(img.shape), EX, args.pop("cx"), args.pop("cy"),
                         args.pop("d0_m"), args.pop("fluence0_J_m2"), **args)


def test_refinement_noise_free_reaches_the_truth():
    r = refine(spec_frame())
    assert abs(r.cx - OFFSET[0]) < 1e-6 * abs(OFFSET[0])
    assert abs(r.cy - OFFSET[1]) < 1e-6 * abs(OFFSET[1])
    assert abs(r.d_m / DIAM - 1) < 1e-6 and abs(r.fluence_J_m2 / FLUENCE - 1) < 1e-6
    assert r.iterations == 3 and r.flags == []
    assert r.pearson_r == pytest.approx(1.0, abs=1e-9) and r.chi2_red < 1e-12


def test_refinement_poisson_statistics():
    clean = spec_frame(fluence=10 * FLUENCE)  # A ≈ 38
    err = []
    for seed in range(20):
        r = refine(poisson(clean, seed), fluence0_J_m2=20 * FLUENCE)
        err.append((math.hypot(r.cx - OFFSET[0], r.cy - OFFSET[1]), r.d_m / DIAM - 1,
                    r.fluence_J_m2 / (10 * FLUENCE) - 1))
    err = np.abs(err)
    rms = np.sqrt(np.mean(err ** 2, axis=0))
    assert rms[0] < 0.12 and rms[1] < 0.003 and rms[2] < 0.015
    assert np.all(err[:, 0] < 0.3) and np.all(err[:, 1] < 0.01) and np.all(err[:, 2] < 0.04)


def test_diameter_stays_in_its_bounds_during_iteration_one():
    seen = []
    refine(poisson(spec_frame(), 2), iterations=1,
           on_evaluation=lambda cx, cy, d, f: seen.append(d))
    assert len(seen) > 2
    assert 26.4e-9 - 1e-18 <= min(seen) and max(seen) <= 39.6e-9 + 1e-18


def test_dy_bounds_follow_the_frame_height():
    lb, ub = refine_bounds((200, 300))
    assert (lb[0], ub[0], lb[1], ub[1]) == (-150, 150, -100, 100)
    assert (lb[2], ub[2], lb[3], ub[3]) == (0.8, 1.2, 0.0, np.inf)
    img = spec_frame(shape=(200, 300))
    r = refine_sphere(img, None, EX, OFFSET[0] + 1, OFFSET[1] - 1, 31e-9, FLUENCE,
                      mask_radius_px=90, iterations=2)
    assert abs(r.cy - OFFSET[1]) < 1e-6 and abs(r.d_m / DIAM - 1) < 1e-6


def test_downsampling_two_recovers_the_noise_free_parameters():
    r = refine(spec_frame(), downsampling=2)
    assert abs(r.cx / OFFSET[0] - 1) < 1e-6 and abs(r.cy / OFFSET[1] - 1) < 1e-6
    assert abs(r.d_m / DIAM - 1) < 1e-6 and abs(r.fluence_J_m2 / FLUENCE - 1) < 1e-6


def test_exact_qmap_refinement():
    img = S.sphere_intensity((256, 256), *OFFSET, DIAM, FLUENCE, LAM, 75e-6, 0.7,
                             EX.delta, qmap="exact")
    r = refine(img, qmap="exact")
    assert abs(r.cx / OFFSET[0] - 1) < 1e-6 and abs(r.d_m / DIAM - 1) < 1e-6


def test_background_refinement():
    img = spec_frame() + 0.25
    r = refine(img, refine_bg=True)
    assert r.background == pytest.approx(0.25, rel=1e-6)
    assert abs(r.d_m / DIAM - 1) < 1e-6 and r.cov.shape == (5, 5)


def test_quality_outputs():
    img = poisson(spec_frame(fluence=10 * FLUENCE), 7)
    abs_sum = masked_abs_sum(img, spec_mask())
    r = refine(img, abs_sum_adu=abs_sum)
    n_img = 256 * 256
    assert r.n_pixels == pixels(img, center=(r.cx, r.cy)).n or r.n_pixels > 40000
    srr = r.chi2_red * (r.n_pixels - 4)
    assert r.chi2_ref == pytest.approx(srr / (n_img - 4))
    np.testing.assert_allclose(r.pcov_ref, np.diag(r.cov) * r.chi2_ref)
    np.testing.assert_allclose(r.stderr, np.sqrt(np.diag(r.cov) * r.chi2_red))
    assert 0 < r.error_ref < r.rel_abs_residual
    assert 0.9 < r.pearson_r < 1
    # Unweighted residuals of Poisson data: χ²_red is about the mean count per fit pixel.
    assert 0.5 < r.chi2_red < 2 * img[spec_mask()].mean() + 1


def test_flags_diameter_at_bound_and_not_converged(monkeypatch):
    r = refine(spec_frame(), d0_m=40e-9, iterations=1)  # truth below the −20 % bound
    assert "diameter_at_bound" in r.flags and abs(r.d_m - 32e-9) < 1e-3 * 40e-9
    monkeypatch.setattr(sphere_refine, "_MAX_NFEV", 2)
    r = refine(poisson(spec_frame(), 1), iterations=1)
    assert "not_converged" in r.flags


def test_refinement_cancel_is_checked_in_evaluations():
    calls = []
    with pytest.raises(JobCancelled):
        refine(spec_frame(), cancel=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4


def test_poisson_weighting():
    r = refine(spec_frame(), weighting="poisson")
    assert abs(r.d_m / DIAM - 1) < 1e-6 and abs(r.cx / OFFSET[0] - 1) < 1e-6
    clean = spec_frame(fluence=10 * FLUENCE)
    chi2, err = [], {"none": [], "poisson": []}
    for seed in range(8):
        img = poisson(clean, seed)
        for w in err:
            r = refine(img, weighting=w, fluence0_J_m2=20 * FLUENCE)
            err[w].append(r.d_m / DIAM - 1)
            if w == "poisson":
                chi2.append(r.chi2_red)
    # Weighted by the Poisson variance, χ²_red is about 1 (the floor adds a little).
    assert 0.8 < np.median(chi2) < 1.3
    assert np.std(err["poisson"]) < np.std(err["none"])
    with pytest.raises(ParameterError):
        refine(clean, weighting="gauss")
