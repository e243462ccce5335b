"""``owlx xsvs INPUT.ini -o results.h5 [--workers N | --scheduler ADDRESS | --threads N]``: run a
pyxsvs project from the command line, inline or on dask.distributed (same results).

A progress bar goes to stderr, one line per exposure (β at every q) to stdout. Missing
exposures are reported and skipped, the exit status stays 0; Ctrl+C stops the run (status
130) without writing results. Errors a user can fix print one line (owlx.cli does that).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from owlx.core.xsvs_analysis import XsvsSettings
from owlx.core.xsvs_fit import FIT_METHODS, R1_FORMS
from owlx.core.xsvs_histogram import HISTOGRAM_MODES
from owlx.errors import FileFormatError, OwlxError, ParameterError
from owlx.io.xsvs_project import CENTER_CONVENTIONS


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("ini", help="pyxsvs input file ([Main] + [Exp_n] sections)")
    p.add_argument("-o", "--output", help="results HDF5 file (default: <save dir>/<sample name>xsvs_results.h5)")
    p.add_argument("--csv", help="summary CSV (default: <output stem>_summary.csv with -o, else "
                   "<save dir>/<sample name>xsvs_summary.csv)")
    p.add_argument("--histogram-csv", help="also write the histograms in long format to this CSV")
    p.add_argument("--compat", action="store_true", help="pyxsvs-compatible mode: reproduces pyxsvs's numbers")
    p.add_argument("--histogram-mode", choices=HISTOGRAM_MODES, help="histogram definition (default exact)")
    p.add_argument("--fit-method", choices=FIT_METHODS, help="fit of M (default lsq)")
    p.add_argument("--r1-form", choices=R1_FORMS, help="R−1 estimator (default exact)")
    p.add_argument("--no-flat-field", action="store_true", help="histogram raw counts (no flat-field division)")
    p.add_argument("--static-frames", type=int, help="frames averaged into the static image (default 200)")
    p.add_argument("--center-convention", choices=CENTER_CONVENTIONS, default="pyxsvs_1based",
                   help="how cenx/ceny of the file are read (default pyxsvs_1based)")
    p.add_argument("--max-frames", type=int, help="use at most N frames per exposure (quick look)")
    where = p.add_mutually_exclusive_group()
    # no default: argparse would not see `--threads 2` (== default) as conflicting with --workers
    where.add_argument("--threads", type=int, help="frame-decoding threads of an inline run (default 2)")
    where.add_argument("--workers", type=int, metavar="N", help="run on a local dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the dask cluster at ADDRESS (tcp://host:port)")
    p.add_argument("--chunk-frames", type=int, metavar="N",
                   help="with --workers/--scheduler: frames per task after the static frames (default 80)")


def settings_from_args(args: argparse.Namespace) -> XsvsSettings:
    changes = {}
    for name in ("histogram_mode", "fit_method", "r1_form", "static_frames"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if args.no_flat_field:
        changes["use_flat_field"] = False
    if args.compat:
        return XsvsSettings.compat(**changes)
    return XsvsSettings(**changes)


def progress_bar(stream=None):
    """A throttled one-line progress bar ``xsvs [####....] done/total frames/s ETA``."""
    state = {"t0": time.perf_counter(), "last": -1.0, "ended": False}

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if state["ended"] or (done < total and now - state["last"] < 0.2):
            return
        state["last"] = now
        state["ended"] = done >= total
        width = 30
        fill = int(width * done / max(total, 1))
        rate = done / max(now - state["t0"], 1e-9)
        eta = (total - done) / rate if rate > 0 else float("nan")
        end = "\n" if done >= total else ""
        print(f"\rxsvs [{'#' * fill}{'.' * (width - fill)}] {done}/{total} frames {rate:.0f}/s ETA {eta:.0f} s",
              end=end, file=stream or sys.stderr, flush=True)

    def close() -> None:
        """End an unfinished bar's line, so that a message after it starts on a line of its own."""
        if state["last"] >= 0 and not state["ended"]:
            state["ended"] = True
            print(file=stream or sys.stderr, flush=True)

    progress.close = close
    return progress


def run(args: argparse.Namespace) -> int:
    from owlx.io.xsvs_project import read_project
    from owlx.jobs import run_inline
    from owlx.xsvs import xsvs_job

    for name in ("max_frames", "threads", "workers", "chunk_frames"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise ParameterError(f"--{name.replace('_', '-')} must be at least 1")
    settings = settings_from_args(args)
    project = read_project(args.ini, center_convention=args.center_convention)
    for w in project.warnings:
        print(f"owlx xsvs: warning: {w}", file=sys.stderr)
    output = args.output or project.default_output()
    csv_path = args.csv or (None if args.output else project.default_summary())
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise FileFormatError(f"cannot write the results into '{folder}' (missing or read-only folder); "
                              "choose another file with -o")
    job = xsvs_job(project, settings, output=output, csv_path=csv_path, histogram_csv=args.histogram_csv,
                   max_frames=args.max_frames, n_threads=max(1, args.threads or 2), n_workers=args.workers,
                   scheduler=args.scheduler, chunk_frames=args.chunk_frames)
    t0 = time.perf_counter()

    def show(item) -> None:
        rings = getattr(item, "rings", None)
        if rings is None or not hasattr(item, "exp_time_s"):
            return
        if not rings:
            print(f"{item.name}: t_e = {item.exp_time_s:g} s: {item.status} ({item.n_missing} files missing)")
            return
        betas = " ".join(f"{r.beta:.3f}" for r in rings)
        print(f"{item.name}: t_e = {item.exp_time_s:g} s, {item.n_frames} frames, beta = {betas}")

    bar = progress_bar()
    try:
        outcome = run_inline(job, on_progress=bar, on_result=show)
    except KeyboardInterrupt:
        job.cancel()
        bar.close()
        print("owlx xsvs: interrupted; no results written", file=sys.stderr)
        return 130
    finally:
        bar.close()  # an error message then starts on a line of its own
    if outcome.status == "cancelled":
        return 130
    if outcome.status == "failed":
        raise outcome.error if isinstance(outcome.error, OwlxError) else OwlxError(str(outcome.error))
    result = outcome.value
    for w in result.warnings[len(project.warnings):]:
        print(f"owlx xsvs: warning: {w}", file=sys.stderr)
    analysed = sum(1 for e in result.exposures if e.rings)
    print(f"analysed {analysed} of {len(result.exposures)} exposures × {result.setup.rings.n_rings} q rings in "
          f"{time.perf_counter() - t0:.1f} s; results: {result.outputs['h5']}, {result.outputs['csv']}")
    return 0
