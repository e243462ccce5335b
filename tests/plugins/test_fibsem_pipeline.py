"""The FIB-SEM registration pipeline as a job: .dat folder → MRC, record, flags, cancel, CLI and
dask (spec/fibsem.md §1, §6.1, §8, §9; issue 9 acceptance)."""

import json
import sys
from pathlib import Path

import h5py
import mrcfile
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from fibsem_synthetic import drift_stack, to_int16
from owlx_fibsem.frames import FileFrames, MemoryFrames
from owlx_fibsem.pipeline import registration_job

from owlx.core.fibsem_metrics import crop_box, ncc
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.io.fibsem_dat import write_dat
from owlx.io.fibsem_record import read_csv, table_file
from owlx.jobs import run_inline

N, SIZE = 8, 192


@pytest.fixture(scope="module")
def dat_folder(tmp_path_factory):
    """8 two-channel .dat frames (8 nm pixels, WD falling 8 nm per frame) of a drifting texture."""
    folder = tmp_path_factory.mktemp("fib") / "run"
    folder.mkdir()
    frames, steps = drift_stack(N, (SIZE, SIZE), sigma=1.2, noise=0.3, seed=5)
    for k, f in enumerate(to_int16(frames)):
        write_dat(str(folder / f"Merlin-6281_21-06-18_{k:06d}_0-0-0.dat"), np.stack([f, f // 2], axis=-1),
                  PixelSize=8.0, WD=5.0 - 8e-6 * k, DetA="InLens", DetB="ESB", MachineID="synthetic")
    return folder, steps


def settings(**changes):
    base = {"matcher": "bf", "model": "Shift", "nmi_bins": 256}
    base.update(changes)
    return RegistrationSettings.preset("reference", **base)


def test_register_dat_folder_to_mrc_with_record(dat_folder, tmp_path):
    folder, steps = dat_folder
    out = tmp_path / "reg.mrc"
    events = []
    box = (16, SIZE - 32, 16, SIZE - 32)  # [top, height, left, width]: clear of the zero-filled margins
    job = registration_job(str(folder), settings(zbin=2, evaluation_box=box), str(out))
    run = run_inline(job, on_result=events.append).value
    err = run.registration.steps[:, :2, 2] - steps[:, :2, 2]
    assert np.sqrt((err ** 2).sum(axis=1).mean()) < 0.05
    assert run.flagged == [] and run.removed == []
    with mrcfile.open(out, permissive=True) as m:
        assert m.data.shape == (N // 2, *run.canvas.shape) and m.data.dtype == np.int16
        assert float(m.voxel_size.x) == pytest.approx(80.0, rel=1e-5)  # 8 nm → 80 Å
        # WD slope × zbin × 10; WD is float32 in mm (0.5 nm steps at 5 mm), hence 1 %
        assert float(m.voxel_size.z) == pytest.approx(8.0 * 2 * 10, rel=1e-2)
        assert np.abs(m.data[-1]).max() > 0  # the last slice is written
    frames = FileFrames.of(str(folder))
    raw = [crop_box(frames.frame(2 * s).astype(float) + frames.frame(2 * s + 1), box) for s in range(N // 2)]
    raw_ncc = np.mean([ncc(raw[s - 1], raw[s]) for s in range(1, N // 2)])
    assert len(run.metrics) == N // 2 - 1 and all(r["ncc"] > 0.85 for r in run.metrics)
    assert run.summary["ncc"][0] > raw_ncc + 0.05 and run.summary["snr"][0] > 5  # raw ≈ 0.80, registered ≈ 0.91
    stem = str(tmp_path / "reg_registration")
    cols, rows = read_csv(table_file(stem, "Orig. Transformation Matrix"))
    assert cols[:5] == ["frame_a", "frame_b", "status", "n_matches", "npts"] and len(rows) == N - 1
    cols, rows = read_csv(stem + "_metrics.csv")
    assert cols[:3] == ["slice", "nsad", "ncc"] and len(rows) == N // 2 - 1
    with h5py.File(stem + ".h5", "r") as f:
        assert f["pairs/matrix"].shape == (N - 1, 3, 3) and list(f["frames"][()]) == list(range(N))
        assert json.loads(f.attrs["settings_json"])["zbin"] == 2
        assert set(f["cumulative"]) >= {"raw", "final"}
    kinds = {e[0] for e in events}
    assert {"stage", "pair", "slice", "metrics"} <= kinds


def test_channel_b_fusion(dat_folder, tmp_path):
    folder, _ = dat_folder
    plain = run_inline(registration_job(str(folder), settings(), str(tmp_path / "a.mrc"), metrics=False,
                                        record=False)).value
    fused = run_inline(registration_job(str(folder), settings(imgb_fraction=0.5), str(tmp_path / "b.mrc"),
                                        metrics=False, record=False)).value
    assert np.array_equal(plain.registration.cumulative, fused.registration.cumulative)  # keypoints from A
    with mrcfile.open(tmp_path / "a.mrc") as a, mrcfile.open(tmp_path / "b.mrc") as b:
        # channel B holds A // 2: A·0.5 + B·0.5 ≈ 0.75·A
        np.testing.assert_allclose(b.data[3].astype(float), 0.75 * a.data[3], atol=1.5)


def test_blank_frame_is_removed_and_lone_failure_flagged(dat_folder):
    folder, _ = dat_folder
    frames = FileFrames.of(str(folder))
    stack = [frames.frame(i) for i in range(N)]
    blank = list(stack)
    blank[3] = np.zeros_like(stack[3])
    run = run_inline(registration_job(MemoryFrames(blank), settings())).value
    assert run.removed == [3] and 3 not in run.registration.frames
    ref = run_inline(registration_job(MemoryFrames([f for k, f in enumerate(stack) if k != 3]), settings())).value
    # equal up to the 8-bit ranges (the blank frame took part in the sliding range) and RANSAC seeds
    np.testing.assert_allclose(run.registration.steps[:, :2, 2], ref.registration.steps[:, :2, 2], atol=0.05)
    last_blank = list(stack)
    last_blank[-1] = np.zeros_like(stack[-1])  # only one pair touches it: flagged, never silent
    run = run_inline(registration_job(MemoryFrames(last_blank), settings())).value
    assert [f.index for f in run.flagged] == [N - 2] and run.flagged[0].status == "insufficient_matches"
    assert run.registration.flagged == [N - 2] and np.array_equal(run.registration.steps[-1], np.eye(3))


def test_cancel_stops_the_job(dat_folder):
    folder, _ = dat_folder
    job = registration_job(str(folder), settings())
    seen = []

    def on_progress(done, total):
        seen.append(done)
        if done >= 3:
            job.cancel()

    outcome = run_inline(job, on_progress=on_progress)
    assert outcome.status == "cancelled" and max(seen) < 2 * N


def test_dask_local_cluster_equals_inline(dat_folder, tmp_path):
    from distributed import Client, LocalCluster

    folder, _ = dat_folder
    s = settings(model="RegularizedAffine")
    inline = run_inline(registration_job(str(folder), s, str(tmp_path / "a.mrc"), record=False)).value
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        dask = run_inline(registration_job(str(folder), s, str(tmp_path / "b.mrc"), client=client,
                                           record=False)).value
    assert np.array_equal(dask.registration.steps, inline.registration.steps)
    assert np.array_equal(dask.registration.cumulative, inline.registration.cumulative)
    with mrcfile.open(tmp_path / "a.mrc") as a, mrcfile.open(tmp_path / "b.mrc") as b:
        assert np.array_equal(a.data, b.data)
    assert [r["ncc"] for r in dask.metrics] == [r["ncc"] for r in inline.metrics]


def test_threads_equal_inline(dat_folder):
    folder, _ = dat_folder
    a = run_inline(registration_job(str(folder), settings())).value
    b = run_inline(registration_job(str(folder), settings(), threads=2)).value
    assert np.array_equal(a.registration.cumulative, b.registration.cumulative)


def test_owlx_register_command(dat_folder, tmp_path, capsys):
    from owlx.cli import main

    folder, _ = dat_folder
    out = tmp_path / "cli.mrc"
    code = main(["register", str(folder), "-o", str(out), "--preset", "fast", "--matcher", "bf",
                 "--dtype", "uint8", "--no-metrics"])
    assert code == 0
    assert f"registered {N} frames (0 flagged pairs, 0 removed)" in capsys.readouterr().out
    with mrcfile.open(out, permissive=True) as m:
        assert int(m.header.mode) == 0 and m.data.shape[0] == N
    assert main(["register", str(folder), "-o", str(out), "--workers", "0"]) == 2
    assert "--workers must be ≥ 1" in capsys.readouterr().err


def test_output_over_an_input_file_is_refused(dat_folder, tmp_path):
    """Writing the MRC over a file still being read would destroy the data: refused before any
    work. One path is checked when the job is made; a series (a file list, a folder's members) in
    the job, off the GUI thread: the job fails with the same message."""
    from owlx.errors import ParameterError

    folder, _ = dat_folder
    first, second = sorted(Path(folder).glob("*.dat"))[:2]
    before = first.read_bytes()

    def refused_in_job(job):
        events = []
        outcome = run_inline(job, on_result=events.append, raise_errors=False)
        assert outcome.status == "failed" and isinstance(outcome.error, ParameterError)
        assert "input file itself" in str(outcome.error) and events == []  # before stage 1

    refused_in_job(registration_job([str(first), str(second)], settings(), str(first)))
    link = tmp_path / "same.dat"
    link.symlink_to(first)
    with pytest.raises(ParameterError, match="input file itself"):
        registration_job(MemoryFrames([np.zeros((4, 4))] * 2), settings(), str(link), inputs=str(first))
    # a folder source: an output named like one of its slices is refused too
    refused_in_job(registration_job(str(folder), settings(), str(second)))
    refused_in_job(registration_job(MemoryFrames([np.zeros((4, 4))] * 2), settings(), str(link),
                                    inputs=[str(second), str(first)]))
    assert first.read_bytes() == before
    registration_job(MemoryFrames([np.zeros((4, 4))] * 2), settings(), str(tmp_path / "new.mrc"), inputs=str(first))
    registration_job(str(folder), settings(), str(Path(folder) / "registered.mrc"))  # a new file in it is fine
