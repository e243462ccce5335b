"""The sphere-model results of a stack as plain arrays: what ``session.results()`` returns.

A :class:`SphereTable` is a snapshot (copies) of Owl's per-frame ``model/`` values (formats.md
§2.3) in the units users know, one entry per frame, entry *i* = frame index *i*:

========================  =======================================================================
``frame``                 frame index (int64, 0…N−1)
``diameter_nm``           sphere diameter [nm] (Owl's ``diameterNM``)
``intensity_mJ_um2``      fluence at the sample [mJ/µm²] (``intensityMJUM2``; ×10⁹ gives J/m²)
``center_x_px``           beam centre (x = column) as an offset [px] from the array middle (W−1)/2
``center_y_px``           the same for y (rows), from (H−1)/2
``fit_error``             normalised mean absolute residual of the last fit step (``fitError``,
                          dimensionless); NaN where the frame was not fitted
``diameter_err_nm``       standard error [nm]: √ of Owl's variance ``fitErrorDiameterNM`` (m²/10⁻⁹)
``intensity_err_mJ_um2``  standard error [mJ/µm²]: √ of ``fitErrorIntensityMJUM2`` ((J/m²)²/10⁹)
``center_x_err_px``       standard error [px]: √ of ``fitErrorOffCenterX`` [px²]
``center_y_err_px``       the same for y
``mask_radius_px``        radius of the fit region [px] (``maskRadius``)
``fitted``                True where the diameter was fitted (finite ``fitError``, §2.3)
========================  =======================================================================

Frames never fitted hold Owl's defaults (100 nm, 1 mJ/µm², centre 0) with ``fitted`` False, as
in the file; select with ``table.fitted`` before averaging. Errors are NaN where no variance was
stored (or a stored variance is negative).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np

__all__ = ["SphereTable"]

#: column name -> (Owl model dataset, conversion of the stored value)
_FROM_MODEL = {
    "diameter_nm": ("diameterNM", None),
    "intensity_mJ_um2": ("intensityMJUM2", None),
    "center_x_px": ("offCenterX", None),
    "center_y_px": ("offCenterY", None),
    "fit_error": ("fitError", None),
    # Owl's variance units (formats.md §2.3): m² / 1e-9 and (J/m²)² / 1e9
    "diameter_err_nm": ("fitErrorDiameterNM", lambda v: _sqrt(v * 1e-9) * 1e9),
    "intensity_err_mJ_um2": ("fitErrorIntensityMJUM2", lambda v: _sqrt(v * 1e9) / 1e9),
    "center_x_err_px": ("fitErrorOffCenterX", lambda v: _sqrt(v)),
    "center_y_err_px": ("fitErrorOffCenterY", lambda v: _sqrt(v)),
    "mask_radius_px": ("maskRadius", None),
}


def _sqrt(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    ok = v >= 0  # NaN and negative variances give NaN
    out[ok] = np.sqrt(v[ok])
    return out


@dataclass(frozen=True)
class SphereTable:
    """Per-frame sphere results (see the module docstring for columns and units)."""

    frame: np.ndarray
    diameter_nm: np.ndarray
    intensity_mJ_um2: np.ndarray
    center_x_px: np.ndarray
    center_y_px: np.ndarray
    fit_error: np.ndarray
    diameter_err_nm: np.ndarray
    intensity_err_mJ_um2: np.ndarray
    center_x_err_px: np.ndarray
    center_y_err_px: np.ndarray
    mask_radius_px: np.ndarray
    fitted: np.ndarray

    @classmethod
    def from_model_values(cls, values: dict, n_frames: int | None = None) -> SphereTable:
        """Build from Owl-named per-frame arrays (``ModelResults.values``); a missing name
        gives NaN. Arrays are copied."""
        n = int(n_frames if n_frames is not None else len(next(iter(values.values()))))
        cols = {}
        for name, (owl, convert) in _FROM_MODEL.items():
            raw = values.get(owl)
            arr = np.full(n, np.nan) if raw is None else np.array(raw, dtype=np.float64)[:n]
            cols[name] = convert(arr) if convert is not None else arr
        return cls(frame=np.arange(n, dtype=np.int64), fitted=np.isfinite(cols["fit_error"]), **cols)

    @staticmethod
    def names() -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(f.name for f in fields(SphereTable))

    def __len__(self) -> int:
        return int(self.frame.size)

    def columns(self) -> dict[str, np.ndarray]:
        """``{name: array}`` in table order."""
        return {name: getattr(self, name) for name in self.names()}

    def select(self, frames: Iterable[int] | np.ndarray) -> SphereTable:
        """The rows of ``frames`` (frame indices, or a boolean array of length N), in that order."""
        rows = _rows(frames, len(self))
        return SphereTable(**{name: arr[rows] for name, arr in self.columns().items()})

    def to_csv(self, path: str | os.PathLike, frames: Iterable[int] | np.ndarray | None = None,
               columns: Iterable[str] | None = None) -> str:
        """Write the rows of ``frames`` (default: all) to a CSV file with a header line; floats
        keep full precision, ``fitted`` is 0/1. ``columns`` picks and orders the columns
        (default: all, ``frame`` first). Returns the path written."""
        table = self if frames is None else self.select(frames)
        names = list(columns) if columns is not None else list(self.names())
        unknown = [c for c in names if c not in self.names()]
        if unknown:
            from owlx.errors import ParameterError

            raise ParameterError(f"no column {', '.join(unknown)}; columns are {', '.join(self.names())}")
        cols = [getattr(table, c) for c in names]
        path = os.fspath(path)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            for i in range(len(table)):
                writer.writerow([_cell(col[i]) for col in cols])
        return path

    def __repr__(self) -> str:
        fitted = self.fitted
        d = self.diameter_nm[fitted]
        extra = f", diameter {np.median(d):.1f} nm median" if d.size else ""
        return f"<SphereTable: {len(self)} frames, {int(fitted.sum())} fitted{extra}>"


def _rows(frames, n: int) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.dtype == bool:
        if arr.shape != (n,):
            from owlx.errors import ParameterError

            raise ParameterError(f"a boolean frame selection needs {n} entries, got shape {arr.shape}")
        return np.flatnonzero(arr)
    rows = np.asarray(arr, dtype=np.int64).ravel()
    if rows.size and (rows.min() < -n or rows.max() >= n):
        from owlx.errors import ParameterError

        raise ParameterError(f"frame indices must lie in 0…{n - 1}")
    return rows % n if n else rows


def _cell(value) -> object:
    if isinstance(value, (np.bool_, bool)):
        return int(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    return repr(float(value))
