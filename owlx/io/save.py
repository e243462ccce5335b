"""The save procedure of formats.md §2.6, independent of the session and of Qt.

1. **Pre-flight**: :func:`build_plan` lists every write (:class:`~owlx.io.writeplan.WritePlan`)
   against a short-lived read-only handle and checks it against the rules of §2.5. A blocked
   plan, a file marked read-only or a live source means the data file is not touched
   (:class:`SaveRefused`); the caller then saves to the sidecar.
2. The caller's read handle is closed (``close_reader``): HDF5 refuses to open for writing a
   file the same process holds open read-only.
3. ``h5py.File(path, "r+")``; a refusal (permission, read-only file system) raises
   :class:`SaveRefused` after the reader was reopened. A file held open elsewhere (another
   handle in this process, or an HDF5 file lock of another process) raises :class:`SaveBusy`
   instead: that is temporary, so the caller must not move the save to the sidecar for good.
4. The plan runs (groups, datasets, resizes, data, attributes), then ``flush()`` and close.
5. The read handle is reopened (``reopen_reader``) whatever happened. The caller clears its
   unsaved flags only after a :class:`SaveReport` came back; on :class:`SaveError` they stay.

What to write is given per result group as :class:`GroupWrite`: tags now, and any number of
``contributions`` (functions ``(plan, group, n_frames)`` that plan model or Patterson datasets
with :meth:`WritePlan.plan_per_frame_dataset` / :meth:`WritePlan.plan_general_dataset`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import h5py

from owlx.core.tagtable import TagTable
from owlx.errors import OwlxError
from owlx.io import sidecar as sc
from owlx.io.results import open_read
from owlx.io.tags_h5 import plan_tags
from owlx.io.writeplan import Blocker, WritePlan, apply_steps

Contribution = Callable[[WritePlan, str, int], None]
Progress = Callable[[int, int], None]


class SaveError(OwlxError):
    """A save failed while writing; the unsaved edits are still in memory."""


class SaveRefused(SaveError):
    """The data file cannot take this save (read-only, locked, or a write would break its
    layout); nothing was written to it. ``blockers`` names the datasets in the way."""

    def __init__(self, message: str, blockers: Sequence[Blocker] = ()):
        super().__init__(message)
        self.blockers = list(blockers)


class SaveBusy(SaveRefused):
    """The data file is open elsewhere (this process or another holds it); nothing was written.
    Temporary: closing the other handle lets the next save go into the file. The GUI offers the
    sidecar as for any refusal (formats.md §2.6 step 3); a script's save raises it rather than
    moving every later save to the sidecar."""


@dataclass
class GroupWrite:
    """What to save for one result group over ``n_frames`` frames."""

    group: str
    n_frames: int
    tags: TagTable | None = None  # None: tags unchanged, not written
    data_names: list[str] = field(default_factory=list)  # tag names in the data file (sidecar bookkeeping)
    contributions: list[Contribution] = field(default_factory=list)


@dataclass
class SaveReport:
    """Where a save went and what it wrote (the status bar names them, viewer.md X1)."""

    target: str  # "data", "sidecar", "file" (Save as…) or "nothing"
    path: str
    written: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    reason: str = ""  # why the data file was not used
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # what Owl will not see as owlx does

    @property
    def text(self) -> str:
        name = os.path.basename(self.path)
        if self.target == "nothing":
            return "nothing to save"
        where = {"data": name, "sidecar": f"the sidecar {name}", "file": name}[self.target]
        head = f"saved to {where}: {summarise_paths(self.written) or 'no changes'}"
        head = f"{head} ({self.reason})" if self.reason else head
        return "; ".join([head, *(f"warning: {w}" for w in self.warnings)])


def summarise_paths(paths: Sequence[str]) -> str:
    """A status-bar summary of written HDF5 paths (the full list stays in
    :attr:`SaveReport.written`): parent groups that were only created to hold something and the
    root's bookkeeping attributes are left out; the rest is named relative to the deepest group
    they share and counted per first component, e.g. ``model (30 datasets), tags`` for one
    result group, or ``image_1/tags, image_2 (3 datasets)`` for two."""
    items = sorted({p.rstrip("/") for p in paths if p.strip("/")})
    leaves = [p for p in items if not any(q.startswith(p + "/") for q in items)]
    if not leaves:
        return ""
    parents = [p.rsplit("/", 1)[0] or "/" for p in leaves]
    common = os.path.commonpath(parents) if len(leaves) > 1 else parents[0]
    counts: dict[str, list[str]] = {}
    for p in leaves:
        rel = os.path.relpath(p, common).replace(os.sep, "/")
        counts.setdefault(rel.split("/", 1)[0], []).append(rel)
    if len(counts) > MAX_NAMED:  # e.g. the 30 datasets of one model group: name the group
        return f"{os.path.basename(common.rstrip('/')) or '/'} ({len(leaves)} datasets)"
    return ", ".join(rels[0] if len(rels) == 1 else f"{head} ({len(rels)} datasets)" for head, rels in counts.items())


MAX_NAMED = 4  # more separate names than this make the status line unreadable


def build_plan(path: str, writes: Sequence[GroupWrite], sidecar_for: str | None = None) -> WritePlan:
    """The plan of a save into ``path`` (which may not exist yet). With ``sidecar_for`` (the
    data file's path) the file is a sidecar: its header attributes are planned, tag rows are
    matched by name and the data file's deleted tag names are recorded."""
    handle = open_read(path) if os.path.isfile(path) else None
    try:
        plan = WritePlan(handle, path)
        plan.for_owl = sidecar_for is None
        if sidecar_for is not None:
            sc.plan_header(plan, sidecar_for, [(w.group, w.n_frames) for w in writes])
        for w in writes:
            if w.tags is not None:
                if sidecar_for is not None:
                    deleted = [n for n in w.data_names if n not in w.tags.names]
                    plan_tags(plan, w.group, w.tags, w.n_frames, deleted=deleted)
                else:
                    plan_tags(plan, w.group, w.tags, w.n_frames, origins=w.tags.origins)
            for contribute in w.contributions:
                contribute(plan, w.group, w.n_frames)
        return plan
    finally:
        if handle is not None:
            handle.close()


def refusal(path: str) -> str | None:
    """Why the data file cannot be written at all, or None."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return f"'{name}' no longer exists"
    if not sc.is_writable(path):
        return f"'{name}' is read-only"
    return None


def save_to_data_file(
    path: str,
    writes: Sequence[GroupWrite],
    close_reader: Callable[[], None],
    reopen_reader: Callable[[], None],
    progress: Progress | None = None,
) -> SaveReport:
    """Steps 1–5 of §2.6 into the data file itself; see the module docstring."""
    t0 = time.perf_counter()
    name = os.path.basename(path)
    reason = refusal(path)
    if reason:
        raise SaveRefused(reason)
    plan = build_plan(path, writes)
    if not plan.ok:
        raise SaveRefused(f"'{name}' cannot take this save without breaking its layout: {plan.reason()}",
                          plan.blocked)
    if plan.empty:
        return SaveReport("nothing", path, seconds=time.perf_counter() - t0)
    close_reader()
    try:
        try:
            f = h5py.File(path, "r+")
        except OSError as err:
            if is_busy_error(err):
                raise SaveBusy(f"'{name}' is open elsewhere (another owlx session, a notebook, another "
                               f"program): close it there and save again ({_short(err)})") from err
            raise SaveRefused(f"cannot open '{name}' for writing: {_short(err)}") from err
        try:
            apply_steps(plan, f, progress)
        except Exception as err:  # noqa: BLE001 - any failure is reported, the edits stay
            raise SaveError(f"saving into '{name}' failed: {_short(err)}; the edits are still unsaved") from err
        finally:
            f.close()
    finally:
        reopen_reader()
    return SaveReport("data", path, plan.written, plan.created, seconds=time.perf_counter() - t0,
                      warnings=list(plan.warnings))


def save_to_sidecar(
    candidates: Sequence[str],
    data_path: str,
    writes: Sequence[GroupWrite],
    reason: str = "",
    progress: Progress | None = None,
    target: str = "sidecar",
) -> SaveReport:
    """Write ``writes`` into the first of ``candidates`` that can be opened (mode ``"a"``,
    its folder created): normally the sidecar beside the data file, then the app-data one."""
    t0 = time.perf_counter()
    errors = []
    for path in candidates:
        plan = build_plan(path, writes, sidecar_for=data_path)
        if not plan.ok:
            raise SaveError(f"'{os.path.basename(path)}' cannot take this save: {plan.reason()}")
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            f = h5py.File(path, "a")
        except OSError as err:
            errors.append(f"{path}: {_short(err)}")
            continue
        try:
            apply_steps(plan, f, progress)
        except Exception as err:  # noqa: BLE001
            raise SaveError(f"saving into '{os.path.basename(path)}' failed: {_short(err)}; "
                            "the edits are still unsaved") from err
        finally:
            f.close()
        return SaveReport(target, path, plan.written, plan.created, reason, time.perf_counter() - t0)
    raise SaveError("cannot write a sidecar file: " + "; ".join(errors))


#: what HDF5 says when a file is held open by another handle or locked by another process
_BUSY = ("already open", "unable to lock file", "lock file", "resource temporarily unavailable")


def is_busy_error(err: BaseException) -> bool:
    """True when opening for writing failed because the file is open elsewhere (temporary),
    not because it cannot be written at all (permissions, read-only file system)."""
    if isinstance(err, PermissionError):
        return False
    text = str(err).lower()
    return any(key in text for key in _BUSY)


def retire_sidecar(path: str) -> str:
    """Rename a sidecar merged into its data file to ``<name>.merged-<YYYYmmdd-HHMMSS>`` (kept,
    never deleted, §2.7). Returns the new path."""
    new = f"{path}.merged-{time.strftime('%Y%m%d-%H%M%S')}"
    os.replace(path, new)
    return new


def _short(err: BaseException) -> str:
    text = str(err)
    if "(" in text and text.endswith(")"):
        text = text[text.index("(") + 1 : -1]
    return text or type(err).__name__
