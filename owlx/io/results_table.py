"""Reading the per-frame values ``owlx results`` exports (formats.md §2.8).

The datasets are those read by ``scripts/results.py`` of the Daurer et al. FXI analysis
(cnettel/cxic9714-analysis): identifiers and times from the Cheetah/LCLS groups, the injector
position and voltage, and the sphere model of the result group. Every value is aligned to the
image stack's N (formats.md §1.5): longer datasets are cut, shorter ones padded (NaN, or an
empty identifier) with a warning. A dataset that is missing or has an unusable shape is
recorded in :attr:`FileColumns.missing` by name and skipped; nothing here raises for it.

Model datasets (``<group>/model/<name>``) are read from the data file and then from the sidecar,
whose datasets win (formats.md §2.7), as owlx shows them.

Keys and units (as stored; CXI files use SI):

================== ============================================================ ==============
key                dataset                                                      unit
================== ============================================================ ==============
``id``             ``/entry_1/experiment_identifier``                           bytes
``time_s``         ``/LCLS/machineTime``                                        s
``time_ns``        ``/LCLS/machineTimeNanoSeconds``                             ns
``injector_posx``  ``/entry_1/sample_1/geometry_1/translation[:, 0]``           m
``injector_posz``  ``/entry_1/sample_1/geometry_1/translation[:, 2]``           m
``injector_voltage`` ``/entry_1/sample_1/injection_1/voltage``                  V
``npeaks``         ``/cheetah/event_data/peakNpix``                             count
``diameter``       ``<group>/model/diameterNM``                                 nm
``intensity``      ``<group>/model/intensityMJUM2``                             mJ/µm²
``offcenterx/y``   ``<group>/model/offCenterX``, ``offCenterY``                 px from middle
================== ============================================================ ==============
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import h5py
import numpy as np

from owlx.io.results import open_read

__all__ = [
    "FILE_DATASETS",
    "MODEL_DATASETS",
    "RESULT_KEYS",
    "FileColumns",
    "center_mrad",
    "read_columns",
    "run_numbers",
]

#: The 12 keys of ``results.h5`` in the order scripts/results.py writes them (formats.md §2.8).
RESULT_KEYS = ("id", "time_s", "time_ns", "run_nr", "diameter", "intensity", "centerx", "centery",
               "injector_posx", "injector_posz", "injector_voltage", "npeaks")

#: key -> (absolute dataset path, column of a 2-D dataset or None)
FILE_DATASETS = {
    "id": ("/entry_1/experiment_identifier", None),
    "time_s": ("/LCLS/machineTime", None),
    "time_ns": ("/LCLS/machineTimeNanoSeconds", None),
    "injector_posx": ("/entry_1/sample_1/geometry_1/translation", 0),
    "injector_posz": ("/entry_1/sample_1/geometry_1/translation", 2),
    "injector_voltage": ("/entry_1/sample_1/injection_1/voltage", None),
    "npeaks": ("/cheetah/event_data/peakNpix", None),
}

#: key -> Owl's per-frame model dataset (formats.md §2.3)
MODEL_DATASETS = {
    "diameter": "diameterNM",
    "intensity": "intensityMJUM2",
    "offcenterx": "offCenterX",
    "offcentery": "offCenterY",
}

#: file-wide model values used for the centre angles
_GENERAL = ("detectorPixelSizeUM", "detectorDistanceMM")


@dataclass
class FileColumns:
    """What one file gave: ``columns`` (key -> array of length N), ``missing`` (key -> the
    dataset path that was missing or unusable), ``general`` (``detectorPixelSizeUM``,
    ``detectorDistanceMM`` found in ``model/``) and ``warnings``."""

    n_frames: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    general: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_columns(data_path: str | None, group: str, n_frames: int, sidecar_path: str | None = None) -> FileColumns:
    """Read every key of the module table for the result group ``group`` over ``n_frames``
    frames. ``data_path`` None (a non-HDF5 source) reads only the sidecar's model."""
    out = FileColumns(int(n_frames))
    group = "/" + group.strip("/")
    if data_path is not None:
        with open_read(data_path) as f:
            for key, (path, column) in FILE_DATASETS.items():
                values = _read_per_frame(f, path, column, out, key)
                if values is not None:
                    out.columns[key] = values
            _read_model(f, group, out, "")
    else:
        out.missing.update({key: path for key, (path, _) in FILE_DATASETS.items()})
    if sidecar_path is not None:
        try:
            with open_read(sidecar_path) as f:
                _read_model(f, group, out, "sidecar: ")
        except OSError as err:
            out.warnings.append(f"cannot read the sidecar '{os.path.basename(sidecar_path)}': {err}")
    for key, name in MODEL_DATASETS.items():
        if key not in out.columns:
            out.missing[key] = f"{group.rstrip('/')}/model/{name}"
    return out


