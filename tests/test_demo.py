"""The demo CXI file: layout, dtypes, mask bits, truth, and that frames are the forward model
plus Poisson noise. Uses a small version (12 frames of 256²) written once per module."""

import math

import h5py
import numpy as np
import platformdirs
import pytest
from scipy import constants

from owlx import demo
from owlx.core import sphere
from owlx.io.materials_data import material_index

N, SIZE = 12, 256
ADU = 10.0


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "small.cxi"
    calls = []
    demo.make_demo_file(path, n_frames=N, size=SIZE, seed=3,
                        progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i + 1, N) for i in range(N)]
    return path


@pytest.fixture(scope="module")
def h5(demo_file):
    with h5py.File(demo_file, "r") as f:
        yield f


def test_layout_and_links(h5):
    data = h5["entry_1/image_1/data"]
    assert data.shape == (N, SIZE, SIZE) and data.dtype == np.float32
    assert data.chunks == (1, SIZE, SIZE)
    axes = data.attrs["axes"]
    assert axes.dtype == np.dtype("S25") and axes.shape == (1,)
    assert axes[0] == b"experiment_identifier:y:x"
    assert data.attrs["adu_per_photon"] == ADU
    links = {
        "entry_1/data_1": "/entry_1/image_1",
        "entry_1/image_1/detector_1": "/entry_1/instrument_1/detector_1",
        "entry_1/image_1/source_1": "/entry_1/instrument_1/source_1",
    }
    for name, target in links.items():
        link = h5.get(name, getlink=True)
        assert isinstance(link, h5py.SoftLink) and link.path == target
    assert h5["entry_1/data_1/data"].shape == data.shape  # the links resolve
    assert "model" not in h5["entry_1/image_1"]
    assert h5.attrs["owlx_demo_complete"] and h5.attrs["owlx_demo_version"] == demo.DEMO_VERSION


def test_geometry(h5):
    det = h5["entry_1/instrument_1/detector_1"]
    assert det["distance"][()] == 2.4
    assert det["x_pixel_size"][()] == det["y_pixel_size"][()] == 110e-6
    energy_ev = h5["entry_1/image_1/source_1/energy"][:] / constants.e
    assert energy_ev.dtype == np.float64
    np.testing.assert_allclose(energy_ev, 5500.0, rtol=5e-3)
    assert np.std(energy_ev) > 0  # shot-to-shot jitter
    assert h5["entry_1/sample_1/name"][()] == b"poliovirus"


def test_per_frame_datasets(h5):
    ids = h5["entry_1/experiment_identifier"][:]
    assert ids.dtype.kind == "S" and len(ids) == N
    assert ids[0] == b"DEMO_2026_r0001_00000" and ids[-1] == f"DEMO_2026_r0001_{N - 1:05d}".encode()
    assert h5["entry_1/instrument_1/source_1/energy"].shape == (N,)
    assert h5["entry_1/sample_1/geometry_1/translation"].shape == (N, 3)
    assert h5["entry_1/image_1/hit_score"].shape == (N,)
    assert h5["entry_1/image_1/hit_score"].dtype == np.float64
    truth = h5["entry_1/image_1/truth"]
    names = ("diameter_nm", "fluence_mJ_um2", "scaling_photons", "offset_x", "offset_y", "kind")
    for name in names:
        assert truth[name].shape == (N,), name


def test_truth_values(h5):
    truth = h5["entry_1/image_1/truth"]
    kinds = truth["kind"][:]
    assert kinds[0] == b"sphere"
    assert set(kinds) <= {b"sphere", b"dimer", b"ellipsoid", b"weak", b"blank"}
    assert np.sum(kinds != b"sphere") == round(0.1 * N)
    d = truth["diameter_nm"][:]
    present = kinds != b"blank"
    assert np.all((d[present] >= 25) & (d[present] <= 60))
    assert np.all(np.isnan(d[~present]))
    a = truth["scaling_photons"][:]
    hits = kinds == b"sphere"
    assert np.all((a[hits] >= 200) & (a[hits] <= 3000))
    offsets = np.stack([truth["offset_x"][:], truth["offset_y"][:]], axis=1)
    assert np.all(np.abs(offsets) < 10) and np.all(np.abs(offsets).max(axis=1) > 0)


def test_mask_bits(h5):
    mask = h5["entry_1/image_1/mask_shared"][:]
    assert mask.dtype == np.uint16 and mask.shape == (SIZE, SIZE)
    assert set(np.unique(mask)) <= {0, 4, 16, 512, 512 | 16}
    gap_rows = np.flatnonzero(np.all(mask & 512, axis=1))
    assert len(gap_rows) == 6 and np.all(np.diff(gap_rows) == 1)
    assert np.count_nonzero(mask & 512) == 6 * SIZE  # only whole rows
    yy, xx = np.nonzero(mask & 16)
    # A disc on the mean beam position (offset (2.7, -3.6) from the middle).
    assert np.mean(xx) == pytest.approx((SIZE - 1) / 2 + 2.7, abs=0.5)
    assert np.mean(yy) == pytest.approx((SIZE - 1) / 2 - 3.6, abs=1.5)  # the gap cuts the disc
    hot = np.flatnonzero(mask.ravel() & 4)
    assert len(hot) == SIZE // 64
    frames = h5["entry_1/image_1/data"][:]
    flat = frames.reshape(N, -1)
    assert np.all(flat[:, hot] >= 3000)  # garbage in every frame
    assert np.all(frames[:, gap_rows, :] == 0)
    assert np.all(frames[:, mask & 16 != 0] == 0)


