"""``owlx register STACK -o out.mrc [--cache DIR] [--xlsx] [--workers N | --scheduler ADDRESS]``
(spec/fibsem.md §1).

STACK is a folder of ``.dat`` or TIFF frames, one ``.dat`` file (its folder's stack), a list of
files, or a stack file (MRC, TIFF, HDF5 with ``--dataset``). The run writes the registered MRC
stack, ``<out>_registration.h5`` and the CSV tables (``--xlsx``: also the workbook); ``--cache``
keeps the per-frame ranges and keypoints and the per-pair fits for reruns and resumed runs; flagged pairs and removed frames are
printed as warnings, and so is a record that could not be written (the MRC stack is; exit 0),
one summary line goes to stdout. Errors a user can cause print one line
and exit 2 (:func:`owlx.cli.main` does that for OwlxError).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from owlx.errors import OwlxError, ParameterError


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", nargs="+", help="folder of .dat/TIFF frames, a .dat file, a list of files, or a stack file")
    p.add_argument("-o", "--output", required=True, help="registered stack (.mrc)")
    p.add_argument("--dataset", help="image dataset inside an HDF5 file")
    p.add_argument("--preset", choices=("fast", "reference"), default="fast",
                   help="keypoints on the 2×2-binned frame with 5000 features (fast) or at full resolution")
    p.add_argument("--model", default="RegularizedAffine",
                   choices=("Shift", "XScaleShift", "ScaleShift", "Affine", "RegularizedAffine"))
    p.add_argument("--solver", default="RANSAC", choices=("RANSAC", "LinReg"))
    p.add_argument("--matcher", default="flann", choices=("flann", "bf"), help="bf is bit-reproducible")
    p.add_argument("--ratio", type=float, default=0.7, help="Lowe ratio (default 0.7)")
    p.add_argument("--drmax", type=float, default=1.5, help="inlier threshold in px (default 1.5)")
    p.add_argument("--max-iter", type=int, default=1000, help="RANSAC trials / LinReg iterations")
    p.add_argument("--min-inliers", type=int, default=10, help="pairs with fewer inliers are flagged")
    p.add_argument("--on-failure", default="identity", choices=("identity", "neighbour_mean", "exclude_frame"))
    p.add_argument("--channel", type=int, default=0, help=".dat detector channel (0 = DetA)")
    p.add_argument("--imgb-fraction", type=float, default=0.0,
                   help="fuse the other .dat channel into the output: A·(1 − f) + B·f (default 0)")
    p.add_argument("--zbin", type=int, default=1, help="average this many frames per output slice")
    p.add_argument("--order", type=int, default=1, choices=(0, 1, 3), help="interpolation order")
    p.add_argument("--dtype", default="int16", choices=("int16", "uint16", "float32", "uint8"))
    p.add_argument("--no-pad", action="store_true", help="keep frame 0's size (crop what moves out)")
    p.add_argument("--invert", action="store_true")
    p.add_argument("--flip-y", action="store_true")
    p.add_argument("--no-preserve-scales", action="store_true")
    p.add_argument("--keep-drift", action="store_true", help="do not subtract the linear drift")
    p.add_argument("--box", type=int, nargs=4, metavar=("TOP", "HEIGHT", "LEFT", "WIDTH"),
                   help="evaluation box (0 = full extent)")
    p.add_argument("--box-stop", type=int, nargs=4, metavar=("TOP", "HEIGHT", "LEFT", "WIDTH"),
                   help="sliding evaluation box for the metrics: interpolate from --box (first slice) to this "
                        "box (last slice)")
    p.add_argument("--cache", metavar="DIR",
                   help="cache folder of stages 1-3 (per-frame ranges and keypoints, per-pair fits): a rerun or a "
                        "resumed run recomputes only what its frames and settings change")
    p.add_argument("--xlsx", action="store_true",
                   help="also write the record as <out>_registration.xlsx (needs openpyxl: pip install owlx[xlsx])")
    p.add_argument("--z-step", type=float, help="z step in nm per frame (default: from the WD of .dat headers)")
    p.add_argument("--pixel-size", type=float, help="pixel size in nm (default: from the file)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-metrics", action="store_true", help="skip the quality analysis")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="run on a local dask cluster of N processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the dask cluster at ADDRESS")
    where.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                       help="threads when running in this process (default: one per core)")


def settings_from_args(args: argparse.Namespace):
    from owlx.core.fibsem_settings import RegistrationSettings

    changes = {
        "model": args.model, "solver": args.solver, "matcher": args.matcher, "ratio": args.ratio,
        "drmax": args.drmax, "max_iter": args.max_iter, "min_inliers": args.min_inliers,
        "on_failure": args.on_failure, "channel": args.channel, "zbin": args.zbin, "int_order": args.order,
        "dtype": args.dtype, "pad_edges": not args.no_pad, "invert": args.invert, "flip_y": args.flip_y,
        "preserve_scales": not args.no_preserve_scales, "seed": args.seed,
        "subtract_linear_fit": (False, False) if args.keep_drift else (True, True),
        "z_step_nm": args.z_step, "pixel_size_nm": args.pixel_size, "imgb_fraction": args.imgb_fraction,
    }
    if args.box:
        changes["evaluation_box"] = tuple(args.box)
    if args.box_stop:
        changes.update(sliding_evaluation_box=True, start_evaluation_box=tuple(args.box or (0, 0, 0, 0)),
                       stop_evaluation_box=tuple(args.box_stop))
    return RegistrationSettings.preset(args.preset, **changes)


def _bar(state: dict):
    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - state.get("last", 0.0) < 0.2:
            return
        state["last"] = now
        width = 30
        fill = int(width * done / max(total, 1))
        print(f"\rregister [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {state.get('stage', '')}",
              end="\n" if done >= total else "", file=sys.stderr, flush=True)

    return progress


def run(args: argparse.Namespace) -> int:
    from owlx.jobs import run_inline
    from owlx_fibsem.frames import FileFrames
    from owlx_fibsem.pipeline import registration_job

    if args.workers is not None and args.workers < 1:
        raise ParameterError("--workers must be ≥ 1")
    if args.xlsx:  # before reading anything: a missing optional package is a one-line error
        from owlx.io.fibsem_record import require_openpyxl

        require_openpyxl()
    settings = settings_from_args(args)
    target = args.stack[0] if len(args.stack) == 1 else list(args.stack)
    frames = FileFrames.of(target, args.dataset, settings.channel, settings.imgb_fraction > 0)
    job = registration_job(frames, settings, args.output, threads=max(1, args.threads or 1),
                           n_workers=args.workers, scheduler=args.scheduler, metrics=not args.no_metrics,
                           cache_dir=args.cache, xlsx=args.xlsx)
    state: dict = {}

    def on_result(event) -> None:
        if event[0] == "stage":
            state["stage"] = event[1]

    t0 = time.perf_counter()
    outcome = run_inline(job, on_progress=_bar(state), on_result=on_result, raise_errors=False)
    if outcome.status == "cancelled":
        return 130
    if outcome.status == "failed":
        if isinstance(outcome.error, OwlxError):
            raise outcome.error
        raise OwlxError(f"{type(outcome.error).__name__}: {outcome.error}")
    result = outcome.value
    for f in result.flagged:
        print(f"owlx register: warning: pair {f.index} is {f.status} ({f.n_matches} matches, {f.npts} inliers); "
              f"its step follows on_failure={settings.post.on_failure}", file=sys.stderr)
    if result.removed:
        print(f"owlx register: warning: frames removed (no match to either neighbour): {result.removed}",
              file=sys.stderr)
    if result.clipped:
        print(f"owlx register: warning: {result.clipped} voxels clipped to the {settings.dtype} range", file=sys.stderr)
    for text in result.warnings:  # the stack is written: exit 0, but say what is missing
        print(f"owlx register: warning: {text}", file=sys.stderr)
    if result.keypoint_cache:
        reused = result.cache_reused
        print(f"owlx register: cache {result.keypoint_cache}: reused {reused.get('ranges', 0)}/{result.n_frames} "
              f"frame ranges and {reused.get('pairs', 0)}/{result.n_frames - 1} pair fits", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    ncc = result.summary.get("ncc", (float("nan"),))[0]
    print(f"registered {result.n_frames} frames ({len(result.flagged)} flagged pairs, {len(result.removed)} removed) "
          f"in {elapsed:.1f} s ({result.n_frames / max(elapsed, 1e-9):.2f} frames/s) to {result.output}; "
          f"mean NCC {ncc:.4f}")
    return 0