def _read_per_frame(f: h5py.File, path: str, column: int | None, out: FileColumns, key: str):
    obj = f.get(path)
    if not isinstance(obj, h5py.Dataset):
        out.missing[key] = path
        return None
    want_ndim = 1 if column is None else 2
    if obj.ndim != want_ndim or (column is not None and obj.shape[1] <= column):
        out.missing[key] = f"{path}[:, {column}]" if column is not None else path
        out.warnings.append(f"{path} has shape {obj.shape}; skipped")
        return None
    try:
        raw = obj[: out.n_frames] if column is None else obj[: out.n_frames, column]
    except (OSError, TypeError, ValueError) as err:
        out.missing[key] = path
        out.warnings.append(f"{path} could not be read ({err}); skipped")
        return None
    values = _identifiers(raw) if key == "id" else _numbers(raw)
    if values is None:
        out.missing[key] = path
        out.warnings.append(f"{path} holds {obj.dtype}, not {'text' if key == 'id' else 'numbers'}; skipped")
        return None
    return _align(values, out, path, obj.shape[0])


def _read_model(f: h5py.File, group: str, out: FileColumns, prefix: str) -> None:
    model = f.get(group.rstrip("/") + "/model")
    if not isinstance(model, h5py.Group):
        return
    for key, name in MODEL_DATASETS.items():
        obj = model.get(name)
        if not isinstance(obj, h5py.Dataset):
            continue
        path = f"{model.name}/{name}"
        if obj.ndim != 1 or obj.dtype.kind not in "biuf":
            out.warnings.append(f"{prefix}{path} has shape {obj.shape} and type {obj.dtype}; skipped")
            continue
        out.columns[key] = _align(np.asarray(obj[: out.n_frames], dtype=np.float64), out, prefix + path,
                                  obj.shape[0])
    for name in _GENERAL:
        obj = model.get(name)
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iuf" and obj.size:
            value = float(np.asarray(obj[()]).ravel()[0])
            if math.isfinite(value) and value > 0:
                out.general[name] = value


def _numbers(raw) -> np.ndarray | None:
    arr = np.asarray(raw)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        return None
    return arr


def _identifiers(raw) -> np.ndarray | None:
    arr = np.asarray(raw)
    if arr.dtype.kind == "S":
        return arr
    if arr.dtype.kind in "OU":
        try:
            return np.array([v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in arr.tolist()])
        except (TypeError, ValueError):
            return None
    return None


def _align(values: np.ndarray, out: FileColumns, path: str, length: int) -> np.ndarray:
    """Pad a per-frame array read as ``ds[:N]`` to N entries (NaN / empty identifier)."""
    n = out.n_frames
    if values.shape[0] >= n:
        return values
    out.warnings.append(f"{path} covers {length} of {n} frames; the rest are missing")
    if values.dtype.kind == "S":
        padded = np.zeros(n, dtype=values.dtype)
    else:
        padded = np.full(n, np.nan)
    padded[: values.shape[0]] = values
    return padded


def run_numbers(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Run numbers from experiment identifiers and how many could not be parsed (→ −1).

    The run is the first ``_``-separated field of the form ``r<digits>``:
    ``LCLS_2014_Apr14_r0164_183144_f1e0`` → 164. scripts/results.py took the 4th field without
    its first two characters, which gives the same number for every LCLS run below 1000 (the
    field is ``r0…``) but drops a digit from ``r1164``; owlx keeps all digits.
    """
    pattern = re.compile(rb"^r(\d+)$")
    runs = np.full(len(ids), -1, dtype=np.int64)
    bad = 0
    for i, ident in enumerate(ids):
        for part in bytes(ident).split(b"_"):
            m = pattern.match(part)
            if m:
                runs[i] = int(m.group(1))
                break
        else:
            bad += 1
    return runs, bad


def center_mrad(offset_px: np.ndarray, pixel_um: float, distance_mm: float, offset_mrad: float = 0.0) -> np.ndarray:
    """Beam-centre offset as an angle [mrad]: atan(offset·pixel/distance)·1000 + ``offset_mrad``
    (formats.md §2.8; scripts/results.py used 110 µm, 2400 mm and +0.7 / +0.6 mrad)."""
    return np.arctan(np.asarray(offset_px, dtype=np.float64) * (pixel_um * 1e-3) / distance_mm) * 1000.0 + offset_mrad
