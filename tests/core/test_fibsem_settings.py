"""Registration settings: the presets of spec/fibsem.md §3 and the flat parameter record."""

import pytest

from owlx.core.fibsem_settings import RegistrationSettings
from owlx.errors import ParameterError


def test_presets():
    fast = RegistrationSettings.preset("fast")
    assert (fast.sift.binning, fast.sift.n_features) == (2, 5000)
    ref = RegistrationSettings.preset("reference")
    assert (ref.sift.binning, ref.sift.n_features) == (1, 0)
    d = RegistrationSettings()
    assert (d.matcher, d.ratio, d.fit.model, d.fit.solver, d.fit.drmax, d.fit.max_iter) == (
        "flann", 0.7, "RegularizedAffine", "RANSAC", 1.5, 1000)
    assert (d.fit.l2_lambda, d.post.on_failure, d.int_order, d.dtype, d.pad_edges) == (
        1e-5, "identity", 1, "int16", True)


def test_nested_changes_and_round_trip():
    s = RegistrationSettings.preset("fast", model="Shift", on_failure="neighbour_mean", zbin=3, nfeatures=800,
                                    scale_fit=("LF",), evaluation_box=(1, 2, 3, 4))
    assert (s.fit.model, s.post.on_failure, s.zbin, s.sift.n_features) == ("Shift", "neighbour_mean", 3, 800)
    flat = s.to_dict()
    assert flat["fit.model"] == "Shift" and flat["sift.preset"] == "fast" and flat["zbin"] == 3
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in flat.items()}  # what JSON gives back
    assert RegistrationSettings.from_dict(as_json) == s


@pytest.mark.parametrize("changes, words", [
    ({"model": "Rigid"}, "unknown transform model"), ({"matcher": "knn"}, "unknown matcher"),
    ({"int_order": 2}, "interpolation order"), ({"zbin": 0}, "zbin"), ({"dtype": "int8"}, "output dtype"),
    ({"colour": 1}, "unknown registration setting"), ({"on_failure": "skip"}, "on_failure"),
    ({"evaluation_box": (0, 0, 0)}, "evaluation_box"),
])
def test_bad_settings_are_parameter_errors(changes, words):
    with pytest.raises(ParameterError, match=words):
        RegistrationSettings.preset("fast", **changes)
    with pytest.raises(ParameterError, match="unknown preset"):
        RegistrationSettings.preset("quick")
