"""Saves that Owl can keep using: materials Owl knows, text settings too long for Owl's fields,
a data file open elsewhere, unchanged settings left byte-identical, non-ASCII tag names.

Every test reads the file back with h5py and checks bytes and values."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

import owlx
from owlx.core.sphere_records import FitSettings, owl_material
from owlx.demo import make_demo_file
from owlx.errors import OwlxError
from owlx.io.materials_data import material_index
from owlx.io.save import SaveBusy, SaveRefused

G = "/entry_1/image_1"
M = G + "/model"
N = 6


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path / "cache"))
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "appdata"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_file(tmp_path_factory.mktemp("demo") / "demo.cxi", N, 96)


def owl_file(demo, path, **strings):
    """The demo in Owl's layout: general parameters as Python-2 Owl created them, i.e. strings
    exactly as wide as their first value (S4 'fast', S7 'blurred', S5 'water') and 110 µm."""
    path.write_bytes(Path(demo).read_bytes())
    texts = {"_fitModelMethod": b"fast", "_findCenterMethod": b"blurred", "materialType": b"water",
             "_fitDiameterMethod": b"pearson", "_fitIntensityMethod": b"simple"}
    texts.update(strings)
    with h5py.File(path, "r+") as f:
        m = f.require_group(M)
        for name, value in texts.items():
            m.create_dataset(name, data=np.array([value]))  # S<len>
        for name, value in (("photonWavelengthNM", 0.2254), ("detectorDistanceMM", 2400.0),
                            ("detectorPixelSizeUM", 110.0), ("detectorQuantumEfficiency", 1.0),
                            ("detectorADUPhoton", 10.0)):
            m.create_dataset(name, data=np.array([value]))
        for name, value in (("_maximumShift", 5), ("_blurRadius", 4), ("_nrEval", 20), ("_doPhotonCounting", 1)):
            m.create_dataset(name, data=np.array([value], np.int64))
    return path


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reread(path):
    """(general parameters, model warnings, tag names) as a new session sees them; closed after."""
    s = owlx.open(path)
    try:
        return dict(s.model.general), list(s.model.warnings), s.tag_names()
    finally:
        s.close()


def text(ds):
    return bytes(ds[0]).rstrip(b"\0")


# -- 1. materialType holds a key Owl accepts; owlx_materialType the exact material -----------------

def test_fit_writes_the_nearest_owl_material_and_keeps_owlx_material(demo, tmp_path):
    path = tmp_path / "run.cxi"
    path.write_bytes(Path(demo).read_bytes())
    s = owlx.open(path)
    assert s.fit(0).status == "ok"  # the seed recipe: poliovirus
    report = s.save()
    assert report.target == "data"
    with h5py.File(path, "r") as f:
        owl, own = f[M + "/materialType"], f[M + "/owlx_materialType"]
        assert owl.shape == own.shape == (1,) and owl.dtype == own.dtype == np.dtype("S32")
        assert text(owl) == b"virus" and text(own) == b"poliovirus"
        assert own.attrs["owl_value"][0] == b"virus"
    s.close()
    assert reread(path)[0]["materialType"] == "poliovirus"


def test_owl_material_keys_and_custom_by_delta():
    assert [owl_material(m) for m in ("poliovirus", "condor_water", "styrene", "Gold", "virus")] == \
        ["virus", "water", "latex", "gold", "virus"]
    energy = 5500.0
    delta_of = lambda key: material_index(key, energy).real  # noqa: E731
    assert owl_material("custom", delta_of("dna") * 1.001, delta_of) == "dna"
    assert owl_material("custom") == "water"  # nothing known about it: Owl's default


def test_custom_material_is_written_as_the_owl_key_of_nearest_delta(demo, tmp_path):
    # every text field wide enough for owlx's settings (a field too short sends the save to the sidecar)
    wide = {k: v.ljust(16, b"\0") for k, v in (("_fitModelMethod", b"fast"), ("_findCenterMethod", b"blurred"),
                                               ("_fitDiameterMethod", b"pearson"), ("_fitIntensityMethod", b"simple"))}
    path = owl_file(demo, tmp_path / "run.cxi", materialType=b"carboxysome", **wide)  # S11
    s = owlx.open(path)
    lam = 1.98644586e-25 / (5500.0 * 1.602176634e-19)
    delta = material_index("protein", 5500.0).real * 0.999
    s.model.set_settings(FitSettings(wavelength_m=lam, distance_m=2.4, pixel_size_m=110e-6, delta=delta,
                                     material="custom"))
    assert s.save().target == "data"
    with h5py.File(path, "r") as f:
        assert f[M + "/materialType"].dtype == np.dtype("S11")  # Owl's field keeps its type
        assert text(f[M + "/materialType"]) == b"protein" and text(f[M + "/owlx_materialType"]) == b"custom"


def test_owl_file_with_only_material_type_and_a_later_change_in_owl(demo, tmp_path):
    path = owl_file(demo, tmp_path / "run.cxi", materialType=b"gold".ljust(16, b"\0"))  # S16
    assert reread(path)[0]["materialType"] == "gold"
    s = owlx.open(path)
    s.model.set_general("materialType", "condor_protein")  # Owl sees 'protein', owlx keeps its own name
    s.save()
    s.close()
    assert reread(path)[0]["materialType"] == "condor_protein"
    with h5py.File(path, "r+") as f:  # Owl changes its own dataset afterwards
        f[M + "/materialType"][0] = b"dna"
    general, warnings, _ = reread(path)
    assert general["materialType"] == "dna" and any("outside owlx" in w for w in warnings)


# -- 2. a text setting too long for Owl's field blocks the data file (formats.md §2.5 rule 5) ---------

def test_text_too_long_for_owl_field_sends_the_save_to_the_sidecar_naming_it(demo, tmp_path):
    """Owl made '_fitModelMethod' S4 for 'fast': 'refine' does not fit, so nothing goes into the
    data file (check 8); the material, which fits as Owl's 'virus', is no obstacle."""
    path = owl_file(demo, tmp_path / "run.cxi")
    before = digest(path)
    s = owlx.open(path)
    s.tag("hit", [1, 4])
    s.model.set_general("_fitModelMethod", "refine")  # S4 'fast'
    s.model.set_general("materialType", "poliovirus")  # → 'virus', fits S5
    report = s.save()
    assert report.target == "sidecar" and "_fitModelMethod" in report.reason and "S4" in report.reason
    assert digest(path) == before
    s.close()
    s = owlx.open(path)  # the sidecar's values win on open
    assert s.model.general["_fitModelMethod"] == "refine" and s.model.general["materialType"] == "poliovirus"
    assert s.tagged("hit").tolist() == [1, 4]


