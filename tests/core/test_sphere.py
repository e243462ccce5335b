"""Sphere forward model: spec/sphere.md §2 worked example, §6 demo geometry, §7 checks 1–4."""

import math
import subprocess
import sys

import numpy as np
import pytest

from owlx.core import sphere as S
from owlx.errors import ParameterError
from owlx.io.materials_data import material_index

# spec/sphere.md §2.5 inputs
E_EV = 5500.0
LAM = S.wavelength_from_energy_eV(E_EV)
P, D = 75e-6, 0.7
DIAM = 30e-9
F = 1e9  # J/m² = 1 mJ/µm²
DELTA = 9.803711e-6
ARGS = (LAM, P, D)


# ----------------------------------------------------------------------------- §1, §2.2, check 1


def test_wavelength_energy_round_trip():
    assert LAM == pytest.approx(2.254258e-10, rel=1e-6)
    assert S.energy_eV_from_wavelength(LAM) == pytest.approx(E_EV, rel=1e-14)
    with pytest.raises(ParameterError):
        S.wavelength_from_energy_eV(0.0)


def test_size_parameter_worked_example_and_round_trip():
    s = S.size_parameter(DIAM, *ARGS)
    assert s == pytest.approx(7.129365e-3, rel=1e-6)
    for d in (1e-9, 30e-9, 123.456e-9, 2e-6):
        back = S.diameter_from_size_parameter(S.size_parameter(d, *ARGS), *ARGS)
        assert abs(back / d - 1) < 1e-12


# ----------------------------------------------------------------------------- §2.3, check 2


def test_form_factor_reference_values():
    u = np.array([0.1, 0.5, 1.0, 2.0])
    expected = [0.99900036, 0.97522218, 0.90350604, 0.65309666]
    np.testing.assert_allclose(S.form_factor(u), expected, atol=1e-8)
    assert S.form_factor(0.0) == 1.0
    assert S.form_factor(-1.0) == S.form_factor(1.0)  # f is even


def test_intensity_at_q0_is_A():
    a = 3.825642
    assert S.intensity_profile(0.0, a, 7.129365e-3) == a
    # On an odd frame with zero offset the middle pixel sits exactly at q = 0.
    img = S.sphere_intensity((65, 65), 0, 0, DIAM, F, *ARGS, DELTA)
    assert img[32, 32] == S.scaling(F, DIAM, *ARGS, DELTA)


def test_series_switch_is_continuous():
    below, above = np.nextafter(0.1, 0.0), 0.1
    jump = abs(S.form_factor(below) ** 2 - S.form_factor(above) ** 2)
    assert jump < 1e-12
    # And the series agrees with the closed form (evaluated in extended precision) across 0–0.1.
    u = np.linspace(1e-3, 0.1, 50)
    ul = u.astype(np.longdouble)
    closed = 3 * (np.sin(ul) - ul * np.cos(ul)) / ul**3
    np.testing.assert_allclose(S.form_factor(np.nextafter(u, 0)), closed.astype(float), rtol=1e-11)


def test_form_factor_zeros():
    z = S.form_factor_zeros(4)
    np.testing.assert_allclose(z[:2], [4.493409, 7.725252], atol=1e-6)
    np.testing.assert_allclose(np.tan(z), z, rtol=1e-9)
    assert np.all(np.abs(S.form_factor(z)) < 1e-13)


def test_first_minimum_of_dense_profile():
    a = S.scaling(F, DIAM, *ARGS, DELTA)
    s = S.size_parameter(DIAM, *ARGS)
    q = np.arange(95.0, 105.0, 1e-4)
    q_min = q[np.argmin(S.intensity_profile(q, a, s))]
    assert abs(q_min - 100.310) < 0.01


def test_minima_radii_worked_example():
    flat = S.minima_radii(DIAM, *ARGS, n=2)
    np.testing.assert_allclose(flat, [100.310, 172.457], atol=1e-3)
    s = S.size_parameter(DIAM, *ARGS)
    np.testing.assert_allclose(flat, S.form_factor_zeros(2) / (2 * math.pi * s), rtol=1e-14)
    # Owl's formula r_k = u_k·D·λ/(π·d·p)
    owl = S.form_factor_zeros(2) * D * LAM / (math.pi * DIAM * P)
    np.testing.assert_allclose(flat, owl, rtol=1e-12)
    true = S.minima_radii(DIAM, *ARGS, n=2, flat=False)
    assert true[0] == pytest.approx(100.315, abs=1e-3)
    # The exact map sends that pixel radius back to the minimum's q-radius.
    q_back = S.qmap((1, 1), -true[0], 0, P, D, mode="exact")[0, 0]
    assert q_back == pytest.approx(flat[0], rel=1e-12)


