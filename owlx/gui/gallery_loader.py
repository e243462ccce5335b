"""Thumbnail loading for the gallery: read, mask, downsample, level and map on workers, cache
by bytes, cancel what scrolled away (spec/viewer.md G4, G5, W6).

The gallery asks for exactly the cells it shows (:meth:`GalleryLoader.request`); every other
pending request is cancelled, so a fast scroll never builds a queue of frames nobody looks at.
A job reads the frame (or takes it from the single view's raw-frame cache when one is shared),
block-max downsamples it to the cell's device-pixel size with the full frame's statistics
(:func:`owlx.core.thumbnail.downsample_frame`), computes the full frame's display levels
(:func:`owlx.core.display.compute_levels`, the same levels the single view uses) and maps the
thumbnail to colour indices.

The cache keeps three kinds of entries, so that most display changes need no disk read:

* ``base``: the downsampled values, blocks masked and frame statistics — independent of the
  display settings;
* ``levels``: (lo, hi) of a frame under given level units and values;
* ``thumb``: the finished colour-index thumbnail under one :class:`ThumbSpec`.

Changing the norm, γ or clamp, toggling "Lock levels" or selecting another frame while it is on
re-maps cached bases on a worker without reading; only new level units/values with relative
units, a new mask or a new cell size go back to the frame.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace

import numpy as np
from PyQt5 import QtCore

from ..core.display import DisplaySettings, MaskSettings, compute_levels
from ..core.thumbnail import ThumbnailBase, downsample_frame, thumbnail_index
from ..frames import FrameCache
from ..io.buffers import frame_buffers
from ..io.maskbits import valid_from_bits
from ..io.source import Stack
from ..jobs import Job, JobContext
from .qt_jobs import QtJobRunner

# Raw frames up to this size go into the single view's cache when a thumbnail reads them (the
# user often opens the frame next); bigger ones are not worth the frames they would evict.
SHARED_RAW_MAX_BYTES = 16 * 2**20

_tokens = itertools.count(1)


@dataclass(frozen=True)
class ThumbSpec:
    """Everything besides the frame and the cell size that a thumbnail's pixels depend on
    (hashable: it is part of the cache keys). ``locked``: (lo, hi) in data units that every
    cell uses ("Lock levels", G5), or None for each frame's own levels."""

    token: int
    mask_key: tuple
    complex_mode: str
    levels: tuple  # (lo_unit, lo, hi_unit, hi)
    norm: str
    gamma: float
    clamp: bool
    locked: tuple | None = None

    @classmethod
    def from_settings(cls, token: int, mask_key: tuple, d: DisplaySettings) -> ThumbSpec:
        return cls(token, mask_key, d.complex_mode, (d.lo_unit, d.lo, d.hi_unit, d.hi), d.norm,
                   d.gamma, d.clamp)

    @property
    def relative(self) -> bool:
        """True when the levels depend on each frame (% range or percentile units)."""
        return self.levels[0] != "value" or self.levels[2] != "value"

    @property
    def settings(self) -> DisplaySettings:
        lo_unit, lo, hi_unit, hi = self.levels
        return DisplaySettings(norm=self.norm, gamma=self.gamma, lo_unit=lo_unit, lo=lo, hi_unit=hi_unit,
                               hi=hi, clamp=self.clamp, complex_mode=self.complex_mode)

    def base_key(self, frame: int, shape: tuple) -> tuple:
        return ("base", self.token, self.mask_key, self.complex_mode, frame, shape)

    def levels_key(self, frame: int) -> tuple:
        return ("levels", self.token, self.mask_key, self.complex_mode, self.levels, frame)

    def thumb_key(self, frame: int, shape: tuple) -> tuple:
        return ("thumb", self, frame, shape)


@dataclass(frozen=True)
class Thumbnail:
    """A cell's picture: ``index`` (th, tw) uint8 colour indices, or (th, tw, 3|4) uint8 RGB(A),
    the ``base`` it was mapped from (block maxima, masked blocks, full-frame statistics) and the
    levels (lo, hi) used, in data units."""

    frame: int
    index: np.ndarray
    base: ThumbnailBase
    lo: float
    hi: float

    @property
    def nbytes(self) -> int:
        # The base is also cached on its own: counted twice, so the budget is never exceeded.
        return int(self.index.nbytes) + self.base.nbytes


@dataclass(frozen=True)
class Request:
    """One wanted result: the thumbnail of ``frame`` at ``shape``, or with ``shape`` None only
    the frame's levels (for "Lock levels" when the selected frame is not on screen)."""

    frame: int
    shape: tuple | None
    spec: ThumbSpec

    @property
    def key(self) -> tuple:
        s = self.spec
        return s.thumb_key(self.frame, self.shape) if self.shape else s.levels_key(self.frame)


