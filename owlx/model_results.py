"""Per-frame sphere results of one result group in Owl's ``model/`` layout (formats.md §2.3).

:class:`ModelResults` is a session *result provider* (:class:`owlx.session_results.ResultProvider`):

* On open it reads ``<group>/model/`` from the data file and then from the sidecar (a dataset
  present in the sidecar wins, §2.7). Per-frame values are ``ds[:N]``; frames missing from a
  short dataset get Owl's default; Owl's datasets padded to a multiple of 10 000 are only sliced.
  General values are ``ds[0]`` (0-d accepted); ``simple`` is read as ``nrphotons``. A text
  setting Owl cannot hold as owlx means it has a companion ``owlx_<name>`` that wins, unless
  Owl changed its own dataset since (:func:`~owlx.io.writeplan.owlx_text_value`).
* :meth:`apply` stores one :class:`~owlx.core.sphere_records.SphereFitResult` (spec/sphere.md
  §5.2). A failed frame keeps its previous values and gets ``fitError = NaN`` (viewer.md B2).
* :meth:`contribute` plans the writes with :class:`~owlx.io.writeplan.WritePlan`: only frames
  changed since the last save (all with ``full``), so entries ≥ N of a padded dataset are never
  touched. ``materialType`` gets the nearest key Owl accepts (``poliovirus`` → ``virus``) and
  ``owlx_materialType`` the exact material; a text too long for Owl's field stays in
  ``owlx_<name>`` with a warning in the save report. Floats equal to 1e-12 relative (µm → m → µm
  noise) are not changes.
* :meth:`apply` with ``names`` stores only some of a record's values (a single fit step of
  the Model panel); :meth:`set_frame_values` stores values typed by hand; :meth:`set_general`
  with ``quiet`` keeps display-only parameters (``_visibility``, ``_modelMinimaAlpha``) that are
  written with the next save of this model but do not make it unsaved (viewer.md Mo10).
* :meth:`fit_settings` builds :class:`~owlx.core.sphere_records.FitSettings` with the
  precedence of formats.md §1.7: values saved in ``model/`` > file geometry > the seed recipe of
  spec/sphere.md §6.
"""

from __future__ import annotations

import math
import os
import warnings as _warnings
from dataclasses import dataclass, field

import h5py
import numpy as np

from owlx.core.sphere_records import (
    OWL_MODEL_DEFAULTS,
    FitSettings,
    SphereFitResult,
    owl_general_values,
    owl_material,
    owl_model_values,
)
from owlx.io.results import open_read
from owlx.io.writeplan import (
    OWL_VALUE_ATTR,
    OWLX_PREFIX,
    REL_TOL,
    WritePlan,
    owlx_text_value,
)

__all__ = ["GENERAL_DEFAULTS", "PER_FRAME_NAMES", "SEED", "ModelResults", "settings_from_values"]

#: Every per-frame dataset owlx reads and writes (Owl's ten, then owlx's extras).
PER_FRAME_NAMES = tuple(owl_model_values(SphereFitResult(frame=0, status="failed")))
_OWL_PER_FRAME = PER_FRAME_NAMES[:10]

#: Owl's defaults of the general parameters (formats.md §2.3).
GENERAL_DEFAULTS = {
    "photonWavelengthNM": 1.0, "detectorDistanceMM": 1000.0, "detectorPixelSizeUM": 75.0,
    "detectorQuantumEfficiency": 1.0, "detectorADUPhoton": 10.0, "materialType": "water",
    "_visibility": 0.5, "_modelMinimaAlpha": 0.5, "_maximumShift": 5, "_blurRadius": 4,
    "_nrEval": 20, "_doPhotonCounting": 1, "_findCenterMethod": "blurred",
    "_fitDiameterMethod": "pearson", "_fitIntensityMethod": "pixelwise", "_fitModelMethod": "fast",
}
_TEXT = {"materialType", "_findCenterMethod", "_fitDiameterMethod", "_fitIntensityMethod",
         "_fitModelMethod"}
_INT = {"_maximumShift", "_blurRadius", "_nrEval", "_doPhotonCounting"}

#: The seed recipe (spec/sphere.md §6) used where neither model/ nor the file say otherwise.
SEED = {
    "photonWavelengthNM": 1.98644586e-25 / (5500.0 * 1.602176634e-19) * 1e9,
    "detectorDistanceMM": 2400.0, "detectorPixelSizeUM": 110.0,
    "detectorQuantumEfficiency": 0.95, "detectorADUPhoton": 10.0, "materialType": "poliovirus",
    "_maximumShift": 40, "_blurRadius": 4, "_nrEval": 40, "_doPhotonCounting": 1,
    "_findCenterMethod": "blurred", "_fitDiameterMethod": "pearson",
    "_fitIntensityMethod": "nrphotons", "_fitModelMethod": "refine",
}


