"""The demo data set: a synthetic CXI file of sphere-diffraction hits, written once per user.

Meant for ``owlx`` started without a file and for the tutorial: :func:`ensure_demo` writes
``<user cache dir>/owlx-demo-v1.cxi`` on first use and reuses it afterwards. The frames are the
forward model of :mod:`owlx.core.sphere` at the FXI seed geometry of spec/sphere.md §6 (5.5 keV,
2.4 m, 110 µm pixels, ``poliovirus``, QE 0.95), with Poisson noise, so that the Sphere panel's
fit recipe recovers the stored true values.

File layout (CXI 1.6 / Cheetah style, SI units)::

    /cxi_version                                    160
    /entry_1/experiment_identifier                  (N,) S21  b"DEMO_2026_r0001_00000", ...
    /entry_1/instrument_1/source_1/energy           (N,) float64, J (5.5 keV, 0.1 % rms jitter)
    /entry_1/instrument_1/detector_1/distance       float64, m (2.4)
    /entry_1/instrument_1/detector_1/{x,y}_pixel_size  float64, m (110e-6)
    /entry_1/image_1/data                           (N, ny, nx) float32, ADU, chunks (1, ny, nx)
        attrs: axes = [b"experiment_identifier:y:x"], units = "ADU", adu_per_photon = 10.0
    /entry_1/image_1/mask_shared                    (ny, nx) uint16 CXI pixel-mask bits
    /entry_1/image_1/hit_score                      (N,) float64: lit pixels (≥ 0.5 photon)
    /entry_1/image_1/truth/{diameter_nm, fluence_mJ_um2, scaling_photons, offset_x, offset_y, kind}
    /entry_1/image_1/detector_1 -> /entry_1/instrument_1/detector_1   (soft links)
    /entry_1/image_1/source_1   -> /entry_1/instrument_1/source_1
    /entry_1/data_1             -> /entry_1/image_1
    /entry_1/sample_1/name                          b"poliovirus"
    /entry_1/sample_1/geometry_1/translation        (N, 3) float64, m: particle position

**ADU per photon.** The data are in detector units: photons × 10 ADU (attribute
``adu_per_photon`` of the data set; Owl's default ``detectorADUPhoton`` is also 10, so the
model overlay matches without changes). Nothing is written to ``model/``.

**Frames.** About 90 % are single spheres (``kind`` ``sphere``) with d uniform in 25–60 nm and
200–3000 photons/px at q = 0 (log-uniform); the fluence is whatever gives that A. The rest are
spread over ``dimer`` (two touching spheres, coherent sum), ``ellipsoid`` (a prolate spheroid
seen side-on: the q-map scaled anisotropically, ``diameter_nm`` is the volume-equivalent one),
``weak`` (a sphere at 2–8 photons/px) and ``blank`` (background only; diameter NaN, fluence 0).
The beam centre is offset (2.7, −3.6) px from the array middle with 1 px rms jitter (offsets in
the convention of spec/sphere.md §1). Every frame has a diffuse background of 0.003 photons/px.

**Mask** (``mask_shared``, set bits mark bad pixels): a horizontal gap of ``size·24/1024`` rows
between the two detector halves (512 *missing*, data 0), a beamstop disc of radius
``size·20/1024`` px on the mean beam position (16 *shadowed*, no photons), and ``max(3, size//64)``
hot pixels (4 *hot*) that hold garbage of 3000–60000 ADU in every frame.
"""

from __future__ import annotations

import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import platformdirs
from scipy import constants

from owlx.core import sphere
from owlx.errors import ParameterError
from owlx.io.materials_data import material_index

__all__ = ["DEMO_VERSION", "demo_path", "ensure_demo", "make_demo_file", "GEOMETRY"]

#: Bump when the content changes; the file name carries it, so old caches are never reused.
DEMO_VERSION = 1

#: The FXI seed geometry of spec/sphere.md §6 (SI units).
GEOMETRY = {
    "photon_energy_eV": 5500.0,
    "distance_m": 2.4,
    "pixel_size_m": 110e-6,
    "material": "poliovirus",
    "quantum_efficiency": 0.95,
    "adu_per_photon": 10.0,
}

_KINDS_OTHER = ("dimer", "ellipsoid", "weak", "blank")
_BASE_OFFSET = (2.7, -3.6)  # px from the array middle (x, y)
_OFFSET_JITTER = 1.0  # px rms per axis
_ENERGY_JITTER = 1e-3  # relative rms (SASE shot-to-shot)
_BACKGROUND = 0.003  # photons per pixel, diffuse
_HOT_ADU = (3000.0, 60000.0)
_WORKERS = min(4, os.cpu_count() or 1)


