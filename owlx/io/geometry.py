"""Experiment geometry found in a CXI/HDF5 file (spec/formats.md §1.7), in SI units.

Values are read from the CXI places listed below (first usable one wins). A ``units`` attribute
is honoured (``m``, ``mm``, ``um``/``µm``, ``nm``, ``J``, ``eV``, ``keV``); without one the value
is SI, as the CXI specification requires. owlx does not guess units: a value outside the
plausible SI range is not used, and a warning names the dataset, the value and the unit it
probably is in, so the user can fix the file or type the value in.

Per-frame arrays (a ``distance`` per frame) give the value of the selected frame. A
:class:`GeometryReader` reads each dataset once, so asking for another frame is a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from owlx.io.cxi import decode_text
from owlx.io.hdf5_stack import LOOKUP_ERRORS
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


def _dataset(f: h5py.File, path: str) -> h5py.Dataset | None:
    try:
        obj = f.get(path)
    except LOOKUP_ERRORS:  # dangling links, soft-link cycles, unreadable objects
        return None
    return obj if isinstance(obj, h5py.Dataset) else None


@dataclass
class _Values:
    """One geometry dataset as read from the file: all its values (one per frame, or one),
    in the file's units, and what makes it unusable (``problem``) if anything."""

    path: str
    quantity: str
    values: np.ndarray
    factor: float = 1.0  # file units -> SI
    units: str = ""
    problem: str | None = None
    spread: str | None = None  # "differs by more than 1%" warning of a per-frame array

    @classmethod
    def load(cls, f: h5py.File, path: str, quantity: str) -> "_Values | None":
        """The dataset at ``path``, read whole; None when there is none."""
        ds = _dataset(f, path)
        if ds is None:
            return None
        out = cls(path, quantity, np.empty(0))
        try:
            out.values = np.asarray(ds[()], dtype=np.float64).ravel()
        except (TypeError, ValueError, OSError):
            out.problem = f"{path}: cannot read the {quantity} as a number; ignored"
            return out
        try:
            out.units = decode_text(ds.attrs["units"]) if "units" in ds.attrs else ""
        except (OSError, TypeError, KeyError):
            out.units = ""
        family = _QUANTITIES[quantity][0]
        if out.units:
            factor = _UNITS[family].get(out.units.lower())
            if factor is None:
                out.problem = f"{path} has unknown units {out.units!r}; ignored"
                return out
            out.factor = factor
        finite = out.values[np.isfinite(out.values)]
        if finite.size > 1 and np.ptp(finite) > 0.01 * np.max(np.abs(finite)):
            unit = out.units or _QUANTITIES[quantity][2]
            out.spread = (
                f"{path} differs by more than 1% between frames ({finite.min():g}–{finite.max():g} {unit}); "
                "the value of the selected frame is used"
            )
        return out

    def at(self, frame: int) -> tuple[float | None, list[str]]:
        """The SI value for ``frame`` (clamped to the array) or None, with warnings."""
        if self.problem:
            return None, [self.problem]
        values = self.values
        if values.size == 0 or not np.isfinite(values).any():
            return None, []
        warnings = [self.spread] if self.spread else []
        k = min(max(int(frame), 0), values.size - 1)
        raw = float(values[k])
        if not np.isfinite(raw):
            return None, warnings + [f"{self.path} has no finite value for frame {k}; ignored for that frame"]
        _, (low, high), si_unit, suggestions = _QUANTITIES[self.quantity]
        value = raw * self.factor
        if not low <= value <= high:
            family = _QUANTITIES[self.quantity][0]
            hint = _likely_unit(value, family, (low, high), suggestions) if not self.units else None
            msg = (
                f"{self.path} = {value:g} {si_unit} is outside the plausible {self.quantity} range "
                f"{low:g}–{high:g} {si_unit} and is not used"
            )
            if hint:
                msg += f"; it looks like {hint} — add the attribute units='{hint}' or enter the value by hand"
            return None, warnings + [msg]
        return value, warnings


