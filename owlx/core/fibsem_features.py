"""SIFT keypoints and matching of consecutive FIB-SEM frames (spec/fibsem.md §3–§4), with OpenCV.

* Detector: ``cv2.SIFT_create(nfeatures, nOctaveLayers=3, contrastThreshold=0.04,
  edgeThreshold=10, sigma=1.6)`` on the 8-bit frame cropped to the evaluation box; the crop
  offset is added back. Presets: ``reference`` (full resolution, nfeatures 0) and ``fast``
  (2 × 2-binned frame, nfeatures 5000, ``x_full = 2·x_bin + 0.5``).
* Matching: FLANN (KD-tree, 5 trees, 50 checks) or brute force (L2, no cross check; bit
  reproducible), ``knnMatch(k=2)`` and Lowe's ratio test ``d1 < ratio·d2`` (ratio 0.7).

Points are (x, y) = (column, row) with pixel centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.core.fibsem_range import bin2x2

__all__ = ["PRESETS", "Keypoints", "SiftSettings", "detect_keypoints", "match_keypoints"]

#: (binning, nfeatures) of the keypoint presets
PRESETS = {"reference": (1, 0), "fast": (2, 5000)}


@dataclass(frozen=True)
class SiftSettings:
    """Keypoint settings. ``preset`` "reference" or "fast" sets binning and ``nfeatures``
    (``nfeatures=None`` takes the preset's); ``max_keypoints`` keeps the N strongest
    (largest response) after detection (None = no cap)."""

    preset: str = "fast"
    nfeatures: int | None = None
    n_octave_layers: int = 3
    contrast_threshold: float = 0.04
    edge_threshold: float = 10.0
    sigma: float = 1.6
    max_keypoints: int | None = None

    def __post_init__(self):
        if self.preset not in PRESETS:
            from owlx.errors import ParameterError

            raise ParameterError(f"unknown keypoint preset {self.preset!r}; use one of {', '.join(PRESETS)}")

    @property
    def binning(self) -> int:
        return PRESETS[self.preset][0]

    @property
    def n_features(self) -> int:
        return PRESETS[self.preset][1] if self.nfeatures is None else int(self.nfeatures)


@dataclass
class Keypoints:
    """Keypoints of one frame in full-resolution (x, y): ``xy`` (N, 2) float32, ``size``,
    ``angle``, ``response`` (N,) float32, ``octave`` (N,) int32, ``descriptors`` (N, 128)
    float32. Plain arrays, so they pickle cheaply to and from workers."""

    xy: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    response: np.ndarray
    octave: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)

    @classmethod
    def empty(cls) -> Keypoints:
        z = np.zeros(0, np.float32)
        return cls(np.zeros((0, 2), np.float32), z, z, z, np.zeros(0, np.int32), np.zeros((0, 128), np.float32))


def detect_keypoints(u8: np.ndarray, settings: SiftSettings | None = None,
                     box: tuple[int, int, int, int] | None = None) -> Keypoints:
    """SIFT keypoints of an 8-bit frame. ``box`` = (top, height, left, width) in full-resolution
    pixels (0 = full extent, the reference's code order) restricts detection; coordinates are
    returned in the full frame."""
    import cv2

    s = settings or SiftSettings()
    u8 = np.asarray(u8)
    if u8.dtype != np.uint8 or u8.ndim != 2:
        raise ValueError(f"detect_keypoints needs a 2-D uint8 image, got {u8.dtype} {u8.shape}")
    top, left = 0, 0
    if box is not None:
        top, height, left, width = (int(v) for v in box)
        bottom = top + height if height > 0 else u8.shape[0]
        right = left + width if width > 0 else u8.shape[1]
        u8 = u8[top:bottom, left:right]
    image = bin2x2(u8) if s.binning == 2 else np.ascontiguousarray(u8)
    sift = cv2.SIFT_create(nfeatures=s.n_features, nOctaveLayers=s.n_octave_layers,
                           contrastThreshold=s.contrast_threshold, edgeThreshold=s.edge_threshold, sigma=s.sigma)
    kps, desc = sift.detectAndCompute(image, None)
    if not kps:
        return Keypoints.empty()
    xy = np.array([k.pt for k in kps], dtype=np.float64)
    if s.binning == 2:
        xy = 2.0 * xy + 0.5
    xy[:, 0] += left
    xy[:, 1] += top
    out = Keypoints(
        xy=xy.astype(np.float32),
        size=np.array([k.size for k in kps], np.float32) * s.binning,
        angle=np.array([k.angle for k in kps], np.float32),
        response=np.array([k.response for k in kps], np.float32),
        octave=np.array([k.octave for k in kps], np.int32),
        descriptors=np.asarray(desc, dtype=np.float32),
    )
    if s.max_keypoints is not None and len(out) > s.max_keypoints:
        keep = np.sort(np.argsort(-out.response, kind="stable")[: int(s.max_keypoints)])
        out = Keypoints(out.xy[keep], out.size[keep], out.angle[keep], out.response[keep], out.octave[keep],
                        out.descriptors[keep])
    return out


def match_keypoints(src: Keypoints, dst: Keypoints, matcher: str = "flann",
                    ratio: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Matched points (src_pts, dst_pts), float32 (N, 2) in (x, y), of two frames' keypoints:
    ``knnMatch(k=2)`` from ``src`` to ``dst`` and Lowe's ratio test ``d1 < ratio·d2``.
    ``matcher`` is "flann" (KD-tree, 5 trees, 50 checks) or "bf" (L2 brute force)."""
    import cv2

    if len(src) < 1 or len(dst) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    if matcher == "bf":
        engine = cv2.BFMatcher(cv2.NORM_L2, crossCheck=False)
    elif matcher == "flann":
        engine = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 5}, {"checks": 50})
    else:
        from owlx.errors import ParameterError

        raise ParameterError(f"unknown matcher {matcher!r}; use 'flann' or 'bf'")
    pairs = engine.knnMatch(src.descriptors, dst.descriptors, k=2)
    qi, ti = [], []
    for pair in pairs:
        if len(pair) < 2:
            continue
        m, n = pair
        if m.distance < ratio * n.distance:
            qi.append(m.queryIdx)
            ti.append(m.trainIdx)
    qi_a = np.asarray(qi, dtype=np.int64)
    ti_a = np.asarray(ti, dtype=np.int64)
    return src.xy[qi_a].astype(np.float32), dst.xy[ti_a].astype(np.float32)
