"""Restartable stages 1–3 of the registration pipeline (spec/fibsem.md §1 "Cached artefacts make
every stage restartable"): ranges, keypoints and pair fits reused from the cache folder; only
what a change touches is recomputed; corrupt files are redone with a warning; a cancelled run
resumes; dask workers share the folder."""

import sys
from pathlib import Path

import mrcfile
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
COUNTED = ("get_min_max_thresholds", "detect_keypoints", "match_keypoints", "fit_pair")


@pytest.fixture(scope="module")
def stack():
    frames, _ = drift_stack(N, (128, 128), sigma=1.2, noise=0.3, seed=3)
    return to_int16(frames)


@pytest.fixture(scope="module")
def dat_folder(stack, tmp_path_factory):
    from owlx.io.fibsem_dat import write_dat

    folder = tmp_path_factory.mktemp("fib") / "run"
    folder.mkdir()
    for k, f in enumerate(stack):
        write_dat(str(folder / f"Merlin_21-06-18_{k:06d}_0-0-0.dat"), f, PixelSize=8.0, WD=5.0 - 8e-6 * k)
    return folder


@pytest.fixture
def calls(monkeypatch):
    """Counts the range, SIFT, matching and fit computations of the pipeline's tasks."""
    counts = dict.fromkeys(COUNTED, 0)
    for name in COUNTED:
        real = getattr(tasks, name)

        def counting(*args, _name=name, _real=real, **kwargs):
            counts[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(tasks, name, counting)
    return counts


def settings(**changes):
    return RegistrationSettings.preset("reference", **{"matcher": "bf", "model": "Shift", "nmi_bins": 64,
                                                       "with_frc": False, **changes})


def register(stack, cache, s=None, output=None, **kw):
    job = registration_job(MemoryFrames(list(stack)), s or settings(), output and str(output),
                           cache_dir=cache and str(cache), **kw)
    return run_inline(job).value


def delta(calls, before):
    return tuple(calls[k] - before[k] for k in COUNTED)


def mtimes(cache, pattern):
    return {p.name: p.stat().st_mtime_ns for p in cache.glob(pattern)}


def test_rerun_computes_nothing_and_gives_the_same_output(stack, tmp_path, calls):
    cache = tmp_path / "cache"
    first = register(stack, cache, output=tmp_path / "a.mrc")
    assert tuple(calls.values()) == (N, N, N - 1, N - 1)
    assert len(list(cache.glob("*.range.json"))) == N and len(list(cache.glob("*.pair.npz"))) == N - 1
    assert first.cache_reused == {"ranges": 0, "pairs": 0}
    before = dict(calls)
    second = register(stack, cache, output=tmp_path / "b.mrc")
    assert delta(calls, before) == (0, 0, 0, 0) and second.cache_reused == {"ranges": N, "pairs": N - 1}
    assert np.array_equal(second.registration.cumulative, first.registration.cumulative)
    assert np.array_equal(second.ranges, first.ranges) and second.data_range == first.data_range
    assert [f.npts for f in second.fits] == [f.npts for f in first.fits] and min(f.npts for f in first.fits) > 20
    with mrcfile.open(tmp_path / "a.mrc", permissive=True) as a, mrcfile.open(tmp_path / "b.mrc", permissive=True) as b:
        assert np.array_equal(a.data, b.data) and np.abs(a.data).max() > 0
    assert second.metrics == first.metrics


def test_output_and_post_settings_only_do_no_sift_and_no_matching(stack, tmp_path, calls):
    cache = tmp_path / "cache"
    register(stack, cache)
    before = dict(calls)
    post = {"zbin": 2, "int_order": 0, "dtype": "float32", "pad_edges": False,
            "subtract_linear_fit": (False, False), "preserve_scales": False, "invert": True}
    cached = register(stack, cache, settings(**post), output=tmp_path / "p.mrc")
    assert delta(calls, before) == (0, 0, 0, 0)
    fresh = register(stack, None, settings(**post))  # the same settings computed from scratch
    assert np.array_equal(cached.registration.cumulative, fresh.registration.cumulative)


def test_changed_ratio_rematches_every_pair_from_the_cached_keypoints(stack, tmp_path, calls):
    cache = tmp_path / "cache"
    register(stack, cache)
    kp_times, pair_times = mtimes(cache, "*.kp.npz"), mtimes(cache, "*.pair.npz")
    before = dict(calls)
    cached = register(stack, cache, settings(ratio=0.6))
    assert delta(calls, before) == (0, 0, N - 1, N - 1)
    assert mtimes(cache, "*.kp.npz") == kp_times
    assert all(t != pair_times[k] for k, t in mtimes(cache, "*.pair.npz").items())  # overwritten
    fresh = register(stack, None, settings(ratio=0.6))
    assert np.array_equal(cached.registration.cumulative, fresh.registration.cumulative)
    before = dict(calls)
    register(stack, cache, settings(ratio=0.6, model="Affine", drmax=1.0))  # fit settings count too
    assert delta(calls, before) == (0, 0, N - 1, N - 1)


def test_changed_frame_recomputes_its_keypoints_and_its_two_pairs_only(stack, tmp_path, calls):
    cache = tmp_path / "cache"
    register(stack, cache)
    pair_times = mtimes(cache, "*.pair.npz")
    edited = stack.copy()
    a, b = edited[3, 40, 50], edited[3, 90, 20]
    assert a != b
    edited[3, 40, 50], edited[3, 90, 20] = b, a  # two pixels swapped: same histogram, so the ranges stay
    before = dict(calls)
    cached = register(edited, cache)
    assert delta(calls, before) == (1, 1, 2, 2)
    changed = {k for k, t in mtimes(cache, "*.pair.npz").items() if t != pair_times[k]}
    assert changed == {"frame_000002--frame_000003.pair.npz", "frame_000003--frame_000004.pair.npz"}
    assert cached.cache_reused == {"ranges": N - 1, "pairs": N - 3}
    fresh = register(edited, None)
    assert np.array_equal(cached.registration.cumulative, fresh.registration.cumulative)


@pytest.mark.parametrize("damaged", ["frame_000002--frame_000003.pair.npz", "frame_000004.range.json"])
def test_corrupt_file_is_recomputed_with_a_warning(stack, tmp_path, calls, damaged):
    cache = tmp_path / "cache"
    first = register(stack, cache)
    (cache / damaged).write_bytes(b"PK\x03\x04 broken")
    before = dict(calls)
    with pytest.warns(CacheWarning, match=damaged):
        second = register(stack, cache)
    assert delta(calls, before) == ((0, 0, 1, 1) if damaged.endswith("pair.npz") else (1, 0, 0, 0))
    assert np.array_equal(second.registration.cumulative, first.registration.cumulative)
    before = dict(calls)
    register(stack, cache)  # rewritten: read back, nothing computed
    assert delta(calls, before) == (0, 0, 0, 0)


def test_removed_frame_and_its_rematched_pair_are_cached_too(stack, tmp_path, calls):
    cache = tmp_path / "cache"
    blank = stack.copy()
    blank[3] = 0  # matches neither neighbour: removed, frames 2 and 4 re-matched (§8)
    first = register(blank, cache)
    assert first.removed == [3] and (cache / "frame_000002--frame_000004.pair.npz").exists()
    assert calls["fit_pair"] == N  # N − 1 pairs and the re-matched one
    before = dict(calls)
    second = register(blank, cache)
    assert delta(calls, before) == (0, 0, 0, 0) and second.removed == [3]
    assert np.array_equal(second.registration.cumulative, first.registration.cumulative)


def test_cancelled_run_resumes_where_it_stopped(stack, tmp_path, calls):
    cache = tmp_path / "cache"
    job = registration_job(MemoryFrames(list(stack)), settings(), cache_dir=str(cache))

    def on_progress(done, total):
        if calls["fit_pair"] >= 2:
            job.cancel()

    assert run_inline(job, on_progress=on_progress).status == "cancelled"
    assert 2 <= calls["fit_pair"] < N - 1 and calls["detect_keypoints"] < N
    resumed = register(stack, cache)
    # every range, keypoint set and fit is computed exactly once over the two runs
    assert tuple(calls.values()) == (N, N, N - 1, N - 1)
    fresh = register(stack, None)
    assert np.array_equal(resumed.registration.cumulative, fresh.registration.cumulative)


def test_dask_workers_fill_the_cache_the_client_reuses(tmp_path, dat_folder, calls):
    from distributed import Client, LocalCluster

    folder = dat_folder
    cache = tmp_path / "cache"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        on_dask = run_inline(registration_job(str(folder), settings(), cache_dir=str(cache), client=client)).value
        assert sum(calls.values()) == 0  # all computed in the worker processes
        assert len(list(cache.glob("*.kp.npz"))) == N and len(list(cache.glob("*.pair.npz"))) == N - 1
        times = mtimes(cache, "*")
        again = run_inline(registration_job(str(folder), settings(), cache_dir=str(cache), client=client)).value
    assert again.cache_reused == {"ranges": N, "pairs": N - 1} and mtimes(cache, "*") == times
    inline = run_inline(registration_job(str(folder), settings(), cache_dir=str(cache))).value
    assert sum(calls.values()) == 0 and inline.cache_reused == {"ranges": N, "pairs": N - 1}
    assert np.array_equal(inline.registration.cumulative, on_dask.registration.cumulative)
    assert np.array_equal(again.registration.cumulative, on_dask.registration.cumulative)
    fresh = run_inline(registration_job(str(folder), settings())).value
    assert np.array_equal(fresh.registration.cumulative, on_dask.registration.cumulative)


def test_owlx_register_rerun_with_output_options_changed_reads_the_cache(dat_folder, tmp_path, calls, capsys):
    from owlx.cli import main

    cache = tmp_path / "cache"
    base = ["register", str(dat_folder), "--preset", "reference", "--matcher", "bf", "--model", "Shift",
            "--threads", "1", "--no-metrics", "--cache", str(cache)]
    assert main([*base, "-o", str(tmp_path / "a.mrc")]) == 0
    assert tuple(calls.values()) == (N, N, N - 1, N - 1)
    assert f"reused 0/{N} frame ranges and 0/{N - 1} pair fits" in capsys.readouterr().err
    before = dict(calls)
    again = [*base, "-o", str(tmp_path / "b.mrc"), "--zbin", "2", "--order", "0", "--dtype", "float32", "--no-pad",
             "--keep-drift"]
    assert main(again) == 0
    assert delta(calls, before) == (0, 0, 0, 0)
    assert f"reused {N}/{N} frame ranges and {N - 1}/{N - 1} pair fits" in capsys.readouterr().err
    with mrcfile.open(tmp_path / "b.mrc", permissive=True) as m:
        assert m.data.shape == (N // 2, 128, 128) and m.data.dtype == np.float32
