"""XSVS results on disk: HDF5 with the fields of pyxsvs's result pickle, and CSV summaries
(spec/xsvs.md §11).

HDF5 layout (``/xsvs``): attributes with the settings, centre and the input file's text;
``geometry/`` (q values, ring sizes, ring masks, valid mask); ``exposures/<Exp_n>/`` with the
static image and one ``qNNN`` group per ring holding ``histogramBins``, ``histogram``,
``histStdDev``, ``trace``, ``fit_bins``, ``overflow`` (exact mode) and the scalar groups
``q/value``, ``M|K|beta|R-1/{value,stddev}``. Files are written to ``<path>.part`` and renamed,
so an interrupted run never leaves a half-written results file under the final name.

:func:`load_results` returns pyxsvs's nested dictionary
``{Exp_n: {"expTime": t, "data": {qNNN: {"histogram": …, "M": {"value", "stddev"}, …}}}}``.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
from collections.abc import Iterable

import h5py
import numpy as np

import owlx
from owlx.core.xsvs_analysis import ExposureResult, RingResult, XsvsSettings
from owlx.core.xsvs_rings import Rings
from owlx.errors import FileFormatError
from owlx.io.xsvs_project import XsvsProject, center_to_internal

ROOT = "/xsvs"
SUMMARY_COLUMNS = ("exposure", "exp_time_s", "q_invA", "npix", "n_frames", "K", "K_stddev", "M", "M_stddev", "beta",
                   "beta_stddev", "R-1", "R-1_stddev", "fit_method", "n_bins_fit", "fit_status")
HISTOGRAM_COLUMNS = ("exposure", "q_invA", "k", "P", "P_stddev")


def q_key(j: int) -> str:
    """Ring key of pyxsvs's results: ``q000``, ``q001``, …"""
    return f"q{j:03d}"


def _scalar_pair(group: h5py.Group, name: str, value: float, stddev: float | None) -> None:
    sub = group.create_group(name)
    sub.create_dataset("value", data=np.float64(value))
    if stddev is not None:
        sub.create_dataset("stddev", data=np.float64(stddev))


def _write_ring(group: h5py.Group, ring: RingResult, mode: str) -> None:
    group.create_dataset("histogramBins", data=np.asarray(ring.bins, dtype=np.int64))
    group.create_dataset("histogram", data=np.asarray(ring.histogram, dtype=np.float64))
    group.create_dataset("histStdDev", data=np.asarray(ring.hist_std, dtype=np.float64))
    if mode == "exact":
        group.create_dataset("overflow", data=np.float64(ring.overflow))
    group.create_dataset("trace", data=np.asarray(ring.trace, dtype=np.float64))
    group.create_dataset("fit_bins", data=np.asarray(ring.fit_bins, dtype=bool))
    _scalar_pair(group, "q", ring.q, None)
    _scalar_pair(group, "M", ring.M, ring.M_stddev)
    _scalar_pair(group, "K", ring.K, ring.K_stddev)
    _scalar_pair(group, "beta", ring.beta, ring.beta_stddev)
    _scalar_pair(group, "R-1", ring.r1, ring.r1_stddev)
    a = group.attrs
    a["npix"] = ring.npix
    a["fit_status"] = ring.fit.status
    a["fit_method"] = ring.fit.method
    a["chi2_red"] = ring.fit.chi2_red
    a["n_bins_fit"] = ring.fit.n_bins
    a["n_frames_used"] = ring.n_frames_used
    a["M_moment"] = ring.M_moment
    for method, fit in ring.fits.items():  # every fit computed, for side-by-side comparison
        a[f"M_{method}"] = fit.M
        a[f"M_{method}_stddev"] = fit.M_stddev
        a[f"{method}_status"] = fit.status