def _default(name: str) -> float:
    return OWL_MODEL_DEFAULTS.get(name, math.nan)


def _same(a, b) -> bool:
    """Equal, with floats compared to :data:`~owlx.io.writeplan.REL_TOL` (a fit's settings come
    back through unit conversions, 110 µm → 1.1e-4 m → 109.99999999999999 µm)."""
    numbers = (int, float, np.integer, np.floating)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        a, b = float(a), float(b)
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL_TOL)
    return a == b


def _general_value(ds: h5py.Dataset):
    raw = ds[()] if ds.ndim == 0 else ds[(0,) * ds.ndim]
    if isinstance(raw, (bytes, np.bytes_)):
        return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw
    if np.issubdtype(np.asarray(raw).dtype, np.integer):
        return int(raw)
    return float(raw)


def _first_text(value) -> str | None:
    """The first element of a string attribute as str (None when absent)."""
    if value is None:
        return None
    arr = np.asarray(value).ravel()
    item = arr[0] if arr.size else ""
    return bytes(item).split(b"\0", 1)[0].decode("utf-8", "replace") if isinstance(item, (bytes, np.bytes_)) \
        else str(item)


@dataclass
class _Read:
    per_frame: dict = field(default_factory=dict)  # name -> (values, n valid)
    general: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


def _read_model(path: str, group: str, n: int, swmr: bool = False) -> _Read:
    out = _Read()
    try:
        with open_read(path, swmr=swmr) as f:
            model = f.get(group.rstrip("/") + "/model")
            if not isinstance(model, h5py.Group):
                return out
            companions = {}  # name -> (owlx_<name> value, what Owl saw then)
            for name, obj in model.items():
                if not isinstance(obj, h5py.Dataset):
                    continue
                try:
                    if name in PER_FRAME_NAMES:
                        if obj.ndim != 1:
                            out.warnings.append(f"model/{name} has shape {obj.shape}; ignored")
                            continue
                        values = np.asarray(obj[:n], dtype=np.float64)  # never more than N
                        out.per_frame[name] = values
                    elif name in GENERAL_DEFAULTS and obj.size:
                        out.general[name] = _general_value(obj)
                    elif name.startswith(OWLX_PREFIX) and name[len(OWLX_PREFIX):] in _TEXT and obj.size:
                        seen = obj.attrs.get(OWL_VALUE_ATTR)
                        companions[name[len(OWLX_PREFIX):]] = (str(_general_value(obj)), _first_text(seen))
                except (OSError, TypeError, ValueError) as err:
                    out.warnings.append(f"model/{name} could not be read ({err}); ignored")
            for name, (value, seen) in companions.items():
                owl_now = out.general.get(name)
                out.general[name], owl_changed = owlx_text_value(owl_now, value, seen)
                if owl_changed:
                    out.warnings.append(f"model/{name} was changed to {owl_now!r} outside owlx after owlx stored "
                                        f"{value!r} in {OWLX_PREFIX}{name}; using {owl_now!r}")
            if out.general.get("_fitIntensityMethod") == "simple":
                out.general["_fitIntensityMethod"] = "nrphotons"
    except OSError as err:
        out.warnings.append(f"cannot read the model of '{os.path.basename(path)}': {err}")
    return out


