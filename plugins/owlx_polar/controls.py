"""The polar panel's parameter forms: centre and ring fit, polar grid, ring cleaning,
correlation and geometry. They only hold values; :meth:`PolarControls.settings` turns them into
a :class:`~owlx.core.polar_analysis.PolarSettings`.

Units shown: px for centre and radii (centre as absolute (x, y) = (column, row)), nm for the
wavelength, mm for the detector distance, µm for the pixel size (SI inside the settings).
"""

from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

from owlx.core.correlation import AVERAGES
from owlx.core.polar import POLAR_METHODS
from owlx.core.polar_analysis import FEATURES, PAIRINGS, PolarSettings
from owlx.core.ring_profiles import NORMALIZATIONS
from owlx.core.shot_pairing import PAIR_METHODS
from owlx.gui import panel_kit as kit

__all__ = ["PolarControls"]


def spin(lo, hi, value, decimals=0, step=1.0, tip="", special=None):
    """:func:`owlx.gui.panel_kit.spin` (``decimals`` 0: an integer box) that reports one edit per
    value typed, not one per digit."""
    box = kit.spin(lo, hi, value, decimals=decimals or None, step=step if decimals else 1, tip=tip, special=special)
    box.setKeyboardTracking(False)
    return box


class PolarControls(QtWidgets.QWidget):
    """Every parameter of the polar chain. ``centre_edited`` fires when x, y or r change,
    ``band_edited`` when the radius band changes."""

    centre_edited = QtCore.pyqtSignal()
    band_edited = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.x = spin(-1e5, 1e5, 0.0, 2, 0.5, "Beam centre x: column of the image (px, absolute)")
        self.y = spin(-1e5, 1e5, 0.0, 2, 0.5, "Beam centre y: row of the image (px, absolute)")
        self.r = spin(1, 1e5, 50.0, 1, 1.0, "Radius of the ring used to fit the centre (px)")
        self.ring_width = spin(1, 1e4, 20.0, 1, 1.0, "Ring fit: width of the annulus around the radius (px)")
        self.n_points = spin(3, 10_000_000, 1000, tip="Ring fit: number of brightest annulus pixels fitted")
        self.r_min = spin(0, 100_000, 5, tip="Smallest radius of the polar image (px)")
        self.r_max = spin(1, 100_000, 100, tip="Polar radii stop before this radius (px)")
        self.n_phi = spin(4, 100_000, 360, tip="Number of angles of the polar image")
        self.method = kit.combo(POLAR_METHODS, tip="Nearest pixel (LOKI) or bilinear interpolation")
        self.band_lo = spin(0, 100_000, 40, tip="First radius of the correlated band (px)")
        self.band_hi = spin(1, 100_000, 50, tip="The band stops before this radius (px)")
        self.half_width = spin(0, 1000, 2, tip="Each ring profile averages ±Δ polar rows")
        self.remove_peaks = QtWidgets.QCheckBox("Remove peaks")
        self.remove_peaks.setChecked(True)
        self.peak_thresh = spin(0.5, 1000, 3.5, 1, 0.5, "Modified z-score above which a bin is a peak or outlier")
        self.thick = spin(0, 1000, 1, tip="Bins masked on either side of each peak")
        self.deg = spin(0, 60, 15, tip="Degree of the periodic polynomial fit (Chebyshev output)")
        self.subtract_fit = QtWidgets.QCheckBox("Subtract fit")
        self.subtract_fit.setToolTip("Correlate each ring minus its smooth periodic fit")
        self.frame_set = QtWidgets.QComboBox()
        self.frame_set.setToolTip("Frames to correlate, in view order")
        self.pairing = kit.combo(PAIRINGS, tip="Pair shots by fit distance, take consecutive shots, or no differences")
        self.pair_method = kit.combo(PAIR_METHODS, tip="Greedy (LOKI) or optimal matching of the fits")
        self.feature = kit.combo(FEATURES, tip="Fit coefficients compared when pairing")
        self.delta = spin(1, 100_000, 1, tip="Consecutive pairing: shots this far apart")
        self.norm = kit.combo(NORMALIZATIONS, tip="Normalisation of every ring before differencing")
        self.average = kit.combo(AVERAGES, tip="Average of the mask-normalised correlations over pairs")
        self.wavelength_nm = spin(0, 1e4, 0.0, 5, 0.01, "Wavelength (nm); 0 = unknown (no cos ψ)", "unknown")
        self.distance_mm = spin(0, 1e6, 0.0, 2, 1.0, "Detector distance (mm); 0 = unknown", "unknown")
        self.pixel_um = spin(0, 1e5, 0.0, 2, 1.0, "Pixel size (µm); 0 = unknown", "unknown")
        self.polarization = QtWidgets.QCheckBox("Polarisation correction")
        self.fraction_y = spin(0, 1, 0.0, 3, 0.1, "Fraction of the polarisation along the image y axis")

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for title, rows in (
            ("Centre (ring fit)", (("x (px)", self.x), ("y (px)", self.y), ("Ring radius (px)", self.r),
                                   ("Ring width (px)", self.ring_width), ("Points", self.n_points))),
            ("Polar grid", (("r min (px)", self.r_min), ("r max (px)", self.r_max), ("Angles", self.n_phi),
                            ("Sampling", self.method))),
            ("Rings", (("Band from (px)", self.band_lo), ("Band to (px)", self.band_hi),
                       ("Radial window ±", self.half_width), (self.remove_peaks, self.peak_thresh),
                       ("Peak width ±", self.thick), ("Fit degree", self.deg), (self.subtract_fit, None))),
            ("Correlation", (("Frames", self.frame_set), ("Pairing", self.pairing), ("Matching", self.pair_method),
                             ("Fit feature", self.feature), ("Shot spacing", self.delta),
                             ("Normalisation", self.norm), ("Average", self.average))),
            ("Geometry", (("Wavelength", self.wavelength_nm), ("Distance", self.distance_mm),
                          ("Pixel size", self.pixel_um), (self.polarization, self.fraction_y))),
        ):
            box = QtWidgets.QGroupBox(title)
            form = QtWidgets.QFormLayout(box)
            for label, widget in rows:
                if widget is None:
                    form.addRow(label)
                else:
                    form.addRow(label, widget)
            layout.addWidget(box)
        for box in (self.x, self.y, self.r):
            box.valueChanged.connect(lambda *_: self.centre_edited.emit())
        for box in (self.band_lo, self.band_hi):
            box.valueChanged.connect(lambda *_: self.band_edited.emit())

    # -- values -------------------------------------------------------------------------------
    def centre(self) -> tuple[float, float, float]:
        """(x, y, r) [px, absolute centre]."""
        return self.x.value(), self.y.value(), self.r.value()

    def set_centre(self, x: float, y: float, r: float | None = None) -> None:
        for box, value in ((self.x, x), (self.y, y), (self.r, r)):
            if value is not None:
                box.blockSignals(True)
                box.setValue(float(value))
                box.blockSignals(False)
        self.centre_edited.emit()

    def set_frame_sets(self, choices: list[tuple[str, str]]) -> None:
        """Offer ``(key, label)`` frame sets, keeping the current key when it still exists."""
        current = self.frame_set.currentData()
        self.frame_set.blockSignals(True)
        self.frame_set.clear()
        for key, label in choices:
            self.frame_set.addItem(label, key)
        index = self.frame_set.findData(current)
        self.frame_set.setCurrentIndex(max(index, 0))
        self.frame_set.blockSignals(False)

    def set_image_defaults(self, shape: tuple[int, int], geometry) -> None:
        """Centre in the middle, radii to the nearest edge, band in the middle, geometry from the
        file (``owlx.io.source.Geometry``; unknown values stay 0)."""
        ny, nx = shape
        r_edge = max(int(min(nx, ny) // 2), 8)
        self.set_centre((nx - 1) / 2.0, (ny - 1) / 2.0, r_edge / 2.0)
        for box, value in ((self.r_min, max(r_edge // 20, 1)), (self.r_max, r_edge),
                           (self.band_lo, int(r_edge * 0.45)), (self.band_hi, int(r_edge * 0.55) + 1)):
            box.setValue(value)
        pairs = ((self.wavelength_nm, geometry.wavelength_m, 1e9), (self.distance_mm, geometry.distance_m, 1e3),
                 (self.pixel_um, geometry.pixel_size_m, 1e6))
        for box, value, scale in pairs:
            box.setValue(float(value) * scale if value else 0.0)

    def settings(self) -> PolarSettings:
        """The current values as settings (not yet validated)."""
        lam, dist, pix = self.wavelength_nm.value(), self.distance_mm.value(), self.pixel_um.value()
        return PolarSettings(
            center_xy=(self.x.value(), self.y.value()), r_min=self.r_min.value(), r_max=self.r_max.value(),
            n_phi=self.n_phi.value(), method=self.method.currentText(), band_lo=self.band_lo.value(),
            band_hi=self.band_hi.value(), half_width=self.half_width.value(),
            peak_thresh=self.peak_thresh.value() if self.remove_peaks.isChecked() else None,
            thick=self.thick.value(), deg=self.deg.value(), subtract_fit=self.subtract_fit.isChecked(),
            pairing=self.pairing.currentText(), pair_method=self.pair_method.currentText(),
            feature=self.feature.currentText(), delta=self.delta.value(), norm=self.norm.currentText(),
            average=self.average.currentText(),
            wavelength_m=lam * 1e-9 if lam > 0 else None, distance_m=dist * 1e-3 if dist > 0 else None,
            pixel_size_m=pix * 1e-6 if pix > 0 else None,
            polarization_y=self.fraction_y.value() if self.polarization.isChecked() else None,
        )
