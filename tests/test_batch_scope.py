"""Which frames a sizing batch fits (owlx.sizing.batch_frames, spec/viewer.md B1) and its live
summary (owlx.sizing.BatchTally), without Qt."""

from __future__ import annotations

import math

import numpy as np
import pytest

import owlx
from owlx.core.sphere_records import SphereFitResult
from owlx.demo import make_demo_file
from owlx.errors import ParameterError
from owlx.sizing import BatchTally, batch_frames


@pytest.fixture
def session(tmp_path):
    s = owlx.open(str(make_demo_file(tmp_path / "demo.cxi", n_frames=6, size=32, seed=1)))
    yield s
    s.close()


def test_scopes_and_skip(session):
    s = session
    s.set_order(np.array([4, 0, 5, 2]))
    plan = batch_frames(s)
    assert plan.frames == (4, 0, 5, 2) and plan.n_scope == 4 and plan.n_skipped == 0 and plan.empty == ""
    s.tags.add("hit")
    s.tags.set_frames("hit", [1, 2, 4], True)
    plan = batch_frames(s, "tag", "hit")
    assert plan.frames == (4, 2) and plan.n_hidden == 1 and plan.tag == "hit"  # frame 1 is filtered out
    assert batch_frames(s, "tag", 0).frames == (4, 2)  # a tag row works too
    s.frame_index = 5
    assert batch_frames(s, "selected").frames == (5,)
    s.model.set_frame_values(4, {"fitError": 0.2})
    s.model.set_frame_values(5, {"fitError": 0.3})
    plan = batch_frames(s, "view", skip_fitted=True)
    assert plan.frames == (0, 2) and plan.n_scope == 4 and plan.n_skipped == 2
    assert batch_frames(s, "tag", "hit", skip_fitted=True).frames == (2,)
    plan = batch_frames(s, "selected", skip_fitted=True)
    assert plan.frames == () and plan.empty == "nothing to fit: the 1 frame(s) of the scope are already fitted"
    s.set_order(np.array([0, 3]))
    plan = batch_frames(s, "tag", "hit")
    assert plan.frames == () and plan.empty == "no frame in the view order carries tag 'hit' (3 are hidden by the filters)"
    with pytest.raises(ParameterError, match="unknown batch scope"):
        batch_frames(s, "everything")
    with pytest.raises(ParameterError, match="no tag named 'miss'"):
        batch_frames(s, "tag", "miss")
    with pytest.raises(ParameterError, match="choose a tag"):
        batch_frames(s, "tag", None)


def test_tally_counts_and_running_median():
    t = BatchTally(total=5)
    assert math.isnan(t.median_nm) and t.text() == "0 ok, 0 failed"
    for frame, d in ((0, 40.0), (1, 30.0)):
        t.add(SphereFitResult(frame=frame, diameter_nm=d))
    assert t.median_nm == 35.0
    t.add(SphereFitResult.failed(2, "boom"))
    t.add(SphereFitResult(frame=3, diameter_nm=50.0))
    assert (t.n_ok, t.n_failed, t.done) == (3, 1, 4) and t.median_nm == 40.0
    assert t.text() == "3 ok, 1 failed, median 40.0 nm"
