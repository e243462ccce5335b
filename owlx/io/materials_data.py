"""Load the material data owlx ships (Henke tables, atomic weights, presets) and look up a
material's refractive index.

The files live in the package ``owlx.resources`` (the repository's ``resources/`` directory):

* ``elements.json``  – Z and IUPAC atomic weight per element, and the name of its table;
* ``henke/<el>.nff`` – CXRO/Henke f1, f2 against photon energy in eV (provenance in
  ``henke/PROVENANCE.md``);
* ``materials.json`` – the presets of spec/sphere.md §3.3 (relative atom counts, density in kg/m³).

The maths is in :mod:`owlx.core.materials`; this module only reads the files, which
``owlx.core`` may not do.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Mapping

import numpy as np

from owlx.core.materials import refractive_index
from owlx.errors import ParameterError

__all__ = ["load_tables", "load_presets", "material_index", "preset_names"]

_PACKAGE = "owlx.resources"


def _read_json(name: str) -> dict:
    return json.loads(resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def load_tables() -> Mapping[str, tuple]:
    """Scattering-factor tables of all shipped elements, read once and cached.

    Returns ``{element: (Z, atomic_weight, E_eV, f1, f2)}``: ``Z`` int, ``atomic_weight`` in u
    (g/mol), and three read-only float64 arrays (energy in eV ascending, f1, f2), the form
    :func:`owlx.core.materials.refractive_index` expects.
    """
    tables = {}
    root = resources.files(_PACKAGE)
    for element, info in _read_json("elements.json")["elements"].items():
        text = root.joinpath(info["table"]).read_text(encoding="ascii")
        data = np.loadtxt(text.splitlines(), skiprows=1, dtype=np.float64)
        energy, f1, f2 = (np.ascontiguousarray(col) for col in data.T)
        for array in (energy, f1, f2):
            # The cached arrays are shared by every caller; nobody may change them.
            array.setflags(write=False)
        tables[element] = (int(info["Z"]), float(info["atomic_weight"]), energy, f1, f2)
    return tables


@functools.lru_cache(maxsize=1)
def _presets() -> dict:
    return _read_json("materials.json")["presets"]


def load_presets() -> dict:
    """Material presets: ``{name: {"counts": {el: n}, "density_kg_m3": float, "origin": str}}``.

    Counts are relative numbers of atoms (normalised when used). The result is a fresh copy the
    caller may modify.
    """
    return copy.deepcopy(_presets())


def preset_names() -> list:
    """Names of the shipped presets, in the order of spec/sphere.md §3.3."""
    return list(_presets())


def material_index(
    name_or_counts, photon_energy_eV: float, density: float | None = None
) -> complex:
    """Refractive-index decrement δ + iβ of a preset or a custom composition.

    Parameters
    ----------
    name_or_counts
        A preset name (case-insensitive, e.g. ``"poliovirus"``, ``"water"``), or a mapping of
        element symbols to relative atom counts for a custom material.
    photon_energy_eV
        Photon energy in eV (1000–20000 eV).
    density
        Mass density in kg/m³. Optional for a preset (overrides its density), required for a
        custom composition.

    Raises
    ------
    ParameterError
        Unknown preset, missing density, energy outside 1–20 keV, unknown element.
    """
    if isinstance(name_or_counts, str):
        presets = _presets()
        key = name_or_counts.strip().lower()
        if key not in presets:
            raise ParameterError(
                f"unknown material {name_or_counts!r}; known presets: {', '.join(presets)}"
            )
        counts = presets[key]["counts"]
        if density is None:
            density = presets[key]["density_kg_m3"]
    else:
        counts = dict(name_or_counts)
        if density is None:
            raise ParameterError("a custom composition needs a mass density in kg/m³")
    return refractive_index(counts, density, photon_energy_eV, load_tables())
