"""Undo steps of :class:`owlx.tags.TagSet` and the :class:`TagChange` events it emits.

Each command applies and reverts itself on the TagSet's arrays (it is part of the tag model,
so it works on the set's private state) and returns the :class:`TagChange` to emit. Commands
store only what they need to revert: a bulk set keeps the frames whose value changed, a
delete keeps the deleted row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .core.tagtable import TagTable

if TYPE_CHECKING:  # pragma: no cover
    from .tags import TagSet


@dataclass(frozen=True)
class TagChange:
    """What changed: ``kind`` is one of ``members``, ``add``, ``delete``, ``rename``, ``color``,
    ``reorder``, ``replace``, ``resize``, ``saved``. ``tag`` is the row concerned (None for
    whole-set changes), ``frames`` the frame indices whose membership changed (``members``
    only), ``old_name``/``name`` are set for renames, adds and deletes."""

    kind: str
    tag: int | None = None
    frames: np.ndarray | None = None
    name: str | None = None
    old_name: str | None = None


class Command:
    """One undo step: ``redo`` applies it, ``undo`` reverts it; ``text`` names it in the Edit
    menu; ``serial`` identifies it for the saved-state bookkeeping of :class:`TagSet`."""

    serial = 0
    text = ""

    def redo(self, ts: TagSet) -> TagChange:  # pragma: no cover - abstract
        raise NotImplementedError

    def undo(self, ts: TagSet) -> TagChange:  # pragma: no cover - abstract
        raise NotImplementedError

    def grow(self, n_frames: int) -> None:
        """Stored rows follow the frame count (live mode)."""


class SetFrames(Command):
    def __init__(self, tag: int, frames: np.ndarray, value: bool, name: str):
        self.tag, self.frames, self.value = tag, frames, value
        what = f"frame {int(frames[0])}" if frames.size == 1 else f"{frames.size} frames"
        self.text = f"{'set' if value else 'clear'} {name!r} on {what}"

    def _apply(self, ts: TagSet, value: bool) -> TagChange:
        ts._members[self.tag, self.frames] = value
        return TagChange("members", self.tag, self.frames)

    def redo(self, ts: TagSet) -> TagChange:
        return self._apply(ts, self.value)

    def undo(self, ts: TagSet) -> TagChange:
        # Only frames whose value changed were recorded, so the old value is the opposite.
        return self._apply(ts, not self.value)


class Insert(Command):
    def __init__(self, row: int, name: str, color: np.ndarray, members: np.ndarray, origin: str | None, text: str):
        self.row, self.name, self.color, self.members, self.origin, self.text = row, name, color, members, origin, text

    def redo(self, ts: TagSet) -> TagChange:
        ts._names.insert(self.row, self.name)
        ts._colors = np.insert(ts._colors, self.row, self.color, axis=0)
        ts._members = np.insert(ts._members, self.row, self.members, axis=0)
        ts._origins.insert(self.row, self.origin)
        return TagChange("add", self.row, name=self.name)

    def undo(self, ts: TagSet) -> TagChange:
        del ts._names[self.row]
        ts._colors = np.delete(ts._colors, self.row, axis=0)
        ts._members = np.delete(ts._members, self.row, axis=0)
        del ts._origins[self.row]
        return TagChange("delete", self.row, name=self.name)

    def grow(self, n_frames: int) -> None:
        self.members = np.concatenate([self.members, np.zeros(n_frames - self.members.size, bool)])


class Remove(Insert):
    def __init__(self, row: int, name: str, color: np.ndarray, members: np.ndarray, origin: str | None):
        super().__init__(row, name, color, members, origin, f"delete tag {name!r}")

    def redo(self, ts: TagSet) -> TagChange:
        return Insert.undo(self, ts)

    def undo(self, ts: TagSet) -> TagChange:
        return Insert.redo(self, ts)


class Rename(Command):
    def __init__(self, row: int, old: str, new: str):
        self.row, self.old, self.new = row, old, new
        self.text = f"rename {old!r} to {new!r}"

    def redo(self, ts: TagSet) -> TagChange:
        ts._names[self.row] = self.new
        return TagChange("rename", self.row, name=self.new, old_name=self.old)

    def undo(self, ts: TagSet) -> TagChange:
        ts._names[self.row] = self.old
        return TagChange("rename", self.row, name=self.old, old_name=self.new)


class Recolor(Command):
    def __init__(self, row: int, old: np.ndarray, new: np.ndarray):
        self.row, self.old, self.new = row, old, new
        self.text = "change a tag colour"

    def redo(self, ts: TagSet) -> TagChange:
        ts._colors[self.row] = self.new
        return TagChange("color", self.row)

    def undo(self, ts: TagSet) -> TagChange:
        ts._colors[self.row] = self.old
        return TagChange("color", self.row)


class Reorder(Command):
    def __init__(self, perm: list[int]):
        self.perm = perm
        self.inverse = list(np.argsort(perm))
        self.text = "reorder tags"

    @staticmethod
    def _apply(ts: TagSet, perm: list[int]) -> TagChange:
        ts._names = [ts._names[i] for i in perm]
        ts._origins = [ts._origins[i] for i in perm]
        ts._colors = ts._colors[perm]
        ts._members = ts._members[perm]
        return TagChange("reorder")

    def redo(self, ts: TagSet) -> TagChange:
        return self._apply(ts, self.perm)

    def undo(self, ts: TagSet) -> TagChange:
        return self._apply(ts, self.inverse)


class Replace(Command):
    def __init__(self, old: TagTable, new: TagTable, text: str):
        self.old, self.new, self.text = old, new, text

    @staticmethod
    def _apply(ts: TagSet, table: TagTable) -> TagChange:
        ts._names = list(table.names)
        ts._colors = table.colors.copy()
        ts._members = table.members.copy()
        ts._origins = list(table.origins)
        return TagChange("replace")

    def redo(self, ts: TagSet) -> TagChange:
        return self._apply(ts, self.new)

    def undo(self, ts: TagSet) -> TagChange:
        return self._apply(ts, self.old)

    def grow(self, n_frames: int) -> None:
        self.old, self.new = self.old.resized(n_frames), self.new.resized(n_frames)
