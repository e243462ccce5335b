"""A folder of frames opened as one stack (FIB-SEM acquisitions are folders of slices).

* ``.dat`` files: :class:`~owlx.io.fibsem_dat.DatSource` (files of one tile, sorted by name).
* ``.tif``/``.tiff`` files: the numbered series (:mod:`owlx.io.series`) with the most files, as
  one :class:`~owlx.io.tiff.TiffSource`; other series in the folder are named in a warning.
* EDF files: the largest numbered series likewise.

A folder holding none of these raises :class:`FileFormatError` saying what was looked for.
"""

from __future__ import annotations

import os

from owlx.errors import FileFormatError
from owlx.io.series import EDF_SUFFIXES, TIFF_SUFFIXES, split_name
from owlx.io.source import Source, natural_key


def _largest_series(files: list[str], suffixes) -> tuple[list[str], int]:
    """The files of the numbered series with the most members (natural order for unnumbered
    files, which form one group) and the number of other groups."""
    groups: dict[object, list[str]] = {}
    for p in files:
        name = split_name(p, suffixes)
        groups.setdefault(name.key() if name is not None else None, []).append(p)
    best_key = max(groups, key=lambda k: (len(groups[k]), k is not None))
    members = groups[best_key]
    if best_key is not None:
        members.sort(key=lambda p: split_name(p, suffixes).number)  # type: ignore[union-attr]
    else:
        members.sort(key=lambda p: natural_key(os.path.basename(p)))
    return members, len(groups) - 1


def open_folder(path: str) -> Source:
    """Open the frames in folder ``path`` as one stack (``.dat``, then TIFF, then EDF)."""
    folder = os.path.abspath(path)
    name = os.path.basename(folder.rstrip(os.sep)) or folder
    try:
        entries = sorted(e.path for e in os.scandir(folder) if e.is_file())
    except OSError as err:
        raise FileFormatError(f"cannot open '{name}': {err.strerror or err}") from err
    lower = {p: os.path.basename(p).lower() for p in entries}
    if any(n.endswith(".dat") for n in lower.values()):
        from owlx.io.fibsem_dat import DatSource

        return DatSource(folder)
    for fmt, suffixes in (("tiff", TIFF_SUFFIXES), ("edf", EDF_SUFFIXES)):
        files = [p for p in entries if lower[p].endswith(suffixes)]
        if not files:
            continue
        members, others = _largest_series(files, suffixes)
        if len(members) > 1 and split_name(members[0], suffixes) is None:
            raise FileFormatError(
                f"cannot open '{name}' as one stack: its {fmt.upper()} files are not numbered "
                f"(expected names like 'slice_0001{suffixes[0]}'); open one file, or rename them"
            )
        if fmt == "tiff":
            from owlx.io.tiff import TiffSource as Reader
        else:
            from owlx.io.edf import EdfSource as Reader
        source = Reader(members if len(members) > 1 else members[0], **({} if len(members) > 1 else {"series": False}))
        if others:
            source.warnings.append(
                f"'{name}' holds {others + 1} series of {fmt.upper()} files; showing the largest "
                f"({len(members)} files from '{os.path.basename(members[0])}')"
            )
        return source
    raise FileFormatError(
        f"cannot open '{name}': it is a folder without FIB-SEM .dat, TIFF or EDF frames; "
        "open a file inside it"
    )
