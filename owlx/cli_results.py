"""``owlx results FILES... -o DIR [--results] [--selection]``: export tagged, sized hits.

The owlx counterpart of ``scripts/results.py`` of the Daurer et al. FXI analysis
(cnettel/cxic9714-analysis), with the same option names and output keys (formats.md §2.8):

* ``--results`` writes ``DIR/results.h5`` (the 12 keys ``id``, ``time_s``, ``time_ns``,
  ``run_nr``, ``diameter`` [nm], ``intensity`` [mJ/µm²], ``centerx``, ``centery`` [mrad],
  ``injector_posx``, ``injector_posz``, ``injector_voltage``, ``npeaks``; concatenated over the
  files in order) and the same rows as ``DIR/results.csv`` (plus ``file`` and ``frame``).
* ``--selection`` writes ``DIR/selection.h5``: the chosen frames with their images, masks and
  per-frame values (:mod:`owlx.io.results_write`).

Frames are chosen by tags (``--include TAG``: must carry it; ``--exclude TAG``: must not; both
repeatable), by ``--frames`` (``0:100``, ``3,5,9``; frame indices of each file) and by inclusive
ranges (``--dmin/--dmax`` diameter, ``--imin/--imax`` intensity, ``--posxmin…--poszmax`` injector
position ``translation[:, 0]`` / ``[:, 2]``, ``--voltmin/--voltmax``, ``--centerxmin…
--centerymax`` centre angles); NaN fails a range. Differences from the original: the sidecar is
merged (tags and model, as owlx shows them); headings are compared as text; no tag is applied
unless asked; a tag found in no file is an error (exit 2) and one missing from some files a
warning (an ``--include`` tag a file lacks leaves that file without frames); a file without
tags is not tag-filtered; missing datasets are named and skipped; centre angles use the file's
pixel size and distance (``--cxic9714``: 110 µm, 2400 mm, +0.7/+0.6 mrad as in the paper).
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass

import numpy as np

from .errors import OwlxError, ParameterError
from .io.results_table import (
    RESULT_KEYS,
    FileColumns,
    center_mrad,
    read_columns,
    run_numbers,
)

#: option stem -> table key of the inclusive range filters
RANGES = {"d": "diameter", "i": "intensity", "posx": "injector_posx", "posz": "injector_posz",
          "volt": "injector_voltage", "centerx": "centerx", "centery": "centery"}
#: units of the range options (injector values as stored: CXI files use SI)
UNITS = {"diameter": "nm", "intensity": "mJ/µm²", "injector_posx": "m", "injector_posz": "m",
         "injector_voltage": "V", "centerx": "mrad", "centery": "mrad"}
#: the geometry of the cxic9714 experiment: pixel µm, distance mm, x and y angle offsets mrad
CXIC9714 = (110.0, 2400.0, 0.7, 0.6)


@dataclass
class InputFile:
    """One input file after loading: its frames, tags, columns and the frames kept by tags."""

    path: str
    dataset: str
    n: int
    tag_names: tuple
    members: np.ndarray  # (n_tags, n) bool
    cols: FileColumns
    geometry: tuple  # (pixel µm, distance mm, x offset mrad, y offset mrad) or None
    frame_shape: tuple
    dtype: np.dtype
    mask_dtype: np.dtype | None
    keep: np.ndarray | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="owlx results", description="Export the sizes of tagged hits "
                                "(results.h5 + results.csv) or a selection of frames (selection.h5).")
    p.add_argument("files", nargs="+", metavar="FILES", help="CXI/HDF5 files (FILE::/dataset/path accepted)")
    p.add_argument("-o", metavar="DIR", default=".", help="output folder (default: .)")
    p.add_argument("--results", action="store_true", help="write results.h5 and results.csv")
    p.add_argument("--selection", action="store_true", help="write selection.h5 with the chosen frames' images")
    p.add_argument("--include", metavar="TAG", nargs="+", action="extend", default=[],
                   help="keep only frames carrying TAG (repeatable)")
    p.add_argument("--exclude", metavar="TAG", nargs="+", action="extend", default=[],
                   help="drop frames carrying TAG (repeatable)")
    p.add_argument("--nofilter", action="store_true", help="ignore tags")
    p.add_argument("--frames", metavar="LIST", help="frame indices of each file: 0:100, 3,5,9 …")
    for stem, key in RANGES.items():
        for end in ("min", "max"):
            p.add_argument(f"--{stem}{end}", type=float, metavar="FLOAT",
                           help=f"{end}imum {key} [{UNITS[key]}] (inclusive)")
    p.add_argument("--cxic9714", action="store_true",
                   help="centre angles with 110 µm pixels, 2400 mm and +0.7/+0.6 mrad, as the original script")
    p.add_argument("--debug", action="store_true")
    return p


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--poszmin -1e-5`` → ``--poszmin=-1e-5``: argparse takes ``-1e-5`` for an option."""
    options = {f"--{stem}{end}" for stem in RANGES for end in ("min", "max")}
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv) and re.fullmatch(r"-[\d.]+(e[-+]?\d+)?|-inf", argv[i + 1], re.IGNORECASE):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str]) -> int:
    args = _parser().parse_args(_join_negative_values(list(argv)))
    if not (args.results or args.selection):
        raise ParameterError("say what to write: --results and/or --selection")
    warnings: list[str] = []
    files = [_load(spec, args.cxic9714, warnings) for spec in args.files]
    _check_tag_names(files, args.include + args.exclude, args.nofilter)
    for f in files:
        f.keep = _tag_filter(f, args, warnings)
    table, frames, file_index = build_table(files, warnings)
    passed = _range_mask(table, frames.size, args, warnings)
    table = {k: v[passed] for k, v in table.items()}
    frames, file_index = frames[passed], file_index[passed]
    for w in warnings:
        print(f"warning: {w}")
    for i, f in enumerate(files):
        print(f"{f.name}: {f.n} frames, {int(f.keep.sum())} chosen by tags and --frames, "
              f"{int((file_index == i).sum())} after the range filters")
    os.makedirs(args.o, exist_ok=True)
    sources = [os.path.abspath(f.path) for f in files]
    if args.results:
        from .io.results_write import write_results_csv, write_results_h5

        h5 = write_results_h5(os.path.join(args.o, "results.h5"), table, sources)
        names = [files[i].name for i in file_index]
        csv = write_results_csv(os.path.join(args.o, "results.csv"), table, names, frames)
        print(f"wrote {h5} and {csv}: {frames.size} rows, keys {', '.join(table) or '(none)'}")
    if args.selection:
        path = _write_selection(os.path.join(args.o, "selection.h5"), files, table, frames, file_index, sources)
        print(f"wrote {path}: {frames.size} frames")
    _print_stats(table)
    return 0


