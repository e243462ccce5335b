"""Canvas, warp, z-binning and output conversion of a registered FIB-SEM stack (spec/fibsem.md §9).

* Canvas (``pad_edges``): the integer bounding box, rounded outward, of every frame's corner
  pixels mapped through ``C_k⁻¹`` into output coordinates, together with frame 0's rectangle;
  offsets ``(xi, yi) = (−min(0, x_min), −min(0, y_min))``. Output pixel (x′, y′) samples frame k
  at ``C_k·(x′ − xi, y′ − yi, 1)``. Without padding the canvas is frame 0's size. Fill 0.
* Interpolation order 0 (nearest), 1 (bilinear, default) — OpenCV ``warpAffine`` with the
  inverse map, whose bilinear weights are quantised to 1/32 px — or 3 (cubic spline, scipy
  ``map_coordinates`` with prefilter).
* Z-binning: output slice s is the float mean of warped frames s·z … s·z + z − 1 (a final
  partial bin averages what it has), then rounded half-even and clipped to the output dtype;
  the number of clipped voxels is reported. uint8 output is scaled by the global data range.
* Options: fusion ``A·(1 − f) + B·f``, ``invert`` (−I, or 255 − I for uint8), ``flip_y`` after
  the transform.
* Evaluation boxes (§10.1) in code order [top, height, left, width], 0 = full extent: one box,
  or a sliding box interpolated from a start to a stop box (:func:`sliding_boxes`); on a
  registered stack the boxes follow the content (:func:`moving_boxes`).

Coordinates: (x, y) = (col, row) in matrices; arrays (row, col).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from owlx.errors import ParameterError

__all__ = ["Canvas", "bin_frames", "canvas_for", "full_box", "moving_boxes", "sliding_boxes", "to_output",
           "warp_frame"]

OUTPUT_DTYPES = ("int16", "uint16", "float32", "uint8")


@dataclass(frozen=True)
class Canvas:
    """Output geometry: ``shape`` (rows, cols) and the offsets (xi, yi) of frame 0's origin."""

    shape: tuple[int, int]
    xi: int
    yi: int

    def warp_matrix(self, cum: np.ndarray) -> np.ndarray:
        """The 3 × 3 map output canvas (x′, y′) → frame pixel: ``C_k·translate(−xi, −yi)``."""
        shift = np.array([[1.0, 0.0, -self.xi], [0.0, 1.0, -self.yi], [0.0, 0.0, 1.0]])
        return np.asarray(cum, dtype=np.float64) @ shift


def canvas_for(cumulative: np.ndarray, frame_shape: tuple[int, int], pad_edges: bool = True) -> Canvas:
    """The canvas holding every registered frame (module doc); ``frame_shape`` is (rows, cols)."""
    ny, nx = (int(v) for v in frame_shape)
    if not pad_edges:
        return Canvas((ny, nx), 0, 0)
    corners = np.array([[0, 0, 1], [nx - 1, 0, 1], [0, ny - 1, 1], [nx - 1, ny - 1, 1]], dtype=np.float64).T
    xs, ys = [0.0, nx - 1.0], [0.0, ny - 1.0]
    for c in np.asarray(cumulative, dtype=np.float64):
        mapped = np.linalg.inv(c) @ corners
        xs.extend(mapped[0])
        ys.extend(mapped[1])
    # a hair of tolerance so that round-off (…999.9999999) does not add a column
    x_min, x_max = math.floor(min(xs) + 1e-9), math.ceil(max(xs) - 1e-9)
    y_min, y_max = math.floor(min(ys) + 1e-9), math.ceil(max(ys) - 1e-9)
    xi, yi = -min(0, x_min), -min(0, y_min)
    return Canvas((y_max + yi + 1, x_max + xi + 1), xi, yi)