class ModelResults:
    """The sphere-model results of one result group over ``n_frames`` frames (in memory).

    ``values[name]`` are float64 arrays of length N (one per :data:`PER_FRAME_NAMES`);
    ``general`` holds the file-wide parameters (Owl's names and units); ``saved_general`` the
    subset that was read from ``model/`` (file or sidecar). Geometry (``geometry``, a
    :class:`~owlx.io.source.Geometry`) and ``adu_per_photon`` (the data's attribute) only feed
    :meth:`fit_settings`.
    """

    def __init__(self, group: str, n_frames: int, data_path: str | None = None,
                 sidecar_path: str | None = None, geometry=None, adu_per_photon: float | None = None,
                 swmr: bool = False):
        self.group = group
        self.n_frames = int(n_frames)
        self.geometry = geometry
        self.adu_per_photon = adu_per_photon
        self.warnings: list[str] = []
        self.values = {name: np.full(self.n_frames, _default(name)) for name in PER_FRAME_NAMES}
        self.saved_general: dict = {}
        self.present: set[str] = set()  # per-frame datasets that exist on disk
        for path, is_side in ((data_path, False), (sidecar_path, True)):
            if path is None:
                continue
            read = _read_model(path, group, self.n_frames, swmr=swmr and not is_side)
            self.warnings += read.warnings
            for name, arr in read.per_frame.items():
                fresh = np.full(self.n_frames, _default(name))
                fresh[:arr.size] = arr
                self.values[name] = fresh
                self.present.add(name)
            self.saved_general.update(read.general)
        self.general = dict(GENERAL_DEFAULTS)
        self.general.update(self.saved_general)
        self._pending = np.zeros(self.n_frames, dtype=bool)
        self._general_dirty: set[str] = set()
        self._general_quiet: set[str] = set()  # changed, written with the next save, not dirty
        self._quiet_planned: set[str] = set()
        self._delta: tuple[float, float] | None = None  # (δ, λ [m]) of the last settings, for custom
        self.on_change = None  # optional callable(frames) after apply

    # -- the provider protocol -----------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._pending.any() or self._general_dirty)

    def groups(self):
        return [(self.group, self.n_frames)]

    def contribute(self, plan: WritePlan, group: str, n_frames: int, full: bool) -> None:
        if group != self.group:
            return
        self._resize(n_frames)
        written = None if full else np.flatnonzero(self._pending)
        if full or self._pending.any():
            for name in PER_FRAME_NAMES:
                if name.startswith("owlx_") and name not in self.present \
                        and not np.isfinite(self.values[name]).any():
                    continue  # no proper standard errors yet: nothing to add
                plan.plan_per_frame_dataset(group.rstrip("/") + "/model", name, self.values[name],
                                            frames_written=written)
        changed = self._general_dirty | self._general_quiet
        names = self.general if full else {k: self.general[k] for k in changed}
        for name, value in names.items():
            if full and name not in self.saved_general and name not in changed:
                continue  # Owl's defaults that nobody set are not written
            owl_value = self._owl_material(value) if name == "materialType" else None
            plan.plan_general_dataset(group.rstrip("/") + "/model", name, value, owl_value=owl_value)
        self._quiet_planned = set(self._general_quiet)

    def mark_saved(self) -> None:
        for name in PER_FRAME_NAMES:
            if self._pending.any() and (not name.startswith("owlx_") or np.isfinite(self.values[name]).any()):
                self.present.add(name)
        self._pending[:] = False
        for name in self._general_dirty | self._quiet_planned:
            self.saved_general[name] = self.general[name]
        self._general_dirty.clear()
        self._general_quiet -= self._quiet_planned
        self._quiet_planned = set()

    # -- results -------------------------------------------------------------------------------------
    def apply(self, record: SphereFitResult, names=None) -> None:
        """Store one frame's record (spec/sphere.md §5.2); failed: fitError NaN, rest kept.

        ``names`` (an iterable of :data:`PER_FRAME_NAMES`) stores only those values of an ``ok``
        record, e.g. ``offCenterX``/``offCenterY`` after "Find centre" alone."""
        i = int(record.frame)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"record of frame {i} outside 0…{self.n_frames - 1}")
        if record.status == "ok":
            values = owl_model_values(record)
            for name in values if names is None else names:
                self.values[name][i] = values[name]
        else:
            self.values["fitError"][i] = math.nan
        self._pending[i] = True
        if self.on_change is not None:
            self.on_change([i])

    def set_frame_values(self, i: int, values: dict) -> None:
        """Store per-frame values typed by hand (Owl's names and units) for frame ``i``; only
        values that differ mark the frame unsaved."""
        i = int(i)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} outside 0…{self.n_frames - 1}")
        changed = False
        for name, value in values.items():
            if name not in self.values:
                raise KeyError(f"unknown per-frame model dataset {name!r}")
            old = self.values[name][i]
            if not (old == value or (math.isnan(old) and math.isnan(value))):
                self.values[name][i] = float(value)
                changed = True
        if changed:
            self._pending[i] = True
            if self.on_change is not None:
                self.on_change([i])

    def has_results(self, i: int) -> bool:
        """True when frame ``i`` was fitted (finite ``fitError``) or has unsaved values."""
        return bool(np.isfinite(self.values["fitError"][i]) or self._pending[i])

    def frame_values(self, i: int) -> dict:
        return {name: float(arr[i]) for name, arr in self.values.items()}

    @property
    def fitted(self) -> np.ndarray:
        """True where the diameter was fitted (finite ``fitError``, formats.md §2.3)."""
        return np.isfinite(self.values["fitError"])

    @property
    def pending_frames(self) -> np.ndarray:
        return np.flatnonzero(self._pending)

    def set_general(self, name: str, value, quiet: bool = False) -> None:
        """Set a file-wide parameter (Owl's name and unit). ``quiet`` values (Split, Minima) are
        written with the next save of this model without making it unsaved (viewer.md Mo10)."""
        if name not in GENERAL_DEFAULTS:
            raise KeyError(f"unknown model parameter {name!r}")
        old = self.general.get(name)
        if not _same(old, value) or name not in self.saved_general:
            if quiet and _same(old, value):
                return
            if _same(old, value):
                value = old  # keep the stored number exactly, not its rounding-noise twin
            self.general[name] = value
            (self._general_quiet if quiet else self._general_dirty).add(name)

    def set_settings(self, settings: FitSettings) -> None:
        """Record the experiment and recipe used as Owl's general parameters (§5.2)."""
        self._delta = (float(settings.delta), float(settings.wavelength_m))
        for name, value in owl_general_values(settings).items():
            self.set_general(name, value)

    def _owl_material(self, material: str) -> str:
        """The key Owl accepts for ``material`` (a custom one by its δ at the last fit's energy)."""
        from owlx.io.materials_data import material_index

        if self._delta is None:
            return owl_material(material)
        delta, lam = self._delta
        energy_eV = 1.98644586e-25 / lam / 1.602176634e-19
        try:
            return owl_material(material, delta, lambda key: material_index(key, energy_eV).real)
        except Exception:  # noqa: BLE001 - energy outside the tables: Owl's default
            return owl_material(material)

    def _resize(self, n: int) -> None:
        n = int(n)
        if n <= self.n_frames:
            return
        for name, arr in self.values.items():
            new = np.full(n, _default(name))
            new[:arr.size] = arr
            self.values[name] = new
        self._pending = np.concatenate([self._pending, np.zeros(n - self.n_frames, dtype=bool)])
        self.n_frames = n

    # -- settings ----------------------------------------------------------------------------------
    def setting_values(self) -> tuple[dict, dict]:
        """The general values a fit uses and where each came from ("model", "file", "seed")."""
        values, origin = dict(SEED), {k: "seed" for k in SEED}
        g = self.geometry
        if g is not None:
            for attr, name, scale in (("wavelength_m", "photonWavelengthNM", 1e9),
                                      ("distance_m", "detectorDistanceMM", 1e3),
                                      ("pixel_size_m", "detectorPixelSizeUM", 1e6)):
                v = getattr(g, attr, None)
                if v is not None:
                    values[name], origin[name] = float(v) * scale, "file"
        if self.adu_per_photon is not None:
            values["detectorADUPhoton"], origin["detectorADUPhoton"] = float(self.adu_per_photon), "file"
        for name, v in self.saved_general.items():
            if name in SEED:
                values[name], origin[name] = v, "model"
        for name in self._general_dirty:
            if name in SEED:
                values[name], origin[name] = self.general[name], "model"
        return values, origin

    def fit_settings(self, **overrides) -> FitSettings:
        """FitSettings from model/ > file geometry > seed defaults; ``overrides`` win."""
        values, _ = self.setting_values()
        settings, warns = settings_from_values(values, **overrides)
        self.warnings += warns
        for w in warns:
            _warnings.warn(w, stacklevel=2)
        return settings


