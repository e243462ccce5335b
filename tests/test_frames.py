import numpy as np

from owlx.frames import FrameCache


def test_lru_eviction_keeps_budget_and_recent_entries():
    cache = FrameCache(max_bytes=3 * 800)
    for i in range(5):
        cache.put(i, np.zeros(100, np.float64))  # 800 bytes each
    assert cache.nbytes <= cache.max_bytes
    assert [i in cache for i in range(5)] == [False, False, True, True, True]
    cache.get(2)  # touch: 3 becomes the oldest
    cache.put(5, np.zeros(100))
    assert 3 not in cache and 2 in cache


def test_entry_larger_than_budget_is_not_cached_and_evicts_nothing():
    cache = FrameCache(max_bytes=1000)
    cache.put("a", np.zeros(10))
    cache.put("big", np.zeros(1000))
    assert "big" not in cache and "a" in cache


def test_discard_and_resize():
    cache = FrameCache(max_bytes=10_000)
    for i in range(4):
        cache.put(("raw", i), np.zeros(100))
        cache.put(("render", i), np.zeros(100))
    cache.discard(lambda k: k[0] == "render")
    assert len(cache) == 4 and cache.nbytes == 3200
    cache.resize(1600)
    assert len(cache) == 2 and cache.nbytes == 1600
