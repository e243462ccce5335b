"""owlx polar plugin: polar resampling and angular difference correlations of diffraction rings
(spec/polar.md, following LOKI).

Contributes the dock panel "Polar correlation": the beam centre by ring fit (drawn on the image
and editable), polar resampling, ring cleaning and the difference correlation C(r, Δφ) of a set
of frames (the filter selection, a tag or all frames, in view order), with plots and HDF5/CSV
export. The algorithms live in ``owlx.core`` (``ring_center``, ``ring_scan``, ``polar``,
``ring_profiles``, ``ring_cleaning``, ``shot_pairing``, ``correlation``, ``polar_angles``,
``polar_analysis``); this package holds the frame sets (:mod:`owlx_polar.frame_sets`), the jobs
(:mod:`owlx_polar.polar_jobs`), the export (:mod:`owlx_polar.export`) and the Qt panel
(:mod:`owlx_polar.panel`, imported only when the panel is created, so importing this package
needs no Qt).
"""

from __future__ import annotations

import owlx
from owlx.plugin import Panel, Plugin

__all__ = ["PANEL_TITLE", "plugin"]

PANEL_TITLE = "Polar correlation"


def _create_panel(ctx):
    from owlx_polar.panel import PolarPanel

    return PolarPanel(ctx)


plugin = Plugin(
    name="polar",
    version=owlx.__version__,
    panels=(Panel(PANEL_TITLE, _create_panel, area="right"),),
    description="Polar resampling and angular difference correlations of diffraction rings (LOKI-style).",
)