def settings_from_values(values: dict, **overrides) -> tuple[FitSettings, list[str]]:
    """Map Owl's general parameters (nm, mm, µm, method names) to :class:`FitSettings`."""
    from owlx.io.materials_data import material_index

    warns: list[str] = []
    lam_m = float(values["photonWavelengthNM"]) * 1e-9
    energy_eV = 1.98644586e-25 / lam_m / 1.602176634e-19
    material = str(values["materialType"])
    try:
        delta = material_index(material, energy_eV).real
    except Exception as err:  # noqa: BLE001 - unknown preset or energy out of the tables
        warns.append(f"material {material!r}: {err}; using {SEED['materialType']}")
        material = SEED["materialType"]
        delta = material_index(material, energy_eV).real
    center = str(values["_findCenterMethod"]).strip().lower()
    if center.startswith("pw"):
        warns.append(f"centre method {center!r} is not implemented; using blurred")
        center = "blurred"
    intensity = str(values["_fitIntensityMethod"]).strip().lower()
    intensity = "nrphotons" if intensity == "simple" else intensity
    kw = {
        "wavelength_m": lam_m, "distance_m": float(values["detectorDistanceMM"]) * 1e-3,
        "pixel_size_m": float(values["detectorPixelSizeUM"]) * 1e-6, "delta": delta, "material": material,
        "qe": float(values["detectorQuantumEfficiency"]), "adu_per_photon": float(values["detectorADUPhoton"]),
        "center_method": center, "center_dmax_px": float(values["_maximumShift"]),
        "center_sigma_px": float(values["_blurRadius"]), "n_brute": int(values["_nrEval"]),
        "photon_counting": bool(int(values["_doPhotonCounting"])),
        "diameter_method": str(values["_fitDiameterMethod"]).strip().lower(),
        "intensity_method": intensity,
        "refine_iterations": 1 if str(values["_fitModelMethod"]).strip().lower() == "refine" else 0,
    }
    kw.update(overrides)
    return FitSettings(**kw), warns
