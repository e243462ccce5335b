"""Writing the peak panel's results to CSV and HDF5 (no Qt).

Peaks (:func:`export_peaks`)
    CSV: header ``row,col,intensity,prominence`` then one line per peak (row, col in px, 0-based,
    pixel centres at integers; prominence empty for the autocorrelation method). HDF5 group
    (default ``/peaks``): ``peaks`` (N, 2) float64 (row, col), ``intensity``, ``prominence``,
    attrs ``centre_row``, ``centre_col``, ``frame``, ``method``, ``owlx_version``.
Azimuthal average (:func:`export_azimuthal`)
    CSV: ``radius_px,average,count``; HDF5 group (default ``/azimuthal_average``): ``radius_px``,
    ``average``, ``count`` and attrs ``centre_row``, ``centre_col``, ``frame``.
The aligned stack is not exported from memory: the alignment job streams it to its file
(:mod:`owlx.io.aligned_write`).

HDF5 files are created if missing; an existing group of the chosen name is refused, never
overwritten.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import owlx
from owlx.errors import FileFormatError

from .peak_jobs import PeakResult

__all__ = ["export_azimuthal", "export_peaks"]


def _new_group(path: Path, group: str):
    import h5py

    f = h5py.File(path, "a")
    if group in f:
        f.close()
        raise FileFormatError(f"{path} already holds {group}; choose another file or group")
    return f, f.create_group(group)


def _csv(path: Path, header: str, columns) -> Path:
    table = np.column_stack([np.asarray(c, dtype=float) for c in columns]) if columns else np.zeros((0, 0))
    lines = [header]
    for row in table:
        lines.append(",".join("" if not np.isfinite(v) else repr(float(v)) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def export_peaks(result: PeakResult, path, fmt: str | None = None, group: str = "/peaks") -> Path:
    """Write the peak table as CSV or HDF5 (``fmt`` "csv"/"hdf5", default from the suffix)."""
    path = Path(path)
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "hdf5")
    peaks = np.asarray(result.peaks, dtype=float).reshape(-1, 2)
    if fmt == "csv":
        return _csv(path, "row,col,intensity,prominence", [peaks[:, 0], peaks[:, 1], result.intensity,
                                                            result.prominence])
    f, g = _new_group(path, group)
    with f:
        g["peaks"] = peaks
        g["intensity"] = np.asarray(result.intensity, dtype=float)
        g["prominence"] = np.asarray(result.prominence, dtype=float)
        g.attrs.update(centre_row=float(result.centre[0]), centre_col=float(result.centre[1]), frame=int(result.index),
                       method=result.method, owlx_version=owlx.__version__,
                       notes="(row, col) px, 0-based, pixel centres at integers")
    return path


def export_azimuthal(radius, average, count, centre, frame: int, path, fmt: str | None = None,
                     group: str = "/azimuthal_average") -> Path:
    """Write an azimuthal average as CSV or HDF5."""
    path = Path(path)
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "hdf5")
    if fmt == "csv":
        return _csv(path, "radius_px,average,count", [radius, average, count])
    f, g = _new_group(path, group)
    with f:
        g["radius_px"] = np.asarray(radius)
        g["average"] = np.asarray(average, dtype=float)
        g["count"] = np.asarray(count)
        g.attrs.update(centre_row=float(centre[0]), centre_col=float(centre[1]), frame=int(frame),
                       owlx_version=owlx.__version__)
    return path
