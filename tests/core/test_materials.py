"""Materials: spec/sphere.md §3 (presets, Henke interpolation, energy range) and §7 check 5."""

import hashlib
import json
import re
from importlib import resources

import numpy as np
import pytest

from owlx.core import materials as M
from owlx.errors import ParameterError
from owlx.io.materials_data import load_presets, load_tables, material_index, preset_names

# §3.3: δ, β at 5.5 keV with owlx's (IUPAC) atomic weights
PRESETS = {
    "poliovirus": (9.803711e-6, 6.7716e-8),
    "virus": (1.002775e-5, 9.9340e-8),
    "water": (7.676479e-6, 5.7047e-8),
    "protein": (9.982345e-6, 9.2268e-8),
    "cell": (7.529980e-6, 1.0154e-7),
    "latex": (7.790017e-6, 2.4363e-8),
    "dna": (1.214951e-5, 1.2787e-7),
    "lipid": (7.645350e-6, 4.6451e-8),
    "genophore": (1.142814e-5, 1.0959e-7),
    "mimivirus": (8.282978e-6, 1.1169e-7),
    "carboxysome": (9.241423e-6, 9.1404e-8),
    "sucrose": (1.167716e-5, 6.9322e-8),
    "gold": (1.010496e-4, 1.8955e-5),
    "condor_water": (7.653403e-6, 5.6876e-8),
    "condor_protein": (1.000999e-5, 6.2216e-8),
    "condor_sucrose": (1.163301e-5, 6.9060e-8),
    "styrene": (6.691996e-6, 2.0929e-8),
}

# §3.4: δ + iβ across the energy range
ENERGY_TABLE = {
    1000: {"poliovirus": 3.05444e-4 + 3.7946e-5j, "water": 2.35219e-4 + 4.0370e-5j,
           "gold": 2.10404e-3 + 1.0296e-3j},
    2000: {"poliovirus": 7.51755e-5 + 2.7406e-6j, "water": 5.93440e-5 + 3.0637e-6j,
           "gold": 5.09807e-4 + 1.0580e-4j},
    8000: {"poliovirus": 4.61754e-6 + 1.4874e-8j, "water": 3.61277e-6 + 1.2272e-8j,
           "gold": 4.76810e-5 + 4.9547e-6j},
    12000: {"poliovirus": 2.04753e-6 + 2.8082e-9j, "water": 1.60130e-6 + 2.2581e-9j,
            "gold": 1.83802e-5 + 2.8503e-6j},
    20000: {"poliovirus": 7.36020e-7 + 3.3330e-10j, "water": 5.75477e-7 + 2.5824e-10j,
            "gold": 7.94340e-6 + 7.2582e-7j},
}

