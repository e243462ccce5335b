"""Where a stack's tags and results live, and loading its tags (data file merged with sidecar).

* The *result group* of an image dataset is :meth:`Hdf5Source.result_group` for HDF5 files
  (formats.md §1.2) and ``/entry_1/data_1`` for every other source (§2.7): EDF, MRC, TIFF,
  NPY and in-memory arrays keep their tags only in the sidecar.
* Reading uses its own short-lived read-only handle, so the reader's handle (and its caches)
  are untouched; opening a file twice read-only in one process is safe with HDF5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py

from owlx.core.tagtable import TagTable, merge_tables
from owlx.io import sidecar as sc
from owlx.io.source import Source
from owlx.io.tags_h5 import read_tags

VIRTUAL_GROUP = "/entry_1/data_1"


def result_group(source: Source, image_path: str) -> str:
    """The group holding ``tags`` (and ``model/``) for an image dataset of ``source``."""
    if source.format == "hdf5" and hasattr(source, "result_group"):
        return source.result_group(image_path)
    return VIRTUAL_GROUP


def data_file(source: Source) -> str | None:
    """The HDF5 data file owlx may write tags into, or None (other formats, in-memory data)."""
    path = source.path
    if source.format != "hdf5" or not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return None
    return os.path.abspath(str(path))


def sidecar_base(source: Source) -> str | None:
    """The file a sidecar is named after (the data file, or a series' first file), as an
    absolute path; None for sources without a file (an in-memory array).

    A data file deleted or moved while open still has a base as long as its folder exists: the
    unsaved tags then go to the sidecar beside where the file was (formats.md §2.7), which is
    where the user will look for them, rather than nowhere."""
    if getattr(source, "format", None) == "memory":
        return None
    path = source.path
    if isinstance(path, (list, tuple)):
        path = path[0] if path else None
    if path is None or not isinstance(path, (str, os.PathLike)):
        return None
    path = os.fspath(path)
    if os.path.isfile(path):
        return os.path.abspath(path)
    if path.startswith("<"):  # "<array>"-style names of sources that never had a file
        return None
    path = os.path.abspath(path)
    return path if os.path.isdir(os.path.dirname(path)) else None


def missing_file(source: Source) -> str | None:
    """The source's file (a series' first file) when it was deleted or moved since it was
    opened, else None (it is there, or the source never had a file)."""
    base = sidecar_base(source)
    if base is not None and not os.path.isfile(base):
        return base
    if base is None and getattr(source, "format", None) != "memory":
        path = source.path
        path = path[0] if isinstance(path, (list, tuple)) and path else path
        if isinstance(path, (str, os.PathLike)) and not os.fspath(path).startswith("<") \
                and not os.path.isfile(path):
            return os.path.abspath(os.fspath(path))  # its folder went too
    return None


def open_read(path: str, swmr: bool = False) -> h5py.File:
    """A read-only handle, retried without file locking when another process holds the lock
    (the reader does the same, formats.md §1.1)."""
    options = {"libver": "latest", "swmr": True} if swmr else {}
    try:
        return h5py.File(path, "r", **options)
    except OSError:
        return h5py.File(path, "r", locking=False, **options)


@dataclass
class LoadedTags:
    """The tags of one result group as owlx shows them after opening."""

    group: str
    n_frames: int
    table: TagTable
    sidecar: str | None = None  # the sidecar in use (found on open)
    data_names: list[str] = field(default_factory=list)  # tag names stored in the data file
    from_sidecar: list[str] = field(default_factory=list)  # names whose row came from the sidecar
    warnings: list[str] = field(default_factory=list)


def load_tags(source: Source, image_path: str, n_frames: int) -> LoadedTags:
    """Read the tags for ``image_path`` over ``n_frames`` frames: from the data file (HDF5),
    merged with the sidecar when one exists (§2.7: by heading name, the sidecar wins)."""
    base = sidecar_base(source)
    return load_group_tags(data_file(source), sc.find_sidecar(base) if base is not None else None,
                           result_group(source, image_path), n_frames, swmr=source.swmr, base=base)


def load_group_tags(data_path: str | None, sidecar_path: str | None, group: str, n_frames: int,
                    swmr: bool = False, base: str | None = None) -> LoadedTags:
    """The tags of ``group`` from an HDF5 data file (None: no data file, e.g. EDF) merged with
    a sidecar (None: none). ``base`` is the file the sidecar was named after (default:
    ``data_path``), for the check of its ``source_name``."""
    table = TagTable.empty(n_frames)
    warnings: list[str] = []
    data_names: list[str] = []
    if data_path is not None:
        try:
            with open_read(data_path, swmr=swmr) as f:
                read = read_tags(f, group, n_frames)
        except OSError as err:
            read = None
            warnings.append(f"cannot read the tags of '{os.path.basename(data_path)}': {err}")
        if read is not None:
            table, data_names = read.table, list(read.table.names)
            warnings += read.warnings
    loaded = LoadedTags(group, n_frames, table, None, data_names, [], warnings)
    if sidecar_path is None:
        return loaded
    loaded.sidecar = sidecar_path
    try:
        with open_read(sidecar_path) as f:
            loaded.warnings += sc.check_source(f, base or data_path or sidecar_path)
            read = read_tags(f, group, n_frames)
    except OSError as err:
        loaded.warnings.append(f"cannot read the sidecar '{os.path.basename(sidecar_path)}': {err}; "
                               "its tags are not shown")
        return loaded
    if read is None:
        return loaded
    loaded.warnings += [f"sidecar: {w}" for w in read.warnings]
    side_table = read.table
    side_table.origins = [None] * side_table.n_tags
    loaded.table = merge_tables(table, side_table, read.deleted)
    loaded.from_sidecar = list(side_table.names)
    return loaded
