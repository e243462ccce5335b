"""The in-memory tags of one result group, with undo and redo (spec/viewer.md §9, T1–T9).

A :class:`TagSet` holds tag names (unique, non-empty), colours (uint8 RGB, default palette of
T2) and members, a boolean ``(n_tags, N)`` array indexed by tag row and frame index. Tags are
addressed by 0-based row index or by name. Every change goes through the undo stack (a bulk
``set_frames`` is one step, T7), marks the set unsaved (:attr:`TagSet.dirty`) and emits
``changed`` with a :class:`TagChange`. ``mark_saved`` records the saved state: undoing back to
it makes the set clean again, as in Qt's QUndoStack.

The session owns one TagSet per result group (``session.tags`` is the current one) and the
GUI observes ``session.tags_changed``; scripts and the console use the same object::

    tags = session.tags
    tags.add("fail")
    tags.toggle("fail", 7)
    tags.set_frames("fail", session.order, False)   # clear on every shown frame (T6)
    tags.undo()
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from psygnal import Signal

from .core.tagtable import TagTable, palette_color
from .errors import OwlxError, ParameterError
from .tag_undo import (
    Command,
    Insert,
    Recolor,
    Remove,
    Rename,
    Reorder,
    Replace,
    SetFrames,
    TagChange,
)

#: undo steps kept; a step stores only the frames it changed, so this bounds memory well
UNDO_LIMIT = 200

Tag = int | str
Color = tuple[int, int, int] | Sequence[int] | np.ndarray


class TagError(OwlxError):
    """A tag operation that cannot be done: unknown tag, duplicate or empty name, bad frame."""


class TagSet:
    """Tags over ``n_frames`` frames; see the module docstring for conventions."""

    changed = Signal(object)  # TagChange

    def __init__(self, n_frames: int = 0, table: TagTable | None = None):
        table = table.resized(n_frames) if table is not None else TagTable.empty(n_frames)
        self._names: list[str] = list(table.names)
        self._colors: np.ndarray = table.colors.copy()
        self._members: np.ndarray = table.members.copy()
        self._origins: list[str | None] = list(table.origins)
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._serial = 0  # id of the newest command ever made
        self._floor = 0  # id of the newest command dropped off the undo limit
        self._clean: int | None = 0  # top-of-stack id at the last save (None: unreachable)

    # -- reading ----------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return int(self._members.shape[1])

    def __len__(self) -> int:
        return len(self._names)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._names)

    @property
    def colors(self) -> np.ndarray:
        """``(n_tags, 3)`` uint8, read-only view."""
        return _readonly(self._colors)

    @property
    def members(self) -> np.ndarray:
        """``(n_tags, N)`` bool, read-only view."""
        return _readonly(self._members)

    def color(self, tag: Tag) -> tuple[int, int, int]:
        r, g, b = (int(c) for c in self._colors[self.index(tag)])
        return (r, g, b)

    def index(self, tag: Tag) -> int:
        """Row of a tag given by row index (negative counts from the end) or name."""
        if isinstance(tag, str):
            try:
                return self._names.index(tag)
            except ValueError:
                raise TagError(f"there is no tag named {tag!r} (tags: {', '.join(self._names) or 'none'})") from None
        i = int(tag)
        n = len(self._names)
        if not -n <= i < n:
            raise TagError(f"there is no tag {i + 1 if i >= 0 else i}: {n} tag(s) exist")
        return i % n

    def tag_for_key(self, key: int) -> int:
        """Row toggled by key ``key`` (1–9 → rows 0–8, viewer.md T3)."""
        key = int(key)
        if not 1 <= key <= 9:
            raise ParameterError(f"tag keys are 1–9, not {key}")
        if key > len(self._names):
            raise TagError(f"No tag {key} — create it in the tag editor")
        return key - 1

    def has(self, tag: Tag, frame: int) -> bool:
        return bool(self._members[self.index(tag), self._frame(frame)])

    def tags_of(self, frame: int) -> list[str]:
        """Names of the tags set on a frame (the info overlay, viewer.md S3)."""
        f = self._frame(frame)
        return [name for name, on in zip(self._names, self._members[:, f]) if on]

    def counts(self, frames: np.ndarray | None = None) -> np.ndarray:
        """Frames tagged, per tag (int64); over ``frames`` only when given (the editor's
        unfiltered-count column, T1)."""
        m = self._members if frames is None else self._members[:, self._frames(frames)]
        return np.count_nonzero(m, axis=1).astype(np.int64)

    def frames_with(self, tag: Tag) -> np.ndarray:
        """Frame indices that carry a tag (int64, ascending)."""
        return np.flatnonzero(self._members[self.index(tag)]).astype(np.int64)

    def table(self) -> TagTable:
        """A copy of the current state as a :class:`TagTable`."""
        return TagTable(list(self._names), self._colors.copy(), self._members.copy(), list(self._origins))

    # -- editing (each call is one undo step) ------------------------------------------------
    def add(self, name: str | None = None, color: Color | None = None) -> int:
        """Append a tag (default name ``Tag N``, next palette colour). Returns its row."""
        if name is None:
            k = len(self._names) + 1
            while f"Tag {k}" in self._names:
                k += 1
            name = f"Tag {k}"
        name = self._check_name(name)
        rgb = _rgb(palette_color(len(self._names)) if color is None else color)
        row = np.zeros(self.n_frames, bool)
        self._push(Insert(len(self._names), name, rgb, row, None, f"add tag {name!r}"))
        return len(self._names) - 1

    def rename(self, tag: Tag, name: str) -> None:
        """Rename a tag; its members and colour stay (T1)."""
        i = self.index(tag)
        name = self._check_name(name, ignore=i)
        if name != self._names[i]:
            self._push(Rename(i, self._names[i], name))

    def delete(self, tag: Tag) -> int:
        """Delete a tag; returns how many frames had it (for "Delete tag 'x' (set on n frames)?";
        :meth:`count` asks the same before deleting)."""
        i = self.index(tag)
        n = int(np.count_nonzero(self._members[i]))
        self._push(Remove(i, self._names[i], self._colors[i].copy(), self._members[i].copy(), self._origins[i]))
        return n

    def count(self, tag: Tag) -> int:
        return int(np.count_nonzero(self._members[self.index(tag)]))

    def recolor(self, tag: Tag, color: Color) -> None:
        i = self.index(tag)
        rgb = _rgb(color)
        if not np.array_equal(rgb, self._colors[i]):
            self._push(Recolor(i, self._colors[i].copy(), rgb))

    def reorder(self, order: Sequence[Tag]) -> None:
        """Put the tags in a new order (a permutation of rows or names); members follow."""
        perm = [self.index(t) for t in order]
        if sorted(perm) != list(range(len(self._names))):
            raise TagError(f"a new tag order must list each of the {len(self._names)} tags once")
        if perm != list(range(len(perm))):
            self._push(Reorder(perm))

    def move(self, tag: Tag, position: int) -> None:
        """Move one tag to row ``position`` (the editor's drag and drop)."""
        perm = list(range(len(self._names)))
        i = self.index(tag)
        perm.pop(i)
        perm.insert(min(max(int(position), 0), len(perm)), i)
        self.reorder(perm)

    def toggle(self, tag: Tag, frame: int) -> bool:
        """Flip a tag on one frame (keys 1–9, T3; clicking a square, T5). Returns the new value."""
        i, f = self.index(tag), self._frame(frame)
        value = not self._members[i, f]
        self._push(SetFrames(i, np.array([f], np.int64), value, self._names[i]))
        return value

    def set_frames(self, tag: Tag, frames: Iterable[int] | np.ndarray, value: bool) -> int:
        """Set or clear a tag on many frames as one undo step; returns how many changed.
        Frames not listed are never touched (T6: only the display order)."""
        i = self.index(tag)
        idx = self._frames(frames)
        changed = idx[self._members[i, idx] != bool(value)]
        if changed.size > 1 and not (changed[1:] > changed[:-1]).all():
            # distinct and sorted (np.unique hashes: 0.6 s for a million frames)
            changed = np.sort(changed)
            changed = changed[np.r_[True, changed[1:] != changed[:-1]]]
        if changed.size:
            self._push(SetFrames(i, changed, bool(value), self._names[i]))
        return int(changed.size)

    def toggle_frames(self, tag: Tag, frames: np.ndarray, clicked: int) -> int:
        """Shift+click on a square (T6): the new value is the opposite of the clicked frame's,
        applied to ``frames`` (the display order). Returns how many frames changed."""
        return self.set_frames(tag, frames, not self.has(tag, clicked))

    def replace(self, table: TagTable, text: str = "replace tags") -> None:
        """Replace every tag at once (e.g. restoring recovered edits), as one undo step."""
        table = table.resized(self.n_frames)
        names = list(table.names)
        if len(set(names)) != len(names) or any(not n.strip() for n in names):
            raise TagError("tag names must be unique and non-empty")
        self._push(Replace(self.table(), table.copy(), text))

    # -- undo / redo ---------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        """What Ctrl+Z would undo, for the Edit menu ("" when nothing)."""
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> bool:
        """Undo the last step; False when there is none."""
        if not self._undo:
            return False
        cmd = self._undo.pop()
        change = cmd.undo(self)
        self._redo.append(cmd)
        self.changed.emit(change)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        cmd = self._redo.pop()
        change = cmd.redo(self)
        self._undo.append(cmd)
        self.changed.emit(change)
        return True

    # -- saved state ---------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """True while the tags differ from the last save (every edit sets it, undo back to the
        saved state clears it)."""
        return self._top() != self._clean

    def mark_saved(self, in_data_file: bool = True) -> None:
        """Record the current state as saved. After a save into the data file every row's
        origin becomes its current name (the file now holds it under that name)."""
        self._clean = self._top()
        if in_data_file:
            self._origins = list(self._names)
        self.changed.emit(TagChange("saved"))

    def mark_unsaved(self) -> None:
        """Force the unsaved state (e.g. the last save went nowhere)."""
        self._clean = None
        self.changed.emit(TagChange("saved"))

    def resize(self, n_frames: int) -> None:
        """Follow a growing stack (live mode, viewer.md V1): new frames are untagged. Not an
        undo step and not an edit; shrinking is refused (members would be lost)."""
        n_frames = int(n_frames)
        if n_frames < self.n_frames:
            raise TagError(f"tags cover {self.n_frames} frames and cannot shrink to {n_frames}")
        if n_frames > self.n_frames:
            grown = np.zeros((len(self._names), n_frames), bool)
            grown[:, : self.n_frames] = self._members
            self._members = grown
            for cmd in self._undo + self._redo:
                cmd.grow(n_frames)
            self.changed.emit(TagChange("resize"))

    # -- internals -------------------------------------------------------------------------------
    def _top(self) -> int:
        return self._undo[-1].serial if self._undo else self._floor

    def _push(self, cmd: Command) -> None:
        self._serial += 1
        cmd.serial = self._serial
        change = cmd.redo(self)
        self._undo.append(cmd)
        if any(c.serial == self._clean for c in self._redo):
            self._clean = None  # the saved state was in the redo stack, now gone for good
        self._redo.clear()
        if len(self._undo) > UNDO_LIMIT:
            self._floor = self._undo.pop(0).serial
        self.changed.emit(change)

    def _check_name(self, name: str, ignore: int | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise TagError("a tag needs a name that is not empty")
        name = name.strip()
        for j, other in enumerate(self._names):
            if other == name and j != ignore:
                raise TagError(f"a tag named {name!r} already exists; choose another name")
        return name

    def _frame(self, frame: int) -> int:
        f = int(frame)
        if not 0 <= f < self.n_frames:
            raise TagError(f"frame {frame} does not exist: tags cover {self.n_frames} frames")
        return f

    def _frames(self, frames: Iterable[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(frames if isinstance(frames, np.ndarray) else list(frames))
        if idx.dtype == bool:
            if idx.shape != (self.n_frames,):
                raise TagError(f"a frame mask must have {self.n_frames} entries, got {idx.shape}")
            return np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise TagError(f"frame indices must be within 0–{self.n_frames - 1}")
        return idx

    def __repr__(self) -> str:
        state = "unsaved" if self.dirty else "saved"
        return f"<TagSet {len(self)} tags over {self.n_frames} frames, {state}: {', '.join(self._names)}>"


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def _rgb(color: Color) -> np.ndarray:
    rgb = np.asarray(color).ravel()
    if rgb.size != 3 or not np.all((rgb >= 0) & (rgb <= 255)):
        raise ParameterError(f"a tag colour is three integers 0–255 (R, G, B), got {color!r}")
    return rgb.astype(np.uint8)
