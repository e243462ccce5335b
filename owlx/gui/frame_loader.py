"""Frame loading for the GUI: read, mask and render on workers, cache, prefetch.

The GUI thread never reads from disk (spec/viewer.md W6). A request for frame i is answered at
once from the cache when its rendered colour-index image is there; otherwise a high-priority
job reads the frame (and its mask), renders it with :func:`owlx.core.display.render` and hands
the result back through the queued ``frame_ready`` signal. After every delivery the
neighbouring frames in display order are prefetched at low priority. A new request cancels the
obsolete ones, so fast key repeat never builds a queue.

Big frames shown zoomed out are rendered as their preview alone (``render(…, full=False)``):
the full-resolution colour indices are made only while the view is zoomed in past the preview
(:attr:`FrameLoader.full_resolution`), or on request (:meth:`FrameLoader.request_full`) when the
user zooms in on a frame rendered without them.

Cache keys carry a stack token (new for every stack opened), so a reload or another dataset
never shows stale frames.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import astuple, dataclass, fields
from typing import Sequence

import numpy as np
from PyQt5 import QtCore

from ..core.display import DisplaySettings, MaskSettings, full_index, render
from ..core.preview import valid_preview
from ..frames import FrameCache
from ..io.buffers import frame_buffers
from ..io.maskbits import valid_from_bits
from ..io.source import Stack
from ..jobs import Job, JobContext
from .qt_jobs import QtJobRunner

_tokens = itertools.count(1)


@dataclass
class FrameResult:
    """A frame ready for display: raw values (for the readout), validity mask, rendering."""

    stack_token: int
    index: int
    raw: np.ndarray
    valid: np.ndarray | None
    rendered: object  # owlx.core.display.Rendered; rendered.index is None for a preview alone
    mask_raw: np.ndarray | None = None  # raw mask values (CXI bits) for the readout
    geometry: object = None  # this frame's Geometry (per-frame distance or energy), or None
    # The any-valid mask reduced like rendered.preview (owlx.core.preview), or None.
    valid_preview: np.ndarray | None = None
    # The shown image (preview, else the full index) through the colour table ``rgba_table``
    # as (h, w, 4) uint8, made on the worker: Qt paints RGBA in half the time of an indexed
    # image it must convert on every paint.
    rgba: np.ndarray | None = None
    rgba_table: np.ndarray | None = None

    @property
    def preview(self) -> np.ndarray | None:
        """Block maxima of the colour indices (owlx.core.preview), or None."""
        return self.rendered.preview

    @property
    def preview_step(self) -> int:
        return self.rendered.preview_step if self.rendered.preview is not None else 1

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) of the frame."""
        return tuple(self.raw.shape[:2])


