"""Cheetah peak lists: ``entry_<n>/result_<k>`` groups (formats.md §1.8, viewer.md K1).

A peak list is a group holding ``nPeaks`` (N,) and at least one position pair,
``peakXPosRaw``/``peakYPosRaw`` or ``peakXPosAssembled``/``peakYPosAssembled``, each
(N, maxPeaks) (CXI v1.5+ Result class, implicit axes ``experiment_identifier:nPeaks``); optional
``peakNPixels``, ``peakTotalIntensity``, ``peakMaximumValue``, ``peakSNR``. For frame i only the
first ``nPeaks[i]`` entries of row i are used, and only that row is read.

Positions are array coordinates of the frame, x = column and y = row, 0-based with pixel (0, 0)
centred at (0, 0): ``…Raw`` for data under ``detector_*`` (the raw detector layout),
``…Assembled`` for data under ``image_*`` (the assembled image), as in FXIhub/owl,
views/view2d.py ``_paintPeakCircles``. Owl looked the group up through a broken path function
(cxi/dataitem.py ``_canonicalHDF5Path``), so its overlay never showed; here groups are found by
walking the file's ``entry_*`` groups.

Functions take an open :class:`h5py.File` (or Group) so the caller decides the handle's life:
the GUI opens a short-lived read handle on a worker (:func:`owlx.io.results.open_read`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import h5py
import numpy as np

from owlx.io.source import natural_key

POSITIONS = {
    "raw": ("peakXPosRaw", "peakYPosRaw"),
    "assembled": ("peakXPosAssembled", "peakYPosAssembled"),
}
OPTIONAL = ("peakNPixels", "peakTotalIntensity", "peakMaximumValue", "peakSNR")
_ENTRY = re.compile(r"entry_\d+$")
_RESULT = re.compile(r"result_\d+$")


@dataclass(frozen=True)
class PeakList:
    """One peak-list group: its path, the position kinds it holds ("raw", "assembled"), the
    optional per-peak datasets present, N (length of ``nPeaks``) and maxPeaks."""

    group: str
    kinds: tuple[str, ...]
    extras: tuple[str, ...]
    n_frames: int
    max_peaks: int

    @property
    def name(self) -> str:
        return self.group.rsplit("/", 1)[-1]


@dataclass
class FramePeaks:
    """The peaks of one frame: ``x`` (column) and ``y`` (row) in array coordinates, float64,
    ``kind`` the position pair they came from, and the optional per-peak values."""

    frame: int
    kind: str
    x: np.ndarray
    y: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.size)


def _peak_list(g: h5py.Group) -> PeakList | None:
    n = g.get("nPeaks")
    if not isinstance(n, h5py.Dataset) or n.ndim != 1:
        return None
    kinds, max_peaks = [], 0
    for kind, (xn, yn) in POSITIONS.items():
        x, y = g.get(xn), g.get(yn)
        if isinstance(x, h5py.Dataset) and isinstance(y, h5py.Dataset) and x.ndim == 2 and x.shape == y.shape:
            kinds.append(kind)
            max_peaks = max(max_peaks, int(x.shape[1]))
    if not kinds:
        return None
    extras = tuple(name for name in OPTIONAL if isinstance(g.get(name), h5py.Dataset) and g[name].ndim == 2)
    return PeakList(g.name, tuple(kinds), extras, int(n.shape[0]), max_peaks)


def find_peak_lists(f: h5py.Group, entry: str | None = None) -> list[PeakList]:
    """Every peak-list group under ``entry`` (e.g. ``/entry_1``), or under every ``entry_<n>``
    of the file when ``entry`` is None or missing, in natural order."""
    entries = []
    if entry is not None and isinstance(f.get(entry), h5py.Group):
        entries = [entry]
    else:
        entries = sorted((name for name in f if _ENTRY.match(name) and isinstance(f.get(name), h5py.Group)),
                         key=natural_key)
    found = []
    for e in entries:
        g = f[e]
        for name in sorted((n for n in g if _RESULT.match(n)), key=natural_key):
            try:
                obj = g.get(name)
            except (KeyError, OSError, RuntimeError):  # a broken link
                continue
            if isinstance(obj, h5py.Group):
                pl = _peak_list(obj)
                if pl is not None:
                    found.append(pl)
    return found


def choose_peak_list(lists: list[PeakList]) -> PeakList | None:
    """The group selected automatically: the first with ``peakNPixels``, else the first."""
    for pl in lists:
        if "peakNPixels" in pl.extras:
            return pl
    return lists[0] if lists else None


def kind_for_image(image_path: str) -> str | None:
    """"raw" for an image under ``detector…``, "assembled" under ``image…``, else None. The last
    such component of the (link-resolved) path decides."""
    for part in reversed([p for p in image_path.split("/") if p]):
        if part.startswith("detector"):
            return "raw"
        if part.startswith("image"):
            return "assembled"
    return None


def resolve_kind(peak_list: PeakList, image_path: str, override: str = "auto") -> tuple[str, str]:
    """(kind, why): the position pair to draw for ``image_path``. ``override`` is "auto", "raw"
    or "assembled"; a kind the group lacks falls back to the one it has, and ``why`` says so."""
    if override not in ("auto", "raw", "assembled"):
        raise ValueError(f"peak positions must be auto, raw or assembled, not {override!r}")
    want = kind_for_image(image_path) if override == "auto" else override
    if want in peak_list.kinds:
        return want, ""
    have = peak_list.kinds[0]
    if want is None:
        return have, f"cannot tell raw from assembled for {image_path}; using {have} positions"
    return have, f"{peak_list.name} has no {want} positions; using {have}"


def read_frame_peaks(f: h5py.Group, peak_list: PeakList, frame: int, kind: str) -> FramePeaks:
    """The first ``nPeaks[frame]`` peaks of row ``frame`` (reads one element of ``nPeaks`` and
    the leading part of one row of each dataset). A frame beyond ``nPeaks`` (a live file whose
    results lag behind) has no peaks; non-finite positions are dropped."""
    g = f[peak_list.group]
    n_ds = g["nPeaks"]
    empty = FramePeaks(frame, kind, np.zeros(0), np.zeros(0))
    if not 0 <= frame < n_ds.shape[0]:
        return empty
    xs, ys = (g[name] for name in POSITIONS[kind])
    if frame >= xs.shape[0]:
        return empty
    count = int(n_ds[frame])
    count = max(0, min(count, int(xs.shape[1])))
    if count == 0:
        return empty
    x = np.asarray(xs[frame, :count], dtype=np.float64)
    y = np.asarray(ys[frame, :count], dtype=np.float64)
    extras = {}
    for name in peak_list.extras:
        ds = g[name]
        if frame < ds.shape[0]:
            extras[name] = np.asarray(ds[frame, :min(count, ds.shape[1])])
    good = np.isfinite(x) & np.isfinite(y)
    if not good.all():
        x, y = x[good], y[good]
        extras = {k: v[good[:v.size]] for k, v in extras.items()}
    return FramePeaks(frame, kind, x, y, extras)
