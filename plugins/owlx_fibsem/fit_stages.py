"""Stages 1–3 of the registration pipeline (spec/fibsem.md §1) scheduled on a pool
(:mod:`owlx_fibsem.executor`), restartable through a cache folder, and the re-matching of §8.

With a cache folder (:class:`StageCache`) every artefact of these stages is kept there and
reused by a later run (or a run started again after a cancel) whose keys match:

1. ``<frame>.range.json`` — the frame's CDF range; stage 1 also computes each frame's key
   (BLAKE2b of its pixels), the only per-frame work left on a full rerun, and hands it on so
   the frame is hashed once per run;
2. ``<frame>.kp.npz`` — its keypoints (read only when a pair that needs them is not cached);
3. ``<frame j>--<frame k>.pair.npz`` — the pair's fit, keyed by both frames' keypoint
   identities and every matching and fit setting. Pairs found there are not matched, and a
   frame whose pairs are all found is neither read nor detected again.

So a rerun that changes only post-processing or output settings does no SIFT and no matching;
a changed matching setting re-matches from the cached keypoints; a changed frame recomputes its
keypoints and the two pairs that touch it. Unreadable files are reported as
:class:`~owlx.io.fibsem_keypoints.CacheWarning` (on the client for ranges and pairs) and redone.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from owlx.core.fibsem_range import stack_range
from owlx.core.fibsem_register import nomatch_frames
from owlx.core.fibsem_settings import RegistrationSettings
from owlx.core.fibsem_transforms import PairFit
from owlx.io.fibsem_keypoints import CacheWarning
from owlx.io.fibsem_stage_cache import pair_file, pair_key
from owlx_fibsem import tasks
from owlx_fibsem.executor import run_map


@dataclass
class StageCache:
    """The cache folder of a run and the identities of its frames: ``names`` (file stems),
    ``frame_ids`` (pixel hashes, from stage 1) and ``keypoint_ids`` (frame id + keypoint
    settings key, once the 8-bit ranges are known). ``reused`` counts the ranges and pair fits
    read from the folder."""

    folder: str
    names: list[str]
    frame_ids: list[str | None] = field(default_factory=list)
    keypoint_ids: list[str] = field(default_factory=list)
    reused: dict = field(default_factory=lambda: {"ranges": 0, "pairs": 0})

    @classmethod
    def of(cls, folder: str, frames) -> StageCache:
        names = [frames.frame_name(i) for i in range(len(frames))]
        return cls(folder, names, [None] * len(names))

    def set_keypoint_ids(self, ranges: np.ndarray, s: RegistrationSettings) -> None:
        self.keypoint_ids = [f"{fid}:{tasks.keypoint_settings_id(s, lo, hi)}"
                             for fid, (lo, hi) in zip(self.frame_ids, ranges)]

    def pair(self, a: int, b: int, s: RegistrationSettings) -> tuple[str, str]:
        """(file, key) of the fit of frames a → b, seeded as pair index ``a``."""
        import cv2

        key = pair_key(self.keypoint_ids[a], self.keypoint_ids[b], s.matcher, s.ratio, s.fit, s.seed, a,
                       cv2.__version__)
        return pair_file(self.folder, self.names[a], self.names[b]), key


def _chunk(n: int, pool) -> int:
    return max(1, min(16, n // (4 * pool.n_workers) or 1))


def data_range_stage(pool, frames, n: int, s: RegistrationSettings, ctx, progress, cache: StageCache | None,
                     eight_bit: bool) -> tuple[np.ndarray, tuple[float, float]]:
    """Stage 1: ((n, 2) per-frame 8-bit conversion range (lo, hi), global range). 8-bit input
    keeps 0…255 (with a cache its frames are still hashed here, for stages 2–3)."""
    mins, maxs = np.zeros(n), np.full(n, 255.0)
    if not eight_bit or cache is not None:
        folder = cache.folder if cache else None

        def take(rows):
            for i, lo, hi, fid, hit, problem in rows:
                mins[i], maxs[i] = lo, hi
                if cache is not None:
                    cache.frame_ids[i] = fid
                    cache.reused["ranges"] += int(hit)
                if problem:
                    warnings.warn(problem, CacheWarning, stacklevel=2)
            progress(len(rows))

        chunk = _chunk(n, pool)
        items = [(frames, list(range(a, min(n, a + chunk))), s, pool.cv_threads, folder, not eight_bit)
                 for a in range(0, n, chunk)]
        run_map(pool, tasks.range_task, items, ctx, take, 2 * pool.n_workers + 1)
    if eight_bit:
        return np.stack([np.zeros(n), np.full(n, 255.0)], axis=1), (0.0, 255.0)
    lo, hi = stack_range(mins, maxs, s.sliding_minmax, s.fit_window, s.thr_min, s.thr_max, s.nbins)
    glo, ghi = stack_range(mins, maxs, False, None, s.thr_min, s.thr_max, s.nbins)
    return np.stack([lo, hi], axis=1), (float(glo[0]), float(ghi[0]))


def fit_pairs_stage(pool, frames, n: int, ranges: np.ndarray, s: RegistrationSettings, ctx, progress,
                    cache: StageCache | None) -> dict[tuple[int, int], PairFit]:
    """Stages 2–3: the fit of every consecutive pair, from the cache where it is valid, else
    from the frames' keypoints (cached or detected), on the pool."""
    fits: dict[tuple[int, int], PairFit] = {}
    todo = list(range(n - 1))
    if cache is not None:
        cache.set_keypoint_ids(ranges, s)

        def take(rows):
            for j, fit, problem in rows:
                if problem:
                    warnings.warn(problem, CacheWarning, stacklevel=2)
                if fit is not None:
                    fits[(j, j + 1)] = fit
                    cache.reused["pairs"] += 1
                    progress(1)
                    ctx.emit(("pair", fit))

        chunk = _chunk(n - 1, pool)
        looked = [(j, *cache.pair(j, j + 1, s)) for j in todo]
        run_map(pool, tasks.pair_lookup_task, [(looked[a:a + chunk],) for a in range(0, len(looked), chunk)], ctx,
                take, 2 * pool.n_workers + 1)
        todo = [j for j in todo if (j, j + 1) not in fits]
    need = sorted({k for j in todo for k in (j, j + 1)})
    progress(n - len(need))  # frames whose keypoints no pair needs
    _fit_missing(pool, frames, todo, need, ranges, s, ctx, progress, cache, fits)
    return fits


