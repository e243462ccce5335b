"""Writing a :class:`~owlx.core.polar_analysis.PolarCorrelation` to HDF5 and CSV (no Qt).

HDF5 (a new file, or a new group in an existing one; ``group`` default ``/polar_correlation``)::

    corr                 (n_r, n_phi) float64  C(r, Δφ), mask-normalised, NaN where no bin pair
    counts               (n_r, n_phi) float64  valid bin pairs per lag, summed over pairs
    dphi_rad             (n_phi,)              lag angles 2πk/n_phi
    radius_px            (n_r,)                radius of each correlated ring
    q_per_m              (n_r,)                q of each ring (only with a known geometry)
    frames               (n_frames,) int64     frame indices, in the order used
    pairs                (n_pairs, 2) int64    differences x_A − x_B as positions in ``frames``
                                               (B = −1: no difference)
    pair_distance        (n_pairs,)            feature distance of each pair (fit pairing only)
    polar_radius_px, mean_radial_profile       the radial profile averaged over the frames
    cos_psi, corr_vs_cos_psi                   mean correlation against cos ψ (known geometry)
    attrs: settings (JSON), center_x_px, center_y_px, owlx_version, notes

CSV: ``path`` holds the map, one row per lag: ``dphi_deg`` then one column per ring radius
(``r_<radius>px``); with a known geometry, ``<stem>_cos_psi.csv`` holds ``cos_psi`` and
``mean_corr``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

import owlx
from owlx.core.polar_analysis import PolarCorrelation
from owlx.errors import FileFormatError

__all__ = ["export_csv", "export_hdf5"]


def export_hdf5(result: PolarCorrelation, path, group: str = "/polar_correlation") -> Path:
    """Write ``result`` into ``group`` of the HDF5 file ``path`` (created if missing; an
    existing group of that name is refused, never overwritten)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "a") as f:
            if group in f:
                raise FileFormatError(f"{path} already holds {group}; choose another file or group")
            g = f.create_group(group)
            data = {"corr": result.corr, "counts": result.counts, "dphi_rad": result.dphi,
                    "radius_px": result.radii, "frames": result.frames, "pairs": result.pairs,
                    "pair_distance": result.dists, "polar_radius_px": result.polar_radii,
                    "mean_radial_profile": result.mean_radial}
            if result.q is not None:
                data["q_per_m"] = result.q
            if result.cos_axis is not None:
                data["cos_psi"] = result.cos_axis
                data["corr_vs_cos_psi"] = result.cos_mean
            for name, value in data.items():
                g.create_dataset(name, data=np.asarray(value))
            if result.settings is not None:
                g.attrs["settings"] = json.dumps(dataclasses.asdict(result.settings))
                g.attrs["center_x_px"], g.attrs["center_y_px"] = result.settings.center_xy
            g.attrs["owlx_version"] = owlx.__version__
            g.attrs["notes"] = "; ".join(result.notes)
            f.flush()
    except OSError as err:
        raise FileFormatError(f"cannot write {path}: {err}") from None
    return path


def export_csv(result: PolarCorrelation, path) -> list[Path]:
    """Write the map to ``path`` (and cos ψ to ``<stem>_cos_psi.csv``); returns the files."""
    path = Path(path)
    header = ",".join(["dphi_deg"] + [f"r_{r:g}px" for r in result.radii])
    table = np.column_stack([np.degrees(result.dphi), result.corr.T])
    written = [path]
    try:
        np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.10g")
        if result.cos_axis is not None:
            cos_path = path.with_name(f"{path.stem}_cos_psi.csv")
            np.savetxt(cos_path, np.column_stack([result.cos_axis, result.cos_mean]), delimiter=",",
                       header="cos_psi,mean_corr", comments="", fmt="%.10g")
            written.append(cos_path)
    except OSError as err:
        raise FileFormatError(f"cannot write {path}: {err}") from None
    return written
