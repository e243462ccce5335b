"""The headless application model: what the user is looking at, without Qt.

A :class:`Session` holds the open source, the current image stack, the selected frame, the
display order (sort and filter results; identity until those are set), the display and mask
settings and the file geometry. It emits change events through psygnal signals; the GUI
observes them, the console gets the same object as ``session``, and a script builds one with
:func:`owlx.open`. Nothing here touches Qt, so scripts and Jupyter work without a QApplication.

Terms (spec/viewer.md): the *frame index* is the position in the file; the *display order* is
the array of frame indices that pass the filters, in sort order; the *view position* is an index
into the display order. Navigation (next, previous, ±10, first, last) moves in display order.

Sorting and filters live in :mod:`owlx.session_order`, tags and saving in
:mod:`owlx.session_results`, the scripting conveniences (tags by name, sphere results as arrays,
fitting) in :mod:`owlx.session_api` (mixins of :class:`Session`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
from psygnal import Signal

from .core.display import DisplaySettings, MaskSettings
from .errors import DatasetError, OwlxError
from .io.maskbits import valid_from_bits
from .io.results import LoadedTags, load_tags, missing_file
from .io.source import Geometry, Source, Stack
from .session_api import ScriptingMixin
from .session_order import OrderMixin
from .session_results import ResultsMixin


class Session(OrderMixin, ResultsMixin, ScriptingMixin):
    """What is open and shown. All mutation happens on one thread (the GUI's, or the script's).

    Events:
        source_changed(source)      a file was opened or closed (None)
        stack_changed(path)         another image dataset became current (None when closed)
        frame_changed(index)        the selected frame index changed
        order_changed()             the display order changed (sort/filter)
        display_changed(settings)   a new DisplaySettings
        mask_changed(settings)      a new MaskSettings (or another mask dataset)
        message(level, text)        something to tell the user ("info", "warning", "error")
        filters_changed()           sort/filter settings or yields changed (OrderMixin)
        tags_changed(change)        the current TagSet changed (a TagChange; ResultsMixin)
        dirty_changed(bool)         unsaved tags/results appeared or were saved
        saved(report)               a save finished (a SaveReport)
        source_reopened(source)     a save closed and reopened the file: re-fetch source/stacks
    """

    source_changed = Signal(object)
    stack_changed = Signal(object)
    frame_changed = Signal(int)
    order_changed = Signal()
    display_changed = Signal(object)
    mask_changed = Signal(object)
    message = Signal(str, str)

    def __init__(self, display: DisplaySettings | None = None, mask: MaskSettings | None = None):
        self.source: Source | None = None
        self.stack: Stack | None = None
        self.stack_path: str | None = None
        self.mask_stack: Stack | None = None
        self.geometry: Geometry = Geometry()
        self.display: DisplaySettings = display or DisplaySettings()
        self.mask_settings: MaskSettings = mask or MaskSettings()
        self._frame_index = 0
        self._order: np.ndarray = np.zeros(0, dtype=np.int64)
        # view position of each frame index (-1: filtered out); an array, not a dict, so that
        # a new order of 10⁶ frames costs milliseconds (viewer.md R4)
        self._position = np.zeros(0, dtype=np.int64)
        self._init_order()
        self._init_results()
        from .session_model import attach_model

        attach_model(self)  # self.model: the sphere results of the current stack (owlx.model_results)
        from .patterson_results import attach_patterson

        attach_patterson(self)  # self.patterson: Owl's per-frame Patterson parameters (patterson/)

    # -- opening ------------------------------------------------------------------------------
    def open(self, path: str | os.PathLike | list, dataset: str | None = None, swmr: bool = False) -> None:
        """Open a file (or a list of numbered files) and show its default image dataset, or
        ``dataset``. On failure the previous source stays open and an OwlxError is raised."""
        self.adopt(load_view(path, dataset=dataset, swmr=swmr))

    def adopt(self, view: "LoadedView") -> None:
        """Show what :func:`load_view` prepared (cheap: no disk access). The GUI runs
        :func:`load_view` in a worker and calls this on its own thread."""
        old = self.source
        # The same file again (reload, Recent): unsaved tags, filters and sort carry over.
        same_file = old is not None and _same_file(old.path, view.source.path)
        self.source = view.source
        for w in view.source.warnings:
            self.message.emit("warning", w)
        self.source_changed.emit(view.source)
        self._set_stack(view, same_file=same_file)
        if view.start_frame:
            self.frame_index = min(view.start_frame, self.n_frames - 1)
        if old is not None and old is not view.source:
            old.close()

    def close(self) -> None:
        """Close the source; the session shows nothing afterwards."""
        if self.source is not None:
            self.source.close()
        self.source = None
        self.stack = None
        self.stack_path = None
        self.mask_stack = None
        self.geometry = Geometry()
        self._order_for_new_stack(same_file=False, n_changed=True)
        self._adopt_tags(None, same_file=False)
        self._set_order(np.zeros(0, dtype=np.int64))
        self._frame_index = 0
        self.source_changed.emit(None)
        self.stack_changed.emit(None)

    def select_stack(self, path: str) -> None:
        """Show another image dataset of the open source (nothing changes on failure)."""
        if self.source is None:
            raise OwlxError("no file is open")
        try:
            view = _load_stack(self.source, path)
        except Exception:
            if self.stack is not None:  # set_image moved N to the refused dataset: move it back
                self.source.set_frame_count(len(self.stack))
            raise
        self._set_stack(view)

    def show(self, array: np.ndarray, name: str = "array", discard: bool = False) -> None:
        """Push an in-memory 2-D or 3-D array into the view (the console's ``viewer.show``).

        It replaces the open file: with unsaved tags or results this refuses (save first, or
        pass ``discard=True``) rather than dropping them silently."""
        from .io.memory import ArraySource

        if self.dirty and not discard:
            raise OwlxError(
                "show() would replace the open file, whose tags or results are unsaved: "
                "call session.save() first, or show(array, discard=True)"
            )
        source = ArraySource(np.asarray(array), name=name)
        self.adopt(_load_stack(source, source.default_stack_path()))

    def _set_stack(self, view: "LoadedView", same_file: bool = True) -> None:
        n_changed = self.stack is None or len(view.stack) != self.n_frames
        self.stack = view.stack
        self.stack_path = view.path
        self.mask_stack = view.mask_stack
        self.geometry = view.geometry
        for w in view.geometry.warnings:
            self.message.emit("warning", w)
        self._adopt_tags(view.tags, same_file=same_file, announce=False)
        order = self._order_for_new_stack(same_file=same_file, n_changed=n_changed)
        self._frame_index = 0
        self._set_order(order, emit=False)
        if order.size and self.view_position is None:  # frame 0 filtered out (kept filters)
            self._frame_index = int(order[0])
        self.filters_changed.emit()
        self._announce_tags()
        self.stack_changed.emit(view.path)
        self.mask_changed.emit(self.mask_settings)
        self.order_changed.emit()
        self.frame_changed.emit(self._frame_index)

    def reload(self) -> None:
        """Close and reopen the file, keeping the dataset and the selected frame (F5); a file
        that shrank below it shows its last frame. A file deleted or moved since it was opened
        raises :class:`OwlxError` and what is shown stays."""
        problem = reload_problem(self.source)
        if problem is not None:
            raise OwlxError(problem)
        path, dataset, index = self.source.path, self.stack_path, self._frame_index
        self.open(path, dataset=dataset, swmr=self.source.swmr)
        self.goto_nearest(index)

    # -- frames -------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return len(self.stack) if self.stack is not None else 0

    @property
    def frame_index(self) -> int:
        return self._frame_index

    @frame_index.setter
    def frame_index(self, index: int) -> None:
        if self.stack is None:
            raise OwlxError("no stack is open")
        n = self.n_frames
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise OwlxError(f"frame {index} does not exist: the stack has {n} frames (0–{n - 1})")
        if i != self._frame_index:
            self._frame_index = i
            self.frame_changed.emit(i)

    def goto(self, index: int) -> None:
        """Select frame ``index`` (a frame index, not a view position)."""
        self.frame_index = index

    def goto_nearest(self, index: int) -> None:
        """Select frame ``index``, or the nearest frame that exists (the last one when the stack
        is now shorter, e.g. after a reload of a file that shrank); nothing when none is open."""
        if self.stack is not None and self.n_frames:
            self.frame_index = min(max(int(index), 0), self.n_frames - 1)

    def frame(self, index: int | None = None) -> np.ndarray:
        """The raw frame (native dtype) at ``index`` (default: the selected frame).

        Safe to call from a worker thread (a job): the read holds :attr:`io_lock`, so a save
        that closes and reopens the file cannot pull the file away mid-read."""
        if self.stack is None:
            raise OwlxError("no stack is open")
        with self.io_lock:
            return self.stack[self._frame_index if index is None else index]

    def raw_mask(self, index: int | None = None) -> np.ndarray | None:
        """The raw mask values for a frame (shared masks have one frame), or None."""
        if self.mask_stack is None:
            return None
        i = self._frame_index if index is None else int(index)
        with self.io_lock:
            return self.mask_stack[0 if len(self.mask_stack) == 1 else i]

    def valid_mask(self, index: int | None = None) -> np.ndarray | None:
        """Boolean mask (True = valid) of a frame under the current mask settings, or None."""
        ms = self.mask_settings
        if not ms.enabled:
            return None
        raw = self.raw_mask(index)
        if raw is None:
            return None
        return valid_from_bits(raw, ms.out_bits, ms.invert)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Iterate ``(frame index, frame)`` in display order."""
        for i in self._order:
            yield int(i), self.frame(int(i))

    # -- display order and navigation ---------------------------------------------------------
    @property
    def order(self) -> np.ndarray:
        """Frame indices in display order (read-only view)."""
        view = self._order.view()
        view.flags.writeable = False
        return view

    def set_order(self, order: np.ndarray) -> None:
        """Set the display order (from sorting and filtering). The selected frame stays if it
        is still shown, else the first frame of the new order is selected."""
        order = np.asarray(order, dtype=np.int64)
        if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= self.n_frames)):
            raise DatasetError("a display order must be a 1-D array of valid frame indices")
        self._set_order(order)
        if order.size and self.view_position is None:
            self.frame_index = int(order[0])

    def _set_order(self, order: np.ndarray, emit: bool = True) -> None:
        self._order = order
        position = np.full(max(self.n_frames, int(order.max()) + 1 if order.size else 0), -1, dtype=np.int64)
        position[order] = np.arange(order.size, dtype=np.int64)
        self._position = position
        if emit:
            self.order_changed.emit()

    @property
    def view_position(self) -> int | None:
        """Position of the selected frame in the display order (None if filtered out)."""
        i = self._frame_index
        p = int(self._position[i]) if 0 <= i < self._position.size else -1
        return p if p >= 0 else None

    def step(self, delta: int) -> None:
        """Move ``delta`` places in display order, stopping at either end."""
        if not self._order.size:
            return
        pos = self.view_position
        if pos is None:
            # The selected frame is filtered out: start from the first shown frame after it in
            # file order (the display order may be sorted by anything, so search it whole).
            later = np.flatnonzero(self._order > self._frame_index)
            pos = int(later[np.argmin(self._order[later])]) - (1 if delta > 0 else 0) if later.size else self._order.size
        pos = min(max(pos + int(delta), 0), self._order.size - 1)
        self.frame_index = int(self._order[pos])

    def next(self) -> None:
        self.step(1)

    def previous(self) -> None:
        self.step(-1)

    def first(self) -> None:
        if self._order.size:
            self.frame_index = int(self._order[0])

    def last(self) -> None:
        if self._order.size:
            self.frame_index = int(self._order[-1])

    # -- settings -----------------------------------------------------------------------------
    def set_display(self, settings: DisplaySettings | None = None, **changes) -> None:
        """Replace the display settings (validated first; invalid settings raise and change
        nothing)."""
        new = replace(settings or self.display, **changes)
        new.validate()
        if new != self.display:
            self.display = new
            self.display_changed.emit(new)

    def set_mask_settings(self, settings: MaskSettings | None = None, **changes) -> None:
        new = replace(settings or self.mask_settings, **changes)
        if new != self.mask_settings:
            self.mask_settings = new
            self.mask_changed.emit(new)

    def set_mask_dataset(self, path: str | None) -> None:
        """Use another dataset as the mask (the *mask* drop box), or none."""
        if path is None:
            self.mask_stack = None
        else:
            if self.source is None or self.stack is None:
                raise OwlxError("no stack is open")
            mask = self.source.stack(path)
            if mask.frame_shape != self.stack.frame_shape:
                raise DatasetError(
                    f"mask '{path}' has frames of {mask.frame_shape}, the image {self.stack.frame_shape}"
                )
            self.mask_stack = mask
        self.mask_changed.emit(self.mask_settings)

    def set_mask_array(self, valid: np.ndarray | None) -> None:
        """Use an in-memory validity mask (True = valid, one frame's shape) as the mask, or none.

        It is held as a one-frame raw mask with bit 0x1 ("invalid") on the invalid pixels, and
        the mask settings are made to honour that bit without inversion, so ``valid_mask()`` and
        the display show exactly ``valid``."""
        if valid is None:
            self.set_mask_dataset(None)
            return
        if self.stack is None:
            raise OwlxError("no stack is open")
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != tuple(self.stack.frame_shape):
            raise DatasetError(f"the mask has shape {valid.shape}, the frames {tuple(self.stack.frame_shape)}")
        from .io.source import ArrayStack

        self.mask_stack = ArrayStack((~valid).astype(np.uint8)[np.newaxis], "<mask array>")
        ms = self.mask_settings
        self.mask_settings = replace(ms, enabled=True, invert=False, out_bits=int(ms.out_bits) | 0x1)
        self.mask_changed.emit(self.mask_settings)

    def __repr__(self) -> str:
        if self.source is None:
            return "<Session: nothing open>"
        return (
            f"<Session {os.path.basename(str(self.source.path))}:{self.stack_path} "
            f"frame {self._frame_index} of {self.n_frames}>"
        )


