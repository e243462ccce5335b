"""Stages 6–7 of the FIB-SEM pipeline (spec/fibsem.md §9–§10): warp, bin and write the MRC
stack, then the quality metrics of consecutive output slices. Both map per-slice tasks of
:mod:`owlx_fibsem.tasks` over the run's pool and fill in the
:class:`~owlx_fibsem.pipeline.RegistrationRun`. :func:`refuse_input_as_output` guards the
output path before a run starts, :func:`check_output_folder` its folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

import numpy as np

from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_warp import moving_boxes, sliding_boxes
from owlx.errors import ParameterError
from owlx.io.output_paths import refuse_input_as_output  # re-exported: the pipeline and panel use it here
from owlx_fibsem import tasks
from owlx_fibsem.executor import run_map

__all__ = ["check_output_folder", "evaluation_boxes", "quality", "refuse_input_as_output", "write_output"]


def evaluation_boxes(settings: RegistrationSettings, n_slices: int, frame_shape: tuple[int, int]) -> np.ndarray:
    """The evaluation box of each of ``n_slices`` output slices, (n, 4) [top, height, left,
    width] in frame coordinates (before following the content): ``evaluation_box`` for all, or
    with ``sliding_evaluation_box`` the start → stop interpolation of
    :func:`~owlx.core.fibsem_warp.sliding_boxes`."""
    s = settings
    if s.sliding_evaluation_box:
        return sliding_boxes(s.start_evaluation_box, s.stop_evaluation_box, n_slices, frame_shape)
    return sliding_boxes(s.evaluation_box, s.evaluation_box, n_slices, frame_shape)


def write_output(run, frames, pool, ctx, progress, output: str) -> None:
    """Warp, bin and write every output slice (§9)."""
    from owlx.io.mrc_write import MrcStackWriter

    s, reg, canvas = run.settings, run.registration, run.canvas
    t = time.perf_counter()
    ctx.emit(("stage", "warp and write"))
    z = int(s.zbin)
    kept = reg.frames
    bins = [(k // z, kept[k:k + z], reg.cumulative[k:k + z]) for k in range(0, len(kept), z)]
    voxel = (run.pixel_size_nm * 10.0, run.pixel_size_nm * 10.0, run.z_step_nm * z * 10.0)
    run.voxel_size_A = voxel
    labels = (f"owlx FIB-SEM registration: {len(kept)} frames, zbin {z}, model {s.fit.model}",)
    with MrcStackWriter(output, (len(bins), *canvas.shape), s.dtype, voxel, labels) as writer:
        def take(result):
            index, image, clipped = result
            writer.write(index, image)
            run.clipped += clipped
            progress(1)
            ctx.emit(("slice", index))

        items = [(frames, si, list(fi), list(mi), canvas, s, run.data_range, pool.cv_threads) for si, fi, mi in bins]
        run_map(pool, tasks.warp_task, items, ctx, take, 2 * pool.n_workers)
    # only now, after the writer closed and renamed the file into place: a failed write must not
    # leave run.output naming a file that does not exist
    run.output = os.path.abspath(output)
    run.timings["warp and write"] = time.perf_counter() - t


def quality(run, frames, pool, ctx, progress) -> None:
    """Metrics of consecutive output slices inside the evaluation boxes (§10): the fixed or sliding
    box (:func:`evaluation_boxes`) following the content; stored in ``run.evaluation_boxes``."""
    from owlx.core.fibsem_metrics import snr_from_ncc, summarize

    s, reg, canvas = run.settings, run.registration, run.canvas
    t = time.perf_counter()
    ctx.emit(("stage", "quality metrics"))
    starts = reg.cumulative[::int(s.zbin)]
    boxes = moving_boxes(starts, canvas, evaluation_boxes(s, len(starts), frames.frame_shape()), frames.frame_shape())
    if s.flip_y:
        boxes[:, 0] = canvas.shape[0] - boxes[:, 0] - boxes[:, 1]
    run.evaluation_boxes = boxes
    rows: dict[int, dict] = {}

    def take(result):
        index, values = result
        rows[index] = {"slice": index, **values}
        progress(1)
        ctx.emit(("metrics", index, values))

    items = [(run.output, k, tuple(boxes[k]), s) for k in range(1, len(starts))]
    run_map(pool, tasks.metrics_task, items, ctx, take, 2 * pool.n_workers + 1)
    run.metrics = [rows[k] for k in sorted(rows)]
    for key in ("nsad", "ncc", "nmi", "frc_bandwidth"):
        values = [r[key] for r in run.metrics if key in r]
        if values:
            run.summary[key] = summarize(values)
    if run.metrics:
        ncc = np.array([r["ncc"] for r in run.metrics])
        run.summary["snr"] = (float(np.nanmean(snr_from_ncc(ncc))), float("nan"))
    run.timings["quality metrics"] = time.perf_counter() - t


def check_output_folder(output: str | os.PathLike | None) -> None:
    """Raise :class:`ParameterError` "cannot write to FOLDER: REASON; choose another output
    folder" when the folder of ``output`` is missing or not writable. A temporary file is created
    there and deleted (permission bits alone do not tell: ACLs, read-only mounts, root), so a bad
    folder is found before the data range, keypoint and matching stages, not after them."""
    if not output:
        return
    folder = os.path.dirname(os.path.abspath(os.fspath(output)))
    if not os.path.isdir(folder):
        reason = "it is not a folder" if os.path.exists(folder) else "the folder does not exist"
        raise ParameterError(f"cannot write to {folder}: {reason}; choose another output folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".owlx-write-test-", dir=folder)
    except OSError as err:
        raise ParameterError(f"cannot write to {folder}: {err.strerror or err}; choose another output folder") from err
    os.close(fd)
    with contextlib.suppress(OSError):  # the probe is empty; one left behind is harmless
        os.remove(probe)
