"""XLSX export of a registration record with the reference's sheet names (spec/fibsem.md §9),
and the message when openpyxl is missing."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from fibsem_synthetic import drift_stack, to_int16
from owlx_fibsem.export import export_xlsx
from owlx_fibsem.frames import MemoryFrames
from owlx_fibsem.pipeline import registration_job

from owlx.core.fibsem_settings import RegistrationSettings
from owlx.errors import ParameterError
from owlx.io.fibsem_record import write_tables_xlsx, xlsx_available
from owlx.jobs import run_inline

SHEETS = ["Orig. Transformation Matrix", "Cum. Transformation Matrix", "Intermediate Results", "Reg. Stat. Info",
          "kwargs Info"]
N = 5


@pytest.fixture(scope="module")
def stack():
    frames, _ = drift_stack(N, (128, 128), sigma=1.2, noise=0.3, seed=4)
    return to_int16(frames)


def settings(**changes):
    return RegistrationSettings.preset("reference", matcher="bf", model="RegularizedAffine", nmi_bins=64,
                                       with_frc=False, **changes)


def test_xlsx_sheets_hold_the_record_numbers(stack, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "reg.mrc"
    run = run_inline(registration_job(MemoryFrames(list(stack)), settings(zbin=2), str(out), xlsx=True)).value
    path = tmp_path / "reg_registration.xlsx"
    assert path.exists()  # written with the record
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == SHEETS
    orig = wb["Orig. Transformation Matrix"]
    header = [c.value for c in orig[1]]
    assert header[:5] == ["frame_a", "frame_b", "status", "n_matches", "npts"] and orig.max_row == N
    for r, fit in enumerate(run.registration.fits, start=2):
        row = {h: c.value for h, c in zip(header, orig[r])}
        assert (row["frame_a"], row["frame_b"], row["status"], row["npts"]) == (r - 2, r - 1, fit.status, fit.npts)
        # openpyxl writes 16 significant digits (Excel keeps 15); CSV and HDF5 keep every bit
        assert [row[k] for k in ("Sxx", "Sxy", "Tx", "Syx", "Syy", "Ty")] == pytest.approx(
            fit.matrix[:2].ravel().tolist(), rel=1e-15, abs=1e-300)
    cum = wb["Cum. Transformation Matrix"]
    assert cum.max_row == N + 1
    last = [c.value for c in cum[N + 1]]
    assert last[0] == N - 1 and last[1:] == pytest.approx(run.registration.cumulative[-1][:2].ravel(), rel=1e-15)
    assert abs(last[3]) > 0.1  # a real shift (drift-corrected), not an identity
    inter = wb["Intermediate Results"]
    cols = [c.value for c in inter[1]]
    assert inter.cell(4, cols.index("data_min") + 1).value == pytest.approx(run.ranges[2, 0], rel=1e-15)
    assert inter.cell(4, cols.index("n_keypoints") + 1).value == run.n_keypoints[2]
    stats = wb["Reg. Stat. Info"]
    cols = [c.value for c in stats[1]]
    assert stats.max_row == 1 + len(run.metrics) == 1 + (N + 1) // 2 - 1
    assert stats.cell(2, cols.index("ncc") + 1).value == pytest.approx(run.metrics[0]["ncc"], rel=1e-15)
    assert 0.5 < run.metrics[0]["ncc"] < 1
    kwargs = {row[0].value: row[1].value for row in wb["kwargs Info"].iter_rows(min_row=2)}
    assert kwargs["zbin"] == 2 and kwargs["fit.model"] == "RegularizedAffine"
    assert json.loads(kwargs["evaluation_box"]) == [0, 0, 0, 0]
    assert json.loads(kwargs["canvas_offsets_xy"]) == [run.canvas.xi, run.canvas.yi]
    assert kwargs["sift.nfeatures"] is None  # None stays an empty cell
    # export of the same run to another file gives the same cells
    again = export_xlsx(run, str(tmp_path / "again.xlsx"))
    wb2 = openpyxl.load_workbook(again)
    assert [[c.value for c in r] for r in wb2["Cum. Transformation Matrix"].iter_rows()] == [
        [c.value for c in r] for r in cum.iter_rows()]


def test_nan_and_long_names(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    path = write_tables_xlsx(str(tmp_path / "t.xlsx"), {"a": (["x", "y"], [[float("nan"), np.float32(1.5)]])})
    assert [c.value for c in openpyxl.load_workbook(path)["a"][2]] == ["nan", 1.5]
    with pytest.raises(ParameterError, match="31 characters"):
        write_tables_xlsx(str(tmp_path / "u.xlsx"), {"x" * 32: (["x"], [])})


def test_without_openpyxl_the_message_says_how_to_install(stack, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now raises ImportError
    assert not xlsx_available()
    with pytest.raises(ParameterError, match=r"install openpyxl \(pip install owlx\[xlsx\]\)"):
        write_tables_xlsx(str(tmp_path / "t.xlsx"), {"a": (["x"], [[1]])})
    with pytest.raises(ParameterError, match=r"pip install owlx\[xlsx\]"):  # refused before any work
        registration_job(MemoryFrames(list(stack)), settings(), str(tmp_path / "r.mrc"), xlsx=True)
    assert not (tmp_path / "r.mrc").exists()
    from owlx.cli import main

    assert main(["register", str(tmp_path / "absent.mrc"), "-o", str(tmp_path / "o.mrc"), "--xlsx"]) == 2
    assert "pip install owlx[xlsx]" in capsys.readouterr().err