# §3.4: interpolated f1, f2 at 5.5 keV
F_AT_5500 = {
    "H": (0.999998, 2.7700e-6), "C": (6.037473, 2.2007e-2), "N": (7.061886, 4.1427e-2),
    "O": (8.096152, 7.5023e-2), "P": (15.406134, 0.88596), "S": (16.402887, 1.10473),
    "Au": (75.137993, 14.0944),
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_delta_beta_at_5500(name):
    delta, beta = PRESETS[name]
    dn = material_index(name, 5500.0)
    assert dn.real == pytest.approx(delta, rel=1e-5)
    # β is printed with 5 significant digits, so rounding alone can differ by 5e-5 relative
    # (`cell`: 1.015356e-7 is printed 1.0154e-7); it must round to exactly the printed value.
    assert float(f"{dn.imag:.4e}") == beta


@pytest.mark.parametrize("energy", list(ENERGY_TABLE))
def test_energy_table(energy):
    for name, expected in ENERGY_TABLE[energy].items():
        dn = material_index(name, float(energy))
        assert dn.real == pytest.approx(expected.real, rel=1e-4), name
        assert dn.imag == pytest.approx(expected.imag, rel=1e-4), name


def test_scattering_factors_at_5500():
    tables = load_tables()
    for element, (f1, f2) in F_AT_5500.items():
        got1, got2 = M.scattering_factors(element, 5500.0, tables)
        assert got1 == pytest.approx(f1, abs=1.5e-6), element
        assert got2 == pytest.approx(f2, rel=1e-4), element


def test_interpolation_is_linear_between_rows():
    # 5.5 keV lies between rows 5476.39 and 5564.97 eV of every table.
    for element, (_, _, e, f1, _) in load_tables().items():
        j = np.searchsorted(e, 5500.0)
        assert (e[j - 1], e[j]) == (5476.39, 5564.97), element
        w = (5500.0 - e[j - 1]) / (e[j] - e[j - 1])
        expected = (1 - w) * f1[j - 1] + w * f1[j]
        got = M.scattering_factors(element, 5500.0, load_tables())[0]
        assert got == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("energy", [500.0, 999.0, 20001.0, 25000.0])
def test_energy_outside_range_raises(energy):
    with pytest.raises(ParameterError, match="no scattering-factor data"):
        material_index("water", energy)


def test_range_ends_are_accepted():
    assert material_index("water", 1000.0).real > 0
    assert material_index("water", 20000.0).real > 0


def test_atomic_data():
    tables = load_tables()
    assert set(tables) == {"H", "C", "N", "O", "P", "S", "Au"}
    assert tables["S"][1] == 32.06  # libspimage's 28.08 is silicon's mass
    expected = {"H": (1, 1.008), "C": (6, 12.011), "N": (7, 14.007), "O": (8, 15.999),
                "P": (15, 30.973762), "S": (16, 32.06), "Au": (79, 196.966570)}
    for element, (z, weight) in expected.items():
        assert tables[element][:2] == (z, weight)


def test_poliovirus_densities():
    counts = load_presets()["poliovirus"]["counts"]
    tables = load_tables()
    assert M.atom_density(counts, 1340, tables) == pytest.approx(1.03800e29, rel=1e-5)
    assert M.electron_density(counts, 1340, tables) == pytest.approx(4.26733e29, rel=1e-5)


def test_thomson_identity():
    # 2πδ/λ² = r_e·Σ N_i f1_i ≈ r_e·ρ_e at energies far above the edges (f1 ≈ Z*).
    from scipy import constants

    r_e = constants.physical_constants["classical electron radius"][0]
    lam = constants.h * constants.c / constants.e / 20000.0
    dn = material_index("water", 20000.0)
    rho_e = M.electron_density({"H": 2, "O": 1}, 998, load_tables())
    assert 2 * np.pi * dn.real / lam**2 == pytest.approx(r_e * rho_e, rel=2e-3)


def test_custom_composition_and_density_override():
    tables = load_tables()
    water = material_index({"H": 2, "O": 1}, 5500.0, density=998)
    assert water == material_index("water", 5500.0)
    # Counts are relative: scaling them changes nothing.
    scaled = M.refractive_index({"H": 20, "O": 10}, 998, 5500.0, tables)
    assert scaled == pytest.approx(water, rel=1e-14)
    # δ and β are proportional to the density.
    assert material_index("Water", 5500.0, density=1996) == pytest.approx(2 * water, rel=1e-14)
    with pytest.raises(ParameterError):
        material_index({"H": 2, "O": 1}, 5500.0)  # custom needs a density
    with pytest.raises(ParameterError, match="unknown material"):
        material_index("unobtainium", 5500.0)
    with pytest.raises(ParameterError, match="Fe"):
        material_index({"Fe": 1}, 5500.0, density=7874)
    with pytest.raises(ParameterError):
        M.refractive_index({"H": -1, "O": 1}, 998, 5500.0, tables)
    with pytest.raises(ParameterError):
        M.refractive_index({"H": 0}, 998, 5500.0, tables)
    with pytest.raises(ParameterError):
        M.refractive_index({"H": 2, "O": 1}, 0.0, 5500.0, tables)


def test_presets_file_matches_spec():
    presets = load_presets()
    assert list(presets) == list(PRESETS) == preset_names()
    assert presets["protein"]["counts"]["S"] == 3 and presets["condor_protein"]["counts"]["S"] == 1
    assert presets["poliovirus"]["density_kg_m3"] == 1340
    presets["water"]["density_kg_m3"] = 1  # a copy: the cache is untouched
    assert load_presets()["water"]["density_kg_m3"] == 998
    for entry in presets.values():
        assert set(entry) == {"counts", "density_kg_m3", "origin"}


def test_tables_are_read_only_and_cover_the_range():
    for element, (_, _, e, f1, f2) in load_tables().items():
        assert not e.flags.writeable
        assert e[0] < 1000.0 and e[-1] > 20000.0
        assert np.all(np.diff(e) > 0)
        assert np.all(f1 != -9999)
        assert len(e) == len(f1) == len(f2)
    # Paired rows 0.1 eV either side of the absorption edges are kept.
    e_au = load_tables()["Au"][2]
    for edge in (11918.7, 13733.6, 14352.8):
        assert np.any(np.isclose(e_au, edge - 0.1)) and np.any(np.isclose(e_au, edge + 0.1))


def test_provenance_checksums():
    root = resources.files("owlx.resources")
    text = root.joinpath("henke/PROVENANCE.md").read_text(encoding="utf-8")
    assert "2026-11-21" in text and "periodictable" in text
    for element in ("h", "c", "n", "o", "p", "s", "au"):
        digest = hashlib.sha256(root.joinpath(f"henke/{element}.nff").read_bytes()).hexdigest()
        row = re.search(rf"`{element}\.nff` \| \d+ \| `([0-9a-f]{{64}})`", text)
        assert row is not None and row.group(1) == digest, element
    json.loads(root.joinpath("elements.json").read_text(encoding="utf-8"))
