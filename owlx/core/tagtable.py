"""Tags as plain arrays: names, colours and a membership matrix (numpy only, no files).

A :class:`TagTable` is the value that moves between the file readers and writers
(:mod:`owlx.io.tags_h5`), the sidecar merge, the recovery file and the in-memory model with undo
(:class:`owlx.tags.TagSet`).

Conventions
-----------
* ``members`` is boolean, shape ``(n_tags, n_frames)``: row = tag, column = frame index, as in
  Owl's ``tags`` dataset (spec/formats.md §2.2).
* ``colors`` is ``uint8`` RGB, shape ``(n_tags, 3)``.
* Names are unique, non-empty ``str``; the file stores them UTF-8 encoded.
* ``origins[i]`` is the name row ``i`` had in the data file when it was read (None for a tag
  created since). Renaming or moving a tag keeps its origin, so a save can carry the columns
  beyond N that owlx does not show (§2.2 "extras kept untouched") along with their tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: spec/viewer.md T2: Owl's seven Tango colours, then two more; the list cycles after that
PALETTE: tuple[tuple[int, int, int], ...] = (
    (52, 102, 164),
    (245, 121, 0),
    (117, 80, 123),
    (115, 210, 22),
    (204, 0, 0),
    (193, 125, 17),
    (237, 212, 0),
    (136, 138, 133),
    (6, 152, 154),
)


def palette_color(index: int) -> tuple[int, int, int]:
    """Default colour of the tag at 0-based position ``index`` (the palette cycles)."""
    return PALETTE[int(index) % len(PALETTE)]


def palette_colors(n: int, start: int = 0) -> np.ndarray:
    """``(n, 3)`` uint8 default colours for positions ``start … start + n − 1``."""
    return np.array([palette_color(start + i) for i in range(n)], dtype=np.uint8).reshape(n, 3)


def unique_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Make names unique and non-empty, as read from a file: an empty name becomes ``Tag i``
    (1-based position) and a repeated one gets `` (2)``, `` (3)``, … Returns (names, warnings)."""
    out: list[str] = []
    warnings: list[str] = []
    taken: set[str] = set()
    for i, name in enumerate(names):
        base = name.strip() or f"Tag {i + 1}"
        candidate, k = base, 1
        while candidate in taken:
            k += 1
            candidate = f"{base} ({k})"
        if candidate != base:
            warnings.append(f"tag name {base!r} appears more than once; row {i} is shown as {candidate!r}")
        taken.add(candidate)
        out.append(candidate)
    return out, warnings


@dataclass
class TagTable:
    """Names, colours and members of a set of tags over ``n_frames`` frames (see module doc)."""

    names: list[str]
    colors: np.ndarray
    members: np.ndarray
    origins: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        n = len(self.names)
        self.members = np.asarray(self.members, dtype=bool)
        if self.members.ndim != 2 or self.members.shape[0] != n:
            raise ValueError(f"members must have shape ({n}, n_frames), got {self.members.shape}")
        self.colors = np.asarray(self.colors, dtype=np.uint8).reshape(n, 3)
        if not self.origins:
            self.origins = [None] * n
        if len(self.origins) != n:
            raise ValueError(f"origins must have {n} entries, got {len(self.origins)}")

    @classmethod
    def empty(cls, n_frames: int) -> TagTable:
        return cls([], np.zeros((0, 3), np.uint8), np.zeros((0, int(n_frames)), bool))

    @property
    def n_tags(self) -> int:
        return len(self.names)

    @property
    def n_frames(self) -> int:
        return int(self.members.shape[1])

    def index(self, name: str) -> int | None:
        try:
            return self.names.index(name)
        except ValueError:
            return None

    def copy(self) -> TagTable:
        return TagTable(list(self.names), self.colors.copy(), self.members.copy(), list(self.origins))

    def resized(self, n_frames: int) -> TagTable:
        """The same tags over ``n_frames`` frames: extra frames are unset, surplus ones dropped."""
        n_frames = int(n_frames)
        members = np.zeros((self.n_tags, n_frames), bool)
        keep = min(n_frames, self.n_frames)
        members[:, :keep] = self.members[:, :keep]
        return TagTable(list(self.names), self.colors.copy(), members, list(self.origins))

    def equals(self, other: TagTable) -> bool:
        """Same names, colours and members (origins are bookkeeping and do not count)."""
        return (
            self.names == other.names
            and np.array_equal(self.colors, other.colors)
            and self.members.shape == other.members.shape
            and np.array_equal(self.members, other.members)
        )


def merge_tables(data: TagTable, sidecar: TagTable, deleted: list[str] | tuple[str, ...] = ()) -> TagTable:
    """Merge a sidecar's tags into the data file's (spec/formats.md §2.7), by heading name.

    * a name in both: the sidecar's row and colour win;
    * rows only in the data file are kept, unless their name is in ``deleted`` (names the user
      deleted or renamed while saves went to the sidecar; an owlx extension, see
      :mod:`owlx.io.sidecar`);
    * rows only in the sidecar are appended.

    Order: when the sidecar holds every kept data row it was written from the full in-memory
    set, so its order is the user's and is used; otherwise data rows come first, then the
    sidecar's new ones. Both tables must have the same ``n_frames``. Origins come from the data
    file (the sidecar's own rows have none there).
    """
    if data.n_frames != sidecar.n_frames:
        raise ValueError(f"cannot merge tags over {data.n_frames} and {sidecar.n_frames} frames")
    gone = set(deleted)
    kept = [i for i, name in enumerate(data.names) if name not in gone]
    side_index = {name: j for j, name in enumerate(sidecar.names)}
    if all(data.names[i] in side_index for i in kept):
        rows = [("s", j) for j in range(sidecar.n_tags)]
    else:
        rows = [("s", side_index[data.names[i]]) if data.names[i] in side_index else ("d", i) for i in kept]
        in_data = {data.names[i] for i in kept}
        rows += [("s", j) for j, name in enumerate(sidecar.names) if name not in in_data]
    data_index = {name: i for i, name in enumerate(data.names)}
    names, colors, members, origins = [], [], [], []
    for which, k in rows:
        table = sidecar if which == "s" else data
        names.append(table.names[k])
        colors.append(table.colors[k])
        members.append(table.members[k])
        i = data_index.get(table.names[k]) if which == "s" else k
        origins.append(data.origins[i] if i is not None and data.names[i] not in gone else None)
    n = len(names)
    return TagTable(
        names,
        np.array(colors, np.uint8).reshape(n, 3),
        np.array(members, bool).reshape(n, data.n_frames),
        origins,
    )
