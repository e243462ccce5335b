"""Tags and saving in the session: the headless side of viewer.md §9 and §13 (X1–X3).

Part of :class:`owlx.session.Session` (a mixin, so the session module stays readable).

* ``session.tags`` is the :class:`~owlx.tags.TagSet` of the current stack's result group
  (formats.md §1.2), read on open from the data file and merged with its sidecar. The session
  keeps one TagSet per result group it has shown, so switching datasets never loses edits;
  ``tags_changed`` re-emits the current set's changes, ``dirty_changed`` follows
  :attr:`dirty` (the title's ``*``, W5).
* :meth:`save` runs formats.md §2.6: into the data file when it can take the whole save,
  otherwise (read-only, a layout that does not fit, live mode, non-HDF5 data, or a sidecar
  already in use) into the sidecar, with the reason in the report; a file open elsewhere raises
  :class:`~owlx.io.save.SaveBusy` (temporary, no sidecar). Saving into the
  data file closes the reader and reopens the file afterwards: the session swaps in the new
  :class:`Source` and stacks (same paths, same frame, order and filters) and emits
  ``source_reopened(source)``, after which observers must re-fetch ``session.source``,
  ``session.stack`` and ``session.mask_stack`` (no old stack or node can read any more).
  Hold :attr:`io_lock` around reads made on other threads; a save holds it while the file is
  closed.
* Model and Patterson results join a save through *result providers* (see
  :meth:`add_result_provider`).
"""

from __future__ import annotations

import os
import threading
from typing import Iterable, Protocol

from psygnal import Signal

from .core.tagtable import TagTable
from .errors import OwlxError
from .io import sidecar as sc
from .io.results import (
    LoadedTags,
    data_file,
    load_group_tags,
    missing_file,
    sidecar_base,
)
from .io.save import (
    GroupWrite,
    SaveBusy,
    SaveRefused,
    SaveReport,
    retire_sidecar,
    save_to_data_file,
    save_to_sidecar,
)
from .io.writeplan import WritePlan
from .tags import TagChange, TagSet


class ResultProvider(Protocol):
    """Unsaved results other than tags (the sphere model, Patterson parameters).

    ``groups()`` lists ``(result group, N)`` pairs it has results for; ``contribute(plan,
    group, n_frames, full)`` plans its writes for one group (all results when ``full``, else
    the unsaved ones) with :meth:`WritePlan.plan_per_frame_dataset` and
    :meth:`WritePlan.plan_general_dataset`; ``mark_saved()`` is called after a save succeeded.
    """

    dirty: bool

    def groups(self) -> Iterable[tuple[str, int]]: ...

    def contribute(self, plan: WritePlan, group: str, n_frames: int, full: bool) -> None: ...

    def mark_saved(self) -> None: ...


