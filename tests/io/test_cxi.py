"""CXI rules without files: axes parsing (§1.4), numEvents (§1.5), classification (§1.3),
frame layout."""

import numpy as np
import pytest

from owlx.io import cxi
from owlx.io.source import Kind

EI = "experiment_identifier"


@pytest.mark.parametrize(
    "value, ndim, names, frame_axis",
    [
        (np.array([b"experiment_identifier:y:x"], dtype="S25"), 3, [EI, "y", "x"], 0),
        ("experiment_identifier:y:x", 3, [EI, "y", "x"], 0),
        ("tag:experiment_identifier", 2, ["tag", EI], 1),
        (np.array(["tag:experiment_identifier"], dtype=object), 2, ["tag", EI], 1),
        (np.array([b"experiment_identifier", b"y", b"x"]), 3, [EI, "y", "x"], 0),
        ("y:x", 2, ["y", "x"], None),
    ],
)
def test_axes_table_rows(value, ndim, names, frame_axis):
    parsed, warnings = cxi.parse_axes(value, ndim)
    assert parsed == names
    assert warnings == []
    assert (parsed.index(EI) if EI in parsed else None) == frame_axis


def test_axes_scalar_forms_bytes_nul_and_whitespace():
    assert cxi.parse_axes(b" experiment_identifier : y:x\x00\x00", 3)[0] == [EI, "y", "x"]
    assert cxi.parse_axes(np.bytes_(b"experiment_identifier:y:x"), 3)[0] == [EI, "y", "x"]
    assert cxi.parse_axes(np.array("experiment_identifier:y:x"), 3)[0] == [EI, "y", "x"]  # 0-d array
    assert cxi.parse_axes(b"\xffy:x", 2)[0] == ["\ufffdy", "x"]  # bad bytes replaced, not fatal
    assert cxi.parse_axes("experiment_identifier::y:x", 3)[0] == [EI, "y", "x"]  # empty names dropped


def test_axes_longer_array_with_colons_uses_first_and_warns():
    names, warnings = cxi.parse_axes(np.array([b"a", b"experiment_identifier:y:x", b"z:q"]), 3)
    assert names == [EI, "y", "x"]
    assert len(warnings) == 1


def test_axes_count_mismatch_warns_and_keeps_names_below_ndim():
    names, warnings = cxi.parse_axes("experiment_identifier:y:x", 2)
    assert names == [EI, "y"]
    assert "3 axes" in warnings[0]
    names, warnings = cxi.parse_axes("experiment_identifier", 3)
    assert names == [EI] and warnings


def test_axes_absent_or_not_text():
    assert cxi.parse_axes(None, 3) == ([], [])
    names, warnings = cxi.parse_axes(np.array([1, 2]), 2)
    assert names == [] and warnings


@pytest.mark.parametrize(
    "value, expected",
    [(np.array([60]), 60), (np.int64(5), 5), (7, 7), (np.array([0], np.uint32), 0), (None, None),
     (np.array([-1]), None), (np.array([1, 2]), None), (60.0, None), (b"60", None), (np.array([True]), None)],
)
def test_num_events(value, expected):
    assert cxi.parse_num_events(value) == expected


def test_classification_rules_in_order():
    c = cxi.classify
    # rule 1: EI, frame shape decides
    assert c((100, 8, 8), True, [EI, "y", "x"], None, None).kind is Kind.STACK
    r = c((5, 100), True, ["tag", EI], None, None)
    assert (r.kind, r.frame_axis, r.n) == (Kind.FRAME_VECTOR, 1, 100)
    r = c((20000,), True, [EI], 12345, 12345)
    assert (r.kind, r.n) == (Kind.FRAME_SCALAR, 12345)
    # rule 2
    r = c((10, 64, 64), True, [], None, None)
    assert (r.kind, r.frame_axis, r.n) == (Kind.STACK, 0, 10)
    assert c((100, 8, 8), True, [], 60, None).n == 60
    # rule 3 and 4
    assert c((60, 3), True, [], None, 60).kind is Kind.FRAME_VECTOR
    assert c((60, 17), True, [], None, 60).kind is Kind.IMAGE
    assert c((60, 3), True, [], None, None).kind is Kind.IMAGE
    assert c((50, 100), True, ["y", "x"], None, 1).kind is Kind.IMAGE
    # rule 5 and 6
    assert c((60,), True, [], None, 60).kind is Kind.FRAME_SCALAR
    assert c((100,), True, [], 60, 60).kind is Kind.FRAME_SCALAR  # length after numEvents
    assert c((100,), True, [], None, 60).kind is Kind.ARRAY
    assert c((100,), True, [], None, None).kind is Kind.ARRAY
    # rule 7
    assert c((), True, [], None, 1).kind is Kind.VALUE
    assert c((60,), False, [EI], None, 60).kind is Kind.VALUE


def test_unknown_axis_names_are_noted():
    r = cxi.classify((4, 5, 6), True, ["foo", "y", "x"], None, None)
    assert r.kind is Kind.STACK and "foo" in r.notes[0]


def test_frame_layout_module_and_extra_axes():
    shape = (3, 2, 4, 5, 6)  # EI, module, channel, y, x
    layout = cxi.frame_layout(shape, [EI, "module_identifier", "channel", "y", "x"], 0)
    assert layout.frame_shape == (10, 6)
    assert layout.extra_axes == (2,)
    data = np.arange(np.prod(shape)).reshape(shape)
    sel = layout.selection(1, {2: 3})
    frame = layout.assemble(data[sel])
    assert np.array_equal(frame, np.concatenate([data[1, 0, 3], data[1, 1, 3]], axis=0))
    assert not layout.is_simple


def test_frame_layout_transposed_and_frame_axis_not_first():
    data = np.arange(4 * 5 * 6).reshape(4, 5, 6)  # x, EI, y
    layout = cxi.frame_layout(data.shape, ["x", EI, "y"], 1)
    assert layout.frame_shape == (6, 4)
    assert np.array_equal(layout.assemble(data[layout.selection(2)]), data[:, 2, :].T)
    assert cxi.frame_layout((7, 8, 9), [], 0).is_simple
    with pytest.raises(ValueError):
        cxi.frame_layout((5, 6), [EI, "x"], 0)
