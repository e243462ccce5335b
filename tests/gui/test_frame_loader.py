"""FrameLoader details that the window tests do not reach."""

from __future__ import annotations

import numpy as np

from owlx.gui.frame_loader import FrameLoader
from owlx.io.source import ArrayStack
from owlx.jobs import CancelToken, JobContext


def test_a_job_that_outlived_its_stack_does_not_fill_the_cache(qtbot):
    loader = FrameLoader(cache_mb=64)
    old = ArrayStack(np.ones((3, 16, 16), np.float32))
    loader.set_stack(old)
    key, display, mask = loader._render_key, loader.display, loader.mask
    ctx = JobContext(CancelToken())
    loader._load(old, None, key, display, mask, 1, ctx)
    assert len(loader.cache) == 2  # raw + render of the current stack
    loader.set_stack(ArrayStack(np.zeros((3, 16, 16), np.float32)))  # the user opened another stack
    result = loader._load(old, None, key, display, mask, 2, ctx)  # the old job finishes late
    assert result.index == 2 and len(loader.cache) == 0
    loader.shutdown()
