"""The ring overlay rebuilds its image (log static, levels, mask) only when the static or the mask
changes; a geometry edit only moves the boundary circles."""

import numpy as np
import pytest

from owlx.core.xsvs_analysis import ExposureResult
from owlx.core.xsvs_rings import ring_centres, ring_radii_px

GEO = {"wavelength_A": 1.53, "pix_mm": 0.055, "sddist_mm": 2140.0}
Q = ring_centres(0.002, 0.005, 0.001)
DQ = 4e-4


def exposure(name, seed):
    static = np.random.default_rng(seed).uniform(0.5, 2.0, (64, 64))
    return ExposureResult(name, 1e-3, 1, 10, 10, 0, "ok", static, [object()])  # rings: any non-empty list


@pytest.fixture
def counted(qtbot):
    """The plots on the Rings tab, with a count of image rebuilds."""
    from owlx_xsvs.plot_tabs import XsvsPlots

    plots = XsvsPlots()
    qtbot.addWidget(plots)
    plots.setCurrentIndex(5)
    calls = []
    real = plots.rings.show_image

    def show_image(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    plots.rings.show_image = show_image
    valid = np.ones((64, 64), dtype=bool)
    valid[:, 10:12] = False
    plots.valid = valid
    plots.set_exposures([exposure("Exp_1", 1)])
    plots.set_ring_geometry((30.0, 33.0), Q, DQ, **GEO)
    return plots, calls, valid


def circle_centres_and_radii(plots):
    out = []
    for curve in plots.rings.boundaries:
        if curve.isVisible():
            x, y = curve.getOriginalDataset()  # x = column, y = row
            out.append(((y.max() + y.min()) / 2, (x.max() + x.min()) / 2, (x.max() - x.min()) / 2))
    return np.array(out)


def test_a_geometry_edit_moves_the_circles_without_rebuilding_the_image(counted):
    plots, calls, valid = counted
    assert len(calls) == 1
    image = plots.rings.image.image
    for centre, dq in (((40.5, 20.25), DQ), ((40.5, 20.25), 2 * DQ), ((12.0, 50.0), 3e-4)):
        plots.valid = valid.copy()  # the same mask again, as a new array: no rebuild either
        plots.set_ring_geometry(centre, Q, dq, **GEO)
        assert len(calls) == 1 and plots.rings.image.image is image
        drawn = circle_centres_and_radii(plots)
        expected = ring_radii_px(np.column_stack([Q - dq, Q + dq]).ravel(), **GEO)
        assert len(drawn) == expected.size == 8
        np.testing.assert_allclose(drawn[:, 0], centre[0], atol=1e-9)
        np.testing.assert_allclose(drawn[:, 1], centre[1], atol=1e-9)
        np.testing.assert_allclose(drawn[:, 2], expected, rtol=1e-9)
        np.testing.assert_allclose(plots.rings.radii, expected, rtol=1e-12)
    assert plots.rings.centre == (12.0, 50.0)
    # a new result under the shown name (a rerun) is a new static: one rebuild
    rerun = exposure("Exp_1", 3)
    plots.set_exposures([rerun, exposure("Exp_2", 2)])
    assert len(calls) == 2 and plots.rings.exposure_name == "Exp_1"
    np.testing.assert_allclose(plots.rings.image.image, np.log10(rerun.static))


def test_the_image_is_rebuilt_when_the_mask_or_the_exposure_changes(counted):
    plots, calls, valid = counted
    first = plots.exposures[0]
    plots.set_exposures([first])  # the same exposure again: nothing to rebuild
    assert len(calls) == 1
    other = valid.copy()
    other[:5] = False
    plots.valid = other
    plots.set_ring_geometry((30.0, 33.0), Q, DQ, **GEO)
    assert len(calls) == 2
    assert plots.rings.mask_image.image[2, 40, 3] == 110 and plots.rings.mask_image.image[20, 40, 3] == 0
    plots.set_ring_geometry((30.0, 33.0), Q, DQ, **GEO, valid=valid)  # back to the first mask
    assert len(calls) == 3 and plots.rings.mask_image.image[2, 40, 3] == 0
    second = exposure("Exp_2", 2)
    plots.set_exposures([first, second])  # Exp_2 finished; Exp_1 stays shown: no rebuild
    assert len(calls) == 3 and plots.exp_choice_rings.currentText() == "Exp_1"
    plots.exp_choice_rings.setCurrentIndex(1)  # the user picks Exp_2's static, then Exp_1's again
    assert len(calls) == 4 and calls[-1] is second.static
    plots.exp_choice_rings.setCurrentIndex(0)
    assert len(calls) == 5 and calls[-1] is first.static
    np.testing.assert_allclose(plots.rings.image.image, np.log10(first.static))
