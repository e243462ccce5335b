"""Sorting and filtering of the session's frames: the display order (spec/viewer.md §8, O1, R1–R4).

Part of :class:`owlx.session.Session` (a mixin, so the session module stays readable).

* Per-frame datasets are read once per stack and cached (:meth:`per_frame`, R4); a vector
  dataset (N, k) is used through one ``column``.
* Sorting: one per-frame dataset, descending by default, ties in frame order, NaN last.
* Filters: range filters (inclusive Min/Max, NaN fails) and tag filters (a tag chosen by
  name, read from the in-memory tags, so nothing has to be saved first — R3), each with an
  enable switch, AND-ed together. ``session.filters`` lists them with their yields.
* Every change recomputes the display order and calls ``set_order`` (``order_changed``); the
  filters' yields change with ``filters_changed``. With 10⁶ frames a recompute takes a few tens
  of milliseconds (benchmarks/bench_workflow.py).
* A tag edit re-runs the filters when a tag filter is on, but the selected frame stays
  selected even if it no longer passes (stepping continues from it), so tagging a frame away
  does not jump the view.
* Sort and filters are remembered per (source, stack path) while the source is open: leaving a
  dataset stores them, returning to it restores them (those whose per-frame datasets still
  apply), so looking at another dataset never costs the user their selection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
from psygnal import Signal

from .core.selection import Yield, display_order, range_filter
from .errors import OwlxError, ParameterError

FILTER_FIELDS = ("lo", "hi", "column", "invert", "enabled", "tag")


@dataclass(frozen=True)
class SortSpec:
    """Sort on ``path`` (column ``column`` of a vector dataset), largest first by default."""

    path: str
    descending: bool = True
    column: int | None = None


@dataclass
class FilterState:
    """One filter and its yield. ``kind`` is ``"range"`` (``path``, ``column``, inclusive
    ``lo``/``hi``, None = open) or ``"tag"`` (``tag`` name, ``invert`` = untagged frames).
    ``passed`` counts the frames passing this filter alone out of ``total`` (N); ``note`` says
    why a filter does not apply (e.g. its tag was deleted), in which case it passes every frame."""

    id: int
    kind: str
    path: str | None = None
    column: int | None = None
    lo: float | None = None
    hi: float | None = None
    tag: str | None = None
    invert: bool = False
    enabled: bool = True
    passed: int = 0
    total: int = 0
    note: str = ""

    @property
    def yield_(self) -> Yield:
        return Yield(self.passed, self.total)

    @property
    def yield_text(self) -> str:
        """``Yield: x% - n/N`` (viewer.md R1)."""
        return self.yield_.text

    @property
    def label(self) -> str:
        if self.kind == "tag":
            return f"{'not ' if self.invert else ''}tag '{self.tag}'"
        name = os.path.basename(self.path or "")
        return name if self.column is None else f"{name}[{self.column}]"


class OrderMixin:
    """Sort, filters and the per-frame cache of a :class:`~owlx.session.Session`."""

    filters_changed = Signal()

    def _init_order(self) -> None:
        self._per_frame_cache: dict[str, np.ndarray] = {}
        self._sort: SortSpec | None = None
        self._filters: dict[int, FilterState] = {}
        self._next_filter_id = 1
        self._selection_yield = Yield(0, 0)
        # (source key, stack path) -> (sort, filters) of datasets left while the source is open
        self._order_memory: dict[tuple, tuple[SortSpec | None, dict[int, FilterState]]] = {}
        self._order_key: tuple | None = None  # the dataset the current sort and filters belong to

    # -- per-frame values ----------------------------------------------------------------------
    def per_frame(self, path: str, column: int | None = None) -> np.ndarray:
        """The values of a per-frame dataset, one per frame of the current stack (read-only,
        cached until the stack or file changes). A vector dataset needs ``column``."""
        if self.source is None or self.stack is None:
            raise OwlxError("no stack is open")
        values = self._per_frame_cache.get(path)
        if values is None:
            values = np.asarray(self.source.per_frame(path, self.n_frames))
            values.flags.writeable = False
            self._per_frame_cache[path] = values
        if values.ndim == 2:
            k = values.shape[1]
            if column is None and k == 1:
                column = 0
            if column is None:
                raise ParameterError(f"'{path}' holds {k} values per frame; choose a column 0–{k - 1}")
            if not 0 <= int(column) < k:
                raise ParameterError(f"'{path}' has columns 0–{k - 1}, not {column}")
            return values[:, int(column)]
        if column not in (None, 0):
            raise ParameterError(f"'{path}' holds one value per frame; there is no column {column}")
        return values

    def clear_per_frame_cache(self, path: str | None = None) -> None:
        """Forget cached per-frame values: of ``path`` only, or all (after the file changed)."""
        if path is None:
            self._per_frame_cache.clear()
        else:
            self._per_frame_cache.pop(path, None)

    # -- sorting ------------------------------------------------------------------------------
    @property
    def sort(self) -> SortSpec | None:
        return self._sort

    def set_sort(self, path: str | None, descending: bool = True, column: int | None = None) -> None:
        """Sort the display order on a per-frame dataset (None: frame order). A dataset that
        cannot be used raises and changes nothing."""
        if path is None:
            self._sort = None
        else:
            self.per_frame(path, column)
            self._sort = SortSpec(path, bool(descending), column)
        self._update_order()

    # -- filters --------------------------------------------------------------------------------
    @property
    def filters(self) -> list[FilterState]:
        """The filters in the order they were added, with their current yields (copies)."""
        return [replace(f) for f in self._filters.values()]

    @property
    def selection_yield(self) -> Yield:
        """Frames in the display order out of N (all enabled filters AND-ed)."""
        return self._selection_yield

    @property
    def filters_title(self) -> str:
        """``Filters (yield: p% - Nsel/Ntot)`` (viewer.md R2)."""
        return self._selection_yield.title

    def add_range_filter(self, path: str, lo: float | None = None, hi: float | None = None,
                         column: int | None = None) -> int:
        """Keep frames with ``lo ≤ value ≤ hi`` (None = open end; NaN never passes). Returns
        the filter's id."""
        self.per_frame(path, column)
        return self._add_filter(FilterState(0, "range", path=path, column=column, lo=lo, hi=hi))

    def add_tag_filter(self, tag_name: str, invert: bool = False) -> int:
        """Keep frames carrying tag ``tag_name`` (``invert``: frames without it). Uses the
        in-memory tags, saved or not."""
        self.tags.index(tag_name)
        return self._add_filter(FilterState(0, "tag", tag=tag_name, invert=bool(invert)))

    def update_filter(self, filter_id: int, **changes) -> None:
        """Change ``lo``, ``hi``, ``column``, ``invert``, ``enabled`` or ``tag`` of a filter."""
        unknown = set(changes) - set(FILTER_FIELDS)
        if unknown:
            raise ParameterError(f"a filter has no setting {', '.join(sorted(unknown))}; use {', '.join(FILTER_FIELDS)}")
        state = self._filter(filter_id)
        new = replace(state, **changes)
        if new.kind == "range" and new.column != state.column:
            self.per_frame(new.path, new.column)
        if new.kind == "tag" and new.tag != state.tag:
            self.tags.index(new.tag)
        self._filters[filter_id] = new
        self._update_order()

    def enable_filter(self, filter_id: int, enabled: bool = True) -> None:
        self.update_filter(filter_id, enabled=enabled)

    def remove_filter(self, filter_id: int) -> None:
        self._filter(filter_id)
        del self._filters[filter_id]
        self._update_order()

    def clear_filters(self) -> None:
        self._filters.clear()
        self._update_order()

    def _add_filter(self, state: FilterState) -> int:
        state.id = self._next_filter_id
        self._next_filter_id += 1
        self._filters[state.id] = state
        self._update_order()
        return state.id

    def _filter(self, filter_id: int) -> FilterState:
        try:
            return self._filters[int(filter_id)]
        except (KeyError, TypeError, ValueError):
            raise ParameterError(f"there is no filter {filter_id}") from None

    # -- the display order ---------------------------------------------------------------------
    def _filter_mask(self, state: FilterState, n: int) -> tuple[np.ndarray, str]:
        if state.kind == "range":
            return range_filter(self.per_frame(state.path, state.column), state.lo, state.hi), ""
        tags = self.tags
        if state.tag not in tags.names:
            return np.ones(n, bool), f"tag '{state.tag}' does not exist"
        row = tags.members[tags.index(state.tag), :n]
        return (~row if state.invert else row.copy()), ""

    def _compute_order(self) -> np.ndarray:
        """The display order from sort and filters; updates every filter's yield."""
        n = self.n_frames
        masks = []
        for state in self._filters.values():
            mask, state.note = self._filter_mask(state, n)
            state.passed, state.total = int(np.count_nonzero(mask)), n
            if state.enabled and not state.note:
                masks.append(mask)
        sort = self._sort
        values = self.per_frame(sort.path, sort.column) if sort is not None else None
        order = display_order(n, values, masks, sort.descending if sort is not None else True)
        self._selection_yield = Yield(int(order.size), n)
        return order

    def _update_order(self, keep_frame: bool = False) -> None:
        """Recompute the display order and publish it. ``keep_frame`` keeps the selected frame
        even when it no longer passes (tag edits); otherwise the first shown frame is selected."""
        if self.stack is None:
            return
        order = self._compute_order()
        self.filters_changed.emit()
        if keep_frame:
            self._set_order(order)
        else:
            self.set_order(order)

    def _stack_key(self) -> tuple | None:
        """(source, stack path) of the current stack, the key of the per-stack order memory; the
        source as the real path of its file (or files), so a reload maps to the same key."""
        if self.source is None or self.stack_path is None:
            return None
        path = self.source.path
        files = tuple(path) if isinstance(path, (list, tuple)) else (path,)
        return tuple(os.path.realpath(str(p)) for p in files), self.stack_path

    def _order_for_new_stack(self, same_file: bool, n_changed: bool) -> np.ndarray:
        """The display order of a stack just shown (its tags already in place).

        Within one file, the sort and filters of the dataset being left are remembered; a
        dataset shown before gets its own back (those whose per-frame datasets still apply).
        Otherwise filters and sort carry over (reload, another dataset of the same length)
        while their datasets still apply, and are dropped when they cannot (another file, or
        another number of frames: then they stay remembered for the dataset they belong to)."""
        self._per_frame_cache.clear()
        left, key = self._order_key, self._stack_key()
        self._order_key = key
        if not same_file:
            self._order_memory.clear()  # remembered only while the source is open
        elif left is not None and left != key:
            self._order_memory[left] = (self._sort, {k: replace(f) for k, f in self._filters.items()})
        kept = self._order_memory.pop(key, None) if same_file and key is not None and left != key else None
        if kept is not None:
            self._sort, self._filters = kept[0], kept[1]
            self._check_order_datasets()
            restored = self._order_text()
            if restored:
                self.message.emit("info", f"{', '.join(restored)} of this dataset restored")
            return self._compute_order()
        if not same_file or n_changed:
            dropped = self._order_text()
            if same_file and dropped:
                where = left[1] if left is not None else "the previous dataset"
                self.message.emit("info", f"{', '.join(dropped)} do not apply to this dataset: kept for "
                                          f"'{where}', they come back when you return to it")
            self._filters = {k: f for k, f in self._filters.items() if f.kind == "tag" and same_file}
            self._sort = None
        self._check_order_datasets()
        return self._compute_order()

    def _order_text(self) -> list[str]:
        """The range filters and the sort, as the messages about them name them."""
        names = [f"filter on {f.label}" for f in self._filters.values() if f.kind == "range"]
        if self._sort is not None:
            names.append(f"sorting on {os.path.basename(self._sort.path)}")
        return names

    def _check_order_datasets(self) -> None:
        """Drop (with a warning) range filters and the sort whose per-frame dataset does not fit
        the current stack: missing, or of another length."""
        for fid, state in list(self._filters.items()):
            if state.kind == "range":
                try:
                    self.per_frame(state.path, state.column)
                except OwlxError as err:
                    self.message.emit("warning", f"filter on {state.label} removed: {err}")
                    del self._filters[fid]
        if self._sort is not None:
            try:
                self.per_frame(self._sort.path, self._sort.column)
            except OwlxError as err:
                self.message.emit("warning", f"sorting removed: {err}")
                self._sort = None