def read_quantity(f: h5py.File, path: str, quantity: str, frame: int = 0) -> tuple[float | None, list[str]]:
    """One geometry value in SI units from dataset ``path``, or None, with warnings.

    ``quantity`` is ``"energy"``, ``"distance"`` or ``"pixel size"``. Per-frame arrays give the
    value of ``frame`` (clamped to the array), with a warning when values differ by more than 1%.
    """
    values = _Values.load(f, path, quantity)
    return values.at(frame) if values is not None else (None, [])


def _likely_unit(value: float, family: str, limits: tuple[float, float], suggestions) -> str | None:
    for unit in suggestions:
        if limits[0] <= value * _UNITS[family][unit.lower()] <= limits[1]:
            return unit
    return None


class GeometryReader:
    """The geometry of one result group (spec/formats.md §1.7), frame by frame.

    ``<group>`` is the result group of the image (§1.2) and ``<entry>`` its first path
    component; the places searched, in order, are those of §1.7, and the first usable value
    wins. Each dataset is read the first time it is needed and kept (values, units), so
    :meth:`at` for another frame reads nothing. A reader holds no h5py object: the open file
    is passed to every call.
    """

    def __init__(self, group: str):
        self.group = "/" + group.strip("/")
        parts = [p for p in self.group.split("/") if p]
        entry = "/" + parts[0] if parts else None
        here = self.group.rstrip("/")
        energy = [f"{here}/source_1/energy"]
        detectors = [f"{here}/detector_1"]
        if entry:
            energy += [f"{entry}/instrument_1/source_1/energy", f"{entry}/instrument_1/monochromator_1/energy"]
            detectors.append(f"{entry}/instrument_1/detector_1")
        self.energy_paths = list(dict.fromkeys(energy))
        self.detector_dirs = list(dict.fromkeys(detectors))
        self._cache: dict[str, _Values | None] = {}

    def _quantity(self, f: h5py.File, path: str, quantity: str, frame: int) -> tuple[float | None, list[str]]:
        if path not in self._cache:  # two threads may both read it: the same values, one kept
            self._cache[path] = _Values.load(f, path, quantity)
        values = self._cache[path]
        return values.at(frame) if values is not None else (None, [])

    def _first(self, f: h5py.File, paths: list[str], quantity: str, frame: int,
               geo: Geometry) -> tuple[float | None, str]:
        for path in paths:
            value, warnings = self._quantity(f, path, quantity, frame)
            geo.warnings.extend(warnings)
            if value is not None:
                return value, path
        return None, ""

    def at(self, f: h5py.File, frame: int = 0) -> Geometry:
        """Wavelength, detector distance and pixel size at ``frame``, in SI units."""
        geo = Geometry()
        energy, src = self._first(f, self.energy_paths, "energy", frame, geo)
        if energy is not None:
            geo.wavelength_m = HC_J_M / energy
            geo.sources["wavelength"] = src
        distance, src = self._first(f, [d + "/distance" for d in self.detector_dirs], "distance", frame, geo)
        if distance is not None:
            geo.distance_m = distance
            geo.sources["distance"] = src
        for det in self.detector_dirs:
            px, src = self._first(f, [det + "/x_pixel_size"], "pixel size", frame, geo)
            if px is None:
                continue
            py, _ = self._quantity(f, det + "/y_pixel_size", "pixel size", frame)
            if py is not None and abs(py - px) > 1e-6 * px:
                geo.warnings.append(
                    f"{det}: x_pixel_size {px:g} m differs from y_pixel_size {py:g} m; the x value is used"
                )
            geo.pixel_size_m = px
            geo.sources["pixel_size"] = src
            break
        return geo


def read_geometry(f: h5py.File, group: str, frame: int = 0) -> Geometry:
    """Wavelength, detector distance and pixel size for the result group ``group`` at
    ``frame`` (one-off; :class:`GeometryReader` keeps what it read for other frames)."""
    return GeometryReader(group).at(f, frame)
