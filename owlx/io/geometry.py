"""Experiment geometry found in a CXI/HDF5 file (spec/formats.md §1.7), in SI units.

Values are read from the CXI places listed below (first usable one wins). A ``units`` attribute
is honoured (``m``, ``mm``, ``um``/``µm``, ``nm``, ``J``, ``eV``, ``keV``); without one the value
is SI, as the CXI specification requires. owlx does not guess units: a value outside the
plausible SI range is not used, and a warning names the dataset, the value and the unit it
probably is in, so the user can fix the file or type the value in.
"""

from __future__ import annotations

import h5py
import numpy as np

from owlx.io.source import Geometry

#: h·c in J·m (λ[m] = HC / E[J]); the constant of spec/formats.md §1.7
HC_J_M = 1.98644586e-25
_EV = 1.602176634e-19

_UNITS = {
    "energy": {"j": 1.0, "ev": _EV, "kev": 1e3 * _EV},
    "length": {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "micron": 1e-6, "nm": 1e-9},
}
#: plausible SI ranges (inclusive), and units to suggest, most likely first
_QUANTITIES = {
    "energy": ("energy", (1.6e-18, 1.6e-13), "J", ("eV", "keV")),
    "distance": ("length", (1e-3, 100.0), "m", ("mm", "µm")),
    "pixel size": ("length", (1e-7, 1e-2), "m", ("µm", "mm", "nm")),
}


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8", errors="replace")
    return str(value).strip().strip("\x00")


def _dataset(f: h5py.File, path: str) -> h5py.Dataset | None:
    try:
        obj = f.get(path)
    except (KeyError, OSError, ValueError):  # dangling links, unreadable objects
        return None
    return obj if isinstance(obj, h5py.Dataset) else None


def read_quantity(f: h5py.File, path: str, quantity: str, frame: int = 0) -> tuple[float | None, list[str]]:
    """One geometry value in SI units from dataset ``path``, or None, with warnings.

    ``quantity`` is ``"energy"``, ``"distance"`` or ``"pixel size"``. Per-frame arrays give the
    value of ``frame`` (clamped to the array), with a warning when values differ by more than 1%.
    """
    ds = _dataset(f, path)
    if ds is None:
        return None, []
    family, (low, high), si_unit, suggestions = _QUANTITIES[quantity]
    warnings: list[str] = []
    try:
        values = np.asarray(ds[()], dtype=np.float64).ravel()
    except (TypeError, ValueError, OSError):
        return None, [f"{path}: cannot read the {quantity} as a number; ignored"]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, []
    value = float(values[min(max(frame, 0), values.size - 1)])
    if values.size > 1 and np.ptp(values) > 0.01 * np.max(np.abs(values)):
        warnings.append(f"{path} differs by more than 1% between frames; the value of frame {frame} is used")
    units = _text(ds.attrs.get("units", "")) if "units" in ds.attrs else ""
    if units:
        factor = _UNITS[family].get(units.lower())
        if factor is None:
            return None, warnings + [f"{path} = {value:g} has unknown units {units!r}; ignored"]
        value *= factor
    if not low <= value <= high:
        hint = _likely_unit(value, family, (low, high), suggestions) if not units else None
        msg = (
            f"{path} = {value:g} {si_unit} is outside the plausible {quantity} range "
            f"{low:g}–{high:g} {si_unit} and is not used"
        )
        if hint:
            msg += f"; it looks like {hint} — add the attribute units='{hint}' or enter the value by hand"
        warnings.append(msg)
        return None, warnings
    return value, warnings


def _likely_unit(value: float, family: str, limits: tuple[float, float], suggestions) -> str | None:
    for unit in suggestions:
        if limits[0] <= value * _UNITS[family][unit.lower()] <= limits[1]:
            return unit
    return None


def _first(f: h5py.File, paths: list[str], quantity: str, frame: int, geo: Geometry) -> tuple[float | None, str]:
    for path in paths:
        value, warnings = read_quantity(f, path, quantity, frame)
        geo.warnings.extend(warnings)
        if value is not None:
            return value, path
    return None, ""


def read_geometry(f: h5py.File, group: str, frame: int = 0) -> Geometry:
    """Wavelength, detector distance and pixel size for the result group ``group``.

    ``<group>`` is the result group of the image (spec/formats.md §1.2) and ``<entry>`` its first
    path component; the places searched, in order, are those of §1.7.
    """
    group = "/" + group.strip("/")
    parts = [p for p in group.split("/") if p]
    entry = "/" + parts[0] if parts else None
    here = group.rstrip("/")
    geo = Geometry()

    energy_paths = [f"{here}/source_1/energy"]
    det_dirs = [f"{here}/detector_1"]
    if entry:
        energy_paths += [f"{entry}/instrument_1/source_1/energy", f"{entry}/instrument_1/monochromator_1/energy"]
        det_dirs.append(f"{entry}/instrument_1/detector_1")
    energy_paths = list(dict.fromkeys(energy_paths))
    det_dirs = list(dict.fromkeys(det_dirs))

    energy, src = _first(f, energy_paths, "energy", frame, geo)
    if energy is not None:
        geo.wavelength_m = HC_J_M / energy
        geo.sources["wavelength"] = src
    distance, src = _first(f, [d + "/distance" for d in det_dirs], "distance", frame, geo)
    if distance is not None:
        geo.distance_m = distance
        geo.sources["distance"] = src
    for det in det_dirs:
        px, src = _first(f, [det + "/x_pixel_size"], "pixel size", frame, geo)
        if px is None:
            continue
        py, _ = read_quantity(f, det + "/y_pixel_size", "pixel size", frame)
        if py is not None and abs(py - px) > 1e-6 * px:
            geo.warnings.append(
                f"{det}: x_pixel_size {px:g} m differs from y_pixel_size {py:g} m; the x value is used"
            )
        geo.pixel_size_m = px
        geo.sources["pixel_size"] = src
        break
    return geo