def warp_frame(frame: np.ndarray, cum: np.ndarray, canvas: Canvas, order: int = 1) -> np.ndarray:
    """Frame k registered onto the canvas (float32): ``out(x′, y′) = frame(C_k·(x′ − xi, y′ − yi))``."""
    import cv2

    m = canvas.warp_matrix(cum)
    src = np.asarray(frame, dtype=np.float32)
    rows, cols = canvas.shape
    if order in (0, 1):
        flag = cv2.INTER_NEAREST if order == 0 else cv2.INTER_LINEAR
        return cv2.warpAffine(src, m[:2], (cols, rows), flags=flag | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if order == 3:
        from scipy.ndimage import affine_transform

        # scipy works in (row, col): swap the roles of x and y
        swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        rc = swap @ m @ swap
        return affine_transform(src, rc[:2, :2], offset=rc[:2, 2], output_shape=(rows, cols), order=3,
                                mode="constant", cval=0.0, prefilter=True).astype(np.float32)
    raise ParameterError(f"interpolation order must be 0, 1 or 3, not {order}")


def bin_frames(frames) -> np.ndarray:
    """The float64 mean of the warped frames of one z-bin."""
    frames = list(frames)
    if not frames:
        raise ValueError("an empty z-bin")
    acc = np.zeros(np.shape(frames[0]), dtype=np.float64)
    for f in frames:
        acc += f
    return acc / len(frames)


def to_output(image: np.ndarray, dtype: str = "int16", data_range: tuple[float, float] | None = None,
              invert: bool = False, flip_y: bool = False) -> tuple[np.ndarray, int]:
    """Convert a (binned, float) slice to the output dtype: round half-even and clip (uint8:
    scale ``data_range`` (lo, hi) to 0…255 first). Returns (slice, number of clipped voxels)."""
    if dtype not in OUTPUT_DTYPES:
        raise ParameterError(f"output dtype must be one of {', '.join(OUTPUT_DTYPES)}, not {dtype!r}")
    x = np.asarray(image, dtype=np.float64)
    if dtype == "uint8":
        lo, hi = data_range if data_range is not None else (0.0, 255.0)
        x = (x - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(x)
    if invert:
        x = 255.0 - x if dtype == "uint8" else -x
    if flip_y:
        x = x[::-1]
    if dtype == "float32":
        return x.astype(np.float32), 0
    info = np.iinfo(np.dtype(dtype))
    x = np.rint(x)
    clipped = int(np.count_nonzero((x < info.min) | (x > info.max)))
    return np.clip(x, info.min, info.max).astype(dtype), clipped


def full_box(box, frame_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` [top, height, left, width] (code order) with a 0 height or width replaced by the
    extent from top/left to the frame's end; ``frame_shape`` is (rows, cols)."""
    ny, nx = (int(v) for v in frame_shape)
    top, height, left, width = (int(v) for v in box)
    return top, height or max(ny - top, 0), left, width or max(nx - left, 0)


def sliding_boxes(start, stop, n: int, frame_shape: tuple[int, int]) -> np.ndarray:
    """Evaluation boxes (n, 4) [top, height, left, width] of n output slices, each field linearly
    interpolated from the ``start`` box (slice 0) to the ``stop`` box (slice n − 1), both in code
    order with 0 = full extent (resolved by :func:`full_box` first). Integer arithmetic as in the
    reference, ``start + (stop − start)·k // (n − 1)`` (floor), so slice 0 is ``start`` and the
    last slice is ``stop`` exactly. The reference keeps the start box's height and width; equal
    sizes give its boxes."""
    a = np.array(full_box(start, frame_shape), dtype=np.int64)
    b = np.array(full_box(stop, frame_shape), dtype=np.int64)
    n = int(n)
    if n < 1:
        return np.zeros((0, 4), dtype=np.int64)
    k = np.arange(n, dtype=np.int64)[:, None]
    return a + (b - a) * k // max(n - 1, 1)


def moving_boxes(cumulative: np.ndarray, canvas: Canvas, box, frame_shape: tuple[int, int]) -> np.ndarray:
    """Per-slice evaluation boxes (n, 4) as [top, height, left, width] on the canvas, following
    the content: each box's top-left corner (given in frame coordinates) mapped through the
    inverse of that slice's canvas transform; the displacement this adds is smoothed by
    Savitzky–Golay (window ``min(n//8·2 + 1, 2001)``, order ``min(5, window − 1)``), which for
    one fixed box is the reference's smoothing of the mapped corners. ``box`` is one box
    [top, height, left, width] (0 = full extent) or one per slice, (n, 4), e.g. from
    :func:`sliding_boxes`. Boxes are clipped into the canvas."""
    from scipy.signal import savgol_filter

    cumulative = np.asarray(cumulative, dtype=np.float64)
    n = len(cumulative)
    boxes = np.asarray(box, dtype=np.int64)
    if boxes.ndim == 1:
        boxes = np.tile(np.array(full_box(boxes, frame_shape), dtype=np.int64), (n, 1))
    else:
        if boxes.shape != (n, 4):
            raise ParameterError(f"{n} slices need {n} evaluation boxes, got an array of shape {boxes.shape}")
        boxes = np.array([full_box(b, frame_shape) for b in boxes], dtype=np.int64).reshape(n, 4)
    corners = boxes[:, [2, 0]].astype(np.float64)  # (x, y) = (left, top)
    moved = np.empty_like(corners)
    for k, c in enumerate(cumulative):
        u = np.linalg.inv(canvas.warp_matrix(c)) @ np.array([corners[k, 0], corners[k, 1], 1.0])
        moved[k] = u[:2]
    shift = moved - corners
    window = min(n // 8 * 2 + 1, 2001)
    if window >= 3:
        shift = savgol_filter(shift, window, min(5, window - 1), axis=0)
    corners = corners + shift
    rows, cols = canvas.shape
    out = np.empty((n, 4), dtype=np.int64)
    out[:, 1] = np.minimum(boxes[:, 1], rows)
    out[:, 3] = np.minimum(boxes[:, 3], cols)
    out[:, 0] = np.clip(np.rint(corners[:, 1]), 0, np.maximum(rows - out[:, 1], 0))
    out[:, 2] = np.clip(np.rint(corners[:, 0]), 0, np.maximum(cols - out[:, 3], 0))
    return out
