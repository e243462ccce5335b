"""What a FIB-SEM registration checks before its expensive stages (output folder, evaluation
boxes, sizes) and what survives a failure after them (the run when its record cannot be
written; no ``run.output`` when the MRC writer fails)."""

import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from fibsem_synthetic import drift_stack, to_int16
from owlx_fibsem import output_stages, tasks
from owlx_fibsem.executor import InlinePool
from owlx_fibsem.frames import MemoryFrames
from owlx_fibsem.pipeline import register_stack, registration_job

from owlx.cli import main
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.errors import FileFormatError, ParameterError
from owlx.jobs import CancelToken, JobContext, run_inline

N, SIZE = 4, 96


@pytest.fixture(scope="module")
def stack():
    frames, _ = drift_stack(N, (SIZE, SIZE), sigma=1.2, noise=0.3, seed=3)
    return to_int16(frames)


@pytest.fixture
def mrc_stack(stack, tmp_path):
    """The stack as an MRC file, the CLI's input."""
    path = tmp_path / "in" / "stack.mrc"
    path.parent.mkdir()
    with mrcfile.new(path) as m:
        m.set_data(stack)
    return path


def settings(**changes):
    base = {"matcher": "bf", "model": "Shift", "nmi_bins": 64, "with_frc": False}
    base.update(changes)
    return RegistrationSettings.preset("reference", **base)


# -- 1. a record that cannot be written is a warning, the run is kept ------------------------
def test_record_in_the_way_keeps_the_run_with_a_warning(stack, tmp_path):
    out = tmp_path / "reg.mrc"
    (tmp_path / "reg_registration.h5").mkdir()  # a folder where the record file goes
    outcome = run_inline(registration_job(MemoryFrames(list(stack)), settings(), str(out)), raise_errors=False)
    assert outcome.status == "done"
    run = outcome.value
    assert run.output == str(out) and len(run.metrics) == N - 1
    assert len(run.warnings) == 1 and "record" in run.warnings[0] and str(out) in run.warnings[0]
    assert "warning: the registration record" in run.report()
    with mrcfile.open(out, permissive=True) as m:
        assert m.data.shape[0] == N
    assert (tmp_path / "reg_registration_metrics.csv").stat().st_size > 0  # written before the .h5 failed


def test_cli_reports_the_unwritten_record_and_exits_0(mrc_stack, tmp_path, capsys):
    out = tmp_path / "cli.mrc"
    (tmp_path / "cli_registration.h5").mkdir()
    code = main(["register", str(mrc_stack), "-o", str(out), "--preset", "reference", "--matcher", "bf",
                 "--model", "Shift", "--threads", "1", "--no-metrics"])
    captured = capsys.readouterr()
    assert code == 0 and f"registered {N} frames" in captured.out
    warnings = [line for line in captured.err.splitlines() if "warning: the registration record" in line]
    assert len(warnings) == 1 and warnings[0].startswith("owlx register: warning:") and "cli_registration.h5" in \
        warnings[0]
    assert out.exists()


# -- 2. an output folder that cannot be written is refused before any work -----------------
def test_missing_or_blocked_output_folder_is_refused_up_front(stack, tmp_path):
    frames = MemoryFrames(list(stack))
    missing = tmp_path / "nowhere"
    with pytest.raises(ParameterError) as err:
        registration_job(frames, settings(), str(missing / "reg.mrc"))
    assert str(err.value) == f"cannot write to {missing}: the folder does not exist; choose another output folder"
    blocker = tmp_path / "file"
    blocker.write_text("x")  # root ignores permission bits: a file as the "folder" cannot be written by anyone
    with pytest.raises(ParameterError) as err:
        registration_job(frames, settings(), str(blocker / "reg.mrc"))
    assert str(err.value) == f"cannot write to {blocker}: it is not a folder; choose another output folder"
    with pytest.raises(ParameterError, match="the folder does not exist"):
        registration_job(frames, settings(), str(blocker / "sub" / "reg.mrc"))
    assert blocker.read_text() == "x"


