"""The restartable keypoint cache of the registration pipeline (spec/fibsem.md §1 stage 2) and
the sliding evaluation box of its quality analysis (§10.1)."""

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from fibsem_synthetic import drift_stack, to_int16
from owlx_fibsem import tasks
from owlx_fibsem.frames import MemoryFrames
from owlx_fibsem.pipeline import registration_job

from owlx.core.fibsem_settings import RegistrationSettings
from owlx.io.fibsem_keypoints import CacheWarning
from owlx.jobs import run_inline

N = 6


@pytest.fixture(scope="module")
def stack():
    frames, _ = drift_stack(N, (128, 128), sigma=1.2, noise=0.3, seed=3)
    return to_int16(frames)


@pytest.fixture
def sift_calls(monkeypatch):
    """Counts the SIFT detections the pipeline's tasks make."""
    calls = []
    real = tasks.detect_keypoints

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "detect_keypoints", counting)
    return calls


def settings(**changes):
    return RegistrationSettings.preset("reference", matcher="bf", model="Shift", **changes)


def register(stack, cache, s=None, **kw):
    return run_inline(registration_job(MemoryFrames(list(stack)), s or settings(), cache_dir=str(cache), **kw)).value


def test_second_run_reads_the_cache_and_gives_the_same_result(stack, tmp_path, sift_calls):
    cache = tmp_path / "kp"
    first = register(stack, cache)
    assert len(sift_calls) == N and sorted(p.name for p in cache.glob("*.kp.npz")) == [
        f"frame_{k:06d}.kp.npz" for k in range(N)]
    assert first.keypoint_cache == str(cache)
    second = register(stack, cache)
    assert len(sift_calls) == N  # no SIFT at all the second time
    assert np.array_equal(second.registration.cumulative, first.registration.cumulative)
    assert np.array_equal(second.n_keypoints, first.n_keypoints) and first.n_keypoints.min() > 20
    with np.load(cache / "frame_000002.kp.npz") as z:
        assert len(z["x"]) == first.n_keypoints[2] and z["descriptors"].shape == (len(z["x"]), 128)


def test_changed_settings_or_frames_recompute(stack, tmp_path, sift_calls):
    cache = tmp_path / "kp"
    base = register(stack, cache)
    register(stack, cache, settings(contrast_threshold=0.03))  # a keypoint setting: all stale
    assert len(sift_calls) == 2 * N
    register(stack, cache, settings(ratio=0.6, drmax=1.0))  # the files now hold the 0.03 keypoints
    assert len(sift_calls) == 3 * N
    again = register(stack, cache, settings(ratio=0.6, drmax=1.0))  # matching settings do not count
    assert len(sift_calls) == 3 * N and again.n_keypoints.tolist() == base.n_keypoints.tolist()
    edited = stack.copy()
    edited[4] = edited[4][::-1]  # other pixels, same histogram: only this frame is stale
    register(edited, cache, settings(ratio=0.6, drmax=1.0))
    assert len(sift_calls) == 3 * N + 1


def test_corrupt_cache_file_is_recomputed_with_a_warning(stack, tmp_path, sift_calls):
    cache = tmp_path / "kp"
    first = register(stack, cache)
    (cache / "frame_000003.kp.npz").write_bytes(b"PK\x03\x04 broken")
    for pair in ("frame_000002--frame_000003", "frame_000003--frame_000004"):  # the pairs that need its keypoints
        (cache / f"{pair}.pair.npz").unlink()
    with pytest.warns(CacheWarning, match="frame_000003.kp.npz"):
        second = register(stack, cache)
    assert len(sift_calls) == N + 1
    assert np.array_equal(second.registration.cumulative, first.registration.cumulative)
    register(stack, cache)  # rewritten: read back without a warning, nothing computed
    assert len(sift_calls) == N + 1


def test_run_resumed_after_cancel_reuses_the_keypoints_done(stack, tmp_path, sift_calls):
    cache = tmp_path / "kp"
    job = registration_job(MemoryFrames(list(stack)), settings(), cache_dir=str(cache))
    seen = []

    def on_progress(done, total):
        seen.append(done)
        if len(sift_calls) >= 3:
            job.cancel()

    assert run_inline(job, on_progress=on_progress).status == "cancelled"
    done = len(sift_calls)
    assert 3 <= done < N and len(list(cache.glob("*.kp.npz"))) == done
    register(stack, cache)
    assert len(sift_calls) == N  # only the frames the cancelled run had not reached


def test_sliding_box_in_the_quality_analysis(stack, tmp_path):
    start, stop = (16, 64, 20, 60), (40, 80, 36, 60)
    s = settings(sliding_evaluation_box=True, start_evaluation_box=start, stop_evaluation_box=stop,
                 nmi_bins=64, with_frc=False)
    run = run_inline(registration_job(MemoryFrames(list(stack)), s, str(tmp_path / "r.mrc"))).value
    boxes = run.evaluation_boxes
    assert boxes.shape == (N, 4) and len(run.metrics) == N - 1
    assert boxes[:, 1].tolist() == [64, 67, 70, 73, 76, 80]  # heights 64 → 80, linear (floored)
    # corners follow the content: start/stop corner moved by the inverse cumulative transform
    for k, box in ((0, start), (N - 1, stop)):
        c = run.registration.cumulative[k]
        x, y, _ = np.linalg.inv(run.canvas.warp_matrix(c)) @ np.array([box[2], box[0], 1.0])
        assert abs(boxes[k, 2] - x) <= 1.0 and abs(boxes[k, 0] - y) <= 1.0
    with h5py.File(tmp_path / "r_registration.h5", "r") as f:
        assert np.array_equal(f["metrics/evaluation_boxes"][()], boxes)


def test_owlx_register_cache_sliding_box_and_xlsx_options(stack, tmp_path, capsys, sift_calls):
    from owlx.cli import main
    from owlx.io.fibsem_dat import write_dat

    folder = tmp_path / "run"
    folder.mkdir()
    for k, f in enumerate(stack):
        write_dat(str(folder / f"Merlin_21-06-18_{k:06d}_0-0-0.dat"), f, PixelSize=8.0, WD=5.0 - 8e-6 * k)
    cache = tmp_path / "kp"
    args = ["register", str(folder), "-o", str(tmp_path / "o.mrc"), "--preset", "reference", "--matcher", "bf",
            "--threads", "1", "--cache", str(cache), "--box", "8", "100", "8", "100", "--box-stop", "20", "90", "30",
            "90", "--xlsx"]
    assert main(args) == 0 and len(sift_calls) == N
    assert sorted(p.name for p in cache.glob("*.kp.npz")) == [f"Merlin_21-06-18_{k:06d}_0-0-0.kp.npz"
                                                           for k in range(N)]
    assert (tmp_path / "o_registration.xlsx").stat().st_size > 0
    with h5py.File(tmp_path / "o_registration.h5", "r") as f:
        assert f["metrics/evaluation_boxes"][:, 1].tolist() == [100, 98, 96, 94, 92, 90]
    assert main(args) == 0 and len(sift_calls) == N  # the rerun reads every frame's keypoints
    capsys.readouterr()