def write_results_h5(path: str, project: XsvsProject, settings: XsvsSettings, rings: Rings, valid: np.ndarray,
                     exposures: Iterable[ExposureResult], center: tuple[float, float] | None = None,
                     center_convention: str | None = None) -> str:
    """Write the results file (replacing ``path``); returns its absolute path. ``center``
    ``(row0, col0)`` and ``center_convention`` are those the rings were built with (default:
    the project's); ``cenx``/``ceny`` are written as the file gave them."""
    path = os.path.abspath(os.fspath(path))
    tmp = path + ".part"
    convention = center_convention or project.center_convention
    row0, col0 = center if center is not None else center_to_internal(project.cenx, project.ceny, convention)
    try:
        with h5py.File(tmp, "w") as f:
            root = f.create_group(ROOT)
            a = root.attrs
            a["owlx_version"] = owlx.__version__
            a["created"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
            a["input_ini"] = project.ini_text or ""
            a["input_path"] = project.ini_path or ""
            a["center_convention"] = convention
            a["row0"], a["col0"] = row0, col0
            a["cenx"], a["ceny"] = project.cenx, project.ceny
            a["pyxsvs_compat"] = bool(settings.pyxsvs_compat)
            a["histogram_mode"] = settings.histogram_mode
            a["fit_method"] = settings.fit_method
            a["fit_bins_rule"] = settings.fit_bins
            a["r1_form"] = settings.r1_form
            a["use_flat_field"] = bool(settings.use_flat_field)
            a["static_frames"] = int(settings.static_frames)
            geo = root.create_group("geometry")
            for key, value in (("wavelength_A", project.wavelength_A), ("pix_mm", project.pix_mm),
                               ("sddist_mm", project.sddist_mm), ("q1", project.q1), ("q2", project.q2),
                               ("qs", project.qs), ("dq", project.dq)):
                geo.attrs[key] = float(value)
            geo.create_dataset("q_values", data=np.asarray(rings.q, dtype=np.float64))
            geo.create_dataset("ring_npix", data=rings.npix.astype(np.int64))
            geo.create_dataset("ring_masks", data=rings.masks().astype(np.uint8), compression="gzip", shuffle=True)
            geo.create_dataset("valid_mask", data=np.asarray(valid, dtype=np.uint8), compression="gzip")
            exp_group = root.create_group("exposures")
            for exp in exposures:
                g = exp_group.create_group(exp.name)
                g.attrs["expTime"] = float(exp.exp_time_s)
                g.attrs["first_file"] = int(exp.first_file)
                g.attrs["last_file"] = int(exp.last_file)
                g.attrs["n_frames"] = int(exp.n_frames)
                g.attrs["n_missing"] = int(exp.n_missing)
                g.attrs["status"] = exp.status
                if exp.static is not None:
                    g.create_dataset("static", data=np.asarray(exp.static, dtype=np.float64), compression="gzip")
                for j, ring in enumerate(exp.rings):
                    _write_ring(g.create_group(q_key(j)), ring, settings.histogram_mode)
        os.replace(tmp, path)
    except OSError as err:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise FileFormatError(f"cannot write the XSVS results to '{path}': {err}") from err
    return path


def _summary_rows(exposures: Iterable[ExposureResult]):
    for exp in exposures:
        for ring in exp.rings:
            yield {
                "exposure": exp.name, "exp_time_s": exp.exp_time_s, "q_invA": ring.q, "npix": ring.npix,
                "n_frames": exp.n_frames, "K": ring.K, "K_stddev": ring.K_stddev, "M": ring.M,
                "M_stddev": ring.M_stddev, "beta": ring.beta, "beta_stddev": ring.beta_stddev, "R-1": ring.r1,
                "R-1_stddev": ring.r1_stddev, "fit_method": ring.fit.method, "n_bins_fit": ring.fit.n_bins,
                "fit_status": ring.fit.status,
            }


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def write_summary_csv(path: str, exposures: Iterable[ExposureResult]) -> str:
    """One row per (exposure, q) with the columns of spec §11.2; returns the absolute path."""
    return _write_csv(path, SUMMARY_COLUMNS, _summary_rows(exposures))


def write_histogram_csv(path: str, exposures: Iterable[ExposureResult]) -> str:
    """Long-format histograms: one row per (exposure, q, k)."""
    def rows():
        for exp in exposures:
            for ring in exp.rings:
                for k, p, s in zip(ring.bins, ring.histogram, ring.hist_std):
                    yield {"exposure": exp.name, "q_invA": ring.q, "k": int(k), "P": float(p), "P_stddev": float(s)}

    return _write_csv(path, HISTOGRAM_COLUMNS, rows())


def _write_csv(path: str, columns, rows) -> str:
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_fmt(row[c]) for c in columns])
    except OSError as err:
        raise FileFormatError(f"cannot write '{path}': {err.strerror or err}") from err
    return path


def load_results(path: str) -> dict:
    """pyxsvs's nested result dictionary from an owlx XSVS results file (spec §11.1)."""
    try:
        f = h5py.File(os.fspath(path), "r")
    except OSError as err:
        raise FileFormatError(f"cannot open the XSVS results '{path}': {err}") from err
    with f:
        if ROOT not in f or "exposures" not in f[ROOT]:
            raise FileFormatError(f"'{os.path.basename(os.fspath(path))}' holds no /xsvs/exposures group; "
                                  "it is not an owlx XSVS results file")
        out: dict = {}
        for name, g in f[ROOT]["exposures"].items():
            data = {}
            for key, qg in g.items():
                if not isinstance(qg, h5py.Group):
                    continue
                entry: dict = {}
                for ds in ("histogramBins", "histogram", "histStdDev", "trace", "fit_bins", "overflow"):
                    if ds in qg:
                        entry[ds] = qg[ds][()]
                for pair in ("q", "M", "K", "beta", "R-1"):
                    entry[pair] = {k: float(qg[pair][k][()]) for k in qg[pair]}
                entry["attrs"] = {k: _plain(v) for k, v in qg.attrs.items()}
                data[key] = entry
            out[name] = {"expTime": float(g.attrs["expTime"]), "status": _plain(g.attrs.get("status", "ok")),
                         "n_frames": int(g.attrs.get("n_frames", 0)), "data": data}
        return out


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
