"""Per-frame Patterson parameters of one result group, as a session result provider.

:class:`PattersonResults` holds Owl's seven per-frame parameters (formats.md §2.4) for the N
frames of a stack and the last frame a map was requested for (``_pattersonImg``). It is a
:class:`owlx.session_results.ResultProvider`: the group ``<group>/patterson/`` is written by
:meth:`Session.save` only when a parameter was changed (viewer.md A2), and then only the frames
changed since the last save (new datasets get all N values). Requesting a map alone changes
nothing on disk.

Reading is lazy: creating the object touches no file, :meth:`load` reads the data file and then
the sidecar (a dataset present in the sidecar wins, §2.7). The GUI calls :meth:`load` inside the
job that computes the first map, so the GUI thread never reads (W6); scripts get it on first use.

:func:`attach_patterson` gives a session a ``patterson`` attribute that follows its current
stack, like ``session.model`` (:mod:`owlx.session_model`).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from owlx.core.patterson import PattersonParams
from owlx.io import sidecar as sc
from owlx.io.patterson_h5 import PER_FRAME_DEFAULTS, plan_patterson, read_patterson
from owlx.io.results import data_file, result_group, sidecar_base
from owlx.io.writeplan import WritePlan

__all__ = ["PattersonResults", "attach_patterson"]


class PattersonResults:
    """The Patterson parameters of result group ``group`` over ``n_frames`` frames.

    ``data_path`` (HDF5 data file) and ``sidecar_path`` are read by :meth:`load`; either may be
    None. ``values[name]`` are float64 arrays of length N under Owl's names.
    """

    def __init__(self, group: str, n_frames: int, data_path: str | None = None,
                 sidecar_path: str | None = None, swmr: bool = False):
        self.group = group
        self.n_frames = int(n_frames)
        self.data_path, self.sidecar_path, self.swmr = data_path, sidecar_path, swmr
        self.values = {name: np.full(self.n_frames, v) for name, v in PER_FRAME_DEFAULTS.items()}
        self.last_frame = -1
        self.present: set[str] = set()  # per-frame datasets found on disk
        self.warnings: list[str] = []
        self.loaded = False
        self._load_lock = threading.Lock()
        self._pending = np.zeros(self.n_frames, dtype=bool)

    # -- reading -------------------------------------------------------------------------------
    def load(self) -> PattersonResults:
        """Read the saved parameters once (data file, then sidecar); later calls do nothing.
        Safe to call from a worker thread."""
        with self._load_lock:
            if self.loaded:
                return self
            for path, is_side in ((self.data_path, False), (self.sidecar_path, True)):
                if path is None or not os.path.isfile(path):
                    continue
                read = read_patterson(path, self.group, self.n_frames, swmr=self.swmr and not is_side)
                self.warnings += read.warnings
                for name, arr in read.values.items():
                    if self._pending.any():  # edited before loading (scripts): keep the edits
                        arr = np.where(self._pending[:arr.size], self.values[name][:arr.size], arr)
                    self.values[name][:arr.size] = arr
                    self.present.add(name)
                if read.last_frame is not None:
                    self.last_frame = read.last_frame
            self.loaded = True
        return self

    # -- parameters ----------------------------------------------------------------------------
    def params(self, frame: int) -> PattersonParams:
        """The parameters of ``frame`` (loading them first if needed)."""
        self.load()
        i = self._check(frame)
        return PattersonParams.from_owl({name: arr[i] for name, arr in self.values.items()})

    def set_params(self, frame: int, params: PattersonParams) -> bool:
        """Give ``frame`` new parameters; True when anything changed (then the group is saved)."""
        self.load()
        i = self._check(frame)
        params.validate()
        changed = False
        for name, value in params.to_owl().items():
            if self.values[name][i] != value:
                self.values[name][i] = value
                changed = True
        if changed:
            self._pending[i] = True
        return changed

    def request(self, frame: int) -> None:
        """Remember ``frame`` as the last one a map was requested for (``_pattersonImg``). Not
        a change: it is written only together with changed parameters."""
        self.last_frame = self._check(frame)

    def resize(self, n_frames: int) -> None:
        """Follow a growing stack (live mode): new frames get the defaults."""
        n = int(n_frames)
        if n <= self.n_frames:
            return
        for name, arr in self.values.items():
            grown = np.full(n, PER_FRAME_DEFAULTS[name])
            grown[:arr.size] = arr
            self.values[name] = grown
        self._pending = np.concatenate([self._pending, np.zeros(n - self.n_frames, bool)])
        self.n_frames = n

    def _check(self, frame: int) -> int:
        i = int(frame)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {frame} is outside 0…{self.n_frames - 1}")
        return i

    @property
    def changed_frames(self) -> np.ndarray:
        """Frames whose parameters changed since the last save."""
        return np.flatnonzero(self._pending)

    # -- the provider protocol -----------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._pending.any())

    def groups(self):
        if self.dirty or self.present:
            return [(self.group, self.n_frames)]
        return []

    def contribute(self, plan: WritePlan, group: str, n_frames: int, full: bool) -> None:
        if group != self.group or not (self.dirty or (full and self.present)):
            return
        self.resize(n_frames)
        written = None if full else self._pending
        plan_patterson(plan, group, self.values, self.last_frame, frames_written=written)

    def mark_saved(self) -> None:
        if self.dirty:
            self.present.update(PER_FRAME_DEFAULTS)
        self._pending[:] = False


def _key(session):
    data = data_file(session.source)
    return (os.path.realpath(data) if data else None, result_group(session.source, session.stack.path))


def attach_patterson(session) -> None:
    """Give ``session`` a ``patterson`` attribute (a :class:`PattersonResults`, or None while
    nothing is open) that follows the current stack and takes part in saves. Idempotent."""
    if hasattr(session, "_pattersons"):
        return
    session.patterson = None
    session._pattersons = {}
    session.stack_changed.connect(lambda path, s=session: _on_stack(s, path))
    if session.stack is not None:
        _on_stack(session, session.stack_path)


def _on_stack(session, path) -> None:
    if path is None or session.source is None or session.stack is None:
        for p in session._pattersons.values():
            _remove(session, p)
        session._pattersons.clear()
        session.patterson = None
        session.results_edited()
        return
    key = _key(session)
    for k in [k for k in session._pattersons if k[0] != key[0]]:  # another file: forget the old one
        _remove(session, session._pattersons.pop(k))
    kept = session._pattersons.get(key)
    if kept is not None and kept.dirty and kept.n_frames <= session.n_frames:
        kept.resize(session.n_frames)
        session.patterson = kept
        return
    if kept is not None:
        _remove(session, session._pattersons.pop(key))
    base = sidecar_base(session.source)
    side = session.sidecar_path or (sc.find_sidecar(base) if base else None)
    results = PattersonResults(key[1], session.n_frames, data_file(session.source), side,
                               swmr=bool(session.source.swmr))
    session._pattersons[key] = results
    session.patterson = results
    session.add_result_provider(results)


def _remove(session, results) -> None:
    if results in session._providers:
        session._providers.remove(results)