def test_minimum_along_diagonal_with_per_axis_map():
    # §2.5: along the diagonal the per-axis map puts the first minimum at pixel radius 100.312.
    r1 = S.minima_radii(DIAM, *ARGS, n=1)[0]
    g = lambda x: 2 * np.sin(0.5 * np.arctan(P * x / D)) * D / P  # noqa: E731
    x = np.linspace(70.0, 72.0, 200001)
    x_at = x[np.argmin(np.abs(math.sqrt(2) * g(x) - r1))]
    assert math.sqrt(2) * x_at == pytest.approx(100.312, abs=1e-3)


# ----------------------------------------------------------------------------- §2.1, check 3


def test_qmap_per_axis_vs_exact():
    # Offset 0 on a 1025² frame puts the centre on pixel 512, so index 1024 is (+512, +512) px.
    per_axis = S.qmap((1025, 1025), 0, 0, P, D)
    exact = S.qmap((1025, 1025), 0, 0, P, D, mode="exact")
    assert per_axis[1024, 1024] == pytest.approx(723.262, abs=1e-3)
    assert exact[1024, 1024] == pytest.approx(722.449, abs=1e-3)
    assert (per_axis[1024, 1024] / exact[1024, 1024] - 1) * 100 == pytest.approx(0.112, abs=0.001)
    # Along both axes through the centre the maps agree.
    assert np.max(np.abs(per_axis[512] - exact[512])) < 1e-12
    assert np.max(np.abs(per_axis[:, 512] - exact[:, 512])) < 1e-12
    assert np.all(per_axis >= exact - 1e-12)


def test_qmap_centre_convention():
    # Offset (cx, cy) = (1.5, -2) on a 10 × 8 (ny, nx) frame: centre at column 5.0, row 2.5.
    q = S.qmap((10, 8), 1.5, -2.0, P, D)
    assert q.shape == (10, 8)
    assert q[2, 5] == pytest.approx(0.5, rel=1e-6)  # half a pixel from (x=5, y=2.5)
    assert q[2, 5] == pytest.approx(q[3, 5], rel=1e-12)
    assert q[2, 4] == pytest.approx(math.hypot(1, 0.5), rel=1e-6)  # small angle: q ≈ r
    with pytest.raises(ParameterError):
        S.qmap((10, 8), 0, 0, P, D, mode="polar")


# ----------------------------------------------------------------------------- §2.4, check 4


def test_scaling_worked_example():
    a = S.scaling(F, DIAM, *ARGS, DELTA)
    assert a == pytest.approx(3.82564, abs=1e-4)
    assert a == pytest.approx(3.825642, abs=2e-6)
    back = S.fluence_from_scaling(a, DIAM, *ARGS, DELTA)
    assert abs(back / F - 1) < 1e-12
    assert S.scaling(F, 2 * DIAM, *ARGS, DELTA) / a == pytest.approx(64.0, rel=1e-12)
    assert S.scaling(F, DIAM, *ARGS, DELTA, qe=0.95) / a == pytest.approx(0.95, rel=1e-12)
    assert S.scaling(3 * F, DIAM, *ARGS, DELTA) / a == pytest.approx(3.0, rel=1e-12)


def test_scaling_matches_thomson_formula():
    # A = I0·(2πδV/λ²)²·ΔΩ·QE with the §2.5 intermediate values.
    e_ph, i0, v = 8.811971e-16, 1.134820e24, 1.413717e-23
    k, dohm = 1.212169e15, 1.147959e-8
    assert 2 * math.pi * DELTA / LAM**2 == pytest.approx(k, rel=1e-6)
    assert math.pi * DIAM**3 / 6 == pytest.approx(v, rel=1e-6)
    assert F / e_ph == pytest.approx(i0, rel=1e-6)
    assert (P / D) ** 2 == pytest.approx(dohm, rel=1e-6)
    assert S.scaling(F, DIAM, *ARGS, DELTA) == pytest.approx(i0 * (k * v) ** 2 * dohm, rel=1e-5)


def test_total_photons_256():
    img = S.sphere_intensity((256, 256), 0, 0, DIAM, F, *ARGS, DELTA)
    assert img.shape == (256, 256) and img.dtype == np.float64
    assert img.sum() == pytest.approx(26252.2, abs=0.5)


