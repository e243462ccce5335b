"""Refractive index of a material from its composition, after Henke (spec/sphere.md §3).

The refractive index of a material of atoms with scattering factors f1 + i f2 is
n = 1 − (r_e / 2π) · λ² · N_at · Σ_i c_i (f1_i + i f2_i). Like libspimage and Condor, owlx reports
the *decrement* as one complex number

    dn = 1 − n = δ + iβ = (r_e / 2π) · λ² · N_at · Σ_i c_i (f1_i + i f2_i),

where c_i are the composition counts normalised to Σ c_i = 1, N_at = ρ_m / (u · Σ c_i m_i) is the
number of atoms per m³, and f1, f2 are the Henke atomic scattering factors interpolated linearly in
photon energy (as ``numpy.interp``). Reference: B. L. Henke, E. M. Gullikson and J. C. Davis,
At. Data Nucl. Data Tables 54, 181–342 (1993).

This module does no file access: the scattering-factor tables are passed in as a mapping

    tables[element] = (Z, atomic_weight, E_eV, f1, f2)

with ``Z`` the atomic number, ``atomic_weight`` in unified atomic mass units (g/mol), and the last
three equal-length 1-D arrays (energy in eV, ascending). :func:`owlx.io.materials_data.load_tables`
builds it from the files owlx ships.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import constants

from owlx.errors import ParameterError

__all__ = [
    "MIN_ENERGY_EV",
    "MAX_ENERGY_EV",
    "atom_density",
    "electron_density",
    "refractive_index",
    "scattering_factors",
]

#: Energy range [eV] over which owlx accepts refractive-index requests (spec/sphere.md §3.1).
MIN_ENERGY_EV = 1000.0
MAX_ENERGY_EV = 20000.0

# hc/e: converts photon energy in eV to wavelength in m (1.239841984e-6 eV·m).
_HC_EV_M = constants.h * constants.c / constants.e
_R_E = constants.physical_constants["classical electron radius"][0]  # m

Table = Sequence  # (Z, atomic_weight, E_eV, f1, f2)


def _normalised_composition(counts: Mapping[str, float], tables: Mapping[str, Table]):
    """Return (elements, fractions) with fractions summing to 1; zero counts are dropped."""
    elements, values = [], []
    for element, count in counts.items():
        count = float(count)
        if not math.isfinite(count) or count < 0:
            raise ParameterError(
                f"composition count of {element!r} must be a finite number ≥ 0, got {count!r}"
            )
        if count == 0:
            continue
        if element not in tables:
            known = ", ".join(sorted(tables))
            raise ParameterError(
                f"no scattering-factor data for element {element!r} (available: {known})"
            )
        elements.append(element)
        values.append(count)
    total = sum(values)
    if total <= 0:
        raise ParameterError("the composition is empty: give at least one count > 0")
    return elements, np.array(values) / total


def _check_density(density_kg_m3: float) -> float:
    density = float(density_kg_m3)
    if not math.isfinite(density) or density <= 0:
        raise ParameterError(f"mass density must be > 0 kg/m³, got {density_kg_m3!r}")
    return density


def _check_energy(photon_energy_eV: float) -> float:
    energy = float(photon_energy_eV)
    if not (MIN_ENERGY_EV <= energy <= MAX_ENERGY_EV):
        raise ParameterError(
            f"no scattering-factor data at {energy:g} eV: owlx's material model covers "
            f"{MIN_ENERGY_EV / 1000:g}–{MAX_ENERGY_EV / 1000:g} keV"
        )
    return energy


def atom_density(
    counts: Mapping[str, float], density_kg_m3: float, tables: Mapping[str, Table]
) -> float:
    """Number of atoms per m³, N_at = ρ_m / (u · Σ c_i m_i).

    ``counts`` maps element symbols to relative numbers of atoms (any scale), ``density_kg_m3`` is
    the mass density ρ_m in kg/m³; atomic weights m_i are taken from ``tables`` (u = atomic mass
    constant in kg).
    """
    density = _check_density(density_kg_m3)
    elements, fractions = _normalised_composition(counts, tables)
    mean_mass_u = sum(c * float(tables[el][1]) for el, c in zip(elements, fractions))
    return density / (constants.atomic_mass * mean_mass_u)


def electron_density(
    counts: Mapping[str, float], density_kg_m3: float, tables: Mapping[str, Table]
) -> float:
    """Number of electrons per m³, ρ_e = N_at · Σ c_i Z_i (arguments as :func:`atom_density`)."""
    elements, fractions = _normalised_composition(counts, tables)
    mean_z = sum(c * float(tables[el][0]) for el, c in zip(elements, fractions))
    return atom_density(counts, density_kg_m3, tables) * mean_z


def scattering_factors(element: str, photon_energy_eV: float, tables: Mapping[str, Table]):
    """Henke (f1, f2) of one element at ``photon_energy_eV``, linearly interpolated in energy.

    Raises :class:`~owlx.errors.ParameterError` outside 1–20 keV or outside the table.
    """
    energy = _check_energy(photon_energy_eV)
    if element not in tables:
        raise ParameterError(f"no scattering-factor data for element {element!r}")
    _, _, e_ev, f1, f2 = tables[element]
    e_ev = np.asarray(e_ev, dtype=float)
    # np.interp would silently clamp at the table ends; a table that does not bracket the
    # energy is a data error, not a reason to extrapolate.
    if not (e_ev[0] <= energy <= e_ev[-1]):
        raise ParameterError(
            f"no scattering-factor data for {element} at {energy:g} eV "
            f"(table covers {e_ev[0]:g}–{e_ev[-1]:g} eV)"
        )
    return float(np.interp(energy, e_ev, f1)), float(np.interp(energy, e_ev, f2))


def refractive_index(
    counts: Mapping[str, float],
    density_kg_m3: float,
    photon_energy_eV: float,
    tables: Mapping[str, Table],
) -> complex:
    """Refractive-index decrement dn = 1 − n = δ + iβ of a material (spec/sphere.md §3.1).

    Parameters
    ----------
    counts
        Relative numbers of atoms per element symbol, e.g. ``{"H": 2, "O": 1}`` (any scale).
    density_kg_m3
        Mass density ρ_m in kg/m³.
    photon_energy_eV
        Photon energy in eV, 1000–20000 eV; outside this range a
        :class:`~owlx.errors.ParameterError` ("no scattering-factor data ...") is raised.
    tables
        ``element -> (Z, atomic_weight, E_eV, f1, f2)``, see the module docstring.

    Returns
    -------
    complex
        δ + iβ (both positive for ordinary matter). The sphere model uses δ only.
    """
    energy = _check_energy(photon_energy_eV)
    elements, fractions = _normalised_composition(counts, tables)
    f_mean = 0j
    for element, c in zip(elements, fractions):
        f1, f2 = scattering_factors(element, energy, tables)
        f_mean += c * complex(f1, f2)
    wavelength = _HC_EV_M / energy
    n_at = atom_density(counts, density_kg_m3, tables)
    return complex(_R_E / (2 * math.pi) * wavelength**2 * n_at * f_mean)
