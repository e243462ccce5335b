"""Crash safety for unsaved tag edits (spec/viewer.md T9).

The GUI calls :func:`write_recovery` every 30 s; it writes the unsaved TagSets of the open file
to ``<platformdirs.user_cache_dir("owlx")>/recovery/<SHA-1(absolute path)[:16]>_<name>.npz``
(replaced atomically, so a crash while writing leaves the previous copy). On the next open of
the same file :func:`find_recovery` returns what was kept and :func:`apply_recovery` puts it
back as one undoable, unsaved step. A successful save (or nothing left unsaved) removes the
file (:func:`discard_recovery`).

The file holds, per result group, the tag names, colours (uint8 ``(n, 3)``) and members packed
with :func:`numpy.packbits`, plus the data file's size and modification time, so the GUI can
warn when the file changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core.tagtable import TagTable
from .io.results import sidecar_base

FORMAT = 1


def recovery_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("owlx")) / "recovery"


def recovery_path(data_path: str | os.PathLike) -> Path:
    path = os.path.abspath(os.fspath(data_path))
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return recovery_dir() / f"{digest}_{os.path.basename(path)}.npz"


@dataclass
class RecoveryInfo:
    """Unsaved tag edits kept for a data file."""

    path: str  # the data file
    file: str  # the recovery file
    saved_at: float  # time.time() when written
    groups: dict[str, TagTable] = field(default_factory=dict)
    source_changed: bool = False  # the data file's size or mtime differ from then

    @property
    def text(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        parts = [f"{t.n_tags} tag(s) in {g}" for g, t in self.groups.items()]
        note = "; the file has changed since" if self.source_changed else ""
        return f"unsaved tag edits from {when}: {', '.join(parts)}{note}"


def write_recovery(session) -> str | None:
    """Keep the session's unsaved tag edits; returns the recovery file, or None when there is
    nothing unsaved (then an old recovery file is removed)."""
    source = getattr(session, "source", None)
    base = sidecar_base(source) if source is not None else None
    if base is None:
        return None
    dirty = {g: ts.table() for g, ts in session.tag_sets.items() if ts.dirty}
    if not dirty:
        discard_recovery(base)
        return None
    try:
        st = os.stat(base)
        size, mtime = st.st_size, st.st_mtime
    except FileNotFoundError:  # deleted or moved while open: the edits matter all the more
        size = mtime = None
    meta = {"format": FORMAT, "path": base, "saved_at": time.time(), "size": size,
            "mtime": mtime, "groups": []}
    arrays: dict[str, np.ndarray] = {}
    for k, (group, table) in enumerate(dirty.items()):
        meta["groups"].append({"group": group, "names": table.names, "n_frames": table.n_frames,
                               "origins": table.origins})
        arrays[f"colors_{k}"] = table.colors
        arrays[f"members_{k}"] = np.packbits(table.members, axis=1)
    target = recovery_path(base)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".owlx-recovery-", suffix=".npz", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return str(target)


def find_recovery(path: str | os.PathLike) -> RecoveryInfo | None:
    """The unsaved edits kept for ``path``, or None (also for an unreadable recovery file)."""
    base = os.path.abspath(os.fspath(path))
    file = recovery_path(base)
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            groups = {}
            for k, g in enumerate(meta["groups"]):
                n = int(g["n_frames"])
                members = np.unpackbits(data[f"members_{k}"], axis=1, count=n).astype(bool)
                groups[g["group"]] = TagTable(g["names"], data[f"colors_{k}"], members, g.get("origins") or [])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    changed = True
    try:
        st = os.stat(base)
        changed = st.st_size != meta["size"] or st.st_mtime != meta["mtime"]
    except OSError:
        pass
    return RecoveryInfo(base, str(file), float(meta["saved_at"]), groups, changed)


def apply_recovery(session, info: RecoveryInfo) -> None:
    """Put the kept edits back into an open session (undoable, unsaved)."""
    for group, table in info.groups.items():
        session.restore_tags(group, table)


def discard_recovery(path: str | os.PathLike | None) -> None:
    """Remove the recovery file of ``path`` (nothing happens when there is none)."""
    if path is None:
        return
    try:
        recovery_path(path).unlink()
    except FileNotFoundError:
        pass
