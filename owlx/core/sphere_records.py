"""Settings and result records of sphere sizing, and their Owl-compatible values (spec §5).

:class:`FitSettings` holds the experiment (SI units) and the recipe; :class:`SphereFitResult` is
the per-frame record of spec §5.1 (units in the field names: nm, mJ/µm²; centres are offsets [px]
from the array middle ((Nx−1)/2, (Ny−1)/2)). :func:`owl_model_values` and
:func:`owl_general_values` map them to the datasets of Owl's ``<group>/model/``
(spec/formats.md §2.3), converting units the way Owl did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from owlx.core.sphere_center import CENTER_METHODS
from owlx.core.sphere_fit import diameter_method, intensity_method
from owlx.core.sphere_pixels import Experiment
from owlx.errors import ParameterError

__all__ = [
    "OWL_MATERIALS",
    "OWL_MODEL_DEFAULTS",
    "FitSettings",
    "SphereFitResult",
    "owl_general_values",
    "owl_material",
    "owl_model_arrays",
    "owl_model_values",
]

_NM = 1e-9
_MJ_UM2 = 1e9  # J/m² per mJ/µm²


def _finite_positive(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class FitSettings:
    """Experiment and recipe of a sphere fit. Defaults are the FXI seed recipe (spec §6).

    Experiment: ``wavelength_m``, ``distance_m``, ``pixel_size_m`` [m]; ``delta`` = Re(1 − n) of
    the sample material named ``material`` (look it up with
    ``owlx.io.materials_data.material_index``); ``qe`` detector quantum efficiency;
    ``adu_per_photon`` detector gain.

    Recipe: centre ``center_method`` (blurred | quadrant | none) with search range
    ``center_dmax_px``, blur σ ``center_sigma_px``, threshold ``center_threshold_photons``
    (× ADU/photon in image units), ``center_subpixel`` and blur ``center_edge`` (zero | wrap);
    diameter ``diameter_method`` (pearson | pixelwise | none) with ``n_brute`` grid points and
    optional ``brute_dmax_m``; intensity ``intensity_method`` (nrphotons | photons | pixelwise |
    none); full refinement with ``refine_iterations`` (0 skips it, Owl's "fast" fit),
    optional background ``refine_bg`` and ``refine_weighting`` (none, the reference's; or
    poisson, see :func:`~owlx.core.sphere_refine.refine_sphere`); preparation ``mask_radius_px`` (None: max(Ny, Nx)/2),
    ``photon_counting``, ``downsampling`` and ``qmap`` (per_axis | exact).
    Method names are stored in canonical lower case (``photons`` stays as given, an alias).
    """

    wavelength_m: float
    distance_m: float
    pixel_size_m: float
    delta: float
    material: str = "custom"
    qe: float = 1.0
    adu_per_photon: float = 1.0
    center_method: str = "blurred"
    center_dmax_px: float = 40.0
    center_sigma_px: float = 4.0
    center_threshold_photons: float = 0.5
    center_subpixel: bool = True
    center_edge: str = "zero"
    diameter_method: str = "pearson"
    n_brute: int = 40
    brute_dmax_m: float | None = None
    intensity_method: str = "photons"
    refine_iterations: int = 1
    refine_bg: bool = False
    refine_weighting: str = "none"
    mask_radius_px: float | None = 300.0
    photon_counting: bool = True
    downsampling: int = 1
    qmap: str = "per_axis"

    def __post_init__(self):
        fix = lambda name, value: object.__setattr__(self, name, value)
        for name in ("wavelength_m", "distance_m", "pixel_size_m", "adu_per_photon",
                     "center_sigma_px"):
            fix(name, _finite_positive(name, getattr(self, name)))
        fix("brute_dmax_m", _finite_positive("brute_dmax_m", self.brute_dmax_m, True))
        fix("mask_radius_px", _finite_positive("mask_radius_px", self.mask_radius_px, True))
        if not (0 < float(self.qe) <= 1):
            raise ParameterError(f"quantum efficiency must be in (0, 1], got {self.qe!r}")
        if not math.isfinite(float(self.delta)):
            raise ParameterError(f"δ must be finite, got {self.delta!r}")
        center = str(self.center_method).strip().lower()
        if center not in CENTER_METHODS:
            raise ParameterError(f"unknown centre method {self.center_method!r}: use "
                                 + ", ".join(CENTER_METHODS))
        fix("center_method", center)
        fix("diameter_method", diameter_method(self.diameter_method))
        intensity_method(self.intensity_method)  # validates; the given alias is kept
        fix("intensity_method", str(self.intensity_method).strip().lower())
        if self.center_edge not in ("zero", "wrap"):
            raise ParameterError(f"unknown edge mode {self.center_edge!r}: use zero or wrap")
        if self.refine_weighting not in ("none", "poisson"):
            raise ParameterError(f"unknown weighting {self.refine_weighting!r}: use none or "
                                 "poisson")
        if self.qmap not in ("per_axis", "exact"):
            raise ParameterError(f"unknown q-map {self.qmap!r}: use per_axis or exact")
        for name, low, high in (("n_brute", 0, 100000), ("refine_iterations", 0, 100),
                                ("downsampling", 1, 1024)):
            value = getattr(self, name)
            if int(value) != value or not low <= int(value) <= high:
                raise ParameterError(f"{name} must be an integer in {low}…{high}, got {value!r}")
            fix(name, int(value))
        if not (math.isfinite(self.center_dmax_px) and self.center_dmax_px >= 0):
            raise ParameterError(f"center_dmax_px must be ≥ 0, got {self.center_dmax_px!r}")

    def experiment(self) -> Experiment:
        """The geometry and sample as an :class:`~owlx.core.sphere_pixels.Experiment`."""
        return Experiment(self.wavelength_m, self.distance_m, self.pixel_size_m,
                          float(self.delta), float(self.qe))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def settings_hash(self) -> str:
        """16 hex digits of SHA-256 over every setting (canonical JSON, floats as repr)."""
        text = json.dumps({k: repr(v) if isinstance(v, float) else v
                           for k, v in sorted(self.to_dict().items())}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_NAN = math.nan


@dataclass
class SphereFitResult:
    """One frame's sizing record (spec §5.1). ``status`` is ``ok`` or ``failed`` (numbers NaN,
    ``message`` set). Centres are offsets [px] from ((Nx−1)/2, (Ny−1)/2): ``center_x/y`` final,
    ``center_x/y_found`` the centre stage's (sub-pixel) result, ``center_x/y_int`` its integer
    search result with ``center_score``. ``pcov_ref`` = reference-compatible variances of
    [cx px², cy px², d m², F (J/m²)²] from the stage that last estimated each; ``timings`` maps
    stage names to seconds."""

    frame: int
    status: str = "ok"
    message: str = ""
    flags: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    center_x: float = _NAN
    center_y: float = _NAN
    center_x_found: float = _NAN
    center_y_found: float = _NAN
    center_x_int: float = _NAN
    center_y_int: float = _NAN
    center_score: float = _NAN
    diameter_nm: float = _NAN
    fluence_mJ_um2: float = _NAN
    scaling_photons: float = _NAN
    size_s: float = _NAN
    background_photons: float = _NAN
    mask_radius_px: float = _NAN
    n_pixels: int = 0
    photon_counting: bool = True
    adu_per_photon: float = _NAN
    material: str = ""
    qmap: str = ""
    brute_diameter_nm: float = _NAN
    brute_cost: float = _NAN
    pearson_cost: float = _NAN
    chi2_red: float = _NAN
    rel_abs_residual: float = _NAN
    pearson_r: float = _NAN
    stderr_center_x: float = _NAN
    stderr_center_y: float = _NAN
    stderr_diameter_nm: float = _NAN
    stderr_fluence: float = _NAN
    error_ref: float = _NAN
    pcov_ref: list = field(default_factory=lambda: [_NAN] * 4)
    nfev: int = 0
    iterations: int = 0
    elapsed_s: float = _NAN
    timings: dict = field(default_factory=dict)
    settings_hash: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        """Plain dict of every field (lists and dicts copied)."""
        return dataclasses.asdict(self)

    @classmethod
    def failed(cls, frame: int, message: str, settings: FitSettings | None = None):
        """The record of a frame whose fit raised: numbers NaN, ``message`` says why."""
        rec = cls(frame=int(frame), status="failed", message=str(message))
        if settings is not None:
            _copy_settings(rec, settings)
        return rec


def _copy_settings(rec: SphereFitResult, settings: FitSettings) -> None:
    rec.photon_counting = settings.photon_counting
    rec.adu_per_photon = settings.adu_per_photon
    rec.material = settings.material
    rec.qmap = settings.qmap
    rec.settings_hash = settings.settings_hash()


def owl_standard_errors(values: dict) -> dict:
    """Standard errors in the units users read, from Owl's stored variances (see
    :func:`owl_model_values`): ``centre_x``/``centre_y`` [px], ``diameter`` [nm], ``intensity``
    [mJ/µm²]; NaN where the variance is missing, negative or not finite."""
    def root(v: float, scale: float) -> float:
        v = float(values.get(v, _NAN))
        return math.sqrt(v * scale) if math.isfinite(v) and v >= 0 else _NAN

    return {
        "centre_x": root("fitErrorOffCenterX", 1.0),
        "centre_y": root("fitErrorOffCenterY", 1.0),
        "diameter": root("fitErrorDiameterNM", 1e-9) * 1e9,  # m² / 1e-9 → m → nm
        "intensity": root("fitErrorIntensityMJUM2", 1e9) / 1e9,  # (J/m²)² / 1e9 → J/m² → mJ/µm²
    }


def owl_model_values(result: SphereFitResult) -> dict:
    """Values of one frame for Owl's per-frame ``model/`` datasets (spec §5.2, formats §2.3).

    ``offCenterX/Y`` [px offsets], ``diameterNM``, ``intensityMJUM2``, ``maskRadius``,
    ``fitError`` (= error_ref), the variances ``fitErrorOffCenterX/Y`` [px²],
    ``fitErrorDiameterNM`` (= variance in m² / 1e-9, Owl's unit) and ``fitErrorIntensityMJUM2``
    (= variance in (J/m²)² / 1e9), plus owlx's standard errors ``owlx_stderrOffCenterX/Y`` [px],
    ``owlx_stderrDiameterNM`` [nm], ``owlx_stderrIntensityMJUM2`` [mJ/µm²], ``owlx_chi2Red`` and
    ``owlx_pearsonR``. A failed record maps to NaN everywhere (so its ``fitError`` marks the frame
    as not fitted).
    """
    r = result
    ok = r.status == "ok"
    val = (lambda v: float(v)) if ok else (lambda v: _NAN)
    pcov = list(r.pcov_ref) + [_NAN] * (4 - len(r.pcov_ref))
    return {
        "offCenterX": val(r.center_x),
        "offCenterY": val(r.center_y),
        "diameterNM": val(r.diameter_nm),
        "intensityMJUM2": val(r.fluence_mJ_um2),
        "maskRadius": val(r.mask_radius_px),
        "fitError": val(r.error_ref),
        "fitErrorOffCenterX": val(pcov[0]),
        "fitErrorOffCenterY": val(pcov[1]),
        "fitErrorDiameterNM": val(pcov[2]) / 1e-9,
        "fitErrorIntensityMJUM2": val(pcov[3]) / 1e9,
        "owlx_stderrOffCenterX": val(r.stderr_center_x),
        "owlx_stderrOffCenterY": val(r.stderr_center_y),
        "owlx_stderrDiameterNM": val(r.stderr_diameter_nm),
        "owlx_stderrIntensityMJUM2": val(r.stderr_fluence),
        "owlx_chi2Red": val(r.chi2_red),
        "owlx_pearsonR": val(r.pearson_r),
    }


def owl_general_values(settings: FitSettings) -> dict:
    """Owl's file-wide ``model/`` parameters (formats §2.3) for these settings, in Owl's units
    (nm, mm, µm) and names. Settings Owl cannot express (e.g. quadrant vs pw) map to the
    nearest of its values."""
    s = settings
    return {
        "photonWavelengthNM": s.wavelength_m / _NM,
        "detectorDistanceMM": s.distance_m * 1e3,
        "detectorPixelSizeUM": s.pixel_size_m * 1e6,
        "detectorQuantumEfficiency": float(s.qe),
        "detectorADUPhoton": float(s.adu_per_photon),
        "materialType": s.material,
        "_maximumShift": round(s.center_dmax_px),
        "_blurRadius": round(s.center_sigma_px),
        "_nrEval": int(s.n_brute),
        "_doPhotonCounting": int(bool(s.photon_counting)),
        "_findCenterMethod": s.center_method,
        "_fitDiameterMethod": s.diameter_method,
        "_fitIntensityMethod": intensity_method(s.intensity_method)
        if s.intensity_method != "none" else "nrphotons",
        "_fitModelMethod": "refine" if s.refine_iterations > 0 else "fast",
    }


#: The material keys Owl (libspimage) accepts in ``materialType`` (viewer.md Mo2).
OWL_MATERIALS = ("protein", "cell", "latex", "water", "dna", "lipid", "genophore", "virus",
                 "mimivirus", "carboxysome", "sucrose", "gold")
#: owlx's Condor presets (spec/sphere.md §3.3) → the libspimage key of the same kind of sample
#: (styrene → latex: polystyrene spheres, the same C:H = 1:1)
_OWL_NEAREST = {"poliovirus": "virus", "condor_water": "water", "condor_protein": "protein",
                "condor_sucrose": "sucrose", "styrene": "latex"}


def owl_material(material: str, delta: float | None = None, delta_of=None) -> str:
    """The key Owl accepts that is nearest to owlx's ``material`` (what ``materialType`` gets;
    the exact name goes to ``owlx_materialType``). Owl's keys map to themselves, Condor presets
    to the same kind of sample (``poliovirus`` → ``virus``). Any other name (``custom``): the
    key whose δ (``delta_of(key)``, at the fit's energy) is nearest to the material's ``delta``;
    without them, Owl's default ``water``."""
    key = str(material).strip().lower()
    if key in OWL_MATERIALS:
        return key
    if key in _OWL_NEAREST:
        return _OWL_NEAREST[key]
    if delta_of is not None and delta is not None and math.isfinite(delta):
        return min(OWL_MATERIALS, key=lambda k: abs(delta_of(k) - delta))
    return "water"


#: Owl's defaults of the per-frame model datasets (formats §2.3); owlx_ extras default to NaN.
OWL_MODEL_DEFAULTS = {"offCenterX": 0.0, "offCenterY": 0.0, "diameterNM": 100.0,
                      "intensityMJUM2": 1.0, "maskRadius": 300.0}


def owl_model_arrays(records, n_frames: int, existing: dict | None = None) -> dict:
    """1-D float64 arrays of length ``n_frames`` per Owl model dataset, value of frame i at
    index i (Owl's reading rule), built from ``existing`` arrays (or Owl's defaults) with every
    ``ok`` record written at its frame. Failed records leave the frame's values untouched."""
    names = list(owl_model_values(SphereFitResult(frame=0, status="failed")))
    out = {}
    for name in names:
        arr = np.full(int(n_frames), OWL_MODEL_DEFAULTS.get(name, _NAN), dtype=np.float64)
        if existing is not None and name in existing:
            old = np.asarray(existing[name], dtype=np.float64).ravel()[:n_frames]
            arr[:old.size] = old
        out[name] = arr
    for rec in records:
        if rec.status != "ok":
            continue
        if not 0 <= rec.frame < n_frames:
            raise ParameterError(f"record of frame {rec.frame} outside 0…{n_frames - 1}")
        for name, value in owl_model_values(rec).items():
            out[name][rec.frame] = value
    return out
