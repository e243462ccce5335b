"""XSVS runs on dask.distributed equal the inline run (spec/xsvs.md §14): a real LocalCluster of
two worker processes, on a small synthetic project (always) and on the pyxsvs subset (frames
capped); `owlx xsvs --workers/--scheduler`."""

import gzip
import itertools
from pathlib import Path

import dask
import numpy as np
import pytest
from fabio.edfimage import EdfImage

from owlx import xsvs_dask
from owlx.cli import main as owlx_main
from owlx.core import xsvs_analysis
from owlx.core.xsvs_analysis import ExposureResult, XsvsSettings
from owlx.errors import ParameterError
from owlx.io.xsvs_project import read_project
from owlx.jobs import run_inline
from owlx.xsvs import load_results, run_project, xsvs_job

distributed = pytest.importorskip("distributed")

XSVS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pyxsvs" / "examples" / "analysis" / "xsvs"
SHAPE = (40, 40)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                       silence_logs=40)
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


def write_edf(path, data, gz=False):
    image = EdfImage(data=data)
    if gz:
        plain = str(path)[:-3]
        image.write(plain)
        Path(path).write_bytes(gzip.compress(Path(plain).read_bytes()))
        Path(plain).unlink()
    else:
        image.write(str(path))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Exp_1: 30 gzip frames, K≈0.3; Exp_2: 20 frames, K≈25 (50 bin edges); Exp_3: 10 files,
    2 missing; Exp_4: all 4 missing; Exp_5: 5 frames, fewer than the 8 static frames."""
    root = tmp_path_factory.mktemp("xsvs_dask")
    (root / "frames").mkdir()
    rng = np.random.default_rng(7)
    flat = rng.uniform(0.8, 1.2, SHAPE)
    flat[3, 4] = 0.0
    write_edf(root / "flat.edf", flat.astype(np.float32))
    mask = np.zeros(SHAPE, np.int8)
    mask[20:23, 5:9] = 1
    write_edf(root / "mask.edf", mask)
    means = {1: 0.3, 2: 25.0, 3: 1.5, 5: 4.0}
    spans = {1: (1, 30), 2: (31, 50), 3: (51, 60), 4: (61, 64), 5: (65, 69)}
    for k, (a, b) in spans.items():
        for i in range(a, b + 1):
            if k == 4 or i in (55, 56):
                continue
            frame = rng.poisson(means[k] * flat.clip(0.5)).astype(np.int32)
            name = f"f_{i:04d}.edf" + (".gz" if k == 1 else "")
            write_edf(root / "frames" / name, frame, gz=k == 1)
    text = ("[Main]\nsave dir = ./\ndata dir = frames/\nflat field = flat.edf\nmask = mask.edf\n"
            "q1 = 0.0008\nqs = 0.0005\nq2 = 0.0018\ndq = 0.0002\nsample name = syn_\nwavelength = 1.53\n"
            "cenx = 20.5\nceny = 19.5\npix = 0.055\nsddist = 2140\n")
    for k, (a, b) in spans.items():
        suffix = ".edf.gz" if k == 1 else ".edf"
        text += (f"\n[Exp_{k}]\ndata prefix = f_\ndata suffix = {suffix}\nfirst data file = {a}\n"
                 f"last data file = {b}\nexp time = {0.001 * k}\n")
    (root / "input.ini").write_text(text)
    return root / "input.ini"


def spy_histograms(monkeypatch, module):
    """Record the reduced RingHistograms the fits see (``analyse_ring`` is called per ring)."""
    seen = []
    real = module.analyse_ring

    def spy(hist, j, q, settings):
        if j == 0:
            seen.append(hist)
        return real(hist, j, q, settings)

    monkeypatch.setattr(module, "analyse_ring", spy)
    return seen


def assert_same_runs(a, b):
    assert [e.name for e in a.exposures] == [e.name for e in b.exposures]
    assert a.warnings == b.warnings
    for ea, eb in zip(a.exposures, b.exposures):
        assert (ea.status, ea.n_frames, ea.n_missing) == (eb.status, eb.n_frames, eb.n_missing), ea.name
        assert len(ea.rings) == len(eb.rings)
        if ea.static is not None:
            assert np.array_equal(ea.static, eb.static)  # the head reads the static frames as inline
        for ra, rb in zip(ea.rings, eb.rings):
            assert np.array_equal(ra.bins, rb.bins) and np.array_equal(ra.fit_bins, rb.fit_bins)
            assert np.array_equal(ra.trace, rb.trace)
            assert ra.n_frames_used == rb.n_frames_used and ra.npix == rb.npix
            assert np.array_equal(ra.histogram, rb.histogram) and np.array_equal(ra.hist_std, rb.hist_std)
            for name in ("beta", "beta_stddev", "K", "M_moment", "r1", "r1_stddev"):  # bit for bit
                assert np.array_equal(getattr(ra, name), getattr(rb, name), equal_nan=True), name
            assert ra.fits["mle"].beta == rb.fits["mle"].beta


def assert_same_histograms(a, b):
    assert len(a) == len(b)

    def exposure_order(h):  # dask fits exposures as they complete
        return h.trace.shape[1], float(np.nansum(h.trace))

    for ha, hb in zip(sorted(a, key=exposure_order), sorted(b, key=exposure_order)):
        for name in ("counts", "n_used", "n_edges", "moments", "trace", "sum_h", "sum_h2", "sum_cross"):
            assert np.array_equal(getattr(ha, name), getattr(hb, name), equal_nan=True), name  # bit for bit


@pytest.mark.parametrize("settings", [XsvsSettings(static_frames=8), XsvsSettings.compat(static_frames=8)],
                         ids=["default", "compat"])
def test_synthetic_project_on_two_workers_equals_inline(synthetic, client, settings, monkeypatch):
    project = read_project(synthetic)
    inline_hists = spy_histograms(monkeypatch, xsvs_analysis)
    inline = run_project(project, settings)
    dask_hists = spy_histograms(monkeypatch, xsvs_dask)
    streamed, progress = [], []
    outcome = run_inline(xsvs_job(project, settings, client=client, chunk_frames=7), on_result=streamed.append,
                         on_progress=lambda d, t: progress.append((d, t)))
    run = outcome.value
    assert [e.status for e in run.exposures] == ["ok", "ok", "partial", "missing", "ok"]
    assert [e.n_frames for e in run.exposures] == [30, 20, 8, 0, 5]
    assert run.exposures[1].rings[0].bins.size in (45, 47, 49)  # K ≈ 25: 2·floor(m) edges, not 20
    assert_same_runs(inline, run)
    assert_same_histograms(inline_hists, dask_hists)
    assert [e.name for e in streamed if isinstance(e, ExposureResult)] == [f"Exp_{k}" for k in range(1, 6)]
    # one report per task (4 heads; 4 + 2 chunks of 7 frames after the static ones) after the start
    assert progress[-1] == (63, 63) and len(set(progress)) == 1 + 4 + 6
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(progress))


def test_cancel_cancels_the_pending_tasks(synthetic, client, tmp_path):
    job = xsvs_job(read_project(synthetic), XsvsSettings(static_frames=8), output=str(tmp_path / "r.h5"),
                   client=client, chunk_frames=2)
    got = []

    def on_result(item):
        got.append(item)
        if isinstance(item, ExposureResult):
            job.cancel()

    outcome = run_inline(job, on_result=on_result)
    assert outcome.status == "cancelled"
    assert sum(isinstance(r, ExposureResult) for r in got) < 5
    assert not (tmp_path / "r.h5").exists()
    # the cluster is still usable after a cancel
    assert client.submit(sum, [1, 2], pure=False).result() == 3


def test_pyxsvs_subset_on_two_workers_equals_inline(client, monkeypatch):
    if not (XSVS / "xsvs_input_subset.txt").is_file():
        pytest.skip("the pyxsvs example data (../shared/data/pyxsvs) is not available")
    project = read_project(XSVS / "xsvs_input_subset.txt")
    project.exposures = [project.exposures[i] for i in (0, 1, 5)]  # Exp_1, Exp_2, Exp_8 (180 frames)
    settings = XsvsSettings()
    inline_hists = spy_histograms(monkeypatch, xsvs_analysis)
    inline = run_project(project, settings, max_frames=224)
    dask_hists = spy_histograms(monkeypatch, xsvs_dask)
    run = run_project(project, settings, max_frames=224, client=client, chunk_frames=12)
    assert [e.n_frames for e in run.exposures] == [224, 224, 180]
    assert_same_runs(inline, run)
    assert_same_histograms(inline_hists, dask_hists)
    assert run.exposures[0].rings[1].beta == pytest.approx(0.22, abs=0.02)  # pyxsvs: 0.220 on all 360 frames


def test_command_on_a_scheduler_and_its_options(synthetic, client, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    args = ["xsvs", str(synthetic), "-o", str(out), "--static-frames", "8"]
    assert owlx_main(args + ["--scheduler", client.scheduler.address, "--chunk-frames", "9"]) == 0
    text = capsys.readouterr().out
    assert "Exp_2: t_e = 0.002 s, 20 frames" in text and "Exp_4: t_e = 0.004 s: missing" in text
    dask_res = load_results(out)
    assert owlx_main(args + ["--threads", "1"]) == 0
    inline_res = load_results(out)
    for exp in ("Exp_1", "Exp_2", "Exp_3", "Exp_5"):
        for ring in ("q000", "q001", "q002"):
            assert dask_res[exp]["data"][ring]["beta"] == inline_res[exp]["data"][ring]["beta"]
            assert np.array_equal(dask_res[exp]["data"][ring]["histogram"], inline_res[exp]["data"][ring]["histogram"])
    capsys.readouterr()
    for bad in (["--workers", "2", "--threads", "2"], ["--workers", "2", "--scheduler", "tcp://x:1"]):
        with pytest.raises(SystemExit) as exit_info:
            owlx_main(args + bad)
        assert exit_info.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err
    assert owlx_main(args + ["--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_command_starts_and_closes_its_own_local_cluster(synthetic, tmp_path, capsys):
    out = tmp_path / "own.h5"
    assert owlx_main(["xsvs", str(synthetic), "-o", str(out), "--static-frames", "8", "--workers", "1"]) == 0
    assert "analysed 4 of 5 exposures" in capsys.readouterr().out
    assert load_results(out)["Exp_5"]["data"]["q000"]["histogram"].size == 19


@pytest.mark.parametrize("changes", [{"n_workers": 0}, {"n_workers": 2, "chunk_frames": 0}])
def test_bad_worker_or_chunk_counts_are_refused_before_starting(synthetic, changes):
    with pytest.raises(ParameterError, match="must be at least 1"):
        run_project(read_project(synthetic), XsvsSettings(static_frames=8), **changes)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "nonsense:::"])
def test_unreachable_scheduler_is_a_one_line_error(synthetic, tmp_path, capsys, address):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = owlx_main(["xsvs", str(synthetic), "-o", str(tmp_path / "r.h5"), "--scheduler", address])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"owlx: error: cannot reach the dask scheduler at '{address}'")
    assert "Traceback" not in err and not (tmp_path / "r.h5").exists()