# -- 3. a data file open elsewhere: a clear error, no silent sidecar --------------------------------------

def test_second_session_saving_gets_a_clear_error_then_saves_into_the_file(demo, tmp_path):
    path = owl_file(demo, tmp_path / "run.cxi")
    a = owlx.open(path)
    b = owlx.open(path)
    b.tag("hit", [1])
    before = digest(path)
    for fallback in (True, False):
        with pytest.raises(SaveBusy, match="'run.cxi' is open elsewhere .*close it") as info:
            b.save(fallback=fallback)
        assert isinstance(info.value, OwlxError) and isinstance(info.value, SaveRefused)  # the GUI offers the sidecar
    assert digest(path) == before and b.sidecar_path is None and b.dirty
    assert not (tmp_path / "run.cxi.owlx.h5").exists() and b.frame(0).shape == (96, 96)  # reader is back
    a.close()
    report = b.save()
    assert report.target == "data" and not b.dirty
    with h5py.File(path, "r") as f:
        assert f[G + "/tags"][0].tolist() == [0, 1, 0, 0, 0, 0]


def test_fit_job_reports_unsaved_results_when_the_file_is_open_elsewhere(demo, tmp_path, capsys):
    from owlx.cli import main

    path = owl_file(demo, tmp_path / "run.cxi")
    other = owlx.open(path)
    before = digest(path)
    assert main(["fit", str(path), "--frames", "0"]) == 2
    err = capsys.readouterr().err
    assert "sizing results of 1 frame(s) were not saved" in err and "'run.cxi' is open elsewhere" in err
    assert digest(path) == before and not (tmp_path / "run.cxi.owlx.h5").exists()
    other.close()


# -- 4. unchanged settings are not rewritten with rounding noise ------------------------------------

def test_fit_leaves_unchanged_owl_settings_byte_identical(demo, tmp_path):
    path = owl_file(demo, tmp_path / "run.cxi", _fitModelMethod=b"refine", _fitIntensityMethod=b"nrphotons")
    s = owlx.open(path)
    assert 110.0 * 1e-6 * 1e6 != 110.0  # the noise a fit's settings bring back
    assert s.fit(0).status == "ok"
    report = s.save()
    assert report.target == "data" and M + "/diameterNM" in report.written
    assert M + "/detectorPixelSizeUM" not in report.written and M + "/photonWavelengthNM" not in report.written
    with h5py.File(path, "r") as f:
        assert f[M + "/detectorPixelSizeUM"][0] == 110.0 and f[M + "/photonWavelengthNM"][0] == 0.2254
        assert f[M + "/detectorDistanceMM"][0] == 2400.0


def test_plan_skips_a_float_equal_to_rounding_noise(demo, tmp_path):
    from owlx.io.save import GroupWrite, build_plan

    path = owl_file(demo, tmp_path / "run.cxi")

    def contribute(plan, group, n):
        plan.plan_general_dataset(M, "detectorPixelSizeUM", 110.0 * 1e-6 * 1e6)
        plan.plan_general_dataset(M, "detectorDistanceMM", 2400.5)

    plan = build_plan(str(path), [GroupWrite(G, N, contributions=[contribute])])
    assert [s.path for s in plan.steps] == [M + "/detectorDistanceMM"]


# -- 5. non-ASCII tag names are written, with a warning ---------------------------------------------

def test_non_ascii_tag_name_is_written_with_a_warning(demo, tmp_path):
    path = owl_file(demo, tmp_path / "run.cxi")
    s = owlx.open(path)
    s.tag("näme", [5])
    s.tag("ok", [0])
    report = s.save()
    assert report.target == "data"
    assert [w for w in report.warnings if "näme" in w and "Owl cannot handle" in w]
    assert not [w for w in report.warnings if "'ok'" in w] and "näme" in report.text
    with h5py.File(path, "r") as f:
        assert list(f[G + "/tags"].attrs["headings"]) == ["näme".encode(), b"ok"]
    s.close()
    assert reread(path)[2] == ("näme", "ok")
    s = owlx.open(path)
    s.tag("über", [2])
    side = s.save_to_sidecar()  # Owl never reads a sidecar: no warning there
    assert side.target == "sidecar" and not side.warnings
