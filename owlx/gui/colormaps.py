"""Colormaps and the 256-entry colour tables of the colour-index images (spec/viewer.md D1).

A colour table follows the index layout of :mod:`owlx.core.colorindex`:

* rows ``0 … 253``: the colormap from its low end (t = 0) to its high end (t = 1), opaque;
* row ``254``: the background colour, for finite values outside [lo, hi] with clamp off;
* row ``255``: the colour of NaN and ±inf.

Sources: viridis, inferno, magma, plasma and cividis come from pyqtgraph's bundled tables;
jet, hot, gray and gnuplot from their standard piecewise formulas (as in MATLAB and gnuplot);
Spectral, coolwarm and gist_earth from the published control points in
``resources/colormaps.json``; every other matplotlib map when matplotlib is installed.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np

from ..core.colorindex import NOT_FINITE, OUT_OF_RANGE, TOP_INDEX
from ..errors import ParameterError

TRADITIONAL = ("jet", "hot", "gray", "Spectral", "coolwarm", "gnuplot", "gist_earth")  # Owl's set
UNIFORM = ("viridis", "inferno", "magma", "plasma", "cividis")
DEFAULT_COLORMAP = "inferno"
N_COLOURS = TOP_INDEX + 1  # table rows for data values


def _matplotlib_names() -> list[str]:
    try:
        import matplotlib
    except ImportError:
        return []
    return sorted((n for n in matplotlib.colormaps if not n.endswith("_r")), key=str.lower)


def _groups() -> dict[str, list[str]]:
    groups = {"Traditional": list(TRADITIONAL), "Perceptually uniform": list(UNIFORM)}
    everything = _matplotlib_names()
    if everything:
        groups["All"] = everything
    return groups


#: Menu groups of colormap names, in menu order. "All" exists only with matplotlib installed.
COLORMAP_GROUPS: dict[str, list[str]] = _groups()


# -- the maps ------------------------------------------------------------------------------------
def _interp(points, t: np.ndarray) -> np.ndarray:
    xp, fp = np.asarray(points, dtype=float).T
    return np.interp(t, xp, fp)


# Piecewise-linear channel control points (position, value) of MATLAB's jet and hot.
_JET = {
    "red": [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)],
    "green": [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)],
    "blue": [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)],
}
_HOT = {
    "red": [(0, 0.0416), (0.365079, 1), (1, 1)],
    "green": [(0, 0), (0.365079, 0), (0.746032, 1), (1, 1)],
    "blue": [(0, 0), (0.746032, 0), (1, 1)],
}


def _formula(name: str, t: np.ndarray) -> np.ndarray | None:
    """(n, 3) RGB in 0–1 of the maps defined by formulas, or None."""
    if name == "gray":
        return np.stack([t, t, t], axis=1)
    if name in ("jet", "hot"):
        table = _JET if name == "jet" else _HOT
        return np.stack([_interp(table[c], t) for c in ("red", "green", "blue")], axis=1)
    if name == "gnuplot":  # gnuplot's default palette, 'rgbformulae 7,5,15'
        rgb = np.stack([np.sqrt(t), t**3, np.sin(2 * np.pi * t)], axis=1)
        return np.clip(rgb, 0.0, 1.0)
    return None


@functools.lru_cache(maxsize=1)
def _control_points() -> dict:
    text = resources.files("owlx.resources").joinpath("colormaps.json").read_text(encoding="utf-8")
    return json.loads(text)


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255.0 for i in (0, 2, 4))


def _from_points(name: str, t: np.ndarray) -> np.ndarray | None:
    spec = _control_points().get(name)
    if spec is None or name.startswith("_"):
        return None
    if "colours" in spec:  # equally spaced
        rgb = np.array([_hex_rgb(c) for c in spec["colours"]])
        xp = np.linspace(0.0, 1.0, len(rgb))
        return np.stack([np.interp(t, xp, rgb[:, i]) for i in range(3)], axis=1)
    if "points" in spec:
        pts = np.asarray(spec["points"], dtype=float)
        return np.stack([np.interp(t, pts[:, 0], pts[:, i]) for i in (1, 2, 3)], axis=1)
    ch = spec["channels"]
    return np.stack([_interp(ch[c], t) for c in ("red", "green", "blue")], axis=1)


def _from_libraries(name: str, t: np.ndarray) -> np.ndarray | None:
    import pyqtgraph as pg

    try:
        cmap = pg.colormap.get(name)
    except Exception:  # pyqtgraph raises several types for unknown names
        cmap = None
    if cmap is not None:
        return cmap.map(t, mode="float")[:, :3]
    try:
        import matplotlib
    except ImportError:
        return None
    if name in matplotlib.colormaps:
        return np.asarray(matplotlib.colormaps[name](t))[:, :3]
    return None


@functools.lru_cache(maxsize=64)
def _colours(name: str) -> np.ndarray:
    """(254, 3) uint8 colours of a map, low end first (read-only, cached)."""
    t = np.linspace(0.0, 1.0, N_COLOURS)
    rgb = None
    for source in (_formula, _from_points, _from_libraries):
        rgb = source(name, t)
        if rgb is not None:
            break
    if rgb is None:
        raise ParameterError(f"unknown colormap {name!r}")
    out = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    out.flags.writeable = False
    return out


def available(name: str) -> bool:
    """True when ``name`` can be turned into a colour table here."""
    try:
        _colours(name)
    except ParameterError:
        return False
    return True


def _rgba(colour) -> np.ndarray:
    c = [int(v) for v in colour]
    if len(c) == 3:
        c.append(255)
    if len(c) != 4 or not all(0 <= v <= 255 for v in c):
        raise ParameterError(f"a colour must be (r, g, b) or (r, g, b, a) in 0…255, not {colour!r}")
    return np.array(c, np.uint8)


def colour_table(name: str, invert: bool = False, background=(0, 0, 0, 0),
                 nan_colour=(0, 0, 0, 0)) -> np.ndarray:
    """(256, 4) uint8 RGBA table for colour-index images (layout in the module docstring).

    ``invert`` reverses the map (rows 0…253). ``background`` (row 254) and ``nan_colour``
    (row 255) are (r, g, b) or (r, g, b, a) in 0…255; the defaults are transparent, so the
    view's background shows through.
    """
    table = np.empty((256, 4), np.uint8)
    colours = _colours(name)
    table[:N_COLOURS, :3] = colours[::-1] if invert else colours
    table[:N_COLOURS, 3] = 255
    table[OUT_OF_RANGE] = _rgba(background)
    table[NOT_FINITE] = _rgba(nan_colour)
    return table