def test_unwritable_output_folder_is_refused_with_the_reason(stack, tmp_path, monkeypatch):
    def read_only(*_args, **_kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(output_stages.tempfile, "mkstemp", read_only)
    with pytest.raises(ParameterError) as err:
        registration_job(MemoryFrames(list(stack)), settings(), str(tmp_path / "reg.mrc"))
    assert str(err.value) == f"cannot write to {tmp_path}: Read-only file system; choose another output folder"


def test_writable_folder_check_leaves_nothing_behind(stack, tmp_path):
    registration_job(MemoryFrames(list(stack)), settings(), str(tmp_path / "reg.mrc"))
    assert list(tmp_path.iterdir()) == []


def test_cli_output_folder_missing(mrc_stack, tmp_path, capsys):
    assert main(["register", str(mrc_stack), "-o", str(tmp_path / "no" / "out.mrc")]) == 2
    assert f"cannot write to {tmp_path / 'no'}: the folder does not exist" in capsys.readouterr().err


# -- 3. evaluation boxes outside the frame ------------------------------------------------
def test_box_outside_the_frame_fails_before_stage_1():
    frames = MemoryFrames([np.zeros((300, 300), np.int16)] * 3)
    events = []
    outcome = run_inline(registration_job(frames, settings(evaluation_box=(500, 10, 0, 10))),
                         on_result=events.append, raise_errors=False)
    assert outcome.status == "failed" and isinstance(outcome.error, ParameterError)
    assert str(outcome.error) == ("evaluation_box [top, height, left, width] = [500, 10, 0, 10] does not fit the "
                                  "frames of 300 rows × 300 columns (rows 500…509, columns 0…9)")
    assert events == []  # no stage started
    sliding = settings(sliding_evaluation_box=True, start_evaluation_box=(0, 0, 0, 0),
                       stop_evaluation_box=(0, 10, 295, 10))
    with pytest.raises(ParameterError, match=r"stop_evaluation_box .* \[0, 10, 295, 10\] .* 300 rows × 300 columns"):
        register_stack(frames, sliding)


def test_cli_box_outside_the_frame(tmp_path, capsys):
    path = tmp_path / "big.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.zeros((3, 300, 300), np.int16))
    out = tmp_path / "out.mrc"
    assert main(["register", str(path), "-o", str(out), "--box", "500", "10", "0", "10", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "[500, 10, 0, 10] does not fit the frames of 300 rows × 300 columns" in err
    assert "cv2" not in err and "Assertion" not in err and len(err.strip().splitlines()) == 1  # not OpenCV's
    assert not out.exists()


# -- 4. nonsense sizes -------------------------------------------------------------------------
def test_cli_nonsense_sizes_are_refused(mrc_stack, tmp_path, capsys):
    out = tmp_path / "out.mrc"
    assert main(["register", str(mrc_stack), "-o", str(out), "--pixel-size", "-3", "--z-step", "nan"]) == 2
    assert "must be a finite number > 0" in capsys.readouterr().err and not out.exists()
    with pytest.raises(ParameterError, match="z_step_nm must be a finite number > 0"):
        settings(z_step_nm=float("nan"))


# -- 7. run.output only names a written file -----------------------------------------------
def test_run_output_is_set_only_after_the_mrc_is_written(stack, tmp_path, monkeypatch):
    frames = MemoryFrames(list(stack))
    run = register_stack(frames, settings())  # no output: registration only
    ctx = JobContext(CancelToken())
    with pytest.raises(FileFormatError):  # the writer cannot open its file
        output_stages.write_output(run, frames, InlinePool(), ctx, lambda k: None, str(tmp_path / "no" / "a.mrc"))
    assert run.output is None

    def broken(*_args):
        raise RuntimeError("warp failed")

    monkeypatch.setattr(tasks, "warp_task", broken)  # fails after the writer opened
    with pytest.raises(RuntimeError, match="warp failed"):
        output_stages.write_output(run, frames, InlinePool(), ctx, lambda k: None, str(tmp_path / "b.mrc"))
    assert run.output is None and not (tmp_path / "b.mrc").exists()
    monkeypatch.undo()
    output_stages.write_output(run, frames, InlinePool(), ctx, lambda k: None, str(tmp_path / "c.mrc"))
    assert run.output == str(tmp_path / "c.mrc") and Path(run.output).exists()
