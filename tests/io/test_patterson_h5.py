"""Patterson parameters in Owl's ``patterson/`` layout (formats.md §2.4): written only when
changed, per frame, read back from the data file and the sidecar."""

from __future__ import annotations

import h5py
import numpy as np

import owlx
from owlx.core.patterson import PattersonParams
from owlx.patterson_results import attach_patterson

G = "/entry_1/image_1"
N = 25


def make_file(path, patterson=None):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(G + "/data", shape=(N, 8, 8), dtype=np.float32, chunks=(1, 8, 8))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        for name, (data, kw) in (patterson or {}).items():
            f.create_dataset(G + "/patterson/" + name, data=data, **kw)
    return path


def opened(path):
    s = owlx.open(str(path))
    attach_patterson(s)
    return s


def test_nothing_is_written_until_a_parameter_changes(tmp_path):
    path = make_file(tmp_path / "a.cxi")
    s = opened(path)
    s.patterson.request(4)  # asking for a map is not a change
    assert not s.dirty
    s.save()
    s.close()
    with h5py.File(path) as f:
        assert "patterson" not in f[G]


def test_changed_frame_is_saved_in_owls_layout(tmp_path):
    path = make_file(tmp_path / "b.cxi")
    s = opened(path)
    assert s.patterson.params(7) == PattersonParams()
    s.patterson.request(7)
    assert s.patterson.set_params(7, PattersonParams(image_threshold=12.5, darkfield=True, darkfield_x=3))
    assert not s.patterson.set_params(7, PattersonParams(image_threshold=12.5, darkfield=True, darkfield_x=3))
    s.results_edited()
    assert s.dirty
    report = s.save()
    assert report.target == "data" and not s.dirty
    s.close()
    with h5py.File(path) as f:
        g = f[G + "/patterson"]
        assert sorted(g) == sorted(["imageThreshold", "maskSmooth", "maskThreshold", "darkfield", "darkfieldX",
                                    "darkfieldY", "darkfieldSigma", "_pattersonImg"])
        thr = g["imageThreshold"]
        assert thr.dtype == np.float64 and thr.shape == (N,) and thr.chunks == (10000,) and thr.maxshape == (None,)
        assert thr.attrs["axes"].tolist() == [b"experiment_identifier"] and thr.attrs["numEvents"].tolist() == [N]
        assert thr[7] == 12.5 and thr[0] == 30.0
        assert g["darkfield"][7] == 1.0 and g["darkfield"][6] == 0.0 and g["darkfield"].dtype == np.float64
        assert g["darkfieldX"][7] == 3.0 and g["darkfieldSigma"][7] == 100.0 and g["maskThreshold"][7] == 0.2
        assert g["_pattersonImg"].dtype == np.int64 and g["_pattersonImg"][:].tolist() == [7]
    s = opened(path)
    assert s.patterson.params(7) == PattersonParams(image_threshold=12.5, darkfield=True, darkfield_x=3)
    assert s.patterson.params(8) == PattersonParams()
    assert s.patterson.last_frame == 7


def test_owls_padded_datasets_keep_their_padding(tmp_path):
    padded = np.full(10000, 30.0)
    padded[2] = 50.0
    path = make_file(tmp_path / "owl.cxi", {
        "imageThreshold": (padded, {"chunks": (10000,), "maxshape": (None,)}),
        "_pattersonImg": (np.array([2], np.int64), {}),
    })
    s = opened(path)
    assert s.patterson.params(2).image_threshold == 50.0 and s.patterson.last_frame == 2
    s.patterson.set_params(3, PattersonParams(image_threshold=5))
    s.save()
    s.close()
    with h5py.File(path) as f:
        thr = f[G + "/patterson/imageThreshold"]
        assert thr.shape == (10000,) and thr[2] == 50.0 and thr[3] == 5.0 and thr[9999] == 30.0
        assert f[G + "/patterson/maskSmooth"].shape == (N,)


def test_sidecar_save_wins_on_reopen(tmp_path):
    path = make_file(tmp_path / "side.cxi", {"maskSmooth": (np.full(N, 5.0), {"chunks": (10000,), "maxshape": (None,)})})
    before = path.read_bytes()
    s = opened(path)
    s.patterson.set_params(1, PattersonParams(mask_smooth=2))
    report = s.save_to_sidecar()
    assert report.target == "sidecar" and path.read_bytes() == before
    s.close()
    with h5py.File(report.path) as f:
        assert f[G + "/patterson/maskSmooth"][1] == 2.0
    s = opened(path)
    assert s.patterson.params(1).mask_smooth == 2.0
    assert s.patterson.params(0).mask_smooth == 5.0
