"""Beam-centre finding on the pyxsvs example (spec/xsvs.md §8, §15) as a job.

The file's centre, cenx = 125.01, ceny = 118.31, was written by pyxsvs's own beam finder, whose
pyFAI geometry puts the beam at 0-based (ceny − 0.5, cenx − 0.5) = (117.81, 124.51), while the
q map reads it 1-based, (117.31, 124.01) (spec §3.2). owlx's centre is compared with the former."""

from pathlib import Path

import numpy as np
import pytest

from owlx.core.xsvs_analysis import XsvsSettings
from owlx.errors import ParameterError
from owlx.io.xsvs_project import read_project
from owlx.jobs import run_inline
from owlx.xsvs_beam import centre_job, find_project_centre

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pyxsvs" / "examples"
SUBSET = DATA / "analysis" / "xsvs" / "xsvs_input_subset.txt"
PYFAI_BEAM = (118.31 - 0.5, 125.01 - 0.5)  # 0-based (row, col) of pyxsvs's beam finder


@pytest.fixture(scope="module")
def project():
    if not SUBSET.is_file():
        pytest.skip("the pyxsvs example data (../shared/data/pyxsvs) is not available")
    return read_project(SUBSET)


def test_centre_job_on_the_brightest_exposure(project):
    before = SUBSET.read_bytes()
    steps = []
    outcome = run_inline(centre_job(project, XsvsSettings(), exposure="Exp_8"), on_progress=lambda d, t: steps.append(d))
    assert outcome.status == "done", outcome.error
    found = outcome.value
    est = found.estimate
    assert found.exposure == "Exp_8" and found.n_frames == 180 and est.n_blocks == 8
    # measured: (117.90 ± 0.02, 124.63 ± 0.04), i.e. (+0.09, +0.12) px from pyxsvs's finder
    assert abs(est.row0 - PYFAI_BEAM[0]) < 0.3 and abs(est.col0 - PYFAI_BEAM[1]) < 0.3
    assert 0 < est.sigma_row < 0.1 and 0 < est.sigma_col < 0.1
    assert found.file_center == pytest.approx((117.31, 124.01))
    # the project's convention (pyxsvs_1based) maps the centre back to file values
    assert (found.cenx, found.ceny) == pytest.approx((est.col0 + 1, est.row0 + 1))
    assert steps and steps[-1] == 1 and max(steps) == 180
    assert SUBSET.read_bytes() == before  # nothing is written into the .ini


def test_sector_refinement_agrees_on_few_frames(project):
    found = find_project_centre(project, XsvsSettings(static_frames=40), "Exp_8", n_blocks=4, refine_sectors=True)
    est = found.estimate
    # measured: (117.85 ± 0.07, 124.88 ± 0.08)
    assert est.method == "autocenter+sectors"
    assert np.hypot(est.row0 - PYFAI_BEAM[0], est.col0 - PYFAI_BEAM[1]) < 0.5


def test_compat_mode_and_bad_choices_refuse(project):
    with pytest.raises(ParameterError, match="compatible mode uses the centre of the file"):
        find_project_centre(project, XsvsSettings.compat())
    with pytest.raises(ParameterError, match="no exposure 'Exp_6x'"):
        find_project_centre(project, exposure="Exp_6x")
    with pytest.raises(ParameterError, match="two frame blocks"):
        find_project_centre(project, n_blocks=1)
