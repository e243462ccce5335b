"""``session.model``: the sphere results of the current stack (a :class:`ModelResults`).

:func:`attach_model` is called once by :class:`owlx.session.Session`. Whenever another stack
becomes current, the model of its result group is read from the data file (and sidecar) and
registered as a result provider, so it joins :meth:`Session.save` and :attr:`Session.dirty`.
Unsaved models are kept per (file, group) like tag sets, so switching datasets loses nothing.
HDF5 sources get a model; other sources (EDF, TIFF, in-memory arrays) have ``session.model``
None for now.
"""

from __future__ import annotations

import os

import numpy as np

from owlx.io import sidecar as sc
from owlx.io.results import data_file, result_group, sidecar_base
from owlx.model_results import ModelResults


def attach_model(session) -> None:
    """Give ``session`` a ``model`` attribute that follows its current stack."""
    session.model = None
    session._models = {}
    session.stack_changed.connect(lambda path, s=session: _on_stack(s, path))


def model_for(source, stack, geometry=None, sidecar: str | None = None) -> ModelResults | None:
    """Read the model of ``stack``'s result group in ``source`` (None for non-HDF5 sources)."""
    path = data_file(source)
    if path is None:
        return None
    group = result_group(source, stack.path)
    base = sidecar_base(source)
    side = sidecar or (sc.find_sidecar(base) if base else None)
    return ModelResults(group, len(stack), path, side, geometry=geometry,
                        adu_per_photon=_adu_per_photon(source, stack.path), swmr=bool(source.swmr))


def _adu_per_photon(source, path: str) -> float | None:
    try:
        value = source.node(path).attrs.get("adu_per_photon")
        value = float(np.asarray(value).ravel()[0]) if value is not None else None
        return value if value is not None and np.isfinite(value) and value > 0 else None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError):
        return None


def _on_stack(session, path) -> None:
    old = session.model
    if path is None or session.source is None or session.stack is None:
        _drop_all(session)
        return
    data = data_file(session.source)
    key = (os.path.realpath(data) if data else None, result_group(session.source, session.stack.path))
    # another file: forget the previous file's models
    for k in [k for k in session._models if k[0] != key[0]]:
        _remove(session, session._models.pop(k))
    kept = session._models.get(key)
    if kept is not None and kept.dirty and kept.n_frames <= session.n_frames:
        kept._resize(session.n_frames)
        session.model = kept
        return
    if kept is not None:
        _remove(session, session._models.pop(key))
    try:
        model = model_for(session.source, session.stack, session.geometry, session.sidecar_path)
    except Exception as err:  # noqa: BLE001 - a model that cannot be read must not stop the open
        session.message.emit("warning", f"the sphere model could not be read: {err}")
        model = None
    session.model = model
    if model is None:
        return
    for w in model.warnings:
        session.message.emit("warning", w)
    session._models[key] = model
    session.add_result_provider(model)
    del old


def _remove(session, model) -> None:
    if model in session._providers:
        session._providers.remove(model)


def _drop_all(session) -> None:
    for model in session._models.values():
        _remove(session, model)
    session._models.clear()
    session.model = None
    session.results_edited()