class FrameLoader(QtCore.QObject):
    frame_ready = QtCore.pyqtSignal(object)  # FrameResult
    full_ready = QtCore.pyqtSignal(object)  # FrameResult whose full-resolution indices were just made
    load_failed = QtCore.pyqtSignal(int, str)  # frame index, message

    PRIMARY, PREFETCH = 10, 0  # thread-pool priorities

    def __init__(self, cache_mb: int = 1024, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.cache = FrameCache(cache_mb * 2**20, on_evict=_retire_raw)
        self.runner = QtJobRunner(max_threads=2, parent=self)
        self.stack: Stack | None = None
        self.mask_stack: Stack | None = None
        self.stack_token = 0
        self.display = DisplaySettings()
        self.mask = MaskSettings()
        self._render_key: tuple = ()
        self._shared_valid: tuple[tuple, np.ndarray | None] | None = None
        self._pending: dict[int, Job] = {}
        self._mask_token = 0
        # Held around every read: a save closes and reopens the file while holding it (the
        # session's io_lock), and a new stack then replaces this one before the lock is free.
        self.io_lock: threading.RLock = threading.RLock()
        # Optional ``f(frame) -> Geometry``: per-frame wavelength/distance for the readout, read
        # here on the worker rather than on the GUI thread.
        self.geometry_for = None
        self._wanted: int | None = None
        self._neighbours: list[int] = []  # what to prefetch once the wanted frame arrives
        # Frames are also reduced by this step for the zoomed-out view (set from the view size;
        # results keep the step they were made with, so a resize does not throw renders away).
        self.preview_step = 1
        self.colour_table: np.ndarray | None = None  # (256, 4) uint8; None: the GUI applies it
        self._shared_preview: tuple[tuple, np.ndarray | None] | None = None
        # True while the view is zoomed in past the preview: render full-resolution indices too.
        self.full_resolution = False
        self._pending_full: dict[int, Job] = {}

    # -- configuration (GUI thread) -----------------------------------------------------------
    def set_stack(self, stack: Stack | None, mask_stack: Stack | None = None) -> None:
        self._cancel_pending()
        self.stack, self.mask_stack = stack, mask_stack
        self.stack_token = next(_tokens)
        self._shared_valid = None
        self._shared_preview = None
        self.cache.clear()
        # Pooled buffers of another frame size would only hold memory (owlx.io.buffers).
        shape = getattr(stack, "frame_shape", None) if stack is not None else None
        frame_buffers.keep_only(shape, stack.dtype if shape is not None else None)
        self._update_render_key()

    def drop_frames(self) -> None:
        """The current stack's frames changed in place (another index on an extra axis, see
        ``Hdf5Stack.extra_index``): forget its raw frames and renders so that every frame is
        read again. A new stack token makes reads still in flight land nowhere: their results
        carry the old token, which :meth:`_put` and :meth:`_finished` ignore."""
        self._cancel_pending()
        self.stack_token = next(_tokens)
        self._shared_valid = None
        self._shared_preview = None
        self.cache.clear()
        self._update_render_key()

    def swap_readers(self, stack: Stack, mask_stack: Stack | None = None) -> None:
        """The same frames through new reader objects (a save closed and reopened the file):
        reads pending on the old readers are dropped, the cached frames and renders stay."""
        self._cancel_pending()
        self.stack, self.mask_stack = stack, mask_stack

    def set_mask_stack(self, mask_stack: Stack | None) -> None:
        """Use another mask dataset: renders change (percentiles exclude masked pixels), the
        raw frames stay cached."""
        self._cancel_pending()
        self.mask_stack = mask_stack
        self._shared_valid = None
        self._shared_preview = None
        self._mask_token = next(_tokens)
        self._update_render_key()
        self.cache.discard(lambda k: k[0] == "render")

    def set_render_settings(self, display: DisplaySettings, mask: MaskSettings) -> bool:
        """Use new settings; returns True when that changes the rendered images."""
        old_key = self._render_key
        self.display, self.mask = display, mask
        self._update_render_key()
        if self._render_key == old_key:
            return False
        self._cancel_pending()
        # Rendered images of the old settings are dead weight; raw frames stay cached.
        self.cache.discard(lambda k: k[0] == "render")
        return True

    def set_cache_mb(self, mb: int) -> None:
        self.cache.resize(int(mb) * 2**20)

    def _update_render_key(self) -> None:
        # Only what changes the colour-index image: mask colour and opacity are applied by the
        # overlay, so changing them must not throw the cached renders away.
        m = self.mask
        self._render_key = (
            self.stack_token, self._mask_token, astuple(self.display), (m.enabled, m.out_bits, m.invert)
        )

    # -- requests (GUI thread) ----------------------------------------------------------------
    def request(self, index: int, neighbours: Sequence[int] = ()) -> bool:
        """Ask for frame ``index``; prefetch ``neighbours`` afterwards. Returns True when the
        frame was delivered synchronously from the cache."""
        if self.stack is None:
            return False
        self._wanted = index
        for i, job in list(self._pending.items()):
            if i != index and i not in neighbours:
                job.cancel()
                del self._pending[i]
        hit = self.cache.get(("render", self._render_key, index))
        if hit is not None:
            self.frame_ready.emit(hit)
            self._prefetch(neighbours)
            return True
        if index not in self._pending:
            self._submit(index, self.PRIMARY)
        self._neighbours = list(neighbours)
        return False

    def _prefetch(self, neighbours: Sequence[int]) -> None:
        for i in neighbours:
            if i in self._pending or ("render", self._render_key, i) in self.cache:
                continue
            self._submit(i, self.PREFETCH)

    def _submit(self, index: int, priority: int) -> None:
        stack, mask_stack, key = self.stack, self.mask_stack, self._render_key
        display, mask, step, table = self.display, self.mask, self.preview_step, self.colour_table
        full = self.full_resolution

        def work(ctx: JobContext) -> FrameResult:
            ctx.check()
            return self._load(stack, mask_stack, key, display, mask, index, ctx, step, table, full)

        job = Job(work, name=f"frame {index}")
        self._pending[index] = job
        self.runner.submit(
            job,
            quiet=True,
            priority=priority,
            on_finished=lambda outcome, i=index, k=key, j=job: self._finished(i, k, j, outcome),
        )

    def _cancel_pending(self) -> None:
        for job in (*self._pending.values(), *self._pending_full.values()):
            job.cancel()
        self._pending.clear()
        self._pending_full.clear()
        self._wanted = None

    # -- worker side --------------------------------------------------------------------------
    def _mask_for(self, mask_stack: Stack | None, mask: MaskSettings, index: int):
        """(raw mask, valid mask) of a frame; a shared mask is read and converted once."""
        if mask_stack is None:
            return None, None
        if len(mask_stack) == 1:
            # id() alone could be reused by a later mask stack once this one is freed
            key = (id(mask_stack), self._mask_token, self.stack_token, mask.out_bits, mask.invert, mask.enabled)
            cached = self._shared_valid
            if cached is not None and cached[0] == key:
                return cached[1]
            raw = mask_stack[0]
            pair = (raw, valid_from_bits(raw, mask.out_bits, mask.invert) if mask.enabled else None)
            self._shared_valid = (key, pair)  # a benign race: both workers compute the same pair
            return pair
        raw = mask_stack[index]
        return raw, valid_from_bits(raw, mask.out_bits, mask.invert) if mask.enabled else None

    def _valid_preview(self, valid: np.ndarray | None, step: int) -> np.ndarray | None:
        if valid is None:
            return None
        cached = self._shared_preview  # a shared mask: reduce it once per step
        if cached is not None and cached[0][0] is valid and cached[0][1] == step:
            return cached[1]
        small = valid_preview(valid, step)
        if self._shared_valid is not None and self._shared_valid[1][1] is valid:
            self._shared_preview = ((valid, step), small)
        return small

    def _load(self, stack, mask_stack, key, display, mask, index, ctx: JobContext, step: int = 1,
              table: np.ndarray | None = None, full: bool = True) -> FrameResult:
        raw_key = ("raw", key[0], index)
        with self.io_lock:
            ctx.check()  # a save may have replaced the stack while this job waited for the lock
            raw = self.cache.get(raw_key)
            if raw is None:
                raw = stack[index]
                self._put(raw_key, raw)
            mask_raw, valid = self._mask_for(mask_stack, mask, index)
            geometry = self.geometry_for(index) if self.geometry_for is not None else None
        ctx.check()
        rendered = render(raw, valid, display, step, full)
        # The float copy of converted frames is not needed for display: do not keep it cached.
        rendered.real = None
        result = FrameResult(key[0], index, raw, valid, rendered, mask_raw, geometry)
        if rendered.preview is not None:
            result.valid_preview = self._valid_preview(valid, step)
        if table is not None and (rendered.index is None or rendered.index.ndim == 2):
            shown = rendered.preview if rendered.preview is not None else rendered.index
            result.rgba, result.rgba_table = np.take(table, shown, axis=0), table
        self._put(("render", key, index), _RenderEntry(result))
        return result

    def _put(self, key: tuple, value) -> None:
        """Cache ``value`` unless its stack was replaced meanwhile: a job cancelled after its
        last check still finishes, and its frames would only crowd out the new stack's."""
        token = key[1][0] if key[0] == "render" else key[1]
        if token == self.stack_token:
            self.cache.put(key, value)

    def request_full(self, result: FrameResult) -> bool:
        """Make the full-resolution indices of ``result`` (rendered as a preview alone) on a
        worker; :attr:`full_ready` brings it back. False when there is nothing to do."""
        if result.rendered.index is not None or result.stack_token != self.stack_token:
            return False
        if result.index in self._pending_full:
            return True
        key = self._render_key

        def work(ctx: JobContext) -> np.ndarray:
            ctx.check()
            return full_index(result.raw, result.rendered)

        job = Job(work, name=f"frame {result.index} at full resolution")
        self._pending_full[result.index] = job
        self.runner.submit(job, quiet=True, priority=self.PRIMARY,
                           on_finished=lambda outcome, r=result, k=key, j=job: self._full_finished(r, k, j, outcome))
        return True

    def _full_finished(self, result: FrameResult, key: tuple, job: Job, outcome) -> None:
        if self._pending_full.get(result.index) is job:
            del self._pending_full[result.index]
        if outcome.status != "done" or key != self._render_key:
            return
        result.rendered.index = outcome.value
        cache_key = ("render", key, result.index)
        entry = self.cache.get(cache_key)
        if entry is not None and entry.rendered is result.rendered:
            self.cache.put(cache_key, entry)  # count the new array against the budget
        self.full_ready.emit(result)

    # -- delivery (GUI thread) ----------------------------------------------------------------
    def _finished(self, index: int, key: tuple, job: Job, outcome) -> None:
        if self._pending.get(index) is job:
            del self._pending[index]
        if outcome.status == "failed":
            if index == self._wanted and key == self._render_key:
                self.load_failed.emit(index, str(outcome.error))
            return
        if outcome.status != "done" or key != self._render_key:
            return
        if index == self._wanted:
            self.frame_ready.emit(outcome.value)
            self._prefetch(self._neighbours)

    def shutdown(self) -> None:
        self._cancel_pending()
        self.runner.shutdown(500)


def _retire_raw(key, value) -> None:
    """Raw frames the cache drops go back to the readers' buffer pool (owlx.io.buffers), which
    reuses them once nothing else holds them: no page faults for the next big frame."""
    if key[0] == "raw":
        frame_buffers.retire(value)


class _RenderEntry(FrameResult):
    """Cache wrapper counting every array the entry keeps alive. The raw frame is counted here
    and in its own entry: conservative, so the cache never exceeds its budget."""

    def __init__(self, result: FrameResult):
        super().__init__(**{f.name: getattr(result, f.name) for f in fields(FrameResult)})

    @property
    def nbytes(self) -> int:
        arrays = (self.rendered.index, self.raw, self.valid, self.mask_raw, self.rendered.preview,
                  self.valid_preview, self.rgba)
        return sum(int(a.nbytes) for a in arrays if a is not None)
