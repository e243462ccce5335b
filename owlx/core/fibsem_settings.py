"""All settings of a FIB-SEM registration run, with the presets of spec/fibsem.md §3.

:class:`RegistrationSettings` groups the stage settings (data range, keypoints, matching,
model fit, post-processing, warp/output, metrics). ``RegistrationSettings.preset("fast")``
(2 × 2-binned SIFT with 5000 features, the batch default) or ``"reference"`` (full-resolution
SIFT, the reference's behaviour). :meth:`to_dict` / :meth:`from_dict` give a flat record of
every parameter (the "kwargs Info" of exports).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace

from owlx.core.fibsem_features import PRESETS, SiftSettings
from owlx.core.fibsem_register import PostSettings
from owlx.core.fibsem_transforms import FitSettings
from owlx.core.fibsem_warp import OUTPUT_DTYPES
from owlx.errors import ParameterError

__all__ = ["RegistrationSettings"]


@dataclass(frozen=True)
class RegistrationSettings:
    """Parameters of the pipeline. Lengths in px unless named otherwise.

    ``evaluation_box`` is [top, height, left, width] (0 = full extent), used for keypoint
    detection and the metrics. With ``sliding_evaluation_box`` the metrics use instead a box
    interpolated linearly from ``start_evaluation_box`` (first output slice) to
    ``stop_evaluation_box`` (last slice), same order (§10.1); keypoints keep ``evaluation_box``. ``z_step_nm`` / ``pixel_size_nm`` None = from the file headers
    (WD slope; PixelSize), 0 when unknown. ``check_nomatch`` removes frames that match neither
    neighbour (fewer than ``thr_npt`` inliers on both sides) and re-matches around them.
    """

    channel: int = 0
    thr_min: float = 1e-3
    thr_max: float = 1e-3
    nbins: int = 256
    sliding_minmax: bool = True
    fit_window: int | None = None
    sift: SiftSettings = field(default_factory=SiftSettings)
    matcher: str = "flann"
    ratio: float = 0.7
    fit: FitSettings = field(default_factory=FitSettings)
    seed: int = 0
    evaluation_box: tuple = (0, 0, 0, 0)
    sliding_evaluation_box: bool = False
    start_evaluation_box: tuple = (0, 0, 0, 0)
    stop_evaluation_box: tuple = (0, 0, 0, 0)
    post: PostSettings = field(default_factory=PostSettings)
    check_nomatch: bool = True
    thr_npt: int = 3
    pad_edges: bool = True
    int_order: int = 1
    zbin: int = 1
    dtype: str = "int16"
    invert: bool = False
    flip_y: bool = False
    imgb_fraction: float = 0.0
    z_step_nm: float | None = None
    pixel_size_nm: float | None = None
    nmi_bins: int = 2048
    with_frc: bool = True

    def __post_init__(self):
        if self.matcher not in ("flann", "bf"):
            raise ParameterError(f"unknown matcher {self.matcher!r}; use 'flann' or 'bf'")
        if not 0 < self.ratio <= 1:
            raise ParameterError(f"the Lowe ratio must be in (0, 1], got {self.ratio}")
        if self.int_order not in (0, 1, 3):
            raise ParameterError(f"interpolation order must be 0, 1 or 3, not {self.int_order}")
        if int(self.zbin) < 1:
            raise ParameterError(f"zbin must be ≥ 1, got {self.zbin}")
        if self.dtype not in OUTPUT_DTYPES:
            raise ParameterError(f"output dtype must be one of {', '.join(OUTPUT_DTYPES)}, not {self.dtype!r}")
        if not 0.0 <= self.imgb_fraction <= 1.0:
            raise ParameterError(f"ImgB_fraction must be in [0, 1], got {self.imgb_fraction}")
        for name in ("evaluation_box", "start_evaluation_box", "stop_evaluation_box"):
            box = getattr(self, name)
            if not _is_box(box):
                raise ParameterError(f"{name} is [top, height, left, width], whole numbers ≥ 0, got {box}")
        for name in ("pixel_size_nm", "z_step_nm"):
            value = getattr(self, name)
            # a negative or NaN size would be written into the MRC header as the voxel size
            if value is not None and not (_is_real(value) and math.isfinite(value) and value > 0):
                raise ParameterError(f"{name} must be a finite number > 0 (or None: from the file), got {value}")

    def boxes_in_use(self) -> dict:
        """{setting name: box} of the evaluation boxes this run reads: ``evaluation_box`` (keypoints,
        and the metrics), with ``sliding_evaluation_box`` also the start and stop boxes."""
        names = ["evaluation_box"]
        if self.sliding_evaluation_box:
            names += ["start_evaluation_box", "stop_evaluation_box"]
        return {name: tuple(int(v) for v in getattr(self, name)) for name in names}

    def check_boxes(self, frame_shape: tuple[int, int]) -> None:
        """Raise :class:`ParameterError` when an evaluation box in use does not lie inside frames of
        ``frame_shape`` (rows, cols); 0 height/width = to the frame's end. Called once the frame
        size is known, before any stage: an empty crop would otherwise fail inside OpenCV after
        the data range stage. The sliding boxes interpolate between start and stop, so checking
        both ends covers every slice."""
        ny, nx = (int(v) for v in frame_shape)
        for name, (top, height, left, width) in self.boxes_in_use().items():
            bottom, right = top + (height or ny - top), left + (width or nx - left)
            if top >= ny or left >= nx or bottom > ny or right > nx:
                raise ParameterError(
                    f"{name} [top, height, left, width] = [{top}, {height}, {left}, {width}] does not fit the "
                    f"frames of {ny} rows × {nx} columns (rows {top}…{bottom - 1}, columns {left}…{right - 1})")

    @classmethod
    def preset(cls, name: str = "fast", **changes) -> RegistrationSettings:
        """Settings of the ``fast`` or ``reference`` keypoint preset, with ``changes``."""
        if name not in PRESETS:
            raise ParameterError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
        return cls(sift=SiftSettings(preset=name)).with_changes(**changes)

    def with_changes(self, **changes) -> RegistrationSettings:
        """A copy with top-level or nested (``model=``, ``solver=``, ``preset=``, ``on_failure=``…)
        fields changed: nested names are routed to the sub-settings that own them."""
        own = {f.name for f in fields(self)}
        groups = {"sift": SiftSettings, "fit": FitSettings, "post": PostSettings}
        top, nested = {}, {g: {} for g in groups}
        for key, value in changes.items():
            if key in own:
                top[key] = value
                continue
            owner = next((g for g, kind in groups.items() if key in {f.name for f in fields(kind)}), None)
            if owner is None:
                raise ParameterError(f"unknown registration setting {key!r}")
            nested[owner][key] = value
        for g, values in nested.items():
            if values:
                top[g] = replace(top.get(g, getattr(self, g)), **values)
        return replace(self, **top)

    def to_dict(self) -> dict:
        """Flat {name: value} of every setting (nested ones prefixed ``sift.``, ``fit.``, ``post.``)."""
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, values: dict) -> RegistrationSettings:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        changes = {}
        for key, value in values.items():
            changes[key.split(".", 1)[1] if "." in key else key] = tuple(value) if isinstance(value, list) else value
        return cls().with_changes(**changes)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_box(box) -> bool:
    """Four whole numbers ≥ 0 ([top, height, left, width]; NaN, fractions and text are not)."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        return False
    return len(values) == 4 and all(math.isfinite(v) and v >= 0 and v == int(v) for v in values)
