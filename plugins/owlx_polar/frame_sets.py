"""Which frames a polar correlation runs over, in view order (no Qt).

* ``"selection"``: the frames that pass the session's filters, in display order
  (``session.order``);
* ``"tag:<name>"``: every frame carrying tag ``<name>``, in the order of the current sort
  (filters are not applied: the tag is the selection);
* ``"all"``: every frame of the stack, in the order of the current sort (frame order when
  unsorted).
"""

from __future__ import annotations

import numpy as np

from owlx.core.selection import display_order
from owlx.errors import OwlxError, ParameterError

__all__ = ["frame_set", "frame_set_choices"]


def _sorted_all(session) -> np.ndarray:
    n = session.n_frames
    sort = session.sort
    if sort is None:
        return np.arange(n, dtype=np.int64)
    return display_order(n, session.per_frame(sort.path, sort.column), (), sort.descending)


def frame_set_choices(session) -> list[tuple[str, str]]:
    """``(key, label)`` of every frame set the session offers now, with its frame count."""
    if session.stack is None:
        return []
    out = [("selection", f"Selection ({len(session.order)} frames)")]
    tags = session.tags
    for name, count in zip(tags.names, tags.counts()):
        out.append((f"tag:{name}", f"Tag {name} ({int(count)} frames)"))
    out.append(("all", f"All frames ({session.n_frames})"))
    return out


def frame_set(session, key: str) -> np.ndarray:
    """Frame indices of the set ``key`` (module doc), int64, in view order."""
    if session.stack is None:
        raise OwlxError("no stack is open")
    if key == "selection":
        return np.array(session.order, dtype=np.int64)
    if key == "all":
        return _sorted_all(session)
    if key.startswith("tag:"):
        name = key[4:]
        tags = session.tags
        if name not in tags.names:
            raise ParameterError(f"there is no tag '{name}'")
        order = _sorted_all(session)
        member = tags.members[tags.index(name)]
        return order[member[order]]
    raise ParameterError(f"unknown frame set '{key}'; use 'selection', 'all' or 'tag:<name>'")
