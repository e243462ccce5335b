"""owlx peaks plugin: centre finding, Bragg peaks, azimuthal average, symmetrisation, stack
alignment and masks from frames for diffraction patterns (spec/peaks.md, after scikit-ued).

Contributes the dock panel "Peak finding". The algorithms live in ``owlx.core`` and are plain
functions for the console: ``autocenter``, ``bragg_peaks``, ``bragg_peaks_persistence``,
``azimuthal_average``, ``nfold``/``reflection``, ``align``/``ialign``/``register_shift``,
``mask_from_collection``, ``brillouin_zones`` and ``baseline_dwt`` (needs PyWavelets). This package holds the jobs
(:mod:`owlx_peaks.peak_jobs`, :mod:`owlx_peaks.baseline_job`), the export (:mod:`owlx_peaks.export`;
the aligned stack is streamed by :mod:`owlx.io.aligned_write`) and the Qt panel
(:mod:`owlx_peaks.panel`, :mod:`owlx_peaks.tool_tabs`, :mod:`owlx_peaks.baseline_tab`, imported
only when the panel is created, so importing this package needs no Qt).
"""

from __future__ import annotations

import owlx
from owlx.plugin import Panel, Plugin

__all__ = ["PANEL_TITLE", "plugin"]

PANEL_TITLE = "Peak finding"


def _create_panel(ctx):
    from owlx_peaks.panel import PeaksPanel

    return PeaksPanel(ctx)


plugin = Plugin(
    name="peaks",
    version=owlx.__version__,
    panels=(Panel(PANEL_TITLE, _create_panel, area="right"),),
    description="Centre, Bragg peaks, azimuthal average, symmetrisation, alignment and baselines of diffraction patterns.",
)
