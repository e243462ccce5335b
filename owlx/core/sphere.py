"""Forward model of a homogeneous sphere's diffraction on a flat detector (spec/sphere.md §1–§2).

Units are SI throughout (m, J, J/m²); intensities are photons per pixel; q is in "pixel units"
(spec §2.1): the momentum transfer expressed as the pixel radius it would have at small angles.

Centre convention (spec §1): a centre is an *offset* ``(cx, cy)`` in pixels from the array middle,
so the beam hits column X_c = (Nx−1)/2 + cx and row Y_c = (Ny−1)/2 + cy, pixel centres sitting at
integer indices. Owl's ``offCenterX``/``offCenterY`` and libspimage use the same convention.

The model (spec §2.2–§2.4)::

    s = (d/2)·p / (D·λ)                      size parameter [1/px]
    u = 2π·q·s
    f(u) = 3 (sin u − u cos u) / u³           form factor, f(0) = 1
    I = A · f(u)²                             photons per pixel
    A = (F/E_ph) · (2π δ V / λ²)² · (p/D)² · QE   photons per pixel at q = 0

with d the diameter, p the pixel size, D the detector distance, λ the wavelength, F the fluence,
E_ph = hc/λ, V = πd³/6 and δ = Re(1 − n) of the material. The formulas follow libspimage's
sphere model (FXIhub/libspimage) and Condor; this is an independent implementation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import constants
from scipy.optimize import brentq

from owlx.errors import ParameterError

__all__ = [
    "wavelength_from_energy_eV",
    "energy_eV_from_wavelength",
    "qmap",
    "size_parameter",
    "diameter_from_size_parameter",
    "form_factor",
    "form_factor_zeros",
    "intensity_profile",
    "scaling",
    "fluence_from_scaling",
    "sphere_intensity",
    "minima_radii",
]

_HC_EV_M = constants.h * constants.c / constants.e  # 1.239841984e-6 eV·m
_HC_J_M = constants.h * constants.c  # J·m

# Step in u of the f² lookup table of sphere_intensity. Cubic Hermite interpolation with exact
# derivatives has an error ≤ h⁴/384·max|d⁴f²/du⁴| ≈ 1.1e-3·h⁴, i.e. < 2e-14·A at h = 2e-3:
# far below Poisson noise and float32 storage, and smooth, so finite-difference Jacobians of a
# fit see the model, not the table.
_TABLE_STEP_U = 2e-3


# ----------------------------------------------------------------------------- conversions


def _positive(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _non_negative(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return value


def wavelength_from_energy_eV(energy_eV: float) -> float:
    """Wavelength [m] of a photon of ``energy_eV`` [eV]: λ = hc/E (5.5 keV → 2.254258e-10 m)."""
    return _HC_EV_M / _positive("photon energy", energy_eV)


def energy_eV_from_wavelength(wavelength_m: float) -> float:
    """Photon energy [eV] for a wavelength [m]: E = hc/λ."""
    return _HC_EV_M / _positive("wavelength", wavelength_m)


def size_parameter(
    d_m: float, wavelength_m: float, pixel_size_m: float, distance_m: float
) -> float:
    """Size parameter s = (d/2)·p/(D·λ) in 1/px for diameter ``d_m`` [m] (spec §2.2)."""
    return (0.5 * _non_negative("diameter", d_m) * _positive("pixel size", pixel_size_m)
            / (_positive("detector distance", distance_m) * _positive("wavelength", wavelength_m)))


def diameter_from_size_parameter(
    s: float, wavelength_m: float, pixel_size_m: float, distance_m: float
) -> float:
    """Diameter [m] for size parameter ``s`` [1/px]: d = 2·s·D·λ/p (inverse of size_parameter)."""
    return (2.0 * _non_negative("size parameter", s) * _positive("detector distance", distance_m)
            * _positive("wavelength", wavelength_m) / _positive("pixel size", pixel_size_m))


# ----------------------------------------------------------------------------- q mapping


@njit(cache=True, nogil=True)
def _q_of_radius(x, p_over_d):
    """q [px units] of a pixel distance x [px]: 2·sin(½·atan(t))·D/p with t = x·p/D.

    Written as x·sqrt(2/(w(1+w))), w = sqrt(1+t²), which is the same value without atan/sin and
    without cancellation at small t. Odd in x, so it also serves the signed per-axis map.
    """
    t = x * p_over_d
    w = math.sqrt(1.0 + t * t)
    return x * math.sqrt(2.0 / (w * (1.0 + w)))


def _pixel_coordinates(shape, cx, cy):
    """Column and row coordinates [px] relative to the centre offset (cx, cy) (spec §1)."""
    ny, nx = int(shape[0]), int(shape[1])
    if ny < 1 or nx < 1:
        raise ParameterError(f"image shape must be positive, got {tuple(shape)!r}")
    xx = np.arange(nx, dtype=np.float64) - (0.5 * (nx - 1) + float(cx))
    yy = np.arange(ny, dtype=np.float64) - (0.5 * (ny - 1) + float(cy))
    return xx, yy


def _check_mode(mode: str) -> bool:
    """True for the exact-angle map, False for the per-axis one."""
    if mode == "per_axis":
        return False
    if mode == "exact":
        return True
    raise ParameterError(f"unknown q-map {mode!r}: use 'per_axis' or 'exact'")


@njit(cache=True, nogil=True)
def _qmap_kernel(xx, yy, p_over_d, exact, out):
    gx = np.empty(xx.size)
    for ix in range(xx.size):
        gx[ix] = _q_of_radius(xx[ix], p_over_d)
    for iy in range(yy.size):
        gy = _q_of_radius(yy[iy], p_over_d)
        for ix in range(xx.size):
            if exact:
                out[iy, ix] = _q_of_radius(math.sqrt(xx[ix] ** 2 + yy[iy] ** 2), p_over_d)
            else:
                out[iy, ix] = math.sqrt(gx[ix] * gx[ix] + gy * gy)


def qmap(
    shape, cx: float, cy: float, pixel_size_m: float, distance_m: float, mode: str = "per_axis"
) -> np.ndarray:
    """|q| in pixel units for every pixel of an image of ``shape`` = (ny, nx) (spec §2.1).

    ``(cx, cy)`` is the beam centre as an offset in px from the array middle ((Nx−1)/2, (Ny−1)/2).
    ``mode="per_axis"`` (default, the reference's): q = sqrt(g(xx)² + g(yy)²) with
    g(t) = 2·sin(½·atan(p·t/D))·D/p; ``mode="exact"``: q = g(r), r = sqrt(xx² + yy²). Both equal
    r at small angles. Returns a float64 (ny, nx) array. Physical q = (2π/λ)(p/D)·q.
    """
    exact = _check_mode(mode)
    p_over_d = _positive("pixel size", pixel_size_m) / _positive("detector distance", distance_m)
    xx, yy = _pixel_coordinates(shape, cx, cy)
    out = np.empty((yy.size, xx.size))
    _qmap_kernel(xx, yy, p_over_d, exact, out)
    return out


# ----------------------------------------------------------------------------- form factor


@njit(cache=True, nogil=True)
def _ff(u):
    """f(u) = 3(sin u − u cos u)/u³, with its 4-term Taylor series below u = 0.1.

    The closed form loses digits to cancellation as u → 0; the series is exact to ~u⁸/1.3e6
    (< 1e-13 at u = 0.1), so the switch is continuous to < 1e-13 relative (spec §2.3).
    """
    u = abs(u)
    if u < 0.1:
        u2 = u * u
        return 1.0 - u2 * (1.0 / 10.0 - u2 * (1.0 / 280.0 - u2 / 15120.0))
    return 3.0 * (math.sin(u) - u * math.cos(u)) / (u * u * u)


@njit(cache=True, nogil=True)
def _dff(u):
    """df/du, the derivative of :func:`_ff` (series below 0.1, closed form above)."""
    if u < 0.1:
        u2 = u * u
        return -u * (1.0 / 5.0 - u2 * (1.0 / 70.0 - u2 / 2520.0))
    s, c = math.sin(u), math.cos(u)
    return 3.0 * ((u * u - 3.0) * s + 3.0 * u * c) / (u * u * u * u)


@njit(cache=True, nogil=True)
def _ff_array(u, out):
    for i in range(u.size):
        out[i] = _ff(u[i])


def form_factor(u):
    """Sphere form factor f(u) = 3(sin u − u cos u)/u³ (dimensionless, f(0) = 1, even in u).

    ``u`` = 2π·q·s may be a scalar or an array; the result has the same shape (float64).
    Intensity is A·f(u)². Reference values: f(0.5) = 0.97522218, f(1) = 0.90350604.
    """
    arr = np.asarray(u, dtype=np.float64)
    out = np.empty(arr.size)
    _ff_array(np.ascontiguousarray(arr).ravel(), out)
    if arr.ndim == 0:
        return float(out[0])
    return out.reshape(arr.shape)


def form_factor_zeros(n: int) -> np.ndarray:
    """The first ``n`` positive zeros u_k of f, i.e. roots of tan u = u (4.493409, 7.725252, ...).

    Root k lies in (kπ, kπ + π/2) where sin u − u cos u changes sign; found by Brent's method.
    """
    n = int(n)
    if n < 0:
        raise ParameterError(f"number of zeros must be ≥ 0, got {n}")

    def g(u):
        return math.sin(u) - u * math.cos(u)

    return np.array([brentq(g, k * math.pi, (k + 0.5) * math.pi, xtol=1e-14)
                     for k in range(1, n + 1)])


@njit(cache=True, nogil=True)
def _profile_kernel(q, k, a, out):
    for i in range(q.size):
        f = _ff(k * q[i])
        out[i] = a * f * f


def intensity_profile(q, scaling_A: float, size_s: float) -> np.ndarray:
    """A·f(2π·q·s)² evaluated exactly (closed form) at q-values ``q`` [px units].

    ``scaling_A`` is photons per pixel at q = 0 (see :func:`scaling`), ``size_s`` the size
    parameter [1/px]. This is the per-pixel model the fits evaluate on their pixels.
    """
    arr = np.asarray(q, dtype=np.float64)
    out = np.empty(arr.size)
    _profile_kernel(np.ascontiguousarray(arr).ravel(), 2.0 * math.pi * float(size_s),
                    float(scaling_A), out)
    if arr.ndim == 0:
        return float(out[0])
    return out.reshape(arr.shape)


# ----------------------------------------------------------------------------- scaling


def _sphere_factor(d_m, wavelength_m, pixel_size_m, distance_m, delta, qe):
    """Photons per pixel at q = 0 per unit fluence [photons/px per J/m²]."""
    d = _non_negative("diameter", d_m)
    lam = _positive("wavelength", wavelength_m)
    p_over_d = _positive("pixel size", pixel_size_m) / _positive("detector distance", distance_m)
    solid_angle = p_over_d**2
    qe = float(qe)
    if not (0.0 < qe <= 1.0):
        raise ParameterError(f"quantum efficiency must be in (0, 1], got {qe!r}")
    delta = float(delta)
    if not math.isfinite(delta):
        raise ParameterError(f"refractive-index decrement δ must be finite, got {delta!r}")
    volume = math.pi * d**3 / 6.0
    photon_energy = _HC_J_M / lam
    # 2πδ/λ² = r_e·ρ_e: the amplitude is Thomson scattering by the sphere's V·ρ_e electrons.
    return (2.0 * math.pi * delta * volume / lam**2) ** 2 * solid_angle * qe / photon_energy


def scaling(
    fluence_J_m2: float,
    d_m: float,
    wavelength_m: float,
    pixel_size_m: float,
    distance_m: float,
    delta: float,
    qe: float = 1.0,
) -> float:
    """Photons per pixel at q = 0, A = (F/E_ph)·(2πδV/λ²)²·(p/D)²·QE (spec §2.4).

    ``fluence_J_m2`` F [J/m²] (1 mJ/µm² = 1e9 J/m²), ``d_m`` diameter [m], ``wavelength_m`` [m],
    ``pixel_size_m`` and ``distance_m`` [m], ``delta`` = Re(1 − n) of the material, ``qe`` the
    detector quantum efficiency. No polarisation or obliquity factor. A ∝ F·d⁶·QE.
    """
    return _non_negative("fluence", fluence_J_m2) * _sphere_factor(
        d_m, wavelength_m, pixel_size_m, distance_m, delta, qe)


def fluence_from_scaling(
    scaling_A: float,
    d_m: float,
    wavelength_m: float,
    pixel_size_m: float,
    distance_m: float,
    delta: float,
    qe: float = 1.0,
) -> float:
    """Fluence [J/m²] that gives ``scaling_A`` photons/px at q = 0 (inverse of :func:`scaling`)."""
    factor = _sphere_factor(d_m, wavelength_m, pixel_size_m, distance_m, delta, qe)
    if factor <= 0:
        raise ParameterError(
            "the fluence is undefined for a sphere that does not scatter (d or δ is 0)")
    return _non_negative("scaling", scaling_A) / factor


# ----------------------------------------------------------------------------- image model


@njit(cache=True, nogil=True)
def _ff2_table(h, n):
    """Cubic pieces of f(u)² on [ih, (i+1)h], i < n: coefficients c[i] of c0 + c1·t + c2·t² + c3·t³
    in t = u/h − i. Each is the Hermite interpolant of f² and its exact derivative at both ends,
    so the table is continuous with a continuous slope."""
    coef = np.empty((n, 4))
    f = _ff(0.0)
    y0, m0 = f * f, 2.0 * f * _dff(0.0) * h
    for i in range(n):
        f = _ff((i + 1) * h)
        y1, m1 = f * f, 2.0 * f * _dff((i + 1) * h) * h
        coef[i, 0] = y0
        coef[i, 1] = m0
        coef[i, 2] = 3.0 * (y1 - y0) - 2.0 * m0 - m1
        coef[i, 3] = 2.0 * (y0 - y1) + m0 + m1
        y0, m0 = y1, m1
    return coef


@njit(cache=True, nogil=True)
def _ff2(u, coef, inv_h):
    """f(u)², from the table when it is non-empty (u must lie inside it), else the closed form."""
    n = coef.shape[0]
    if n == 0:
        f = _ff(u)
        return f * f
    t = u * inv_h
    # The clamp only guards against rounding at the table's far end (the table has spare rows).
    j = min(int(t), n - 1)
    t -= j
    return coef[j, 0] + t * (coef[j, 1] + t * (coef[j, 2] + t * coef[j, 3]))


@njit(cache=True, nogil=True)
def _image_kernel(xx, yy, p_over_d, exact, cos3, a, k, coef, inv_h, out):
    """Fill out[iy, ix] = A·f(k·q)² (× cos³θ if cos3) on the pixel grid xx × yy [px from centre]."""
    nx = xx.size
    gx = np.empty(nx)
    for ix in range(nx):
        gx[ix] = _q_of_radius(xx[ix], p_over_d)
    for iy in range(yy.size):
        y = yy[iy]
        gy = _q_of_radius(y, p_over_d)
        if not exact and not cos3:
            # The common case gets its own lean inner loop (about twice as fast).
            gy2 = gy * gy
            for ix in range(nx):
                out[iy, ix] = a * _ff2(k * math.sqrt(gx[ix] * gx[ix] + gy2), coef, inv_h)
            continue
        for ix in range(nx):
            r = math.sqrt(xx[ix] * xx[ix] + y * y)
            if exact:
                q = _q_of_radius(r, p_over_d)
            else:
                q = math.sqrt(gx[ix] * gx[ix] + gy * gy)
            v = a * _ff2(k * q, coef, inv_h)
            if cos3:
                tt = p_over_d * r
                c = 1.0 / math.sqrt(1.0 + tt * tt)
                v *= c * c * c
            out[iy, ix] = v


def sphere_intensity(
    shape,
    cx: float,
    cy: float,
    d_m: float,
    fluence_J_m2: float,
    wavelength_m: float,
    pixel_size_m: float,
    distance_m: float,
    delta: float,
    qe: float = 1.0,
    qmap: str = "per_axis",
    solid_angle: str = "flat",
    exact: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Expected photons per pixel of a sphere's diffraction, float64 array of ``shape`` = (ny, nx).

    Parameters
    ----------
    shape
        (ny, nx) of the detector image.
    cx, cy
        Beam centre as an offset [px] from the array middle ((Nx−1)/2, (Ny−1)/2) (spec §1).
    d_m, fluence_J_m2
        Sphere diameter [m] and fluence at the sample [J/m²].
    wavelength_m, pixel_size_m, distance_m
        Photon wavelength, detector pixel size and sample–detector distance [m].
    delta, qe
        Material's δ = Re(1 − n) and the detector quantum efficiency (0, 1].
    qmap
        ``"per_axis"`` (default, the reference's mapping) or ``"exact"``, see :func:`qmap`.
    solid_angle
        ``"flat"`` (default, as the reference: every pixel subtends (p/D)²) or ``"cos3"``
        (× cos³ of the pixel's scattering angle, Condor's correction).
    exact
        Evaluate f with the closed form at every pixel instead of the interpolation table.
        The table (used by default) agrees to < 1e-13·A and is several times faster: the model
        depends on the pixel only through q, so f² is tabulated once on a fine u-grid.
    out
        Optional float64 C-contiguous array of ``shape`` to write into.
    """
    exact_map = _check_mode(qmap)
    if solid_angle not in ("flat", "cos3"):
        raise ParameterError(f"unknown solid-angle model {solid_angle!r}: use 'flat' or 'cos3'")
    a = scaling(fluence_J_m2, d_m, wavelength_m, pixel_size_m, distance_m, delta, qe)
    s = size_parameter(d_m, wavelength_m, pixel_size_m, distance_m)
    p_over_d = pixel_size_m / distance_m
    xx, yy = _pixel_coordinates(shape, cx, cy)
    if out is None:
        out = np.empty((yy.size, xx.size))
    elif out.shape != (yy.size, xx.size) or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ParameterError("out must be a C-contiguous float64 array of the image shape")
    k = 2.0 * math.pi * s
    # Largest q on the frame is at a corner (q grows with |x| and |y| in both maps).
    x_max, y_max = float(np.max(np.abs(xx))), float(np.max(np.abs(yy)))
    if exact_map:
        q_max = float(_q_of_radius(math.hypot(x_max, y_max), p_over_d))
    else:
        q_max = math.hypot(float(_q_of_radius(x_max, p_over_d)),
                           float(_q_of_radius(y_max, p_over_d)))
    n_table = int(k * q_max / _TABLE_STEP_U) + 3
    if exact or n_table > out.size // 4:
        # A table as long as a quarter of the image would cost about as much as it saves.
        coef = np.empty((0, 4))
    else:
        coef = _ff2_table(_TABLE_STEP_U, n_table)
    _image_kernel(xx, yy, p_over_d, exact_map, solid_angle == "cos3", a, k, coef,
                  1.0 / _TABLE_STEP_U, out)
    return out


# ----------------------------------------------------------------------------- minima rings


def minima_radii(
    d_m: float,
    wavelength_m: float,
    pixel_size_m: float,
    distance_m: float,
    n: int,
    flat: bool = True,
) -> np.ndarray:
    """Radii [px] of the first ``n`` intensity minima (zeros of f) around the beam centre.

    ``flat=True`` gives the small-angle radii Owl draws (viewer.md Mo4),
    r_k = u_k·D·λ/(π·d·p) = u_k/(2π·s), which are also the minima's q-radii in pixel units.
    ``flat=False`` converts these q-radii to true pixel radii through the exact-angle map,
    r = (D/p)·tan(2·asin(q·p/(2D))). With the per-axis map these radii hold along the axes; along
    a diagonal the minimum sits slightly closer (100.312 vs 100.315 px in spec §2.5).
    u_k are the roots of tan u = u, found numerically. Returns a float64 array of ``n`` radii;
    minima beyond 90° scattering angle (never on a flat detector) are ``inf`` when ``flat=False``.
    """
    s = size_parameter(d_m, wavelength_m, pixel_size_m, distance_m)
    if s <= 0:
        raise ParameterError("minima rings need a diameter > 0")
    q = form_factor_zeros(n) / (2.0 * math.pi * s)
    if flat:
        return q
    half_sin = q * (pixel_size_m / (2.0 * distance_m))
    radii = np.full(q.shape, np.inf)
    # A minimum beyond 90° scattering angle (sin ≥ 1 after mapping) never reaches a flat detector.
    ok = half_sin < math.sqrt(0.5)
    radii[ok] = (distance_m / pixel_size_m) * np.tan(2.0 * np.arcsin(half_sin[ok]))
    return radii
