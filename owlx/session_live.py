"""Live follow of a file that another process is writing (viewer.md V1–V3, formats.md §1.9).

One poll has two halves, so that the thread that owns the session never reads from disk:

* :func:`poll_live` (a worker thread) refreshes the SWMR file's metadata
  (:meth:`Source.refresh`: sizes and ``numEvents`` of the listed datasets, N of the image), works
  out the grown image and mask stacks on shallow copies of the session's stacks, and reads the
  per-frame datasets in use at the new N (the reader caches them, so the session's next
  ``per_frame`` is a lookup);
* :func:`apply_live` (the session's thread, the GUI thread in the GUI) adopts the new frame
  count at one moment: the stacks grow, tag sets, the sphere model and the Patterson parameters
  are extended (new frames untagged, defaults), and sort and filters are recomputed, keeping
  the selected frame. Nothing is ever shrunk; frames at index ≥ N are never read.

:func:`follow_once` runs both halves in the calling thread (scripts and tests). Saving while
live goes to the sidecar (:meth:`Session.save` checks ``source.swmr``, V3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .errors import DatasetError
from .io.source import Source, Stack


@dataclass
class LiveProbe:
    """What a poll looks at, captured on the session's thread when the poll starts."""

    source: Source
    stack: Stack
    mask_stack: Stack | None
    per_frame_paths: list[str] = field(default_factory=list)
    io_lock: object = None


@dataclass
class LiveUpdate:
    """What a poll found: the refreshed stacks (copies), their N, and warnings."""

    probe: LiveProbe
    n_frames: int
    stack: Stack
    mask_stack: Stack | None
    warnings: list[str] = field(default_factory=list)


def probe_session(session) -> LiveProbe | None:
    """The poll's view of ``session`` (None when nothing live is open)."""
    if session.source is None or session.stack is None or not getattr(session.source, "swmr", False):
        return None
    return LiveProbe(session.source, session.stack, session.mask_stack,
                     list(getattr(session, "_per_frame_cache", {})), session.io_lock)


def _refreshed(stack: Stack | None) -> Stack | None:
    """A shallow copy of ``stack`` with its frame count re-read; the original is untouched."""
    if stack is None:
        return None
    fresh = copy.copy(stack)
    fresh.refresh()
    return fresh


def poll_live(probe: LiveProbe) -> LiveUpdate:
    """Worker half: re-read sizes and the per-frame datasets in use (holds ``io_lock``, so a
    save that has the file closed is waited for)."""
    lock = probe.io_lock
    if lock is not None:
        lock.acquire()
    try:
        probe.source.refresh()
        stack = _refreshed(probe.stack)
        mask = _refreshed(probe.mask_stack) if probe.mask_stack is not None and len(probe.mask_stack) > 1 else None
        n = len(stack)
        if mask is not None:
            # A frame is complete once its mask is written too: frames whose mask is still
            # missing are shown at the next poll rather than failing to load now.
            n = min(n, len(mask))
        n = max(n, len(probe.stack))  # never shrink (a writer that set numEvents lower)
        # Likewise a frame whose value of a dataset used for sorting or filtering is not written
        # yet (the writer flushes the image first) waits for the next poll.
        for path in probe.per_frame_paths:
            n = _frames_with_values(probe.source, path, n, len(probe.stack))
        warnings = []
        for path in probe.per_frame_paths:
            try:
                probe.source.per_frame(path, n)  # cached by the reader for apply_live
            except Exception as err:  # noqa: BLE001 - one dataset must not stop following the file
                warnings.append(f"{path} could not be re-read: {err}")
        return LiveUpdate(probe, n, stack, mask, warnings)
    finally:
        if lock is not None:
            lock.release()


def _frames_with_values(source: Source, path: str, n: int, floor: int) -> int:
    """``n``, or fewer (not below ``floor``) when the per-frame dataset ``path`` is shorter."""
    try:
        source.per_frame(path, n)
        return n
    except DatasetError:
        try:
            length = int(source.node(path).shape[0])
        except (KeyError, IndexError, TypeError, ValueError):
            return n
        return max(floor, min(n, length))


def apply_live(session, update: LiveUpdate) -> int:
    """Session half: adopt a poll's result; returns the number of new frames (0 when nothing
    grew or the session moved on to another stack since the poll started)."""
    probe = update.probe
    if session.source is not probe.source or session.stack is not probe.stack:
        return 0
    old = session.n_frames
    for w in update.warnings:
        session.message.emit("warning", w)
    if update.n_frames <= old:
        return 0
    # The copies were refreshed on the worker; their state is adopted here, on the session's
    # thread, so that N changes at the same moment as the tags and the display order.
    vars(probe.stack).update(vars(update.stack))
    if len(probe.stack) > update.n_frames:  # frames whose mask is not written yet
        probe.stack.shape = (update.n_frames, *probe.stack.shape[1:])
    if update.mask_stack is not None and session.mask_stack is probe.mask_stack:
        vars(probe.mask_stack).update(vars(update.mask_stack))
    n = session.n_frames
    session.clear_per_frame_cache()
    tags = session.tags  # the current stack's tags; other result groups have their own N
    if session.result_group is not None and tags.n_frames < n:
        tags.resize(n)
    model = getattr(session, "model", None)
    if model is not None and model.n_frames < n:
        model._resize(n)
    patterson = getattr(session, "patterson", None)
    if patterson is not None:
        patterson.resize(n)
    session._update_order(keep_frame=True)
    return n - old


def follow_once(session) -> int:
    """Poll and apply in the calling thread; the number of new frames."""
    probe = probe_session(session)
    if probe is None:
        return 0
    return apply_live(session, poll_live(probe))


def newest_shown(order: np.ndarray) -> int | None:
    """The newest frame (highest frame index) in a display order, or None when it is empty."""
    return int(order.max()) if order.size else None