def demo_path() -> Path:
    """Where the demo file lives: ``<platformdirs user cache dir for "owlx">/owlx-demo-v1.cxi``."""
    return Path(platformdirs.user_cache_dir("owlx")) / f"owlx-demo-v{DEMO_VERSION}.cxi"


def _is_complete(path: Path, n_frames: int, size: int) -> bool:
    """True if ``path`` is a finished demo file of this version with the requested shape."""
    try:
        with h5py.File(path, "r") as f:
            return (int(f.attrs.get("owlx_demo_version", -1)) == DEMO_VERSION
                    and bool(f.attrs.get("owlx_demo_complete", False))
                    and f["entry_1/image_1/data"].shape == (n_frames, size, size))
    except (OSError, KeyError, ValueError):
        return False


def ensure_demo(
    path: str | os.PathLike | None = None,
    n_frames: int = 200,
    size: int = 1024,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Return the path of a complete demo file, writing it first if needed.

    ``path`` defaults to :func:`demo_path`. An existing complete file of the same version and shape
    is reused as it is (``progress`` is then not called). Otherwise the file is written to a
    temporary name in the same directory and renamed when complete, so an interrupted run never
    leaves a half-written demo behind. ``progress(done, total)`` is called after each frame.
    """
    path = Path(path) if path is not None else demo_path()
    if path.exists() and _is_complete(path, n_frames, size):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        make_demo_file(tmp, n_frames=n_frames, size=size, seed=seed, progress=progress)
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ----------------------------------------------------------------------------- frame plan


def _plan(n_frames: int, size: int, seed: int) -> dict:
    """Draw every frame's true parameters up front (deterministic for a given seed)."""
    rng = np.random.default_rng([seed, 0])
    kinds = np.array(["sphere"] * n_frames, dtype=object)
    n_other = int(round(0.1 * n_frames))
    if n_other:
        # Frame 0 stays a clean hit: it is the first thing a new user sees.
        where = rng.choice(np.arange(1, n_frames), size=n_other, replace=False)
        kinds[where] = [_KINDS_OTHER[j % len(_KINDS_OTHER)] for j in range(n_other)]

    jitter = _ENERGY_JITTER * rng.standard_normal(n_frames)
    energy_eV = GEOMETRY["photon_energy_eV"] * (1.0 + jitter)
    diameter = rng.uniform(25e-9, 60e-9, n_frames)
    scaling_a = np.exp(rng.uniform(math.log(200.0), math.log(3000.0), n_frames))
    weak = kinds == "weak"
    scaling_a[weak] = rng.uniform(2.0, 8.0, int(weak.sum()))
    offsets = np.array(_BASE_OFFSET) + _OFFSET_JITTER * rng.standard_normal((n_frames, 2))
    translation = rng.standard_normal((n_frames, 3)) * np.array([2e-6, 2e-6, 10e-6])
    # Shape details of the non-clean kinds: second sphere (dimer) and elongation (ellipsoid).
    second_d = diameter * rng.uniform(0.8, 1.2, n_frames)
    angle = rng.uniform(0.0, math.pi, n_frames)
    tilt = rng.uniform(0.3, 1.0, n_frames)  # sine of the dimer axis' angle to the beam
    aspect = rng.uniform(1.15, 1.4, n_frames)

    fluence = np.empty(n_frames)
    for i in range(n_frames):
        lam = sphere.wavelength_from_energy_eV(energy_eV[i])
        delta = material_index(GEOMETRY["material"], energy_eV[i]).real
        fluence[i] = sphere.fluence_from_scaling(
            scaling_a[i], diameter[i], lam, GEOMETRY["pixel_size_m"], GEOMETRY["distance_m"],
            delta, GEOMETRY["quantum_efficiency"])
    blank = kinds == "blank"
    diameter[blank], fluence[blank], scaling_a[blank] = np.nan, 0.0, 0.0
    return dict(kinds=kinds, energy_eV=energy_eV, diameter=diameter, scaling=scaling_a,
                fluence=fluence, offsets=offsets, translation=translation, second_d=second_d,
                angle=angle, tilt=tilt, aspect=aspect)


def _mask_and_hot(size: int, seed: int):
    """The detector's CXI mask bits and its hot pixels (flat indices), fixed for the file."""
    rng = np.random.default_rng([seed, 1])
    mask = np.zeros((size, size), dtype=np.uint16)
    gap = max(2, round(size * 24 / 1024))
    g0 = size // 2 - gap // 2
    mask[g0:g0 + gap, :] |= 512  # CXI_PIXEL_IS_MISSING: no detector between the halves
    radius = max(3.0, size * 20 / 1024)
    yy, xx = np.mgrid[0:size, 0:size]
    xc, yc = 0.5 * (size - 1) + _BASE_OFFSET[0], 0.5 * (size - 1) + _BASE_OFFSET[1]
    mask[(xx - xc) ** 2 + (yy - yc) ** 2 <= radius**2] |= 16  # CXI_PIXEL_IS_SHADOWED: beamstop
    candidates = np.flatnonzero(mask.ravel() == 0)
    hot = np.sort(rng.choice(candidates, size=max(3, size // 64), replace=False))
    mask.ravel()[hot] |= 4  # CXI_PIXEL_IS_HOT
    return mask, hot


# ----------------------------------------------------------------------------- frame model


def _axis_q(size: int, offset: float, p_over_d: float) -> np.ndarray:
    """Signed per-axis q [px units] along one axis, g(t) = 2 sin(½ atan(p·t/D))·D/p (spec §2.1)."""
    t = np.arange(size) - (0.5 * (size - 1) + offset)
    return 2.0 * np.sin(0.5 * np.arctan(p_over_d * t)) / p_over_d


def _expected_photons(i: int, plan: dict, size: int) -> np.ndarray:
    """Noise-free photons per pixel of frame ``i`` (float64, without background and mask)."""
    kind = plan["kinds"][i]
    shape = (size, size)
    if kind == "blank":
        return np.zeros(shape)
    p, dist, qe = GEOMETRY["pixel_size_m"], GEOMETRY["distance_m"], GEOMETRY["quantum_efficiency"]
    energy = plan["energy_eV"][i]
    lam = sphere.wavelength_from_energy_eV(energy)
    delta = material_index(GEOMETRY["material"], energy).real
    cx, cy = plan["offsets"][i]
    d, fluence = plan["diameter"][i], plan["fluence"][i]
    if kind in ("sphere", "weak"):
        return sphere.sphere_intensity(shape, cx, cy, d, fluence, lam, p, dist, delta, qe)

    a1 = sphere.scaling(fluence, d, lam, p, dist, delta, qe)
    k1 = 2.0 * math.pi * sphere.size_parameter(d, lam, p, dist)
    gx = _axis_q(size, cx, p / dist)[None, :]
    gy = _axis_q(size, cy, p / dist)[:, None]
    c, s = math.cos(plan["angle"][i]), math.sin(plan["angle"][i])
    q_par = gx * c + gy * s  # q component along the particle's long / pair axis
    q_perp = -gx * s + gy * c
    if kind == "ellipsoid":
        # A prolate spheroid of the same volume, long axis in the detector plane: its form factor
        # is the sphere's with q scaled by the semi-axis ratios, a = R·ε^(2/3), b = R·ε^(-1/3).
        eps = plan["aspect"][i]
        u = k1 * np.sqrt((q_par * eps ** (2 / 3)) ** 2 + (q_perp * eps ** (-1 / 3)) ** 2)
        return a1 * sphere.form_factor(u) ** 2
    # Dimer: coherent sum of two touching spheres; their separation projected on the detector
    # plane gives the fringe phase q_phys·Δr.
    d2 = plan["second_d"][i]
    a2 = sphere.scaling(fluence, d2, lam, p, dist, delta, qe)
    k2 = 2.0 * math.pi * sphere.size_parameter(d2, lam, p, dist)
    q_abs = np.sqrt(gx**2 + gy**2)
    separation = 0.5 * (d + d2) * plan["tilt"][i]
    phase = (2.0 * math.pi / lam) * (p / dist) * q_par * separation
    amp1 = math.sqrt(a1) * sphere.form_factor(k1 * q_abs)
    amp2 = math.sqrt(a2) * sphere.form_factor(k2 * q_abs)
    return amp1**2 + amp2**2 + 2.0 * amp1 * amp2 * np.cos(phase)


def _frame(i: int, plan: dict, size: int, valid_photons: np.ndarray, hot: np.ndarray, seed: int):
    """Frame ``i`` in ADU (float32) and its hit score. ``valid_photons`` is 0 where no photon can
    arrive (gap, beamstop), 1 elsewhere."""
    rng = np.random.default_rng([seed, 2, i])  # per frame, so frames are independent of order
    expected = _expected_photons(i, plan, size)
    expected += _BACKGROUND
    expected *= valid_photons
    photons = rng.poisson(expected)
    hit_score = float(np.count_nonzero(photons))  # lit pixels: ≥ 1 photon, as the 0.5 threshold
    frame = photons.astype(np.float32)
    frame *= np.float32(GEOMETRY["adu_per_photon"])
    frame.ravel()[hot] = rng.uniform(*_HOT_ADU, hot.size).astype(np.float32)
    return frame, hit_score


# ----------------------------------------------------------------------------- writing


def make_demo_file(
    path: str | os.PathLike,
    n_frames: int = 200,
    size: int = 1024,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a demo CXI file of ``n_frames`` frames of ``size`` × ``size`` pixels to ``path``.

    Overwrites ``path`` directly (no temporary name); :func:`ensure_demo` adds the atomic rename.
    Tests use small versions, e.g. ``make_demo_file(tmp, 12, 256)``. The layout is described in
    the module docstring; ``progress(done, total)`` is called after each frame is written.
    """
    n_frames, size = int(n_frames), int(size)
    if n_frames < 1 or size < 16:
        raise ParameterError("the demo needs at least 1 frame of at least 16 × 16 pixels")
    path = Path(path)
    plan = _plan(n_frames, size, seed)
    mask, hot = _mask_and_hot(size, seed)
    valid_photons = ((mask & (512 | 16)) == 0).astype(np.float64)
    per_frame = {"axes": np.array([b"experiment_identifier"])}

    with h5py.File(path, "w") as f:
        f.attrs["owlx_demo_version"] = DEMO_VERSION
        f.attrs["owlx_demo_seed"] = seed
        f.attrs["description"] = (
            "owlx demo: synthetic sphere-diffraction hits (poliovirus, 5.5 keV, 2.4 m, "
            "110 um pixels, QE 0.95); data in ADU, 10 ADU per photon")
        f["cxi_version"] = 160
        entry = f.create_group("entry_1")
        ids = [f"DEMO_2026_r0001_{i:05d}".encode() for i in range(n_frames)]
        entry.create_dataset("experiment_identifier", data=np.array(ids))

        instrument = entry.create_group("instrument_1")
        source = instrument.create_group("source_1")
        energy = source.create_dataset("energy", data=plan["energy_eV"] * constants.e)
        energy.attrs.update(per_frame, units="J")
        detector = instrument.create_group("detector_1")
        for name, value in (("distance", GEOMETRY["distance_m"]),
                            ("x_pixel_size", GEOMETRY["pixel_size_m"]),
                            ("y_pixel_size", GEOMETRY["pixel_size_m"])):
            detector.create_dataset(name, data=np.float64(value)).attrs["units"] = "m"
        detector["description"] = b"synthetic pnCCD-like detector, two halves with a gap"

        sample = entry.create_group("sample_1")
        sample["name"] = GEOMETRY["material"].encode()
        translation = sample.create_group("geometry_1").create_dataset(
            "translation", data=plan["translation"])
        translation.attrs["units"] = "m"

        image = entry.create_group("image_1")
        data = image.create_dataset(
            "data", shape=(n_frames, size, size), dtype=np.float32, chunks=(1, size, size),
            compression="gzip", compression_opts=1, shuffle=True)
        # Cheetah (Python 2) wrote a 1-element fixed-length bytes array; owlx readers must cope.
        data.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        data.attrs["units"] = "ADU"
        data.attrs["adu_per_photon"] = np.float64(GEOMETRY["adu_per_photon"])
        image.create_dataset("mask_shared", data=mask)
        image["detector_1"] = h5py.SoftLink("/entry_1/instrument_1/detector_1")
        image["source_1"] = h5py.SoftLink("/entry_1/instrument_1/source_1")
        entry["data_1"] = h5py.SoftLink("/entry_1/image_1")
        _write_truth(image.create_group("truth"), plan, per_frame)

        hit_score = np.zeros(n_frames)
        # Frames are made in worker threads (the model kernel and numpy's Poisson sampler release
        # the GIL) while this thread compresses and writes them in order. The window bounds the
        # frames held in memory.
        window = 2 * _WORKERS
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            pending = deque()
            submitted = 0
            for i in range(n_frames):
                while submitted < n_frames and len(pending) < window:
                    pending.append(
                        pool.submit(_frame, submitted, plan, size, valid_photons, hot, seed))
                    submitted += 1
                data[i], hit_score[i] = pending.popleft().result()
                if progress is not None:
                    progress(i + 1, n_frames)
        image.create_dataset("hit_score", data=hit_score).attrs.update(per_frame)
        f.attrs["owlx_demo_complete"] = True
    return path


def _write_truth(group: h5py.Group, plan: dict, per_frame: dict) -> None:
    """The parameters each frame was made with, for fitting tests and the tutorial."""
    columns = {
        "diameter_nm": plan["diameter"] * 1e9,
        "fluence_mJ_um2": plan["fluence"] / 1e9,
        "scaling_photons": plan["scaling"],
        "offset_x": plan["offsets"][:, 0],
        "offset_y": plan["offsets"][:, 1],
    }
    for name, values in columns.items():
        group.create_dataset(name, data=values).attrs.update(per_frame)
    group.create_dataset("kind", data=np.array([k.encode() for k in plan["kinds"]], dtype="S9"))
    group.attrs["description"] = (
        "true values per frame: diameter (volume-equivalent; first sphere of a dimer; NaN if "
        "blank), fluence at the sample, photons/px at q = 0, beam-centre offset from the array "
        "middle (px), and kind: sphere, dimer, ellipsoid, weak or blank")