@dataclass
class LoadedView:
    """Everything read from disk to show one image dataset: made by :func:`load_view` (or
    :meth:`Session.select_stack`) and applied by :meth:`Session.adopt`."""

    source: Source
    path: str
    stack: Stack
    mask_stack: Stack | None
    geometry: Geometry
    start_frame: int = 0
    tags: LoadedTags | None = None  # the stack's tags, data file merged with its sidecar


def load_view(path: str | os.PathLike | list, dataset: str | None = None, swmr: bool = False) -> LoadedView:
    """Open a file and prepare its image dataset (default, or ``dataset``), mask and geometry.

    This is the slow part of opening (decompression, header scans, geometry reads) and touches
    no session state, so the GUI runs it on a worker. On failure the new file is closed and an
    :class:`OwlxError` is raised.
    """
    from .plugin import open_source  # the built-in readers, then the readers plugins add

    source = open_source(path, swmr=swmr)
    try:
        target = dataset or source.default_stack_path()
        if target is None:
            empty = _empty_stack(source)
            if empty is not None:  # say which dataset is empty, not that none exists
                raise DatasetError(f"'{empty}' has 0 frames: nothing to show")
            raise DatasetError(f"'{source.path}' contains no image dataset to show")
        view = _load_stack(source, target)
        # A series opened from one of its files starts at that file (spec/formats.md §3).
        view.start_frame = int(source.start_frame)
        return view
    except Exception:
        source.close()
        raise