# -- loading -------------------------------------------------------------------------------------
def _load(spec: str, cxic9714: bool, warnings: list[str]) -> InputFile:
    from .core.tagtable import TagTable
    from .io.open import open_source
    from .io.results import LoadedTags, data_file, load_tags, result_group

    path, _, dataset = spec.partition("::")
    if not os.path.isfile(path):
        raise OwlxError(f"'{path}' does not exist")
    name = os.path.basename(path)
    with open_source(path) as source:
        target = dataset or source.default_stack_path()
        if target is None:
            raise OwlxError(f"'{name}' has no image dataset")
        stack = source.set_image(target)
        n = len(stack)
        try:
            loaded = load_tags(source, stack.path, n)
        except (OwlxError, OSError, KeyError, ValueError, TypeError) as err:
            warnings.append(f"{name}: the tags could not be read ({err}); it is not tag-filtered")
            loaded = LoadedTags(result_group(source, stack.path), n, TagTable.empty(n))
        group = result_group(source, stack.path)
        mask = source.mask_stack(stack.path)
        geometry = source.geometry(stack.path)
        data = data_file(source)
        frame_shape, dtype = stack.frame_shape, stack.dtype
    warnings.extend(f"{name}: {w}" for w in loaded.warnings)
    cols = read_columns(data, group, n, loaded.sidecar)
    warnings.extend(f"{name}: {w}" for w in cols.warnings)
    if cols.missing:
        warnings.append(f"{name}: missing {', '.join(sorted(set(cols.missing.values())))} (skipped)")
    if cxic9714:
        geo = CXIC9714
    else:
        pixel = cols.general.get("detectorPixelSizeUM") or (geometry.pixel_size_m or 0) * 1e6
        distance = cols.general.get("detectorDistanceMM") or (geometry.distance_m or 0) * 1e3
        geo = (pixel, distance, 0.0, 0.0) if pixel and distance else None
        if geo is None and ("offcenterx" in cols.columns or "offcentery" in cols.columns):
            warnings.append(f"{name}: no detector pixel size and distance (model/ or detector_1); centre angles "
                            "are missing (NaN) — --cxic9714 uses the paper's geometry")
    mask_dtype = None
    if mask is not None:
        mask_dtype = np.dtype(np.uint8) if mask.dtype == bool else np.dtype(mask.dtype)
    table = loaded.table
    return InputFile(path, stack.path, n, tuple(table.names), np.asarray(table.members, bool)[:, :n], cols,
                     geo, tuple(frame_shape), np.dtype(dtype), mask_dtype)


