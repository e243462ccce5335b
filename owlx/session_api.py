"""The scripting API of a :class:`~owlx.session.Session`: stacks, frames, tags by name, sphere
results as arrays and the sizing recipe, in a few calls (README "Scripting").

Part of :class:`owlx.session.Session` (a mixin, like :mod:`owlx.session_order` and
:mod:`owlx.session_results`). Everything here goes through the session's own methods and
objects, so in the GUI the window follows at once: a tag set here updates the tag squares and
the Tags panel, a fit marks the title unsaved (``*``). Nothing here imports Qt; the fitting code
is imported on first use.

Frame selections (``frames`` arguments) are frame indices (positions in the file, not in the
display order): one ``int``, a sequence of ints, or a boolean array with one entry per frame
(``table.fit_error > 0.3``). Negative indices count from the end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import numpy as np

from .errors import OwlxError, ParameterError
from .sphere_table import SphereTable

__all__ = ["ScriptingMixin", "frame_indices"]


def frame_indices(frames, n_frames: int, current: int | None = None) -> np.ndarray:
    """Frame indices (int64, in the order given, duplicates dropped) of a frame selection:
    None (``current``, the selected frame), an int, a sequence of ints or a boolean array of
    length ``n_frames``."""
    if frames is None:
        if current is None:
            raise ParameterError("no frame given and none is selected")
        frames = current
    arr = np.asarray(frames)
    if arr.dtype == bool:
        if arr.shape != (n_frames,):
            raise ParameterError(f"a boolean frame selection needs one entry per frame ({n_frames}), "
                                 f"got shape {arr.shape}")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise ParameterError(f"frames must be integer indices or a boolean array, got {arr.dtype}")
    idx = arr.astype(np.int64).ravel()
    bad = idx[(idx < -n_frames) | (idx >= n_frames)]
    if bad.size:
        raise ParameterError(f"frame {int(bad[0])} does not exist: the stack has {n_frames} frames "
                             f"(0–{n_frames - 1})")
    idx = np.where(idx < 0, idx + n_frames, idx)
    _, first = np.unique(idx, return_index=True)
    return idx[np.sort(first)]


def _print_progress(what: str) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r{what}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return progress


class ScriptingMixin:
    """Convenience calls for scripts, notebooks and the console (see the module docstring)."""

    # -- stacks and frames --------------------------------------------------------------------
    def stacks(self) -> list[str]:
        """Paths of every image dataset of the open file (stacks and single images), e.g.
        ``['/entry_1/image_1/data', '/entry_1/image_1/mask_shared']``; show one with
        :meth:`select_stack`. Walks the whole tree (fine for scripts, slow for 10⁵ objects)."""
        if self.source is None:
            raise OwlxError("no file is open")
        return [node.path for node in self.source.stacks()]

    def read_frames(self, frames=None) -> np.ndarray:
        """The raw frames of a frame selection (default: the display order) as one
        ``(k, ny, nx)`` array in the stack's native dtype (ADU for detector data). Reads every
        frame into memory: use :meth:`frames` to walk a large stack one frame at a time."""
        if self.stack is None:
            raise OwlxError("no stack is open")
        idx = np.asarray(self.order) if frames is None else frame_indices(frames, self.n_frames)
        out = np.empty((idx.size, *self.stack.frame_shape), dtype=self.stack.dtype)
        for k, i in enumerate(idx):
            out[k] = self.frame(int(i))
        return out

    # -- tags by name ---------------------------------------------------------------------------
    def tag(self, name: str, frames=None, on: bool = True) -> int:
        """Set (``on=True``) or clear tag ``name`` on ``frames`` (default: the selected frame) as
        one undoable step; returns how many frames changed. Setting a tag that does not exist
        creates it (next palette colour); clearing one raises :class:`~owlx.tags.TagError`.
        Example: ``session.tag("fail", table.fit_error > 0.3)``."""
        if self.stack is None:
            raise OwlxError("no stack is open")
        idx = frame_indices(frames, self.n_frames, self.frame_index)
        tags = self.tags
        if name not in tags.names:
            if not on:
                tags.index(name)  # raises TagError naming the existing tags
            tags.add(name)
        return tags.set_frames(name, idx, bool(on))

    def tagged(self, name: str) -> np.ndarray:
        """Frame indices (int64, ascending) carrying tag ``name``; unsaved edits included."""
        return self.tags.frames_with(name)

    # -- sphere results -------------------------------------------------------------------------
    def results(self) -> SphereTable:
        """The sphere results of the current stack as arrays, one entry per frame (a copy; call
        again after fitting). Units: nm, mJ/µm², px offsets from the array middle; see
        :class:`~owlx.sphere_table.SphereTable`."""
        model = self._require_model()
        return SphereTable.from_model_values(model.values, self.n_frames)

    def fit_job(self, frames=None, *, save: bool = False, n_threads: int = 1, start=None, **settings):
        """A :class:`~owlx.jobs.Job` that sizes ``frames`` (default: all frames of the stack)
        with the sphere recipe of Daurer et al. (spec/sphere.md), streaming each
        :class:`~owlx.core.sphere_records.SphereFitResult` into ``session.model``.

        Not started: run it with :func:`owlx.jobs.run_inline` (what :meth:`fit` does) or, in a
        script without a window, :func:`owlx.jobs.run_in_thread` (cancel with ``job.cancel()``).
        Records are applied to the session in the thread that runs the job, so a GUI must not
        run it on a worker thread as it is. ``settings`` override
        :class:`~owlx.core.sphere_records.FitSettings` fields (e.g. ``diameter_method="pixelwise"``,
        ``refine_iterations=0``); the rest come from ``model/`` > file geometry > the seed
        recipe. ``save`` writes the results into the file (or its sidecar) every 100 frames or
        5 s and at the end; otherwise call :meth:`save` when done. ``start`` is
        ``(cx px, cy px, diameter nm, fluence mJ/µm²)`` or a callable ``frame -> tuple``."""
        from dataclasses import fields

        from .core.sphere_records import FitSettings
        from .sizing import sizing_job

        model = self._require_model()
        unknown = sorted(set(settings) - {f.name for f in fields(FitSettings)})
        if unknown:  # a typo would otherwise surface as a TypeError from the dataclass
            raise ParameterError(f"unknown fit setting {', '.join(unknown)}; the settings are "
                                 f"{', '.join(f.name for f in fields(FitSettings))}")
        idx = None if frames is None else frame_indices(frames, self.n_frames)
        fit_settings = model.fit_settings(**settings)
        return sizing_job(self, None if idx is None else idx.tolist(), fit_settings, n_threads=n_threads,
                          write=save, start=start)

    def fit(self, frames=None, *, save: bool = False, n_threads: int = 1,
            progress: Callable[[int, int], None] | bool | None = None, start=None, **settings):
        """Size spheres now, in this thread (see :meth:`fit_job` for the arguments).

        ``frames`` an int: fits that frame and returns its
        :class:`~owlx.core.sphere_records.SphereFitResult` (diameter_nm, fluence_mJ_um2,
        center_x/center_y px offsets, error_ref, status…). Otherwise (default: every frame)
        returns the :class:`~owlx.core.sphere_recipe.BatchSummary` (n_ok, n_failed, elapsed_s).
        ``progress`` is ``progress(done, total)``, or True to print ``fit: done/total`` to stderr.
        Results are in ``session.model`` and :meth:`results` afterwards, unsaved unless
        ``save``. In the GUI console this runs on the window's thread: the window waits."""
        from .jobs import run_inline

        single = isinstance(frames, (int, np.integer))
        job = self.fit_job([int(frames)] if single else frames, save=save, n_threads=n_threads,
                           start=start, **settings)
        if progress is True:
            progress = _print_progress("fit")
        records: list = []
        outcome = run_inline(job, on_progress=progress or None, on_result=records.append)
        if single:
            if not records:
                raise OwlxError(f"frame {frames} was not fitted ({outcome.status})")
            return records[0]
        return outcome.value

    def _require_model(self):
        if self.stack is None:
            raise OwlxError("no stack is open")
        model = getattr(self, "model", None)
        if model is None:
            raise OwlxError("sphere results need an HDF5 file: this source has no model/ group")
        return model

    def tag_names(self) -> tuple[str, ...]:
        """The tag names of the current stack, in row order (keys 1–9 toggle rows 1–9)."""
        return self.tags.names

    def frames_with_tags(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> np.ndarray:
        """Frame indices (ascending) carrying every tag of ``include`` and none of ``exclude``:
        the selection of ``owlx results --include … --exclude …`` on the open stack."""
        tags = self.tags
        keep = np.ones(self.n_frames, bool)
        for name in include:
            keep &= tags.members[tags.index(name), :self.n_frames]
        for name in exclude:
            keep &= ~tags.members[tags.index(name), :self.n_frames]
        return np.flatnonzero(keep).astype(np.int64)
