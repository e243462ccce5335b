"""Tables and records of a registration run (spec/fibsem.md §9 "Record", §10.2 per-pair table).

:func:`run_tables` turns a :class:`~owlx_fibsem.pipeline.RegistrationRun` into the reference's
five sheets; :func:`export_csv` writes them (and the per-slice metrics) with
:mod:`owlx.io.fibsem_record`, :func:`export_xlsx` as one workbook with those sheet names
(needs openpyxl); :func:`write_run_record` writes the CSV tables (and optionally the XLSX
workbook) and the ``<name>_registration.h5`` sidecar next to the MRC output.
"""

from __future__ import annotations

import os

import numpy as np

from owlx.io.fibsem_record import (
    write_csv,
    write_record_h5,
    write_tables_csv,
    write_tables_xlsx,
)

METRIC_COLUMNS = ("slice", "nsad", "ncc", "snr", "nmi", "mi", "nmi_bins", "frc_bandwidth")


def run_tables(run) -> dict:
    """{sheet: (columns, rows)} with the reference's sheet names."""
    reg = run.registration
    m_cols = ["Sxx", "Sxy", "Tx", "Syx", "Syy", "Ty"]
    orig = [[a, b, f.status, f.n_matches, f.npts, f.n_rejected, f.error_abs_mean, f.fwhm_x, f.fwhm_y,
             *np.asarray(f.matrix)[:2].ravel()]
            for (a, b), f in zip(zip(reg.frames[:-1], reg.frames[1:]), reg.fits)]
    cum = [[k, *c[:2].ravel()] for k, c in zip(reg.frames, reg.cumulative)]
    raw = reg.stages.get("raw", reg.cumulative)
    inter = [[k, run.ranges[k, 0], run.ranges[k, 1], int(run.n_keypoints[k]), *raw[i, :2, 2], *reg.cumulative[i, :2, 2],
              reg.cumulative[i, 0, 0], reg.cumulative[i, 1, 1]] for i, k in enumerate(reg.frames)]
    stats = [[r.get(c, "") for c in METRIC_COLUMNS] for r in run.metrics]
    kwargs = [[k, v] for k, v in run.settings.to_dict().items()]
    kwargs += [["removed_frames", reg.removed], ["flagged_pairs", [int(f.index) for f in run.flagged]],
               ["canvas_offsets_xy", [run.canvas.xi, run.canvas.yi] if run.canvas else []],
               ["voxel_size_A", list(run.voxel_size_A)], ["z_step_nm", run.z_step_nm],
               ["clipped_voxels", run.clipped], ["keypoint_cache", run.keypoint_cache or ""]]
    kwargs += [[f"summary.{k}", list(v)] for k, v in run.summary.items()]
    return {
        "Orig. Transformation Matrix": (["frame_a", "frame_b", "status", "n_matches", "npts", "n_rejected",
                                         "error_abs_mean", "fwhm_x", "fwhm_y", *m_cols], orig),
        "Cum. Transformation Matrix": (["frame", *m_cols], cum),
        "Intermediate Results": (["frame", "data_min", "data_max", "n_keypoints", "tx_raw", "ty_raw", "tx", "ty",
                                  "Sxx", "Syy"], inter),
        "Reg. Stat. Info": (list(METRIC_COLUMNS), stats),
        "kwargs Info": (["parameter", "value"], kwargs),
    }


def export_csv(run, stem: str) -> list[str]:
    """Write the five tables as ``<stem>_<sheet slug>.csv`` and the metrics as
    ``<stem>_metrics.csv``; returns the paths."""
    paths = write_tables_csv(stem, run_tables(run))
    rows = [[r.get(c, "") for c in METRIC_COLUMNS] for r in run.metrics]
    paths.append(write_csv(f"{stem}_metrics.csv", METRIC_COLUMNS, rows))
    return paths


def export_xlsx(run, path: str) -> str:
    """Write the five tables as the sheets of the workbook ``path`` (``.xlsx``); raises
    ParameterError "install openpyxl (pip install owlx[xlsx])" without openpyxl."""
    return write_tables_xlsx(path, run_tables(run))


def write_run_record(run, xlsx: bool = False) -> list[str]:
    """CSV tables, with ``xlsx`` also ``<output stem>_registration.xlsx``, and
    ``<output stem>_registration.h5`` next to the run's MRC output."""
    stem = os.path.splitext(run.output)[0]
    paths = export_csv(run, stem + "_registration")
    if xlsx:
        paths.append(export_xlsx(run, stem + "_registration.xlsx"))
    reg = run.registration
    datasets = {
        "frames": np.asarray(reg.frames, dtype=np.int64),
        "removed_frames": np.asarray(reg.removed, dtype=np.int64),
        "pairs/matrix": np.asarray([f.matrix for f in reg.fits]).reshape(-1, 3, 3),
        "pairs/step_used": reg.steps,
        "pairs/npts": np.asarray([f.npts for f in reg.fits], dtype=np.int64),
        "pairs/n_matches": np.asarray([f.n_matches for f in reg.fits], dtype=np.int64),
        "pairs/error_abs_mean": np.asarray([f.error_abs_mean for f in reg.fits]),
        "pairs/fwhm": np.asarray([[f.fwhm_x, f.fwhm_y] for f in reg.fits]).reshape(-1, 2),
        "pairs/status": np.asarray([f.status for f in reg.fits], dtype=object),
        "canvas/offsets_xy": np.asarray([run.canvas.xi, run.canvas.yi]),
        "canvas/shape": np.asarray(run.canvas.shape),
        "ranges": run.ranges,
    }
    for stage, matrices in reg.stages.items():
        datasets[f"cumulative/{stage}"] = matrices
    datasets["cumulative/final"] = reg.cumulative
    if run.evaluation_boxes is not None:
        datasets["metrics/evaluation_boxes"] = np.asarray(run.evaluation_boxes)
    for key in METRIC_COLUMNS:
        if run.metrics and key in run.metrics[0]:
            datasets[f"metrics/{key}"] = np.asarray([r[key] for r in run.metrics])
    paths.append(write_record_h5(stem + "_registration.h5", datasets, run.settings.to_dict()))
    return paths