class GalleryLoader(QtCore.QObject):
    """Runs thumbnail jobs for the gallery and caches their results.

    Signals (GUI thread): ``ready(key, value)`` with a :class:`Thumbnail` or, for a levels
    request, the (lo, hi) tuple; ``failed(key, message)``.
    """

    ready = QtCore.pyqtSignal(object, object)
    failed = QtCore.pyqtSignal(object, str)

    def __init__(self, cache_mb: int = 256, threads: int | None = None, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.cache = FrameCache(cache_mb * 2**20)
        # Its own pool: the gallery's many small jobs must not queue behind the single view's.
        n = threads or max(2, min(4, QtCore.QThread.idealThreadCount()))
        self.runner = QtJobRunner(max_threads=n, parent=self)
        self.stack: Stack | None = None
        self.mask_stack: Stack | None = None
        self.display = DisplaySettings()
        self.mask = MaskSettings()
        self.token = 0
        self._mask_token = 0
        self._shared_valid: tuple[tuple, np.ndarray | None] | None = None
        self._valid_lock = threading.Lock()
        self.io_lock: threading.RLock = threading.RLock()  # the window sets session.io_lock
        self._pending: dict[tuple, Job] = {}
        self._raw_cache: FrameCache | None = None
        self._raw_key: Callable[[int], Hashable] | None = None

    # -- configuration (GUI thread) -------------------------------------------------------------
    def set_stack(self, stack: Stack | None, mask_stack: Stack | None = None) -> None:
        self.cancel_all()
        self.stack, self.mask_stack = stack, mask_stack
        self.token = next(_tokens)
        self._shared_valid = None
        self.cache.clear()

    def swap_readers(self, stack: Stack, mask_stack: Stack | None = None) -> None:
        """The same data through new reader objects (a save closed and reopened the file):
        pending reads of the old ones are dropped, cached thumbnails stay valid."""
        self.cancel_all()
        self.stack, self.mask_stack = stack, mask_stack

    def set_mask_stack(self, mask_stack: Stack | None) -> None:
        self.cancel_all()
        self.mask_stack = mask_stack
        self._mask_token = next(_tokens)
        self._shared_valid = None

    def set_settings(self, display: DisplaySettings, mask: MaskSettings) -> None:
        """Display and mask settings of the thumbnails requested from now on. Cached results
        of other settings stay (their keys differ), so switching back costs nothing."""
        self.display, self.mask = display, mask

    def spec(self, locked: tuple | None = None) -> ThumbSpec:
        """The spec of thumbnails under the current stack and settings, with every cell at the
        levels ``locked`` (ignored unless a level unit is relative) or at its own levels."""
        m = self.mask
        mask_key = (self._mask_token, m.enabled, int(m.out_bits), m.invert) if self.mask_stack is not None else ()
        spec = ThumbSpec.from_settings(self.token, mask_key, self.display)
        return replace(spec, locked=tuple(locked) if locked is not None and spec.relative else None)

    def share_raw_cache(self, cache: FrameCache | None, key: Callable[[int], Hashable] | None = None) -> None:
        """Look raw frames up in (and add them to) another cache, normally the single view's,
        under ``key(frame)``; the key is taken on the GUI thread when a job is submitted, so a
        job never files a frame under a newer stack's key. Also lets the info overlay show the
        full-resolution value under the cursor."""
        self._raw_cache, self._raw_key = (cache, key) if cache is not None else (None, None)

    def set_cache_mb(self, mb: int) -> None:
        self.cache.resize(int(mb) * 2**20)

    # -- lookups (GUI thread) -------------------------------------------------------------------
    def cached(self, key: tuple):
        return self.cache.get(key)

    def raw_frame(self, frame: int) -> np.ndarray | None:
        """The full-resolution frame when the shared raw cache holds it, else None."""
        if self._raw_cache is None:
            return None
        return self._raw_cache.get(self._raw_key(frame))

    @property
    def pending(self) -> set[tuple]:
        return set(self._pending)

    # -- requests (GUI thread) ------------------------------------------------------------------
    def request(self, wanted: Iterable[Request], priority: int = 0) -> None:
        """Make ``wanted`` (in order of importance) the only requests in flight: cancel every
        other pending job and submit the wanted ones that are neither pending nor cached."""
        wanted = list(wanted)
        keys = {r.key for r in wanted}
        for key in [k for k in self._pending if k not in keys]:
            self._pending.pop(key).cancel()
        for r in wanted:
            if self.stack is None or r.key in self._pending or r.key in self.cache:
                continue
            self._submit(r, priority)

    def cancel_all(self) -> None:
        for job in self._pending.values():
            job.cancel()
        self._pending.clear()

    def _submit(self, r: Request, priority: int) -> None:
        stack, mask_stack, mask = self.stack, self.mask_stack, self.mask
        raw_key = self._raw_key(r.frame) if self._raw_cache is not None else None
        raw_cache = self._raw_cache

        def work(ctx: JobContext):
            return self._compute(r, stack, mask_stack, mask, raw_cache, raw_key, ctx)

        job = Job(work, name=f"thumbnail {r.frame}")
        self._pending[r.key] = job
        self.runner.submit(job, quiet=True, priority=priority,
                           on_finished=lambda outcome, key=r.key, j=job: self._finished(key, j, outcome))

    def _finished(self, key: tuple, job: Job, outcome) -> None:
        if self._pending.get(key) is job:
            del self._pending[key]
        if outcome.status == "done":
            self.ready.emit(key, outcome.value)
        elif outcome.status == "failed":
            self.failed.emit(key, str(outcome.error))

    def shutdown(self, msecs: int = 5000) -> None:
        self.cancel_all()
        self.runner.wait(msecs)

    # -- worker side ----------------------------------------------------------------------------
    def _valid(self, mask_stack: Stack | None, mask: MaskSettings, frame: int) -> np.ndarray | None:
        """Validity of a frame's pixels; a shared mask (one frame for all) is converted once."""
        if mask_stack is None or not mask.enabled:
            return None
        if len(mask_stack) != 1:
            return valid_from_bits(mask_stack[frame], mask.out_bits, mask.invert)
        key = (id(mask_stack), mask.out_bits, mask.invert)
        with self._valid_lock:  # held across the read, so concurrent workers read it only once
            cached = self._shared_valid
            if cached is None or cached[0] != key:
                cached = (key, valid_from_bits(mask_stack[0], mask.out_bits, mask.invert))
                self._shared_valid = cached
        return cached[1]

    def _compute(self, r: Request, stack, mask_stack, mask, raw_cache, raw_key, ctx: JobContext):
        spec, frame, shape = r.spec, r.frame, r.shape
        if shape is not None:
            hit = self.cache.get(r.key)
            if hit is not None:
                return hit
        base = self.cache.get(spec.base_key(frame, shape)) if shape is not None else None
        levels = spec.locked or self.cache.get(spec.levels_key(frame))
        if levels is None and not spec.relative:
            _, lo, _, hi = spec.levels  # value units: the same for every frame, nothing to read
            levels = (float(lo), float(hi))
        if (shape is not None and base is None) or levels is None:
            # The session's io_lock: a save closes and reopens the file while holding it, and a
            # job whose stack was replaced meanwhile is cancelled before it reads.
            with self.io_lock:
                ctx.check()  # a request dropped while queued stops here, before touching the disk
                raw = raw_cache.get(raw_key) if raw_cache is not None else None
                kept = raw is not None
                if raw is None:
                    raw = stack[frame]
                    # Big frames (64 MB at 4096²) would push the single view's frames out of the
                    # shared cache for a thumbnail's sake: they are only borrowed.
                    if raw_cache is not None and raw.nbytes <= SHARED_RAW_MAX_BYTES:
                        raw_cache.put(raw_key, raw)
                        kept = True
                valid = self._valid(mask_stack, mask, frame)
            ctx.check()
            if shape is not None and base is None:
                base = downsample_frame(raw, valid, shape, spec.complex_mode)
                self.cache.put(spec.base_key(frame, shape), base)
            if levels is None:
                levels = _frame_levels(raw, valid, spec, base)
                self.cache.put(spec.levels_key(frame), levels)
            if not kept:
                frame_buffers.retire(raw)  # the next big read reuses it (owlx.io.buffers)
            del raw
        if shape is None:
            return levels
        lo, hi = levels
        thumb = Thumbnail(frame, thumbnail_index(base, lo, hi, spec.settings), base, lo, hi)
        self.cache.put(r.key, thumb)
        return thumb


def _frame_levels(raw: np.ndarray, valid, spec: ThumbSpec, base: ThumbnailBase | None) -> tuple:
    """(lo, hi) of the full frame, exactly as the single view computes them."""
    if raw.ndim == 3:  # RGB(A): shown as colour, levels unused
        return (0.0, 255.0)
    stats = base.stats if base is not None else None
    return tuple(float(v) for v in compute_levels(raw, valid, spec.settings, stats=stats))
