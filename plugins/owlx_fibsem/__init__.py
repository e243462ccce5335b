"""owlx FIB-SEM plugin: stack registration with SIFT keypoints and registration-quality metrics
(spec/fibsem.md).

Contributes the dock panel "FIB-SEM registration" and the command
``owlx register STACK -o out.mrc [--workers N | --scheduler ADDRESS]``. The algorithms live in
``owlx.core.fibsem_*``; this package holds the pipeline job (:mod:`owlx_fibsem.pipeline`), the
command (:mod:`owlx_fibsem.command`) and the Qt panel (:mod:`owlx_fibsem.panel`, imported only
when the panel is created, so importing this package needs no Qt).
"""

from __future__ import annotations

import owlx
from owlx.plugin import Command, Panel, Plugin

__all__ = ["plugin"]


def _create_panel(ctx):
    from owlx_fibsem.panel import FibsemPanel

    return FibsemPanel(ctx)


def _configure(parser):
    from owlx_fibsem.command import configure

    configure(parser)


def _run(args) -> int:
    from owlx_fibsem.command import run

    return run(args)


plugin = Plugin(
    name="FIB-SEM registration",
    version=owlx.__version__,
    panels=(Panel("FIB-SEM registration", _create_panel, area="right"),),
    commands=(Command("register", "Register a FIB-SEM stack (SIFT, RANSAC, drift removal) and write it as MRC.",
                      _configure, _run),),
    description="Frame-to-frame registration of FIB-SEM stacks with quality metrics (NCC, NSAD, NMI, FRC).",
)