def _check_tag_names(files: list[InputFile], names: list[str], nofilter: bool) -> None:
    if nofilter:
        return
    unknown = [t for t in dict.fromkeys(names) if not any(t in f.tag_names for f in files)]
    if unknown:
        known = sorted({t for f in files for t in f.tag_names})
        raise ParameterError(f"tag {', '.join(repr(t) for t in unknown)} is in no input file "
                             f"(tags: {', '.join(known) or 'none'})")


def _tag_filter(f: InputFile, args, warnings: list[str]) -> np.ndarray:
    keep = np.ones(f.n, bool)
    if not args.nofilter:
        if not f.tag_names and (args.include or args.exclude):
            warnings.append(f"{f.name}: has no tags, so it is not tag-filtered"
                            + ("; --include leaves it without frames" if args.include else ""))
            if args.include:
                keep[:] = False
        elif f.tag_names:
            for name in args.include:
                if name in f.tag_names:
                    keep &= f.members[f.tag_names.index(name)]
                else:
                    warnings.append(f"{f.name}: no tag {name!r}; --include {name} leaves it without frames")
                    keep[:] = False
            for name in args.exclude:
                if name in f.tag_names:
                    keep &= ~f.members[f.tag_names.index(name)]
                else:
                    warnings.append(f"{f.name}: no tag {name!r} to exclude")
    if args.frames:
        from .cli_fit import parse_frames

        try:
            chosen = parse_frames(args.frames, f.n)
        except ParameterError as err:
            raise ParameterError(f"{f.name}: {err}") from None
        in_list = np.zeros(f.n, bool)
        in_list[chosen] = True
        keep &= in_list
    return keep