def _load_stack(source: Source, path: str, with_tags: bool = True) -> LoadedView:
    stack = source.set_image(path)
    if len(stack) == 0:
        raise DatasetError(f"'{path}' has 0 frames: nothing to show")
    view = LoadedView(source, path, stack, source.mask_stack(path), source.geometry(path))
    if with_tags:
        view.tags = _read_tags(source, stack.path, len(stack))
    return view


def _empty_stack(source: Source) -> str | None:
    """The image stack of ``source`` that has no frames (the first, preferring one whose frame
    axis has length 0 over one whose ``numEvents`` is 0), when no stack has any; else None."""
    try:
        stacks = [n for n in source.stacks() if n.kind.is_image and n.frame_axis is not None]
    except (OwlxError, OSError, KeyError, ValueError, RuntimeError):
        return None
    for node in stacks:
        if node.shape and node.shape[node.frame_axis] == 0:
            return node.path
    return stacks[0].path if stacks else None


def reload_problem(source: Source | None) -> str | None:
    """Why F5 cannot reopen ``source`` (the message to show), or None when it can."""
    if source is None or getattr(source, "format", None) == "memory":
        return "nothing to reload"
    gone = missing_file(source)
    if gone is not None:
        return f"'{os.path.basename(gone)}' was deleted or moved; what is shown stays"
    return None


def _read_tags(source: Source, path: str, n_frames: int) -> LoadedTags | None:
    """The stack's tags; a file whose tags cannot be read still opens (with a warning)."""
    try:
        return load_tags(source, path, n_frames)
    except (OwlxError, OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
        source.warnings.append(f"the tags could not be read ({err}); new tags will be saved to a sidecar")
        return None


def _same_file(a: object, b: object) -> bool:
    """True when two source paths name the same existing file (or the same list of files);
    in-memory data ("<array>") is never the same file twice."""
    def norm(p: object) -> object:
        if isinstance(p, (list, tuple)):
            return tuple(norm(x) for x in p)
        return os.path.realpath(str(p)) if os.path.isfile(str(p)) else None

    na = norm(a)
    return na is not None and na == norm(b)
