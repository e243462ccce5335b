"""``open_source``: any supported file (or numbered series) becomes a :class:`Source`.

HDF5 is recognised by its signature, wherever the user block puts it (offset 0, 512, 1024,
2048, …; spec/formats.md §1.1), whatever the extension. Other formats are chosen by extension:

=========  ======================================================
format     extensions
=========  ======================================================
EDF        ``.edf .edf.gz .edf.bz2``
MRC        ``.mrc .mrcs .map .st``, each optionally ``.gz``/``.bz2``
TIFF       ``.tif .tiff``
NPY        ``.npy``
FIB-SEM    ``.dat`` (Jeiss/Janelia; a file opens the stack of its folder)
=========  ======================================================

A folder opens as one stack of the frames it holds (``.dat``, TIFF or EDF; :mod:`owlx.io.folder`).

Reader modules are imported on first use, so importing this module stays cheap (and never
imports Qt).
"""

from __future__ import annotations

import importlib
import os
from typing import Sequence, Union

from owlx.errors import FileFormatError
from owlx.io.source import Source

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PathLike = Union[str, os.PathLike]

#: format name -> (extensions, "module:class")
READERS = {
    "edf": ((".edf", ".edf.gz", ".edf.bz2"), "owlx.io.edf:EdfSource"),
    "mrc": (
        tuple(e + c for e in (".mrc", ".mrcs", ".map", ".st") for c in ("", ".gz", ".bz2")),
        "owlx.io.mrc:MrcSource",
    ),
    "tiff": ((".tif", ".tiff"), "owlx.io.tiff:TiffSource"),
    "npy": ((".npy",), "owlx.io.npy:NpySource"),
    "dat": ((".dat",), "owlx.io.fibsem_dat:DatSource"),
}
_SERIES_FORMATS = ("edf", "tiff", "dat")
_HDF5_EXTENSIONS = (".h5", ".hdf5", ".hdf", ".cxi", ".nxs", ".nx5", ".he5")


def known_extension(path: PathLike) -> bool:
    """True when a built-in reader claims the file name's extension (HDF5 included)."""
    lower = os.path.basename(os.fspath(path)).lower()
    return lower.endswith(_HDF5_EXTENSIONS) or any(lower.endswith(ext) for ext, _ in READERS.values())


def is_hdf5(path: PathLike) -> bool:
    """True when the HDF5 signature is at offset 0 or 512·2^k (the places a user block allows)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def detect_format(path: PathLike) -> str:
    """``"hdf5"``, ``"edf"``, ``"mrc"``, ``"tiff"`` or ``"npy"``; FileFormatError with the reason
    for a missing, empty, unreadable or unknown file."""
    path = os.fspath(path)
    name = os.path.basename(path.rstrip(os.sep)) or path
    if not os.path.exists(path):
        raise FileFormatError(f"cannot open '{name}': no such file ({os.path.abspath(path)})")
    if os.path.isdir(path):
        raise FileFormatError(
            f"cannot open '{name}': it is a folder; open a file inside it "
            "(for a numbered series, any one of its files)"
        )
    try:
        size = os.path.getsize(path)
        hdf5 = size > 0 and is_hdf5(path)
    except OSError as err:
        raise FileFormatError(f"cannot open '{name}': {err.strerror or err}") from err
    if size == 0:
        raise FileFormatError(f"cannot open '{name}': the file is empty (0 bytes)")
    if hdf5:
        return "hdf5"
    lower = name.lower()
    for fmt, (extensions, _) in READERS.items():
        if lower.endswith(extensions):
            return fmt
    if lower.endswith(_HDF5_EXTENSIONS):
        raise FileFormatError(
            f"cannot open '{name}': its extension says HDF5 but it has no HDF5 signature; "
            "the file is not HDF5, or its beginning is damaged"
        )
    raise FileFormatError(
        f"cannot open '{name}': unknown file format (not HDF5, which is recognised by its content, "
        f"and the extension is none of {accepted_suffixes()})"
    )


def accepted_suffixes() -> str:
    """Every extension a reader is chosen by, per format: ``EDF .edf .edf.gz .edf.bz2, MRC …``."""
    return ", ".join(f"{fmt.upper()} {' '.join(extensions)}" for fmt, (extensions, _) in READERS.items())


def _reader(fmt: str):
    module, cls = READERS[fmt][1].split(":")
    return getattr(importlib.import_module(module), cls)


def open_source(path: PathLike | Sequence[PathLike], *, swmr: bool = False, series: bool = True) -> Source:
    """Open a file read-only and return its :class:`Source`.

    ``path`` may be a list of numbered EDF or TIFF files, or of ``.dat`` files (dropped
    together): they open as one series of exactly those files. A folder opens as one stack. A single numbered EDF/TIFF file opens the whole series of
    its folder unless ``series=False``. ``swmr=True`` opens HDF5 files in live (SWMR) mode.
    Errors a user can fix raise :class:`~owlx.errors.FileFormatError`.
    """
    if not isinstance(path, (str, os.PathLike)):
        paths = [os.fspath(p) for p in path]
        if not paths:
            raise FileFormatError("cannot open an empty list of files")
        if len(paths) == 1:
            return open_source(paths[0], swmr=swmr, series=series)
        formats = {detect_format(p) for p in paths}
        if len(formats) > 1:
            raise FileFormatError(
                f"cannot open {len(paths)} files together: they mix formats ({', '.join(sorted(formats))})"
            )
        fmt = formats.pop()
        if fmt not in _SERIES_FORMATS:
            raise FileFormatError(
                f"cannot open {len(paths)} {fmt.upper()} files together: only numbered EDF or TIFF files "
                "form a series; open one file at a time"
            )
        return _reader(fmt)(paths)
    path = os.fspath(path)
    if os.path.isdir(path):
        from owlx.io.folder import open_folder

        return open_folder(path)
    fmt = detect_format(path)
    if fmt == "hdf5":
        from owlx.io.hdf5 import Hdf5Source

        return Hdf5Source(path, swmr=swmr)
    if fmt in _SERIES_FORMATS:
        return _reader(fmt)(path, series=series)
    return _reader(fmt)(path)
