"""What the Model panel's buttons run (spec/sphere.md §4; viewer.md Mo1): each button is
:func:`owlx.core.sphere_recipe.fit_frame` with some stages switched off, as a :class:`Job`.

=============  ======================================================  =======================
button         stages (``fit_frame`` with the panel's settings …)        values stored
=============  ======================================================  =======================
Find centre    centre only                                             offCenterX/Y
Fit diameter   diameter only, about the panel's centre                 diameterNM, fitError…
Fit intensity  intensity only, at the panel's centre and diameter      intensityMJUM2, fitError…
Fit model      fast: centre → diameter → intensity; refine: the full    all
               refinement from the panel's values (Owl)
Run recipe     the recipe as configured (Daurer et al.: centre →        all
               diameter → intensity → refinement when the model
               method is ``refine``)
=============  ======================================================  =======================
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.sphere_recipe import fit_frame
from ..core.sphere_records import FitSettings
from ..jobs import Job, JobContext
from ..model_results import settings_from_values

_OFF = {"center_method": "none", "diameter_method": "none", "intensity_method": "none", "refine_iterations": 0}

#: step -> (settings overrides, or None for the "fit model" choice; per-frame names stored or None = all)
STEPS = {
    "center": ({"diameter_method": "none", "intensity_method": "none", "refine_iterations": 0},
               ("offCenterX", "offCenterY")),
    "diameter": ({"center_method": "none", "intensity_method": "none", "refine_iterations": 0},
                 ("diameterNM", "fitError", "fitErrorDiameterNM")),
    "intensity": ({"center_method": "none", "diameter_method": "none", "refine_iterations": 0},
                  ("intensityMJUM2", "fitError", "fitErrorIntensityMJUM2")),
    "model": (None, None),
    "recipe": ({}, None),
}


def panel_settings(general: dict, mask_radius_px: float) -> tuple[FitSettings, list[str]]:
    """The panel's experiment and recipe as :class:`FitSettings` (and warnings, e.g. an unknown
    material replaced by the seed's); raises :class:`owlx.errors.ParameterError` for bad values."""
    return settings_from_values(general, mask_radius_px=float(mask_radius_px))


def step_settings(step: str, base: FitSettings, model_method: str = "fast") -> FitSettings:
    """The settings one button runs with (see the module table)."""
    if step not in STEPS:
        raise ValueError(f"unknown fit step {step!r}")
    overrides = STEPS[step][0]
    if overrides is None:  # Fit model: fast runs the three stages, refine only the refinement
        if str(model_method).strip().lower() == "refine":
            overrides = {**_OFF, "refine_iterations": max(1, base.refine_iterations)}
        else:
            overrides = {"refine_iterations": 0}
    return replace(base, **overrides)


def stored_names(step: str):
    """Per-frame model datasets a step's result replaces (None: all of them)."""
    return STEPS[step][1]


def fit_step_job(load_frame, settings: FitSettings, start, frame: int, step: str) -> Job:
    """A job fitting ``frame`` with ``settings`` from ``start`` = (cx px, cy px, d nm, F mJ/µm²);
    ``load_frame(frame)`` returns ``(img, valid)`` and runs in the worker. The job's value is
    the :class:`~owlx.core.sphere_records.SphereFitResult`; cancel is honoured inside the fit."""

    def work(ctx: JobContext):
        img, valid = load_frame(frame)
        ctx.check()
        return fit_frame(np.asarray(img), valid, settings, start, cancel=ctx.token, frame=frame)

    return Job(work, name=f"sphere fit ({step}) of frame {frame}")
