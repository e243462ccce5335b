"""The big-frame buffer pool: buffers come back only when nothing else can reach them."""

from __future__ import annotations

import h5py
import numpy as np

from owlx.frames import FrameCache
from owlx.io.buffers import MIN_BYTES, FrameBuffers
from owlx.io.open import open_source

SHAPE = (2048, 2048)  # 16 MB of float32: just big enough to be pooled


def big(fill: float = 0.0) -> np.ndarray:
    a = np.empty(SHAPE, np.float32)
    a.fill(fill)
    return a


def test_a_retired_buffer_is_reused_once_nothing_refers_to_it():
    pool = FrameBuffers()
    a = big(1.0)
    address = a.ctypes.data
    pool.retire(a)
    assert pool.take(SHAPE, np.float32) is None  # 'a' still refers to it
    del a
    b = pool.take(SHAPE, np.float32)
    assert b is not None and b.ctypes.data == address and pool.reused == 1
    assert pool.take(SHAPE, np.float32) is None  # handed out once only


def test_views_memoryviews_and_containers_keep_a_buffer_out_of_reuse():
    pool = FrameBuffers()
    a = big()
    view = a[10:20]
    mv = memoryview(a)
    box = {"frame": a}
    pool.retire(a)
    del a
    for holder in ("view", "mv", "box"):
        assert pool.take(SHAPE, np.float32) is None, holder
        if holder == "view":
            del view
        elif holder == "mv":
            mv.release()
            del mv
        else:
            box.clear()
    assert pool.take(SHAPE, np.float32) is not None


def test_only_matching_big_owned_arrays_are_pooled_and_the_pool_is_bounded():
    pool = FrameBuffers(max_bytes=2 * big().nbytes)
    pool.retire(np.empty(MIN_BYTES // 8, np.float32))  # small: not worth pooling
    pool.retire(big()[1:])  # a view: its memory belongs to another array
    assert pool.nbytes == 0
    for _ in range(3):
        pool.retire(big())
    assert pool.nbytes == 2 * big().nbytes  # the oldest was let go
    assert pool.take((2048, 2047), np.float32) is None
    assert pool.take(SHAPE, np.float64) is None
    assert pool.empty(SHAPE, np.float32).shape == SHAPE and pool.reused == 1


def test_the_cache_hands_dropped_values_to_on_evict():
    dropped = []
    cache = FrameCache(100, on_evict=lambda k, v: dropped.append(k))
    cache.put("a", np.zeros(60, np.uint8))
    cache.put("b", np.zeros(60, np.uint8))  # evicts a
    assert dropped == ["a"]
    same = cache.get("b")
    cache.put("b", same)  # re-put of the same value: nothing dropped
    cache.put("b", np.zeros(10, np.uint8))  # replaced by another value
    cache.discard(lambda k: False)
    cache.clear()
    assert dropped == ["a", "b", "b"]


def test_reads_of_big_hdf5_frames_reuse_retired_frames(tmp_path, monkeypatch):
    """The readers (direct and through h5py) take their buffers from the pool: the bytes of the
    new frame, not the old ones, are in the reused memory."""
    import owlx.io.buffers as buffers
    import owlx.io.hdf5_direct as direct
    import owlx.io.hdf5_stack as hdf5_stack

    pool = FrameBuffers()
    monkeypatch.setattr(direct, "frame_buffers", pool)
    monkeypatch.setattr(hdf5_stack, "frame_buffers", pool)
    assert buffers.frame_buffers is not pool
    frames = np.stack([np.full(SHAPE, k, np.float32) for k in range(3)])
    for name, kwargs in (("raw.h5", {"chunks": (1, *SHAPE)}), ("gzip.h5", {"chunks": (1, 512, 2048), "compression": "gzip"})):
        path = tmp_path / name
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=frames, **kwargs)
        src = open_source(path)
        stack = src.stack("/data")
        first = stack[0]
        address = first.ctypes.data
        pool.retire(first)
        del first
        second = stack[1]
        assert second.ctypes.data == address, name
        assert (second == 1).all()
        src.close()


def test_keep_only_lets_go_of_other_frame_sizes():
    pool = FrameBuffers()
    pool.retire(big())
    pool.retire(np.empty((4096, 1024), np.float32))
    pool.keep_only(SHAPE, np.float32)
    assert pool.nbytes == big().nbytes and pool.take((4096, 1024), np.float32) is None
    pool.keep_only(None)
    assert pool.nbytes == 0 and pool.take(SHAPE, np.float32) is None
