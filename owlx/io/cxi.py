"""The CXI reading rules that need no file: the ``axes`` attribute (spec/formats.md §1.4),
``numEvents`` (§1.5), dataset classification (§1.3) and the layout of a frame inside a dataset.

Everything here is pure: numbers and strings in, decisions out, so the rules are tested rule by
rule without HDF5 files. Frame indices are 0-based; the frame axis is the axis that indexes
frames (``experiment_identifier`` in CXI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

from owlx.io.source import Kind

EI = "experiment_identifier"
MODULE = "module_identifier"
#: axis names owlx understands; others are noted (they still get an index selector)
KNOWN_AXES = {EI, MODULE, "y", "x", "z", "tag", "coordinate", "nPeaks"}
#: rule 3: a 2-D dataset with at most this many columns per frame is a per-frame vector
MAX_VECTOR_LENGTH = 16

KIND_TEXT = {
    Kind.GROUP: "group",
    Kind.STACK: "stack",
    Kind.IMAGE: "image",
    Kind.FRAME_SCALAR: "per-frame scalar",
    Kind.FRAME_VECTOR: "per-frame vector",
    Kind.ARRAY: "1-D array",
    Kind.VALUE: "value",
}


def kind_text(kind: Kind) -> str:
    """How a kind is named in messages and in ``owlx info``."""
    return KIND_TEXT.get(kind, kind.value)


def decode_text(value: Any) -> str:
    """An HDF5 string value as ``str``: bytes decoded as UTF-8 (bad bytes replaced), the first
    element of an array, surrounding whitespace and NULs removed."""
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8", errors="replace")
    return str(value).strip().strip("\x00").strip()


def parse_axes(value: Any, ndim: int) -> tuple[list[str], list[str]]:
    """Axis names of a CXI ``axes`` attribute and the warnings met while parsing.

    Accepts ``str``/``bytes``, numpy scalars, 0-d arrays and 1-D arrays of fixed- or
    variable-length strings (every row of the §1.4 table). Returns at most ``ndim`` names: a name
    beyond the dataset's rank is dropped (with a warning), one below it is still used.
    """
    warnings: list[str] = []
    if value is None:
        return [], warnings
    arr = np.asarray(value)
    if arr.dtype.kind not in "SUO":
        return [], [f"axes attribute of type {arr.dtype} ignored (expected text)"]
    if arr.ndim == 0:
        text = decode_text(arr[()])
    else:
        items = [decode_text(v) for v in arr.ravel()]
        if len(items) == 1:
            text = items[0]
        elif any(":" in item for item in items):
            text = next(item for item in items if ":" in item)
            warnings.append(f"axes attribute holds {len(items)} strings; used {text!r}")
        else:
            text = ":".join(items)  # NeXus style: one name per element
    names = [n.strip() for n in text.split(":")]
    names = [n for n in names if n]
    if len(names) != ndim:
        warnings.append(f"axes {':'.join(names)!r} names {len(names)} axes but the dataset has {ndim}")
    return names[:ndim], warnings


def parse_num_events(value: Any) -> int | None:
    """The ``numEvents`` attribute as a non-negative int, or None when absent or unusable.

    Cheetah writes a scalar or a 1-element integer array; anything else is ignored (§1.5).
    """
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iu":
        return None
    n = int(arr.ravel()[0])
    return n if n >= 0 else None


def frame_count(length: int, num_events: int | None) -> int:
    """n = the length along the frame axis, reduced to ``numEvents`` when that is smaller."""
    return min(length, num_events) if num_events is not None else length


@dataclass
class Classification:
    """Result of the §1.3 rules for one dataset."""

    kind: Kind
    frame_axis: int | None = None
    n: int | None = None  # frames along the frame axis after numEvents, for per-frame kinds
    notes: list[str] = field(default_factory=list)


def classify(
    shape: tuple[int, ...],
    numeric: bool,
    names: list[str],
    num_events: int | None,
    n_frames: int | None,
) -> Classification:
    """Apply the classification rules of spec/formats.md §1.3 in order.

    ``numeric`` is False for strings and compound types other than complex ``{r, i}``;
    ``names`` are the parsed axis names; ``n_frames`` is N, the frame count of the current image
    stack (None when there is none yet), used by rules 3 and 5.
    """
    ndim = len(shape)
    unknown = [n for n in names if n not in KNOWN_AXES]
    notes = [f"unknown axis names {unknown}"] if unknown else []
    if not numeric or ndim == 0:  # rule 7
        return Classification(Kind.VALUE, notes=notes)
    if EI in names:  # rule 1 (Owl's rule): the frame shape decides scalar / vector / stack
        axis = names.index(EI)
        n = frame_count(shape[axis], num_events)
        rest = [a for a in range(ndim) if a != axis]
        if not rest:
            kind = Kind.FRAME_SCALAR
        elif len(rest) == 1:
            kind = Kind.FRAME_VECTOR
        else:
            kind = Kind.STACK
        return Classification(kind, axis, n, notes)
    if ndim >= 3:  # rule 2
        return Classification(Kind.STACK, 0, frame_count(shape[0], num_events), notes)
    n0 = frame_count(shape[0], num_events)
    if ndim == 2:
        if n_frames is not None and n0 == n_frames and shape[1] <= MAX_VECTOR_LENGTH:  # rule 3
            return Classification(Kind.FRAME_VECTOR, 0, n0, notes)
        return Classification(Kind.IMAGE, None, 1, notes)  # rule 4
    if n_frames is not None and n0 == n_frames:  # rule 5
        return Classification(Kind.FRAME_SCALAR, 0, n0, notes)
    return Classification(Kind.ARRAY, notes=notes)  # rule 6


@dataclass(frozen=True)
class FrameLayout:
    """Where a 2-D frame sits inside an n-D dataset.

    The frame is made of the ``y`` and ``x`` axes (named in ``axes``, else the last two axes left
    after removing the frame axis); a ``module_identifier`` axis is stacked along y (modules
    shown one above the other, without geometry); every other axis is an *extra* axis read at a
    chosen index (default 0).
    """

    shape: tuple[int, ...]
    frame_axis: int | None
    y_axis: int
    x_axis: int
    module_axis: int | None = None
    extra_axes: tuple[int, ...] = ()

    @property
    def frame_shape(self) -> tuple[int, int]:
        modules = self.shape[self.module_axis] if self.module_axis is not None else 1
        return (modules * self.shape[self.y_axis], self.shape[self.x_axis])

    @property
    def is_simple(self) -> bool:
        """True when frame i is the contiguous slab ``ds[i]`` (or the whole 2-D dataset)."""
        return self.module_axis is None and not self.extra_axes and self.y_axis < self.x_axis and (
            (self.frame_axis == 0 and len(self.shape) == 3) or (self.frame_axis is None and len(self.shape) == 2)
        )

    def selection(self, i: int, extra_index: dict[int, int] | None = None) -> tuple:
        """The HDF5 selection of frame ``i`` (``i`` ignored when there is no frame axis)."""
        extra_index = extra_index or {}
        sel: list[Any] = []
        for axis in range(len(self.shape)):
            if axis == self.frame_axis:
                sel.append(i)
            elif axis in self.extra_axes:
                sel.append(extra_index.get(axis, 0))
            else:
                sel.append(slice(None))
        return tuple(sel)

    def assemble(self, block: np.ndarray) -> np.ndarray:
        """Turn the array read with :meth:`selection` into the 2-D frame."""
        kept = sorted(a for a in (self.module_axis, self.y_axis, self.x_axis) if a is not None)
        order = [kept.index(a) for a in (self.module_axis, self.y_axis, self.x_axis) if a is not None]
        frame = np.transpose(block, order) if order != sorted(order) else block
        return np.ascontiguousarray(frame).reshape(self.frame_shape)


def frame_layout(shape: tuple[int, ...], names: list[str], frame_axis: int | None) -> FrameLayout:
    """The :class:`FrameLayout` of an image dataset of ``shape`` (at least 2-D once the frame
    axis is removed)."""
    rest = [a for a in range(len(shape)) if a != frame_axis]
    if len(rest) < 2:
        raise ValueError(f"a dataset of shape {shape} has no 2-D frames")

    def named(name: str) -> int | None:
        found = [a for a in rest if a < len(names) and names[a] == name]
        return found[0] if found else None

    y, x = named("y"), named("x")
    if y is None or x is None:
        y, x = rest[-2], rest[-1]
    module = named(MODULE)
    if module in (y, x):
        module = None
    extra = tuple(a for a in rest if a not in (y, x, module))
    return FrameLayout(tuple(int(s) for s in shape), frame_axis, y, x, module, extra)


def n_frames_of(shape: tuple[int, ...], frame_axis: int | None, num_events: int | None) -> int:
    """Number of frames of an image dataset: 1 without a frame axis, else §1.5's n."""
    if frame_axis is None:
        return 1
    return frame_count(int(shape[frame_axis]), num_events)


def total_size(shape: tuple[int, ...]) -> int:
    return int(prod(shape)) if shape else 1
