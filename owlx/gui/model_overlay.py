"""The sphere-model overlay on the image view (spec/viewer.md Mo3–Mo8).

* :func:`model_index_image` (worker thread): the model of one frame in ADU — optionally
  Poisson-sampled with the frame index as seed (Mo7) — mapped to colour indices with the data's
  levels and normalisation, so both halves read alike (Mo6). The physics is
  :func:`owlx.core.sphere.sphere_intensity`; this module only feeds it and maps the result.
* :class:`ModelOverlay` (GUI thread): items on a :class:`~owlx.gui.image_view.FrameView`:
  a second image item holding the model's columns on one side of the split (Mo3), dashed rings
  at the model minima up to the frame corner (Mo4) and the mask-radius circle (Mo5).

Coordinates: the image item covers pixel (row r, column c) with [c, c+1] × [r, r+1], so the beam
centre at array index X_c = (W−1)/2 + cx, Y_c = (H−1)/2 + cy (offsets (cx, cy), spec/sphere.md §1)
is drawn at scene point (X_c + 0.5, Y_c + 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui

from ..core.colorindex import map_to_index
from ..core.sphere import energy_eV_from_wavelength, minima_radii, sphere_intensity

_SEGMENTS = 256  # per ring: the chord of a 700 px ring stays within 0.05 px of the circle
_MAX_RINGS = 400
_Z_UNDER_MASK, _Z_OVER_MASK, _Z_LINES = 5, 12, 21  # image 0, mask 10, tag squares 20


@dataclass(frozen=True)
class ModelParams:
    """What the overlay shows for one frame: SI geometry, δ of the material, the sphere.

    ``cx``, ``cy`` are the centre offsets [px] from ((W−1)/2, (H−1)/2); ``d_m`` the diameter
    [m]; ``fluence`` [J/m²]; ``mask_radius`` [px]; ``adu_per_photon`` the detector gain.
    """

    cx: float
    cy: float
    d_m: float
    fluence: float
    wavelength_m: float
    pixel_size_m: float
    distance_m: float
    delta: float
    qe: float
    adu_per_photon: float
    mask_radius: float
    qmap: str = "per_axis"


def params_from_panel(general: dict, frame: dict) -> ModelParams:
    """:class:`ModelParams` from the panel's values (Owl's names and units); looks up δ of the
    material at the photon energy (raises :class:`owlx.errors.ParameterError` when it cannot)."""
    from ..io.materials_data import material_index

    lam = float(general["photonWavelengthNM"]) * 1e-9
    delta = material_index(str(general["materialType"]), energy_eV_from_wavelength(lam)).real
    return ModelParams(
        cx=float(frame["offCenterX"]), cy=float(frame["offCenterY"]), d_m=float(frame["diameterNM"]) * 1e-9,
        fluence=float(frame["intensityMJUM2"]) * 1e9, wavelength_m=lam,
        pixel_size_m=float(general["detectorPixelSizeUM"]) * 1e-6,
        distance_m=float(general["detectorDistanceMM"]) * 1e-3, delta=delta,
        qe=float(general["detectorQuantumEfficiency"]), adu_per_photon=float(general["detectorADUPhoton"]),
        mask_radius=float(frame["maskRadius"]))


def model_adu(shape, p: ModelParams, poisson_seed: int | None = None) -> np.ndarray:
    """The model of a (ny, nx) frame in ADU (float64); Poisson(photons) × ADU/photon with
    ``poisson_seed`` (the frame index, so a repaint does not flicker, Mo7)."""
    photons = sphere_intensity(shape, p.cx, p.cy, p.d_m, p.fluence, p.wavelength_m, p.pixel_size_m,
                               p.distance_m, p.delta, p.qe, qmap=p.qmap)
    if poisson_seed is not None:
        photons = np.random.default_rng(int(poisson_seed)).poisson(photons).astype(np.float64)
    photons *= p.adu_per_photon
    return photons


def model_index_image(shape, p: ModelParams, lo: float, hi: float, norm: str, gamma: float, clamp: bool,
                      poisson_seed: int | None = None) -> np.ndarray:
    """Colour indices (uint8, (ny, nx)) of the model with the data's levels ``lo``/``hi`` [ADU]
    and normalisation (Mo6). Heavy: call it in a job."""
    return map_to_index(model_adu(shape, p, poisson_seed), lo, hi, norm, gamma, clamp)


def ring_radii(p: ModelParams, shape) -> np.ndarray:
    """Radii [px] of the model minima around the centre, up to the farthest frame corner (Mo4).

    The minima of the fitted model, mapped to pixel radii with the exact scattering angle
    (spec/sphere.md §2.1: the rings use the fit's mapping, which equals the exact one along
    the axes); at small angles r_k = u_k·D·λ/(π·d·p), Owl's flat form.
    """
    if not (p.d_m > 0 and math.isfinite(p.d_m)):
        return np.zeros(0)
    ny, nx = shape
    xc, yc = (nx - 1) / 2 + p.cx, (ny - 1) / 2 + p.cy
    reach = max(math.hypot(x - xc, y - yc) for x in (-0.5, nx - 0.5) for y in (-0.5, ny - 0.5))
    first = minima_radii(p.d_m, p.wavelength_m, p.pixel_size_m, p.distance_m, 1)[0]
    # zeros of f are spaced by about π in u, i.e. by the first radius / 1.43 in q
    n = int(min(_MAX_RINGS, max(1, math.ceil(reach / (first / 1.4303)) + 2)))
    radii = minima_radii(p.d_m, p.wavelength_m, p.pixel_size_m, p.distance_m, n, flat=False)
    return radii[np.isfinite(radii) & (radii <= reach)]


def _circles(xc: float, yc: float, radii) -> tuple[np.ndarray, np.ndarray]:
    """NaN-separated polylines of circles about scene point (xc, yc)."""
    r = np.asarray(radii, dtype=float)
    if r.size == 0:
        return np.zeros(0), np.zeros(0)
    t = np.linspace(0.0, 2 * np.pi, _SEGMENTS + 1)
    xs = np.hstack([xc + r[:, None] * np.cos(t)[None, :], np.full((r.size, 1), np.nan)])
    ys = np.hstack([yc + r[:, None] * np.sin(t)[None, :], np.full((r.size, 1), np.nan)])
    return xs.ravel(), ys.ravel()


def _pen(colour, dashed: bool) -> QtGui.QPen:
    pen = pg.mkPen(colour, width=1)
    pen.setCosmetic(True)  # 1 screen pixel at every zoom
    if dashed:
        pen.setStyle(QtCore.Qt.DashLine)
    return pen


class ModelOverlay:
    """The model items on a FrameView's view box (hidden until :meth:`show_model`)."""

    def __init__(self, view):
        self.view = view
        box = view.view_box
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.rings_item = pg.PlotCurveItem(connect="finite")
        self.mask_item = pg.PlotCurveItem(connect="finite")
        self.image_item.setZValue(_Z_OVER_MASK)
        for item in (self.rings_item, self.mask_item):
            item.setZValue(_Z_LINES)
        box.addItem(self.image_item, ignoreBounds=True)
        box.addItem(self.rings_item, ignoreBounds=True)
        box.addItem(self.mask_item, ignoreBounds=True)
        self.mask_item.setPen(_pen((255, 255, 255), False))
        self._index: np.ndarray | None = None  # the full model index image
        self._table = None
        self.split = 0.5
        self.model_on_left = False
        self.split_column = 0  # first model column (model on right) or end of the model (left)
        self.ring_radii = np.zeros(0)
        self.mask_radius = math.nan
        self.centre = (math.nan, math.nan)  # scene coordinates of the rings' centre
        self.visible = False
        self.hide()

    # -- content --------------------------------------------------------------------------------
    def set_model_image(self, index: np.ndarray | None, table) -> None:
        """The model as a uint8 colour-index image of the frame's shape, and the colour table."""
        self._index = None if index is None else np.asarray(index, np.uint8)
        self._table = table
        self._place_image()

    def set_colour_table(self, table) -> None:
        self._table = table
        if self.image_item.image is not None:
            self.image_item.setLookupTable(np.asarray(table, np.uint8))

    def set_split(self, split: float, model_on_left: bool = False) -> None:
        """Model to the right of x = split × W (to the left with ``model_on_left``), Mo3."""
        self.split = min(max(float(split), 0.0), 1.0)
        self.model_on_left = bool(model_on_left)
        self._place_image()

    def set_show_mask(self, on: bool) -> None:
        """Mo8: with Show mask the mask overlay also covers the model half (drawn under it)."""
        self.image_item.setZValue(_Z_UNDER_MASK if on else _Z_OVER_MASK)

    def set_geometry(self, p: ModelParams, shape, minima: float) -> None:
        """Rings at the model minima in grey level ``minima`` (0–1) and the mask-radius circle."""
        ny, nx = shape
        xc, yc = (nx - 1) / 2 + p.cx + 0.5, (ny - 1) / 2 + p.cy + 0.5
        self.centre = (xc, yc)
        self.ring_radii = ring_radii(p, shape)
        grey = round(255 * min(max(float(minima), 0.0), 1.0))
        self.rings_item.setPen(_pen((grey, grey, grey), True))
        self.rings_item.setData(*_circles(xc, yc, self.ring_radii))
        self.mask_radius = float(p.mask_radius)
        self.mask_item.setData(*_circles(xc, yc, [self.mask_radius] if self.mask_radius > 0 else []))

    def _place_image(self) -> None:
        index = self._index
        if index is None or self._table is None:
            self.image_item.clear()
            return
        nx = index.shape[1]
        col = round(self.split * nx)
        self.split_column = col
        part = index[:, :col] if self.model_on_left else index[:, col:]
        if part.shape[1] == 0:
            self.image_item.clear()
            return
        self.image_item.setImage(np.ascontiguousarray(part), levels=(0, 255),
                                 lut=np.asarray(self._table, np.uint8), autoLevels=False)
        x0 = 0 if self.model_on_left else col
        self.image_item.setRect(QtCore.QRectF(x0, 0, part.shape[1], part.shape[0]))

    # -- visibility -----------------------------------------------------------------------------
    def show_model(self) -> None:
        self.visible = True
        for item in (self.image_item, self.rings_item, self.mask_item):
            item.setVisible(True)

    def hide(self) -> None:
        self.visible = False
        for item in (self.image_item, self.rings_item, self.mask_item):
            item.setVisible(False)

    def clear(self) -> None:
        self._index = None
        self.image_item.clear()
        self.rings_item.setData([], [])
        self.mask_item.setData([], [])
        self.ring_radii = np.zeros(0)

    @property
    def model_rect(self) -> QtCore.QRectF | None:
        """The view rectangle the model image covers (None when none is shown)."""
        if self.image_item.image is None:
            return None
        return self.image_item.mapRectToParent(self.image_item.boundingRect())