class ResultsMixin:
    """Tags, result providers, saving and the sidecar of a :class:`~owlx.session.Session`."""

    tags_changed = Signal(object)  # TagChange of the current TagSet
    dirty_changed = Signal(bool)
    saved = Signal(object)  # SaveReport
    source_reopened = Signal(object)  # the new Source after a save closed and reopened the file

    def _init_results(self) -> None:
        self._tagsets: dict[str, TagSet] = {}
        self._tag_info: dict[str, LoadedTags] = {}
        self._tag_group: str | None = None
        self._no_tags = TagSet(0)
        self._sidecar: str | None = None
        self._providers: list[ResultProvider] = []
        self._was_dirty = False
        #: held while a save has the file closed; hold it around reads on other threads
        self.io_lock = threading.RLock()

    # -- state -----------------------------------------------------------------------------------
    @property
    def tags(self) -> TagSet:
        """The tags of the current stack (an empty set over 0 frames when nothing is open)."""
        return self._tagsets.get(self._tag_group, self._no_tags) if self._tag_group else self._no_tags

    @property
    def result_group(self) -> str | None:
        """Where the current stack's tags and results live (``/entry_1/image_1`` …)."""
        return self._tag_group

    @property
    def tag_sets(self) -> dict[str, TagSet]:
        """Every result group's tags shown in this session (group → TagSet)."""
        return dict(self._tagsets)

    @property
    def sidecar_path(self) -> str | None:
        """The sidecar in use (found on open or written since), or None."""
        return self._sidecar

    @property
    def dirty(self) -> bool:
        """True while any tag edit or model result is unsaved (the title's ``*``, X3)."""
        return any(ts.dirty for ts in self._tagsets.values()) or any(p.dirty for p in self._providers)

    def add_result_provider(self, provider: ResultProvider) -> None:
        """Let ``provider`` take part in saves and in :attr:`dirty` (see :class:`ResultProvider`);
        call :meth:`results_edited` when its unsaved state changes."""
        self._providers.append(provider)
        self.results_edited()

    def results_edited(self) -> None:
        """Re-check :attr:`dirty` and emit ``dirty_changed`` when it flipped."""
        dirty = self.dirty
        if dirty != self._was_dirty:
            self._was_dirty = dirty
            self.dirty_changed.emit(dirty)

    # -- loading -----------------------------------------------------------------------------------
    def _adopt_tags(self, loaded: LoadedTags | None, same_file: bool, announce: bool = True) -> None:
        """Make the tags of a stack just shown current. Within one file (another dataset, a
        reload, the reopen after a save) unsaved TagSets are kept; saved ones are re-read.
        ``announce=False`` leaves the events to :meth:`_announce_tags`, for a caller that
        first finishes its own state (the new display order)."""
        if not same_file:
            self._tagsets.clear()
            self._tag_info.clear()
            self._sidecar = None
        n = self.n_frames
        if loaded is None:
            self._tag_group = None
        else:
            group = loaded.group
            self._tag_info[group] = loaded
            current = self._tagsets.get(group)
            if current is not None and current.dirty:
                if current.n_frames < n:
                    current.resize(n)
                elif current.n_frames > n:
                    self._keep_tags_beyond(current, n)
            else:
                self._set_tagset(group, TagSet(n, loaded.table))
            self._tag_group = group
            if loaded.sidecar is not None:
                self._sidecar = loaded.sidecar
            for w in loaded.warnings:
                self.message.emit("warning", w)
        if announce:
            self._announce_tags()

    def _keep_tags_beyond(self, ts: TagSet, n: int) -> None:
        """The file now has ``n`` frames, fewer than the unsaved ``ts`` covers (another program
        rewrote it, then F5). The set is kept whole, since shrinking would drop edits: views
        and filters read only its first ``n`` columns, and saves of tags beyond ``n`` go to the
        sidecar (:meth:`save`). When tags are set there, a recovery file keeps them at once and
        the user is told."""
        if not ts.members[:, n:].any():
            return  # nothing beyond the file: a save into the file drops only empty columns
        text = (f"the file now has {n} frames; unsaved tags on frames {n}–{ts.n_frames - 1} are kept "
                "and will be saved to the sidecar")
        from .recovery import write_recovery

        try:
            write_recovery(self)
        except (OSError, OwlxError) as err:  # the warning matters more than the safety copy
            text += f" (no recovery copy: {err})"
        self.message.emit("warning", text)

    def _file_frames(self, group: str, ts: TagSet) -> int:
        """Frames the data file has for ``group`` now: the shown stack's for the current group,
        the count at load time for others (the TagSet's own width when unknown)."""
        if group == self._tag_group and self.stack is not None:
            return self.n_frames
        info = self._tag_info.get(group)
        return info.n_frames if info is not None else ts.n_frames

    def _tags_beyond_file(self) -> str | None:
        """Why a save must go to the sidecar because unsaved tags lie on frames the file no
        longer has (see :meth:`_keep_tags_beyond`), or None."""
        for group, ts in self._tagsets.items():
            n = self._file_frames(group, ts)
            if ts.dirty and ts.n_frames > n and ts.members[:, n:].any():
                return (f"the file now has {n} frames; tags on frames {n}–{ts.n_frames - 1} "
                        "can only be kept in the sidecar")
        return None

    def _announce_tags(self) -> None:
        self.tags_changed.emit(TagChange("replace"))
        self.results_edited()

    def _set_tagset(self, group: str, ts: TagSet) -> None:
        self._tagsets[group] = ts
        ts.changed.connect(lambda change, ts=ts: self._on_tags_edited(ts, change))

    def _on_tags_edited(self, ts: TagSet, change: TagChange) -> None:
        if ts is not self.tags:
            self.results_edited()
            return
        if change.kind == "rename":
            for state in self._filters.values():
                if state.kind == "tag" and state.tag == change.old_name:
                    state.tag = change.name
        self.tags_changed.emit(change)
        if any(f.kind == "tag" for f in self._filters.values()) and change.kind not in ("color", "saved"):
            self._update_order(keep_frame=True)
        self.results_edited()

    def discard_changes(self) -> None:
        """Forget unsaved tag edits: every TagSet is read again from the files."""
        if self.source is None or self.stack is None:
            return
        for group in list(self._tagsets):
            # the file's frames, not the set's: a set kept wider after the file shrank ends here
            loaded = self._reload_group(group, self._file_frames(group, self._tagsets[group]))
            self._set_tagset(group, TagSet(loaded.n_frames, loaded.table))
        self.tags_changed.emit(TagChange("replace"))
        if self._filters:
            self._update_order(keep_frame=True)
        self.results_edited()

    def restore_tags(self, group: str, table: TagTable) -> None:
        """Put recovered tags (:mod:`owlx.recovery`) into ``group`` as one undoable, unsaved
        step."""
        ts = self._tagsets.get(group)
        if ts is None:
            self._tag_info[group] = self._reload_group(group, table.n_frames)
            ts = TagSet(table.n_frames, self._tag_info[group].table)
            self._set_tagset(group, ts)
        ts.replace(table, "restore unsaved tag edits")

    def _reload_group(self, group: str, n_frames: int) -> LoadedTags:
        base = sidecar_base(self.source) if self.source is not None else None
        return load_group_tags(data_file(self.source) if self.source is not None else None,
                               self._sidecar or (sc.find_sidecar(base) if base else None),
                               group, n_frames, swmr=bool(self.source is not None and self.source.swmr))

    # -- saving --------------------------------------------------------------------------------------
    def save(self, fallback: bool = True, progress=None) -> SaveReport:
        """Save every unsaved tag set and result (Ctrl+S, formats.md §2.6).

        Into the data file when it can take the whole save; otherwise into the sidecar, unless
        ``fallback`` is False, in which case :class:`~owlx.io.save.SaveRefused` is raised with
        the reason and nothing is written (the GUI then offers Save to sidecar / Save as…). A
        data file deleted or moved since it was opened is such a refusal (the sidecar goes
        beside where it was). Unsaved tags on frames the file no longer has (it shrank, then
        F5) go to the sidecar whatever ``fallback`` says: the user was told so on the reload.
        A data file held open elsewhere raises :class:`~owlx.io.save.SaveBusy` (a SaveRefused)
        whatever ``fallback`` says: that is temporary, and a sidecar once used takes every later
        save, so it must not start one; the GUI offers the sidecar for it like any refusal. Settings Owl cannot see as owlx does are named in the report's
        ``warnings``. Unsaved flags are cleared only after a successful write; on
        :class:`~owlx.io.save.SaveError` they stay.
        """
        self._require_file()
        if not self._writes(full=False):
            return self._finish_save(SaveReport("nothing", str(self.source.path)), [])
        path = data_file(self.source)
        missing = missing_file(self.source)
        reason = None
        if self._sidecar is not None:
            reason = "a sidecar is in use, so every save goes there"
        elif missing is not None and self.source.format == "hdf5":
            reason = (f"'{os.path.basename(missing)}' no longer exists (deleted or moved): save to the sidecar "
                      "beside where it was, or to a file of your choice (Save as…)")
            if not fallback:
                raise SaveRefused(reason)
        elif (beyond := self._tags_beyond_file()) is not None:
            reason = beyond  # announced when the file shrank: not a refusal to ask about again
        elif path is None:
            reason = f"{self.source.format.upper()} files keep tags in a sidecar"
        elif self.source.swmr:
            reason = "live mode: the file is being written by another program"
        else:
            writes = self._writes(full=False, into_data=True)
            try:
                with self.io_lock:
                    report = save_to_data_file(path, writes, self._close_for_save, self._reopen_after_save, progress)
                return self._finish_save(report, writes)
            except SaveRefused as err:
                if not fallback or isinstance(err, SaveBusy):  # busy is temporary: no sticky sidecar
                    raise
                reason = str(err)
        writes = self._writes(full=False)
        return self._finish_save(self._write_sidecar(writes, reason, progress), writes)

    def save_to_sidecar(self, path: str | os.PathLike | None = None, progress=None) -> SaveReport:
        """Save to the sidecar (Ctrl+Shift+S) whatever the data file allows. With ``path``
        (Save as…) a standalone file in sidecar layout is written there with every tag set;
        the session's sidecar does not change."""
        self._require_file(need_file=path is None)
        if path is not None:
            writes = self._writes(full=True)
            origin = self._base_name() or str(self.source.path)
            report = save_to_sidecar([os.path.abspath(os.fspath(path))], origin, writes,
                                     "saved as a separate file", progress, target="file")
            return self._finish_save(report, writes)
        writes = self._writes(full=False)
        if not writes:
            return self._finish_save(SaveReport("nothing", self._sidecar or self._base_name()), [])
        return self._finish_save(self._write_sidecar(writes, "asked for", progress), writes)

    def write_sidecar_into_data(self, progress=None) -> SaveReport:
        """File › Write sidecar into data file…: save the merged state of every result group
        in the sidecar into the data file, then rename the sidecar ``….merged-<time>``."""
        self._require_file()
        if self._sidecar is None:
            raise OwlxError("there is no sidecar to write into the data file")
        path = data_file(self.source)
        if path is None or self.source.swmr:
            raise OwlxError("only an HDF5 file that is not open in live mode can take a sidecar's contents")
        for group, n in sc.sidecar_groups(self._sidecar):
            if group not in self._tagsets:
                self._tag_info[group] = self._reload_group(group, n)
                self._set_tagset(group, TagSet(n, self._tag_info[group].table))
        writes = self._writes(full=True, into_data=True)
        with self.io_lock:
            report = save_to_data_file(path, writes, self._close_for_save, self._reopen_after_save, progress)
        try:
            retired = retire_sidecar(self._sidecar)
            report.reason = f"the sidecar was renamed {os.path.basename(retired)}"
        except OSError as err:  # the data file has everything now; say why the sidecar stayed
            report.reason = f"the sidecar could not be renamed ({err}); move it away before reopening"
        self._sidecar = None
        return self._finish_save(report, writes)

    def _require_file(self, need_file: bool = True) -> None:
        if self.source is None or self.stack is None:
            raise OwlxError("no file is open")
        if need_file and sidecar_base(self.source) is None:
            gone = missing_file(self.source)
            if gone is not None:  # sidecar_base survives a deleted file, not a deleted folder
                raise OwlxError(f"'{gone}' and its folder no longer exist (deleted or moved); use "
                                "Save as… (save_to_sidecar(path)) to write the tags to a file of your choice")
            raise OwlxError("in-memory data have no file to save beside; use save_to_sidecar(path) to "
                            "write the tags to a file of your choice")

    def _base_name(self) -> str | None:
        """The file sidecars and recovery files are named after (None for in-memory data)."""
        return sidecar_base(self.source)

    def _writes(self, full: bool, into_data: bool = False) -> list[GroupWrite]:
        """What a save writes, per result group: the TagSets that are unsaved (all when
        ``full``) and the providers' contributions. A sidecar takes each TagSet whole; the data
        file (``into_data``) only the frames it has (formats.md §2.5 rule 2), and the planner
        refuses tags set beyond them rather than drop them."""
        groups: dict[str, GroupWrite] = {}
        for group, ts in self._tagsets.items():
            if full or ts.dirty:
                info = self._tag_info.get(group)
                n = min(ts.n_frames, self._file_frames(group, ts)) if into_data else ts.n_frames
                groups[group] = GroupWrite(group, n, ts.table(), list(info.data_names) if info else [])
        for provider in self._providers:
            if not (full or provider.dirty):
                continue
            for group, n in provider.groups():
                write = groups.setdefault(group, GroupWrite(group, int(n)))
                write.contributions.append(lambda plan, g, k, p=provider: p.contribute(plan, g, k, full))
        return list(groups.values())

    def _write_sidecar(self, writes: list[GroupWrite], reason: str, progress) -> SaveReport:
        base = self._base_name()
        candidates = [self._sidecar] if self._sidecar else [sc.new_sidecar_path(base), sc.app_sidecar_path(base)]
        report = save_to_sidecar(list(dict.fromkeys(candidates)), base, writes, reason, progress)
        self._sidecar = report.path
        return report

    def _finish_save(self, report: SaveReport, writes: list[GroupWrite]) -> SaveReport:
        in_data = report.target == "data"
        for write in writes:
            ts = self._tagsets.get(write.group)
            if ts is not None and write.tags is not None:
                ts.mark_saved(in_data_file=in_data)
                if in_data and write.group in self._tag_info:
                    self._tag_info[write.group].data_names = list(write.tags.names)
        if writes or report.target == "nothing":
            for provider in self._providers:
                provider.mark_saved()
        if not self.dirty:
            from .recovery import discard_recovery

            discard_recovery(self._base_name())
        self.results_edited()
        self.saved.emit(report)
        return report

    # -- closing and reopening the reader around a save ----------------------------------------------
    def _close_for_save(self) -> None:
        self.source.close()

    def _reopen_after_save(self) -> None:
        """Open the file again and swap the new source and stacks in, keeping what is shown."""
        from .io.open import open_source
        from .session import _load_stack

        old_source, old_stack, old_mask = self.source, self.stack, self.mask_stack
        source = open_source(str(old_source.path), swmr=old_source.swmr)
        try:
            view = _load_stack(source, self.stack_path, with_tags=False)
        except Exception:
            source.close()
            raise
        extra = getattr(old_stack, "extra_index", None)
        if extra and hasattr(view.stack, "extra_index"):
            view.stack.extra_index.update(extra)
        mask_path = getattr(self.mask_stack, "path", None)
        self.source, self.stack = source, view.stack
        if mask_path is not None and mask_path != getattr(view.mask_stack, "path", None):
            try:
                self.mask_stack = source.stack(mask_path)  # a mask chosen in the drop box
            except OwlxError:
                self.mask_stack = view.mask_stack
        else:
            self.mask_stack = view.mask_stack
        # Jobs reading through the closed readers (owlx.stack_reader) follow these to the new ones.
        for old, new in ((old_stack, self.stack), (old_mask, self.mask_stack)):
            if old is not None and new is not None and getattr(old, "path", None) == getattr(new, "path", None):
                try:
                    old.reopened_as = new
                except AttributeError:  # a reader type with __slots__: its jobs fail cleanly instead
                    pass
        self.source_reopened.emit(source)
