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


@pytest.mark.parametrize("name", ["pixel_size_nm", "z_step_nm"])
@pytest.mark.parametrize("value", [-3.0, 0.0, float("nan"), float("inf"), "5"])
def test_sizes_must_be_finite_and_positive(name, value):
    with pytest.raises(ParameterError, match=f"{name} must be a finite number > 0"):
        RegistrationSettings(**{name: value})
    assert getattr(RegistrationSettings(**{name: 2.5}), name) == 2.5  # a real size, and None, are fine
    assert getattr(RegistrationSettings(), name) is None


@pytest.mark.parametrize("box", [(float("nan"), 0, 0, 0), (1.5, 0, 0, 0), ("a", 0, 0, 0), None, (-1, 0, 0, 0)])
def test_nonsense_boxes_are_parameter_errors(box):
    with pytest.raises(ParameterError, match=r"evaluation_box is \[top, height, left, width\], whole numbers ≥ 0"):
        RegistrationSettings(evaluation_box=box)


def test_boxes_are_checked_against_the_frame_size():
    RegistrationSettings(evaluation_box=(290, 10, 0, 0)).check_boxes((300, 300))  # rows 290…299: inside
    RegistrationSettings(evaluation_box=(0, 300, 0, 300)).check_boxes((300, 300))
    with pytest.raises(ParameterError) as err:
        RegistrationSettings(evaluation_box=(500, 10, 0, 10)).check_boxes((300, 300))
    assert str(err.value) == ("evaluation_box [top, height, left, width] = [500, 10, 0, 10] does not fit the frames "
                              "of 300 rows × 300 columns (rows 500…509, columns 0…9)")
    with pytest.raises(ParameterError, match=r"\[0, 0, 250, 60\] does not fit the frames of 300 rows × 300"):
        RegistrationSettings(evaluation_box=(0, 0, 250, 60)).check_boxes((300, 300))  # right edge at 310
    sliding = RegistrationSettings(sliding_evaluation_box=True, start_evaluation_box=(0, 100, 0, 100),
                                   stop_evaluation_box=(250, 100, 0, 100))
    with pytest.raises(ParameterError, match=r"stop_evaluation_box .* = \[250, 100, 0, 100\] does not fit .* 300 rows"):
        sliding.check_boxes((300, 300))
    # the start/stop boxes are not used without sliding_evaluation_box
    RegistrationSettings(stop_evaluation_box=(250, 100, 0, 100)).check_boxes((300, 300))