def test_data_are_whole_photons_in_adu(h5):
    frame = h5["entry_1/image_1/data"][0]
    good = h5["entry_1/image_1/mask_shared"][:] == 0
    photons = frame[good] / ADU
    np.testing.assert_array_equal(photons, np.round(photons))
    assert photons.min() >= 0


def _model(h5, i, diameter_factor=1.0):
    """Expected photons of frame i from its stored truth (the diameter optionally scaled)."""
    truth = h5["entry_1/image_1/truth"]
    energy_ev = h5["entry_1/instrument_1/source_1/energy"][i] / constants.e
    lam = sphere.wavelength_from_energy_eV(energy_ev)
    delta = material_index("poliovirus", energy_ev).real
    return sphere.sphere_intensity(
        (SIZE, SIZE), truth["offset_x"][i], truth["offset_y"][i],
        truth["diameter_nm"][i] * 1e-9 * diameter_factor, truth["fluence_mJ_um2"][i] * 1e9,
        lam, 110e-6, 2.4, delta, qe=0.95)


def test_frame_is_forward_model_plus_poisson_noise(h5):
    truth = h5["entry_1/image_1/truth"]
    good = h5["entry_1/image_1/mask_shared"][:] == 0
    kinds = truth["kind"][:]
    for i in np.flatnonzero(kinds == b"sphere")[:4]:
        model = _model(h5, i) + 0.003  # + the diffuse background
        assert model.max() == pytest.approx(truth["scaling_photons"][i] + 0.003, rel=1e-3)
        data = h5["entry_1/image_1/data"][i] / ADU
        m, y = model[good], data[good]
        assert y.sum() == pytest.approx(m.sum(), rel=0.02)
        bright = m > 5
        # Poisson: the variance equals the mean, so the reduced χ² is ≈ 1 ...
        chi2 = np.mean((y[bright] - m[bright]) ** 2 / m[bright])
        assert chi2 == pytest.approx(1.0, abs=0.1)
        # ... and the noise-free model explains the data far better than a 10 % larger sphere.
        other = _model(h5, i, 1.1)[good][bright] + 0.003
        assert np.mean((y[bright] - other) ** 2 / other) > 3 * chi2


def test_deterministic(tmp_path, h5):
    again = demo.make_demo_file(tmp_path / "again.cxi", n_frames=N, size=SIZE, seed=3)
    with h5py.File(again, "r") as f:
        last = f["entry_1/image_1/data"][N - 1]
        np.testing.assert_array_equal(last, h5["entry_1/image_1/data"][N - 1])
        np.testing.assert_array_equal(f["entry_1/image_1/truth/diameter_nm"][:],
                                      h5["entry_1/image_1/truth/diameter_nm"][:])


def test_all_kinds_appear_in_a_larger_demo(tmp_path):
    path = demo.make_demo_file(tmp_path / "forty.cxi", n_frames=40, size=64, seed=0)
    with h5py.File(path, "r") as f:
        kinds = f["entry_1/image_1/truth/kind"][:]
        data = f["entry_1/image_1/data"][:]
        mask = f["entry_1/image_1/mask_shared"][:]
    assert {b"dimer", b"ellipsoid", b"weak", b"blank"} <= set(kinds)
    good = mask == 0
    photons = data[:, good].sum(axis=1) / ADU
    blank = kinds == b"blank"
    # A blank frame holds only the 0.003 photons/px background.
    assert np.all(photons[blank] < 0.003 * good.sum() * 2 + 10)
    assert np.all(photons[kinds == b"sphere"] > 10 * photons[blank].max())


def test_ensure_demo_writes_once_atomically(tmp_path):
    path = tmp_path / "cache" / "demo.cxi"
    calls = []
    written = demo.ensure_demo(path, n_frames=3, size=32, progress=lambda d, t: calls.append(d))
    assert written == path
    assert calls == [1, 2, 3]
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.cxi"]  # no temporary left
    mtime = path.stat().st_mtime_ns
    calls.clear()
    demo.ensure_demo(path, n_frames=3, size=32, progress=lambda d, t: calls.append(d))
    assert calls == [] and path.stat().st_mtime_ns == mtime  # reused
    # A different request, or a broken file, is rewritten.
    demo.ensure_demo(path, n_frames=4, size=32)
    with h5py.File(path, "r") as f:
        assert f["entry_1/image_1/data"].shape == (4, 32, 32)
    path.write_bytes(b"not an HDF5 file")
    demo.ensure_demo(path, n_frames=4, size=32)
    with h5py.File(path, "r") as f:
        assert f.attrs["owlx_demo_complete"]


def test_ensure_demo_cleans_up_when_interrupted(tmp_path):
    path = tmp_path / "demo.cxi"

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo(path, n_frames=5, size=32, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_demo_path():
    path = demo.demo_path()
    assert path.name == f"owlx-demo-v{demo.DEMO_VERSION}.cxi"
    assert str(path.parent) == platformdirs.user_cache_dir("owlx")


def test_hot_pixel_count_scales():
    mask, hot = demo._mask_and_hot(1024, 0)
    assert len(hot) == 16 and math.isclose(np.count_nonzero(mask & 512) / 1024, 24)
