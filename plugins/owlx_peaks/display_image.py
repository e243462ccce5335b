"""Images made ready for a pyqtgraph ``ImageView`` on the worker thread (no Qt here).

Converting a float64 result to float32, transposing it to the view's (x, y) order and finding
display levels over a 4096² frame takes ~200 ms: done on the GUI thread it freezes the window.
A job therefore returns a :class:`DisplayImage` and the tab only calls
``view.setImage(shown.image, autoLevels=False, levels=shown.levels)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.core.display import compute_levels

__all__ = ["DisplayImage", "display_image"]


@dataclass
class DisplayImage:
    """``image``: float32, C-contiguous, (x, y) = (col, row) order as ``ImageView`` expects;
    ``levels``: (lo, hi) display levels in data units."""

    image: np.ndarray
    levels: tuple[float, float]


def display_image(image, valid=None) -> DisplayImage:
    """``image`` (rows, cols) as a :class:`DisplayImage`; levels are the 0.5 and 99.5 percentiles
    of its finite pixels where ``valid`` (True = valid; None = all), taken from a strided subsample
    (:func:`owlx.core.display.compute_levels`, the viewer's default levels)."""
    img32 = np.asarray(image, dtype=np.float32)
    lo, hi = compute_levels(img32, None if valid is None else np.asarray(valid, dtype=bool))
    return DisplayImage(np.ascontiguousarray(img32.T), (float(lo), float(hi)))
