"""pyxsvs project files, masks, geometry on the example data, and the Exp_1 regression
(spec/xsvs.md §2, §3, §5, §15, §16.1–16.4, §16.9)."""

import os
from pathlib import Path

import numpy as np
import pytest

from owlx.core.xsvs_analysis import ExposureAnalysis, XsvsSettings
from owlx.errors import FileFormatError
from owlx.io.xsvs_project import (
    center_to_file,
    center_to_internal,
    load_flat_field,
    load_mask,
    open_exposure,
    project_from_series,
    read_project,
)
from owlx.xsvs import prepare

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pyxsvs" / "examples"
XSVS = DATA / "analysis" / "xsvs"
RING_SIZES = [553, 1012, 1477, 1918, 2376, 2817, 3279, 3720, 4181]


def need_data():
    if not (XSVS / "xsvs_input_subset.txt").is_file():
        pytest.skip("the pyxsvs example data (../shared/data/pyxsvs) is not available")


MAIN = """[Main]
save dir = out/
data dir = frames/
flat field = flat.edf
default mask = dmask.edf
mask = mask.edf
q1 = 0.002
qs = 0.001
q2 = 0.004
dq = 4e-04
sample name = S_
wavelength = 1.53
cenx = 10.5
ceny = 20.25
pix = 0.055
sddist = 2140
figure title = test
"""


def exp_section(n, first, last, t, extra=""):
    return f"\n[Exp_{n}]\ndata prefix = f_\ndata suffix = .edf\nfirst data file = {first}\n" \
           f"last data file = {last}\nexp time = {t}\n{extra}"


def write_ini(tmp_path, text, name="input.txt"):
    path = tmp_path / "proj" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- parser -----------------------------------------------------------------------------------
def test_example_inputs_list_exposures_in_order():
    need_data()
    full = read_project(XSVS / "xsvs_input.txt")
    assert [e.name for e in full.exposures] == [f"Exp_{i}" for i in range(1, 9)]
    assert [e.exp_time_s for e in full.exposures] == [5e-5, 1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3, 6.4e-3]
    assert sum(len(e.files) for e in full.exposures) == 360 * 7 + 180
    assert full.exposures[0].files[0].endswith("data/xsvs-series/sid1-1_40C_0001.edf.gz")
    assert [e.status for e in full.exposures] == ["ok"] * 5 + ["missing"] * 2 + ["ok"]
    assert len(full.exposures[5].missing) == 360
    assert os.path.samefile(full.mask_path, DATA / "analysis" / "mask.edf")  # ../shared may be a link
    subset = read_project(XSVS / "xsvs_input_subset.txt")
    assert [e.name for e in subset.exposures] == ["Exp_1", "Exp_2", "Exp_3", "Exp_4", "Exp_5", "Exp_8"]
    assert (subset.cenx, subset.ceny, subset.sample_name) == (125.01, 118.31, "SiD_1-1_40C_")


def test_exposures_sort_numerically_and_other_sections_are_ignored(tmp_path):
    text = MAIN + exp_section(10, 21, 22, 4e-3) + exp_section(2, 11, 12, 2e-3) + exp_section(1, 1, 3, 1e-3)
    text += "\n[Notes]\nwho = me\n"
    project = read_project(write_ini(tmp_path, text))
    assert [e.name for e in project.exposures] == ["Exp_1", "Exp_2", "Exp_10"]
    assert any("[Notes]" in w for w in project.warnings)
    base = tmp_path / "proj"
    assert project.exposures[0].files == [str(base / "frames" / f"f_000{i}.edf") for i in (1, 2, 3)]
    assert project.flat_field_path == str(base / "flat.edf")
    assert project.save_dir == str(base / "out")
    assert project.default_output() == str(base / "out" / "S_xsvs_results.h5")
    assert project.default_summary() == str(base / "out" / "S_xsvs_summary.csv")
    assert project.center == (19.25, 9.5)  # 1-based file values
    assert project.exposures[0].status == "missing"


def test_stepped_acquisition_and_repeated_options(tmp_path):
    text = MAIN + exp_section(1, 1, 10, 1e-3, "files in step = 4\nuseful frames = 2\n")
    project = read_project(write_ini(tmp_path, text))
    numbers = [int(Path(f).name[2:6]) for f in project.exposures[0].files]
    assert numbers == [1, 2, 5, 6, 9, 10]
    # repeats are refused, not merged (tests/io/test_xsvs_ini_strict.py has the messages)
    with pytest.raises(FileFormatError, match="'mask' is set a second time in \\[Main\\]"):
        read_project(write_ini(tmp_path, text.replace("mask = mask.edf\n", "mask = mask.edf\nmask = newmask.edf\n")))
    with pytest.raises(FileFormatError, match="section \\[Main\\] appears a second time"):
        read_project(write_ini(tmp_path, text + "\n[Main]\n"))


