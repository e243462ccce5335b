"""``owlx fit FILE``: batch sphere sizing from the command line (spec/sphere.md §5).

Settings come from the file (``model/`` values > file geometry > the seed recipe, with the data's
``adu_per_photon`` attribute for detectorADUPhoton when ``model/`` has none). Results go to the
file's ``<group>/model/`` or, when it cannot take them, to its sidecar (``session.save()``),
flushed every 100 frames or 5 s and at the end. A progress bar goes to stderr, one summary line
to stdout. Errors print one line and exit non-zero (the caller, :func:`owlx.cli.main`, does
that for :class:`~owlx.errors.OwlxError`).
"""

from __future__ import annotations

import argparse
import sys
import time

from .errors import OwlxError, ParameterError


def parse_frames(text: str | None, n: int) -> list[int]:
    """``0:100``, ``:50``, ``10:``, ``0:100:2``, ``3,5,9`` or a mix (``0:3,7``); negative
    indices count from the end. Frames outside 0…n−1 are an error."""
    if text is None or not text.strip():
        return list(range(n))
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if ":" in part:
                bits = [int(b) if b.strip() else None for b in part.split(":")]
                if len(bits) > 3:
                    raise ValueError(part)
                out.extend(range(n)[slice(*bits)])
            elif part:
                i = int(part)
                i = i + n if i < 0 else i
                if not 0 <= i < n:
                    raise ParameterError(f"frame {part} does not exist: the stack has {n} frames (0–{n - 1})")
                out.append(i)
    except ParameterError:
        raise
    except ValueError as err:
        raise ParameterError(f"cannot read the frame list {text!r} ({err}): use e.g. 0:100 or 3,5,9") from None
    out = list(dict.fromkeys(out))
    if not out:
        raise ParameterError(f"the frame list {text!r} selects no frame of {n}")
    return out


def _bar(total: int):
    state = {"t0": time.perf_counter(), "last": -1.0}

    def progress(done: int, _total: int) -> None:
        now = time.perf_counter()
        if done < total and now - state["last"] < 0.2:
            return
        state["last"] = now
        width = 30
        fill = int(width * done / max(total, 1))
        rate = done / max(now - state["t0"], 1e-9)
        eta = (total - done) / rate if rate > 0 else float("nan")
        end = "\n" if done >= total else ""
        print(f"\rfit [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {rate:.1f} frames/s ETA {eta:.0f} s",
              end=end, file=sys.stderr, flush=True)

    return progress


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="owlx fit", description="Size spheres in every (or the chosen) frame "
                                "and write Owl's model/ datasets into the file or its sidecar.")
    p.add_argument("file", help="HDF5/CXI file (FILE::/dataset/path accepted)")
    p.add_argument("--dataset", help="image dataset (default: the file's default stack)")
    p.add_argument("--frames", help="frames to fit: 0:100, 3,5,9 … (default: all)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="run on a local dask cluster of N processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the dask cluster at ADDRESS")
    where.add_argument("--inline", action="store_true", help="run in this process (the default)")
    p.add_argument("--threads", type=int, default=1, help="threads when inline (default 1)")
    p.add_argument("--no-write", action="store_true", help="fit only; write nothing")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        raise ParameterError("--workers must be ≥ 1")
    import owlx

    from .jobs import run_inline
    from .sizing import sizing_job

    path, dataset = args.file, args.dataset
    if "::" in path and dataset is None:
        path, dataset = path.split("::", 1)
    session = owlx.open(path, dataset=dataset or None)
    frames = parse_frames(args.frames, session.n_frames)
    job = sizing_job(session, frames, n_threads=max(1, args.threads), write=not args.no_write,
                     n_workers=args.workers, scheduler=args.scheduler)
    bar = _bar(len(frames))
    t0 = time.perf_counter()
    outcome = run_inline(job, on_progress=bar)
    elapsed = time.perf_counter() - t0
    for w in job.warnings:
        print(f"owlx fit: warning: {w}", file=sys.stderr)
    s = outcome.value
    saved = job.saves[-1] if job.saves else None
    where_to = "" if saved is None or saved.target == "nothing" else f", saved to {saved.path}"
    if saved is not None and saved.reason:
        where_to += f" ({saved.reason})"
    n_ok = s.n_ok if s else 0
    n_failed = s.n_failed if s else 0
    print(f"fitted {n_ok} ok, {n_failed} failed of {len(frames)} frames in {elapsed:.1f} s "
          f"({(n_ok + n_failed) / max(elapsed, 1e-9):.1f} frames/s){where_to}")
    session.close()
    if outcome.status == "cancelled":
        return 130
    if outcome.status == "failed":
        raise OwlxError(str(outcome.error))
    return 0
