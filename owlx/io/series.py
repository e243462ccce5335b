"""Numbered file series: ``<prefix><digits><suffix>`` files forming one stack (spec/formats.md §3).

Shared by the EDF and TIFF readers. A series is every file in the same folder with the same
prefix, the same number of digits and the same suffix, sorted by number; gaps are allowed and
the numbers become the per-frame scalar ``file_number``. Only names are looked at here: whether
the files really share a frame shape is the reader's business. :class:`SeriesSource` is the
part of both readers that deals with the list of files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from owlx.errors import FileFormatError
from owlx.io.virtual import VirtualSource

EDF_SUFFIXES = (".edf", ".edf.gz", ".edf.bz2")
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class SeriesName:
    """The parts of a numbered file name: ``prefix + digits + suffix``."""

    folder: str
    prefix: str
    digits: str
    suffix: str

    @property
    def number(self) -> int:
        return int(self.digits)

    def key(self) -> tuple[str, str, int, str]:
        """Files of one series share this key (suffix compared case-insensitively)."""
        return (self.folder, self.prefix, len(self.digits), self.suffix.lower())


def split_name(path: str, suffixes: Sequence[str]) -> SeriesName | None:
    """Split a file name into prefix, digits and suffix; None when it carries no number right
    before one of ``suffixes`` (matched case-insensitively, longest first)."""
    folder, base = os.path.split(os.path.abspath(path))
    lower = base.lower()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if lower.endswith(suffix):
            stem = base[: len(base) - len(suffix)]
            match = re.search(r"(\d+)$", stem)
            if match is None:
                return None
            return SeriesName(folder, stem[: match.start()], match.group(1), base[len(stem):])
    return None


def find_series(path: str, suffixes: Sequence[str]) -> list[tuple[int, str]]:
    """All files of the series ``path`` belongs to, as (number, path) sorted by number.

    A file without a number is a series of one (number 0 in ``file_number`` terms is not
    meaningful then, so callers usually skip ``file_number`` for single files).
    """
    name = split_name(path, suffixes)
    if name is None:
        return [(0, os.path.abspath(path))]
    members = []
    try:
        entries = list(os.scandir(name.folder))
    except OSError as err:
        raise FileFormatError(f"cannot list the folder of '{os.path.basename(path)}': {err}") from err
    for entry in entries:
        other = split_name(os.path.join(name.folder, entry.name), suffixes)
        if other is not None and other.key() == name.key() and entry.is_file():
            members.append((other.number, os.path.join(name.folder, entry.name)))
    members.sort()
    return members or [(name.number, os.path.abspath(path))]


def series_from_paths(paths: Iterable[str], suffixes: Sequence[str]) -> list[tuple[int, str]]:
    """Several files dropped together as one series: exactly these files, sorted by number.

    They must all be numbered with the same prefix, digit count and suffix; otherwise a
    :class:`FileFormatError` says which file does not belong.
    """
    paths = [os.path.abspath(p) for p in paths]
    names = [split_name(p, suffixes) for p in paths]
    for path, name in zip(paths, names):
        if name is None:
            raise FileFormatError(
                f"cannot open {len(paths)} files as one series: '{os.path.basename(path)}' has no number "
                f"before its extension (expected names like 'scan_0001{suffixes[0]}')"
            )
    first = names[0]
    for path, name in zip(paths, names):
        if name.key() != first.key():  # type: ignore[union-attr]
            raise FileFormatError(
                f"cannot open {len(paths)} files as one series: '{os.path.basename(path)}' does not share "
                f"the folder, prefix '{first.prefix}', digit count and extension of "  # type: ignore[union-attr]
                f"'{os.path.basename(paths[0])}'"
            )
    return sorted({(n.number, p) for n, p in zip(names, paths)})  # type: ignore[union-attr]


class SeriesSource(VirtualSource):
    """A :class:`VirtualSource` over one file or a numbered series of files (EDF, TIFF).

    ``path`` is one file (``series=True`` finds the other files of its series in the folder)
    or a list of numbered files dropped together (exactly those files). Sets ``files`` and
    ``numbers`` (sorted by number) and ``numbered`` (True when the file numbers mean
    something, so that ``file_number`` is offered). Subclasses read the first file, then set
    ``frames_per_file`` and call :meth:`_start_at_opened_file`.
    """

    #: frames each file holds (every file of a series holds the first file's frames)
    frames_per_file: int = 1

    def __init__(self, path: str | os.PathLike | Sequence[str | os.PathLike], suffixes: Sequence[str],
                 *, series: bool = True):
        if isinstance(path, (str, os.PathLike)):
            opened = os.fspath(path)
            found = find_series(opened, suffixes) if series else [(0, os.path.abspath(opened))]
            numbered = series and split_name(opened, suffixes) is not None
        else:
            found = series_from_paths([os.fspath(p) for p in path], suffixes)
            opened, numbered = found[0][1], True
        super().__init__(opened)
        self.files = [p for _, p in found]
        self.numbers = [n for n, _ in found]
        self.numbered = numbered

    def _start_at_opened_file(self) -> None:
        """A series opened from its 5th file starts at that file's first frame."""
        opened = os.path.abspath(self.path)
        self.start_frame = self.files.index(opened) * self.frames_per_file if opened in self.files else 0

    def _file_numbers(self) -> np.ndarray:
        """The per-frame scalar ``file_number``: the number of the file each frame is in."""
        return np.repeat(np.asarray(self.numbers, dtype=np.int64), self.frames_per_file)
