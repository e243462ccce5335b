"""Sidecar files: where tags and results go when the data file cannot take them (formats.md §2.7).

* Name: ``<data file name>.owlx.h5`` beside the data file (``run.cxi`` → ``run.cxi.owlx.h5``;
  keeping the extension avoids clashes between ``run.cxi`` and ``run.h5``). When that folder is
  not writable: ``<platformdirs.user_data_dir("owlx")>/sidecars/<first 16 hex digits of
  SHA-1(absolute path)>_<name>.owlx.h5``. Lookup on open: data folder first, then app data.
* Layout: the data file's internal paths (``/entry_1/image_1/tags`` …; ``/entry_1/data_1`` for
  non-HDF5 sources), root attributes ``owlx_sidecar_version`` (int64, 1), ``source_name`` and
  ``source_path`` (fixed-length bytes), and ``owlx_frames`` (int64, N at save time) on every
  result group.
* owlx extension: a sidecar ``tags`` dataset may carry ``owlx_deleted_tags`` (fixed-length
  bytes), the data file's tag names that were deleted or renamed while saves went to the
  sidecar; the merge drops those data rows, so a deletion survives a reopen.
* "Writable" honours read-only marking even for root: a file or folder without any write
  permission bit is never written (viewer.md §17 check 18 must hold for every user).
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Iterable

import h5py
import numpy as np

from owlx.io.writeplan import WritePlan

SUFFIX = ".owlx.h5"
VERSION = 1


def sidecar_name(data_path: str) -> str:
    return os.path.basename(os.path.abspath(str(data_path))) + SUFFIX


def local_sidecar_path(data_path: str) -> str:
    """``<folder>/<name>.owlx.h5`` beside the data file."""
    path = os.path.abspath(str(data_path))
    return os.path.join(os.path.dirname(path), sidecar_name(path))


def app_sidecar_path(data_path: str) -> str:
    """The fallback in the user's app-data folder, unique per absolute data-file path."""
    import platformdirs

    path = os.path.abspath(str(data_path))
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(platformdirs.user_data_dir("owlx"), "sidecars", f"{digest}_{sidecar_name(path)}")


def find_sidecar(data_path: str) -> str | None:
    """The existing sidecar of a data file (data folder first, then app data), or None."""
    for candidate in (local_sidecar_path(data_path), app_sidecar_path(data_path)):
        if os.path.isfile(candidate):
            return candidate
    return None


def new_sidecar_path(data_path: str) -> str:
    """Where a new sidecar goes: beside the data file if that folder is writable."""
    local = local_sidecar_path(data_path)
    return local if is_writable(os.path.dirname(local)) else app_sidecar_path(data_path)


def is_writable(path: str) -> bool:
    """True when ``path`` (file or folder) may be written: the OS allows it and it is not
    marked read-only (no write bit at all), which root would otherwise ignore."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def plan_header(plan: WritePlan, data_path: str, frames: Iterable[tuple[str, int]]) -> None:
    """The sidecar's own attributes: root ``owlx_sidecar_version``, ``source_name``,
    ``source_path``; ``owlx_frames`` (N) on each ``(result group, N)`` in ``frames``."""
    # an in-memory array ("<array>", Save as…) is named as it is
    path = os.path.abspath(str(data_path)) if os.path.exists(str(data_path)) else str(data_path)
    new_file = plan.handle is None
    plan.set_attr("/", "owlx_sidecar_version", np.int64(VERSION), new_object=new_file)
    plan.set_attr("/", "source_name", np.bytes_(os.path.basename(path).encode("utf-8")), new_object=new_file)
    plan.set_attr("/", "source_path", np.bytes_(path.encode("utf-8", "surrogateescape")), new_object=new_file)
    for group, n in frames:
        plan.require_group(group)
        plan.set_attr(group, "owlx_frames", np.int64(n), new_object=plan.existing(group) is None)


def check_source(handle, data_path: str) -> list[str]:
    """Warnings when a sidecar names another source file or a newer format."""
    warnings = []
    name = os.path.basename(os.path.abspath(str(data_path)))
    stored = handle.attrs.get("source_name")
    if isinstance(stored, (bytes, np.bytes_)):
        stored = bytes(stored).decode("utf-8", "replace")
    if stored is not None and str(stored) != name:
        warnings.append(f"the sidecar '{os.path.basename(handle.filename)}' was written for '{stored}', "
                        f"not '{name}'; its tags were merged anyway")
    version = handle.attrs.get("owlx_sidecar_version")
    try:
        if version is not None and int(np.asarray(version).ravel()[0]) > VERSION:
            warnings.append(f"the sidecar '{os.path.basename(handle.filename)}' has format version "
                            f"{int(np.asarray(version).ravel()[0])}, newer than this owlx ({VERSION})")
    except (TypeError, ValueError, IndexError):
        pass
    return warnings


def sidecar_groups(path: str) -> list[tuple[str, int]]:
    """``(result group, N)`` of every group in a sidecar that carries ``owlx_frames``."""
    found: list[tuple[str, int]] = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Group) and "owlx_frames" in obj.attrs:
            try:
                found.append(("/" + name, int(np.asarray(obj.attrs["owlx_frames"]).ravel()[0])))
            except (TypeError, ValueError, IndexError):
                pass

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found
