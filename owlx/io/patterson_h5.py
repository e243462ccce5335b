"""Owl's ``<group>/patterson/`` parameters on disk (formats.md §2.4).

Layout (as Owl wrote it, FXIhub/owl parameters.py ``PattersonItem``): one per-frame dataset per
parameter in the per-frame layout of §2.3 (float64 (N,), chunks (10000,), maxshape (None,),
``axes = [b"experiment_identifier"]``, ``numEvents = [N]``): ``imageThreshold`` (30),
``maskSmooth`` (5), ``maskThreshold`` (0.2), ``darkfield`` (0.0/1.0), ``darkfieldX`` (0),
``darkfieldY`` (0), ``darkfieldSigma`` (100); and one general dataset ``_pattersonImg``
(int64 (1,), default −1), the last frame whose map was requested. The map itself is never
written.

Reading takes ``ds[:N]`` of each per-frame dataset (Owl padded them to a multiple of 10 000;
frames missing from a short dataset keep the default) and ``ds[0]`` of ``_pattersonImg``.
Writing is planned with :class:`~owlx.io.writeplan.WritePlan`, which enforces the write rules
of §2.5 (never shrink, types must fit, entries ≥ N untouched).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from owlx.io.results import open_read
from owlx.io.writeplan import WritePlan

#: Owl's per-frame Patterson datasets and their defaults
PER_FRAME_DEFAULTS = {
    "imageThreshold": 30.0,
    "maskSmooth": 5.0,
    "maskThreshold": 0.2,
    "darkfield": 0.0,
    "darkfieldX": 0.0,
    "darkfieldY": 0.0,
    "darkfieldSigma": 100.0,
}
#: the general dataset: last frame a map was requested for
LAST_FRAME_NAME = "_pattersonImg"
GROUP_NAME = "patterson"


@dataclass
class PattersonRead:
    """What one file holds: ``values[name]`` (≤ N entries each, float64), ``last_frame`` (or
    None when absent) and warnings about datasets that could not be used."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    last_frame: int | None = None
    warnings: list[str] = field(default_factory=list)


def patterson_group(group: str) -> str:
    return group.rstrip("/") + "/" + GROUP_NAME


def read_patterson(path: str, group: str, n_frames: int, swmr: bool = False) -> PattersonRead:
    """Read ``<group>/patterson/`` of the HDF5 file ``path`` for ``n_frames`` frames. A file
    without the group gives an empty result; an unreadable file a warning."""
    out = PattersonRead()
    try:
        with open_read(path, swmr=swmr) as f:
            g = f.get(patterson_group(group))
            if not isinstance(g, h5py.Group):
                return out
            for name, obj in g.items():
                if not isinstance(obj, h5py.Dataset):
                    continue
                try:
                    if name in PER_FRAME_DEFAULTS:
                        if obj.ndim != 1:
                            out.warnings.append(f"patterson/{name} has shape {obj.shape}; ignored")
                            continue
                        out.values[name] = np.asarray(obj[:n_frames], dtype=np.float64)
                    elif name == LAST_FRAME_NAME and obj.size:
                        raw = obj[()] if obj.ndim == 0 else obj[(0,) * obj.ndim]
                        out.last_frame = int(raw)
                except (OSError, TypeError, ValueError) as err:
                    out.warnings.append(f"patterson/{name} could not be read ({err}); ignored")
    except OSError as err:
        out.warnings.append(f"cannot read the Patterson parameters of '{os.path.basename(path)}': {err}")
    return out


def plan_patterson(plan: WritePlan, group: str, values: dict[str, np.ndarray], last_frame: int,
                   frames_written: np.ndarray | None = None) -> None:
    """Plan ``<group>/patterson/``: every per-frame dataset in ``values`` (length N each; only
    ``frames_written`` when given) and ``_pattersonImg`` = ``last_frame``."""
    target = patterson_group(group)
    for name in PER_FRAME_DEFAULTS:
        if name in values:
            plan.plan_per_frame_dataset(target, name, np.asarray(values[name], np.float64),
                                        frames_written=frames_written)
    plan.plan_general_dataset(target, LAST_FRAME_NAME, int(last_frame))
