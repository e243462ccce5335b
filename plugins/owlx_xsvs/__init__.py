"""owlx XSVS plugin: speckle visibility from exposure series (spec/xsvs.md).

Contributes the "XSVS" panel (q rings on the image; P(K), P(K) grid, β(t_e), trace, fit-parameter
and ring-overlay plots; beam-centre finding; the analysis runs as a job) and the ``owlx xsvs INPUT.ini -o results.h5`` command. The algorithms live in
``owlx.core.xsvs_*``, the project and results files in ``owlx.io.xsvs_*`` and the run in
:mod:`owlx.xsvs`; this package holds only the user interfaces. Importing it needs no Qt.
"""

from __future__ import annotations

import owlx
from owlx.plugin import Command, Panel, Plugin

from .command import configure, run


def _create_panel(ctx):
    from .panel import XsvsPanel  # Qt only when the GUI builds the panel

    return XsvsPanel(ctx)


plugin = Plugin(
    name="xsvs",
    version=owlx.__version__,
    description="X-ray speckle visibility spectroscopy: contrast β versus exposure time per q ring",
    panels=(Panel("XSVS", _create_panel, area="right"),),
    commands=(Command("xsvs", "Analyse a pyxsvs project (.ini): photon histograms, negative-binomial fits "
                      "and contrast per exposure and q ring; results to HDF5 and CSV.", configure, run),),
)