# -- the table -----------------------------------------------------------------------------------
def build_table(files: list[InputFile], warnings: list[str]) -> tuple[dict, np.ndarray, np.ndarray]:
    """The kept rows of every file, concatenated: ``(key -> array, frame index, file index)``.
    Keys missing from every file are left out (and named in ``warnings``); a key missing from
    some files is NaN there (−1 for ``run_nr``, empty for ``id``)."""
    rows = [np.flatnonzero(f.keep) for f in files]
    frames = np.concatenate([r.astype(np.int64) for r in rows]) if rows else np.zeros(0, np.int64)
    file_index = np.concatenate([np.full(r.size, i, np.int64) for i, r in enumerate(rows)])

    def column(key: str, per_file=None):
        parts, have = [], 0
        for f, r in zip(files, rows):
            values = per_file(f) if per_file else f.cols.columns.get(key)
            if values is None:
                parts.append(None)
            else:
                have += 1
                parts.append(np.asarray(values)[r])
        if not have:
            return None
        if have < len(files):
            fill = (lambda k: np.zeros(k, "S1")) if key == "id" else (lambda k: np.full(k, np.nan))
            parts = [fill(r.size) if p is None else p for p, r in zip(parts, rows)]
        return np.concatenate(parts)

    def centre(f: InputFile, axis: str):
        off = f.cols.columns.get(f"offcenter{axis}")
        if off is None:
            return None
        if f.geometry is None:
            return np.full(f.n, np.nan)
        pixel, distance, ox, oy = f.geometry
        return center_mrad(off, pixel, distance, ox if axis == "x" else oy)

    table: dict[str, np.ndarray] = {}
    skipped = []
    for key in RESULT_KEYS:
        if key == "run_nr":
            ids = table.get("id")
            values = None
            if ids is not None:
                values, bad = run_numbers(ids)
                if bad:
                    warnings.append(f"{bad} identifier(s) hold no run number (r<digits>); run_nr −1")
        elif key in ("centerx", "centery"):
            values = column(key, lambda f, a=key[-1]: centre(f, a))
        else:
            values = column(key)
        if values is None:
            skipped.append(key)
        else:
            table[key] = values
    if skipped:
        warnings.append(f"not written: {', '.join(skipped)} (their datasets are missing in every file)")
    return table, frames, file_index


def _range_mask(table: dict, n: int, args, warnings: list[str]) -> np.ndarray:
    from .core.selection import range_filter

    passed = np.ones(n, bool)
    for stem, key in RANGES.items():
        lo, hi = getattr(args, f"{stem}min"), getattr(args, f"{stem}max")
        if lo is None and hi is None:
            continue
        if key not in table:
            raise ParameterError(f"--{stem}min/--{stem}max filter on {key}, which no input file holds")
        values = np.asarray(table[key], dtype=np.float64)
        if np.isnan(values).any():
            warnings.append(f"{int(np.isnan(values).sum())} frame(s) have no {key}; the --{stem}min/max range "
                            "drops them")
        passed &= range_filter(values, lo, hi)
    return passed


def _write_selection(path: str, files: list[InputFile], table: dict, frames: np.ndarray,
                     file_index: np.ndarray, sources: list[str]) -> str:
    from .io.open import open_source
    from .io.results_write import SelectionWriter

    used = sorted(set(file_index.tolist()))
    shape = files[used[0]].frame_shape if used else (1, 1)
    wrong = [i for i in used if files[i].frame_shape != shape]
    if wrong:
        print(f"warning: selection.h5 leaves out the frames of {', '.join(files[i].name for i in wrong)}: "
              f"their frames are not {shape[0]}×{shape[1]}")
        keep = ~np.isin(file_index, wrong)
        table = {k: v[keep] for k, v in table.items()}
        frames, file_index = frames[keep], file_index[keep]
        used = [i for i in used if i not in wrong]
    dtype = np.result_type(*[files[i].dtype for i in used]) if used else np.float32
    masks = [files[i].mask_dtype for i in used if files[i].mask_dtype is not None]
    mask_dtype = np.result_type(*masks) if masks else None
    with SelectionWriter(path, frames.size, shape, dtype, mask_dtype) as writer:
        for i in used:
            f = files[i]
            rows = np.flatnonzero(file_index == i)
            with open_source(f.path) as source:
                stack = source.set_image(f.dataset)
                mask = source.mask_stack(stack.path)
                for k in rows:
                    frame = int(frames[k])
                    raw = None if mask is None else mask[0 if len(mask) == 1 else frame]
                    writer.write(int(k), stack[frame], raw)
        return writer.finish(table, frames, file_index, sources)


def _print_stats(table: dict) -> None:
    for key, unit in (("diameter", "nm"), ("intensity", "mJ/µm²")):
        values = np.asarray(table.get(key, []), dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            print(f"{key}: min {values.min():.4g}, mean {values.mean():.4g}, max {values.max():.4g} {unit}")