def test_refused_and_incomplete_inputs(tmp_path):
    with pytest.raises(FileFormatError, match="XPCS"):
        read_project(write_ini(tmp_path, MAIN + "mode = XPCS\n" + exp_section(1, 1, 2, 1e-3)))
    with pytest.raises(FileFormatError, match="pyxpcs"):
        read_project(write_ini(tmp_path, "[Directories]\ndata dir = x\n", "old.txt"))
    with pytest.raises(FileFormatError, match="wavelength"):
        read_project(write_ini(tmp_path, MAIN.replace("wavelength = 1.53\n", "") + exp_section(1, 1, 2, 1e-3)))
    with pytest.raises(FileFormatError, match="Exp_"):
        read_project(write_ini(tmp_path, MAIN))
    no_mask = read_project(write_ini(tmp_path, MAIN.replace("mask = mask.edf\n", "") + exp_section(1, 1, 2, 1e-3)))
    assert no_mask.mask_path is None and any("mask" in w for w in no_mask.warnings)


def test_centre_conventions():
    assert center_to_internal(125.01, 118.31, "pyxsvs_1based") == pytest.approx((117.31, 124.01))
    assert center_to_internal(125.01, 118.31, "zero_based") == (118.31, 125.01)
    assert center_to_file(117.31, 124.01, "pyxsvs_1based") == pytest.approx((125.01, 118.31))


def test_project_from_an_open_series():
    files = [f"/d/s_{i:04d}.edf" for i in range(1, 11)]
    project = project_from_series(files, range(1, 11), [("Exp_2", 6, 12, 2e-3), ("Exp_1", 1, 5, 1e-3)],
                                  q1=0.002, q2=0.004, qs=0.001, dq=4e-4, wavelength_A=1.5, pix_mm=0.055,
                                  sddist_mm=2000, cenx=5.0, ceny=6.0)
    assert [e.name for e in project.exposures] == ["Exp_1", "Exp_2"]
    assert project.exposures[0].files == files[:5]
    assert project.exposures[1].status == "partial" and len(project.exposures[1].missing) == 2
    assert project.center == (6.0, 5.0)  # zero-based by default for owlx-native projects


# -- example data -----------------------------------------------------------------------------
def test_mask_and_flat_field_of_the_example():
    need_data()
    valid = load_mask(str(DATA / "analysis" / "mask.edf"))  # declares a 1024-byte header; it ends at 512
    assert valid.shape == (256, 256) and valid.dtype == bool
    assert int((~valid).sum()) == 19099
    default = load_mask(str(DATA / "analysis" / "maxipix1_mask_2013.edf"))
    assert int((~default).sum()) == 14379 and not np.any(~default & valid)
    flat = load_flat_field(str(DATA / "analysis" / "maxipix1_flatfield_2013.edf"))
    assert flat.dtype == np.float64 and flat.min() == pytest.approx(0.2107, abs=1e-4)


def test_ring_sizes_of_the_example():
    need_data()
    project = read_project(XSVS / "xsvs_input_subset.txt")
    setup = prepare(project, XsvsSettings.compat())
    assert setup.rings.npix.tolist() == RING_SIZES
    assert setup.center == pytest.approx((117.31, 124.01))
    masked = ~load_mask(project.mask_path)
    assert not setup.rings.masks()[:, masked].any()
    zero = read_project(XSVS / "xsvs_input_subset.txt", center_convention="zero_based")
    sizes = prepare(zero, XsvsSettings()).rings.npix.tolist()
    assert sizes[1] == 1014 and sizes != RING_SIZES


@pytest.fixture(scope="module")
def exp1_frames():
    need_data()
    project = read_project(XSVS / "xsvs_input_subset.txt")
    with open_exposure(project.exposures[0]) as source:
        stack = source.stack()
        assert stack.shape == (360, 256, 256) and stack.dtype == np.uint16
        frames = [stack[i] for i in range(len(stack))]
    return project, frames


def analyse(project, frames, settings):
    setup = prepare(project, settings)
    analysis = ExposureAnalysis(setup.rings, setup.flat, settings, len(frames))
    for i, f in enumerate(frames):
        analysis.add(i, f)
    return analysis.finish()


def test_exp1_contrast_reproduces_pyxsvs(exp1_frames):
    project, frames = exp1_frames
    ring = analyse(project, frames, XsvsSettings.compat())[1]  # q = 0.003
    assert ring.q == pytest.approx(0.003)
    assert ring.bins.tolist() == list(range(19))
    assert ring.M == pytest.approx(4.54, abs=0.03)
    assert ring.beta == pytest.approx(0.220, rel=0.02)
    assert ring.beta == pytest.approx(0.220, abs=0.002)
    default = analyse(project, frames, XsvsSettings())[1]
    assert default.beta == pytest.approx(0.220, abs=0.01)
    lsq, mle = default.fits["lsq"], default.fits["mle"]
    assert abs(mle.beta - lsq.beta) < 2 * np.hypot(mle.beta_stddev, lsq.beta_stddev)