def _fit_missing(pool, frames, todo, need, ranges, s, ctx, progress, cache, fits) -> None:
    """Keypoints of the frames ``need`` and the fits of the pairs ``todo`` (j, j+1), streamed:
    a pair is submitted once both its keypoints exist, a frame's keypoints are dropped once its
    pairs are fitted (bounded memory; on dask the keypoints go worker to worker)."""
    todo_set = set(todo)
    folder = cache.folder if cache else None
    window = max(4, 2 * pool.n_workers + 2)
    kp: dict[int, Any] = {}
    kp_ready: set[int] = set()
    pairs_done: set[int] = set()
    owner: dict[Any, tuple[str, int]] = {}
    pos = 0
    try:
        while len(pairs_done) < len(todo):
            while pos < len(need) and len(kp) < window:
                ctx.check()  # an inline pool computes at submission: stop before, not after
                i = need[pos]
                pos += 1
                fid = cache.frame_ids[i] if cache else None
                f = pool.submit(tasks.keypoint_task, frames, i, ranges[i, 0], ranges[i, 1], s, pool.cv_threads,
                                folder, fid)
                kp[i] = f
                owner[f] = ("kp", i)
            for f in pool.wait_any(list(owner), ctx.check):
                kind, i = owner.pop(f)
                if kind == "kp":
                    pool.raise_if_failed(f)  # the keypoints themselves stay on the pool
                    kp_ready.add(i)
                    progress(1)
                    for j in (i - 1, i):
                        if j in todo_set and j in kp_ready and j + 1 in kp_ready:
                            path, key = cache.pair(j, j + 1, s) if cache else (None, None)
                            g = pool.submit(tasks.match_task, kp[j], kp[j + 1], j, s, pool.cv_threads, path, key)
                            owner[g] = ("pair", j)
                    continue
                fit = pool.result(f)
                fits[(i, i + 1)] = fit
                pairs_done.add(i)
                progress(1)
                ctx.emit(("pair", fit))
                for k in (i, i + 1):  # keypoints no pair needs any more
                    if all(p in pairs_done for p in (k - 1, k) if p in todo_set):
                        kp.pop(k, None)
    finally:
        pool.cancel(list(owner))


def remove_bad_frames(pool, frames, fits, n, ranges, s: RegistrationSettings, ctx,
                      cache: StageCache | None = None) -> tuple[list[int], list[int]]:
    """§8 and ``on_failure="exclude_frame"``: drop frames, re-match their new neighbours
    (through the cache when given). Returns (kept frames, removed frames); ``fits`` gains the
    new pairs.

    A frame is dropped when it matches neither neighbour (``check_nomatch``), or, with
    ``exclude_frame``, when the pair leading to it failed (once per original pair: a re-matched
    pair that fails again stays, flagged)."""
    kept = list(range(n))
    removed: list[int] = []
    for _ in range(n):
        pairs = list(pairwise(kept))
        drop: set[int] = set()
        if s.check_nomatch:
            drop |= {kept[k] for k in nomatch_frames([fits[p].npts for p in pairs], s.thr_npt)}
        if s.post.on_failure == "exclude_frame":
            drop |= {b for a, b in pairs if not fits[(a, b)].ok and b - a == 1 and b not in removed}
        if not drop or len(kept) - len(drop) < 2:
            break
        removed.extend(sorted(drop))
        kept = [k for k in kept if k not in drop]
        new = [(a, b) for a, b in pairwise(kept) if (a, b) not in fits]
        futures = {}
        for a, b in new:
            ids = (cache.frame_ids[a], cache.frame_ids[b]) if cache else (None, None)
            pair = cache.pair(a, b, s) if cache else (None, None)
            futures[pool.submit(tasks.rematch_task, frames, a, b, (tuple(ranges[a]), tuple(ranges[b])), a, s,
                                pool.cv_threads, cache.folder if cache else None, ids, pair)] = (a, b)
        try:
            while futures:
                for f in pool.wait_any(list(futures), ctx.check):
                    fits[futures.pop(f)] = pool.result(f)
        finally:
            pool.cancel(list(futures))
    return kept, sorted(removed)
