"""The P(K) grid view and the ring overlay of the XSVS plots (spec/xsvs.md §12, plots 1 and 4),
on a small synthetic exposure analysed by the real core (gamma–Poisson speckle, M = 5)."""

import math

import numpy as np
import pytest

from owlx.core.xsvs_analysis import ExposureAnalysis, ExposureResult, XsvsSettings
from owlx.core.xsvs_fit import nb_pmf
from owlx.core.xsvs_rings import make_rings, q_map, ring_centres, ring_radii_px

GEO = {"wavelength_A": 1.53, "pix_mm": 0.055, "sddist_mm": 2140.0}
CENTRE = (30.4, 33.2)  # (row0, col0)
Q1, Q2, QS, DQ = 0.002, 0.005, 0.001, 4e-4


@pytest.fixture(scope="module")
def exposure():
    rng = np.random.default_rng(3)
    shape = (64, 64)
    valid = np.ones(shape, dtype=bool)
    valid[:, 10:12] = False
    rings = make_rings(q_map(shape, *CENTRE, **GEO), valid, ring_centres(Q1, Q2, QS), DQ)
    analysis = ExposureAnalysis(rings, None, XsvsSettings(static_frames=10), 40)
    for i in range(40):
        analysis.add(i, rng.poisson(rng.gamma(5.0, 2.0 / 5.0, shape)).astype(np.uint16))
    result = ExposureResult("Exp_1", 1e-3, 1, 40, 40, 0, "ok", analysis.static, analysis.finish())
    return result, valid


@pytest.fixture
def plots(qtbot):
    from owlx_xsvs.plot_tabs import XsvsPlots

    w = XsvsPlots()
    qtbot.addWidget(w)
    w.resize(800, 600)
    return w


def test_grid_has_one_panel_per_ring_with_the_fitted_model(plots, exposure, tmp_path):
    result, _ = exposure
    plots.set_q_values(ring_centres(Q1, Q2, QS), reset=True)
    plots.set_exposures([result])
    plots.setCurrentIndex(4)
    grid = plots.grid
    assert grid.exposure_name == "Exp_1"
    assert len(result.rings) == 4 and len(grid.panels) == 4 and len(grid.fit_curves) == 4
    for ring, curve in zip(result.rings, grid.fit_curves):
        assert 3 < ring.M < 8  # a fit happened (synthetic M = 5)
        x, y = curve.getOriginalDataset()
        k = x * ring.K
        assert k[0] == 0.0 and np.allclose(np.diff(k), 0.1)
        np.testing.assert_allclose(y, nb_pmf(k, ring.K, ring.M), rtol=1e-12)
        assert y.min() > 1e-12 and y.size > 100
    # markers: the fitted bins filled, the data exactly the ring's histogram
    ring, panel = result.rings[0], grid._panels[0]
    x, y = panel.fitted.getOriginalDataset()
    np.testing.assert_allclose(y, ring.histogram[(ring.histogram > 0) & ring.fit_bins])
    np.testing.assert_allclose(x * ring.K, ring.bins[(ring.histogram > 0) & ring.fit_bins])
    out = plots.export_png(str(tmp_path / "grid.png"), width=600)
    assert (tmp_path / "grid.png").stat().st_size > 1000 and out.endswith("grid.png")
    assert plots.export_png(str(tmp_path / "beta.png"), index=1)
    assert (tmp_path / "beta.png").stat().st_size > 1000


def test_ring_overlay_draws_the_ring_boundaries_at_the_ring_radii(plots, exposure):
    result, valid = exposure
    q = ring_centres(Q1, Q2, QS)
    plots.set_exposures([result])
    plots.valid = valid
    plots.set_ring_geometry(CENTRE, q, DQ, **GEO)
    plots.setCurrentIndex(5)
    overlay = plots.rings
    expected = ring_radii_px(np.column_stack([q - DQ, q + DQ]).ravel(), **GEO)
    assert expected.size == 8
    np.testing.assert_allclose(overlay.radii, expected, rtol=1e-12)
    # outer boundary of ring 0, q = 0.0024 Å⁻¹: r = (L/p)·tan(2·asin(qλ/4π)) = 22.739 px
    assert overlay.radii[1] == pytest.approx(2140 / 0.055 * math.tan(2 * math.asin(0.0024 * 1.53 / (4 * math.pi))),
                                             rel=1e-12)
    assert overlay.radii[1] == pytest.approx(22.739, abs=1e-3)
    drawn = [c for c in overlay.boundaries if c.isVisible()]
    assert len(drawn) == 8
    for curve, r in zip(drawn, expected):
        x, y = curve.getOriginalDataset()  # x = column, y = row
        np.testing.assert_allclose(np.hypot(y - CENTRE[0], x - CENTRE[1]), r, rtol=1e-12)
    # the static is shown on a log scale, the masked columns drawn over it
    shown = overlay.image.image
    np.testing.assert_allclose(shown[valid & (result.static > 0)], np.log10(result.static[valid & (result.static > 0)]))
    assert overlay.mask_image.image[:, 10, 3].tolist() == [110] * 64 and overlay.mask_image.image[5, 5, 3] == 0
    # fewer rings later: the surplus curves are hidden
    plots.set_ring_geometry(CENTRE, q[:2], DQ, **GEO)
    assert sum(c.isVisible() for c in overlay.boundaries) == 4 and overlay.radii.size == 4