def test_scaling_rejects_bad_parameters():
    with pytest.raises(ParameterError):
        S.scaling(-1.0, DIAM, *ARGS, DELTA)
    with pytest.raises(ParameterError):
        S.scaling(F, DIAM, *ARGS, DELTA, qe=1.5)
    with pytest.raises(ParameterError):
        S.scaling(F, DIAM, LAM, P, 0.0, DELTA)
    with pytest.raises(ParameterError):
        S.fluence_from_scaling(1.0, 0.0, *ARGS, DELTA)


# ----------------------------------------------------------------------------- image model


@pytest.mark.parametrize("mode", ["per_axis", "exact"])
@pytest.mark.parametrize("diameter", [25e-9, 60e-9, 400e-9])
def test_sphere_intensity_equals_profile_of_qmap(mode, diameter):
    shape, cx, cy = (200, 300), 3.3, -7.6
    lam = S.wavelength_from_energy_eV(5500)
    args = (diameter, F, lam, 110e-6, 2.4, DELTA, 0.95)
    img = S.sphere_intensity(shape, cx, cy, *args, qmap=mode)
    ref = S.intensity_profile(S.qmap(shape, cx, cy, 110e-6, 2.4, mode=mode),
                              S.scaling(F, diameter, lam, 110e-6, 2.4, DELTA, 0.95),
                              S.size_parameter(diameter, lam, 110e-6, 2.4))
    a = ref.max()
    # The default path interpolates a table of f²; it must agree with the closed form to 1e-13·A.
    assert np.max(np.abs(img - ref)) < 1e-12 * a
    exact = S.sphere_intensity(shape, cx, cy, *args, qmap=mode, exact=True)
    assert np.max(np.abs(exact - ref)) < 1e-14 * a


def test_sphere_intensity_cos3_and_out():
    shape = (129, 129)
    flat = S.sphere_intensity(shape, 0, 0, DIAM, F, *ARGS, DELTA)
    out = np.zeros(shape)
    cos3 = S.sphere_intensity(shape, 0, 0, DIAM, F, *ARGS, DELTA, solid_angle="cos3", out=out)
    assert cos3 is out
    assert cos3[64, 64] == flat[64, 64]
    corner_cos = 1 / math.sqrt(1 + (P * math.hypot(64, 64) / D) ** 2)
    assert cos3[0, 0] / flat[0, 0] == pytest.approx(corner_cos**3, rel=1e-12)
    with pytest.raises(ParameterError):
        S.sphere_intensity(shape, 0, 0, DIAM, F, *ARGS, DELTA, solid_angle="obliquity")
    with pytest.raises(ParameterError):
        S.sphere_intensity(shape, 0, 0, DIAM, F, *ARGS, DELTA, out=np.zeros((4, 4)))


def test_sphere_intensity_centre_offset_moves_pattern():
    shape = (64, 80)
    img = S.sphere_intensity(shape, 5.0, -3.0, DIAM, F, *ARGS, DELTA)
    # The maximum is at column (80-1)/2 + 5 = 44.5 → columns 44/45, row (64-1)/2 - 3 = 28.5.
    iy, ix = np.unravel_index(np.argmax(img), shape)
    assert ix in (44, 45) and iy in (28, 29)
    np.testing.assert_allclose(img[:, 44], img[:, 45], rtol=1e-13)


# ----------------------------------------------------------------------------- §6 demo geometry


@pytest.mark.parametrize(
    "d_nm, s, a, r1",
    [(30, 3.04978e-3, 0.66507, 234.49), (50, None, 14.2547, 140.69), (100, None, 912.298, 70.35)],
)
def test_demo_geometry_values(d_nm, s, a, r1):
    lam = S.wavelength_from_energy_eV(5500.0)
    delta = material_index("poliovirus", 5500.0).real
    d = d_nm * 1e-9
    if s is not None:
        assert S.size_parameter(d, lam, 110e-6, 2.4) == pytest.approx(s, rel=1e-5)
    assert S.scaling(1e9, d, lam, 110e-6, 2.4, delta, qe=0.95) == pytest.approx(a, rel=1e-5)
    assert S.minima_radii(d, lam, 110e-6, 2.4, 1)[0] == pytest.approx(r1, abs=0.01)


# ----------------------------------------------------------------------------- house rules


def test_core_imports_only_numeric_libraries():
    code = (
        "import sys, owlx.core.sphere, owlx.core.materials\n"
        "banned = ('h5py', 'PyQt5', 'pyqtgraph', 'fabio', 'platformdirs')\n"
        "bad = [m for m in banned if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
