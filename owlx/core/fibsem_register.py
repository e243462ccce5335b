"""Chaining pairwise FIB-SEM transforms into a registration (spec/fibsem.md §6.1, §7, §8).

Conventions: matrices are 3 × 3 in (x, y) = (col, row) coordinates. The step ``M_j`` maps
frame-j pixel coordinates to frame j+1. Cumulation ``C_0 = I``, ``C_{k+1} = M_k·C_k``: ``C_k``
maps **output (frame-0) coordinates → frame-k pixel coordinates**, and the registered frame is
``registered_k(u) = frame_k(C_k·u)`` (scikit-image "inverse map" warp). With pure shifts d_i,
``C_k[:2, 2] = Σ_{i<k} d_i``.

Post-processing, in order (each step's matrices are kept):

1. ``preserve_scales``: fit each linear entry of C_k against the frame index and keep only the
   fast fluctuations (``Sxx ← Sxx − fit + 1``, ``Sxy ← Sxy − fit``); fit types
   ``("SG", window, order)`` (window made odd, ≥ order + 2, ≤ n//2·2 − 1; default n//100 + 1),
   ``("PF", order)`` or ``("LF",)`` (lines through (0, 1) for the diagonal and (0, 0) for the
   off-diagonal terms).
2. translations recomputed to suit the new linear parts, exactly
   (``t_{j+1} = mean_inliers(q − S_{j+1} S_j⁻¹ (p − t_j))``) or in the reference's first-order
   ``compat`` form (``Δt = mean(S_j[r,:]·q − S_{j+1}[r,:]·p)``, ``t = cumsum(Δt)``);
3. ``subtract_linear_fit`` per axis: ``t ← t − linear_fit(f, t + FOVtrend)``, then re-zero at
   frame 0 — removes a constant drift velocity (milling advance, stage drift).

Failed pairs (status not "ok") are never silently identity: :func:`resolve_steps` applies
``on_failure`` ("identity", "neighbour_mean" or "exclude_frame") and lists every such pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from owlx.core.fibsem_transforms import PairFit
from owlx.errors import ParameterError

__all__ = [
    "PostSettings",
    "Registration",
    "cumulate",
    "nomatch_frames",
    "postprocess",
    "preserve_scales",
    "recompute_translations",
    "resolve_steps",
    "subtract_linear_fit",
]

ON_FAILURE = ("identity", "neighbour_mean", "exclude_frame")


def cumulate(steps: Sequence[np.ndarray]) -> np.ndarray:
    """(n+1, 3, 3) cumulative matrices of n steps: C_0 = I, C_{k+1} = M_k·C_k."""
    out = np.empty((len(steps) + 1, 3, 3))
    out[0] = np.eye(3)
    for k, m in enumerate(steps):
        out[k + 1] = np.asarray(m, dtype=np.float64) @ out[k]
    return out


def resolve_steps(fits: Sequence[PairFit], on_failure: str = "identity") -> tuple[np.ndarray, list[int]]:
    """The step matrices (n, 3, 3) used for each pair and the indices of the flagged pairs.

    Failed pairs get identity, or the mean of the nearest valid steps on each side
    (``neighbour_mean``). ``exclude_frame`` must have been handled by the caller (frames
    removed and pairs re-matched); pairs that still fail fall back to identity, flagged.
    """
    if on_failure not in ON_FAILURE:
        raise ParameterError(f"unknown on_failure {on_failure!r}; use one of {', '.join(ON_FAILURE)}")
    steps = np.array([f.matrix if f.ok else np.eye(3) for f in fits], dtype=np.float64).reshape(-1, 3, 3)
    flagged = [i for i, f in enumerate(fits) if not f.ok]
    if on_failure == "neighbour_mean":
        good = [i for i, f in enumerate(fits) if f.ok]
        for i in flagged:
            left = [g for g in good if g < i]
            right = [g for g in good if g > i]
            near = ([left[-1]] if left else []) + ([right[0]] if right else [])
            if near:
                steps[i] = np.mean([fits[g].matrix for g in near], axis=0)
    return steps, flagged


def nomatch_frames(npts: Sequence[int], thr_npt: int = 3) -> list[int]:
    """Frames that match neither neighbour (``check_for_nomatch_frames``): frame i+1 when both
    pair i and pair i+1 have fewer than ``thr_npt`` inliers. Returns frame indices."""
    low = np.asarray(npts) < thr_npt
    return [i + 1 for i in range(len(low) - 1) if low[i] and low[i + 1]]


def _fit_series(values: np.ndarray, fit: tuple, through: float) -> np.ndarray:
    """Trend of ``values`` against the frame index by the fit type (see module doc)."""
    from scipy.signal import savgol_filter

    n = len(values)
    f = np.arange(n, dtype=np.float64)
    kind = fit[0]
    if kind == "LF":
        denom = (f * f).sum()
        slope = (f * (values - through)).sum() / denom if denom > 0 else 0.0
        return through + slope * f
    if kind == "PF":
        order = int(fit[1]) if len(fit) > 1 else 1
        if n <= order:
            return values.copy()
        return np.polyval(np.polyfit(f, values, order), f)
    if kind == "SG":
        window = int(fit[1]) if len(fit) > 1 else n // 100 + 1
        order = int(fit[2]) if len(fit) > 2 else 3
        # odd, at least order + 2 (the reference's default n//100 + 1 is 1 for short stacks),
        # at most n//2·2 − 1
        window = max(window, order + 2)
        window += 1 - window % 2
        window = min(window, n // 2 * 2 - 1)
        if window <= order:
            # a stack too short to smooth: the trend is the data (S ≡ 1 after removal)
            return values.copy()
        return savgol_filter(values, window, order)
    raise ParameterError(f"unknown scale fit {fit!r}; use ('SG', window, order), ('PF', order) or ('LF',)")


def preserve_scales(cum: np.ndarray, fit: tuple = ("SG", None, 3)) -> np.ndarray:
    """Remove the slow trends of the linear parts of the cumulative matrices (module doc §1).
    The default SG window is ``n//100 + 1``."""
    out = np.array(cum, dtype=np.float64, copy=True)
    n = len(out)
    if fit[0] == "SG" and (len(fit) < 2 or fit[1] is None):
        fit = ("SG", n // 100 + 1, fit[2] if len(fit) > 2 else 3)
    for r, c in ((0, 0), (1, 1), (0, 1), (1, 0)):
        through = 1.0 if r == c else 0.0
        trend = _fit_series(out[:, r, c], fit, through)
        out[:, r, c] = out[:, r, c] - trend + through
    return out


def recompute_translations(linear: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                           mode: str = "exact", steps: np.ndarray | None = None) -> np.ndarray:
    """Translations (n, 2) consistent with new linear parts ``linear`` (n, 2, 2) and the
    inlier points (p in frame j, q in frame j+1) of every pair j (module doc §2). A pair
    without points (a flagged pair) propagates through its step matrix ``steps[j]``
    (``t_{j+1} = M_j,lin·t_j + M_j,t``; identity when ``steps`` is None)."""
    n = len(linear)
    t = np.zeros((n, 2))
    dt = np.zeros((n, 2))
    for j in range(n - 1):
        p, q = (np.asarray(a, dtype=np.float64).reshape(-1, 2) for a in pairs[j])
        step = np.eye(3) if steps is None else np.asarray(steps[j], dtype=np.float64)
        if mode == "exact":
            if len(p) == 0:
                t[j + 1] = step[:2, :2] @ t[j] + step[:2, 2]
                continue
            a = linear[j + 1] @ np.linalg.inv(linear[j])
            # frame-j coordinates p = S_j u + t_j  =>  u = S_j⁻¹(p − t_j);  q = S_{j+1} u + t_{j+1}
            t[j + 1] = (q - (p - t[j]) @ a.T).mean(axis=0)
        elif mode == "compat":
            dt[j + 1] = step[:2, 2] if len(p) == 0 else (q @ linear[j].T - p @ linear[j + 1].T).mean(axis=0)
        else:
            raise ParameterError(f"unknown translation mode {mode!r}; use 'exact' or 'compat'")
    return t if mode == "exact" else np.cumsum(dt, axis=0)


def subtract_linear_fit(t: np.ndarray, axes=(True, True), fov_trend: np.ndarray | None = None,
                        use_fov=(True, True)) -> np.ndarray:
    """``t ← t − linear_fit(f, t + FOVtrend)`` per selected axis, then ``t ← t − t[0]``."""
    out = np.array(t, dtype=np.float64, copy=True)
    n = len(out)
    if n < 2:
        return out
    f = np.arange(n, dtype=np.float64)
    for a in range(2):
        if not axes[a]:
            continue
        target = out[:, a].copy()
        if fov_trend is not None and use_fov[a]:
            target = target + np.asarray(fov_trend, dtype=np.float64)[:, a]
        slope, intercept = np.polyfit(f, target, 1)
        out[:, a] -= slope * f + intercept
        out[:, a] -= out[0, a]
    return out


@dataclass(frozen=True)
class PostSettings:
    """Post-processing of the cumulative transforms (spec/fibsem.md §7)."""

    preserve_scales: bool = True
    scale_fit: tuple = ("SG", None, 3)
    translations: str = "exact"
    subtract_linear_fit: tuple = (True, True)
    subtract_fov_trend: tuple = (True, True)
    on_failure: str = "identity"

    def __post_init__(self):
        if self.on_failure not in ON_FAILURE:
            raise ParameterError(f"unknown on_failure {self.on_failure!r}; use one of {', '.join(ON_FAILURE)}")
        if self.translations not in ("exact", "compat"):
            raise ParameterError(f"unknown translation mode {self.translations!r}; use 'exact' or 'compat'")


@dataclass
class Registration:
    """Cumulative matrices of a stack after every post-processing step, with the flags.

    ``frames`` are the (original) frame indices kept, ``cumulative`` the final (n, 3, 3)
    matrices; ``stages`` maps "raw", "scales", "translations", "drift" to the matrices after
    each step; ``flagged`` the indices of pairs (in ``fits``) whose step is a fallback."""

    frames: list[int]
    fits: list[PairFit]
    steps: np.ndarray
    cumulative: np.ndarray
    stages: dict[str, np.ndarray] = field(default_factory=dict)
    flagged: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    @property
    def shifts(self) -> np.ndarray:
        """(n, 2) cumulative (x, y) translations of the final matrices (px)."""
        return self.cumulative[:, :2, 2].copy()

    @property
    def step_shifts(self) -> np.ndarray:
        """(n−1, 2) per-pair (x, y) translations of the steps used (px)."""
        return self.steps[:, :2, 2].copy()

    @property
    def scales(self) -> np.ndarray:
        """(n, 2) cumulative (Sxx, Syy)."""
        return np.stack([self.cumulative[:, 0, 0], self.cumulative[:, 1, 1]], axis=1)


def postprocess(frames: Sequence[int], fits: Sequence[PairFit], settings: PostSettings | None = None,
                fov_trend: np.ndarray | None = None) -> Registration:
    """Cumulate the pair fits of ``frames`` (fit j joins frames[j] and frames[j+1]) and apply
    the post-processing of ``settings``. ``fov_trend`` is (n, 2) px or None."""
    s = settings or PostSettings()
    steps, flagged = resolve_steps(fits, "identity" if s.on_failure == "exclude_frame" else s.on_failure)
    raw = cumulate(steps)
    stages = {"raw": raw.copy()}
    cum = raw
    if s.preserve_scales and len(cum) > 2:
        cum = preserve_scales(cum, s.scale_fit)
        stages["scales"] = cum.copy()
        pairs = [(f.src_inliers, f.dst_inliers) if f.ok else (np.zeros((0, 2)), np.zeros((0, 2))) for f in fits]
        cum[:, :2, 2] = recompute_translations(cum[:, :2, :2], pairs, s.translations, steps)
        stages["translations"] = cum.copy()
    if any(s.subtract_linear_fit):
        cum = cum.copy()
        cum[:, :2, 2] = subtract_linear_fit(cum[:, :2, 2], s.subtract_linear_fit, fov_trend, s.subtract_fov_trend)
        stages["drift"] = cum.copy()
    return Registration(frames=list(frames), fits=list(fits), steps=steps, cumulative=cum, stages=stages,
                        flagged=flagged)
