"""The reader-independent model of an opened file: a :class:`Source` holding a tree of
:class:`Node` objects, with lazy :class:`Stack` views on the datasets that hold frames.

Every reader (HDF5/CXI, EDF, MRC, TIFF, NPY, FIB-SEM .dat) produces these objects, so the
session, the GUI and scripts never see h5py, fabio or tifffile objects. Files that are not HDF5
appear as a small virtual tree with the frames at ``/entry_1/data_1/data`` (spec/viewer.md F14).

Conventions
-----------
* Paths are absolute HDF5-style strings (``/entry_1/image_1/data``); the root is ``/``.
* A frame is a 2-D ``(ny, nx)`` array, row 0 at the top; a stack has shape ``(n, ny, nx)``.
* Opening reads metadata only; ``stack[i]`` reads exactly one frame.
* Masks inside owlx are boolean with True = valid pixel; raw CXI mask bits are converted with
  :func:`owlx.io.maskbits.valid_from_bits`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

#: whole-dataset reads (``Source.read``) larger than this are refused: read frame by frame
MAX_READ_BYTES = 512 * 2**20
#: a node whose ``note`` starts with one of these is a link that leads nowhere (a missing
#: target, or soft links that lead back to themselves)
BROKEN_LINK_NOTES = ("broken link", "link cycle")


def normalize_path(path: str) -> str:
    """The absolute form of a path inside a source: ``entry_1//data_1/./data/`` ->
    ``/entry_1/data_1/data``; the root is ``/``."""
    parts = [p for p in str(path).split("/") if p and p != "."]
    return "/" + "/".join(parts)


class Kind(str, enum.Enum):
    """What a tree node is, after the classification rules of spec/formats.md §1.3."""

    GROUP = "group"
    STACK = "stack"  # frames: (n, ny, nx) after removing the frame axis and extra axes
    IMAGE = "image"  # a single 2-D image (one frame)
    FRAME_SCALAR = "frame_scalar"  # one value per frame
    FRAME_VECTOR = "frame_vector"  # a short vector per frame, e.g. translation (N, 3)
    ARRAY = "array"  # plain 1-D array of another length
    VALUE = "value"  # scalar, string or compound: shown, not plotted

    @property
    def is_image(self) -> bool:
        return self in (Kind.STACK, Kind.IMAGE)

    @property
    def is_per_frame(self) -> bool:
        return self in (Kind.FRAME_SCALAR, Kind.FRAME_VECTOR)


@dataclass
class Node:
    """One entry of a source's tree.

    ``children`` is filled lazily by the reader through ``_list_children`` so that a file with
    10⁵ objects is never walked eagerly (spec/viewer.md F7).
    """

    path: str
    kind: Kind
    shape: tuple[int, ...] = ()
    dtype: np.dtype | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    link_target: str | None = None  # for soft/external links: where they point
    frame_axis: int | None = None  # axis that indexes frames, when the node is per-frame/stack
    note: str = ""  # warnings of classification (unknown axes, ...), shown in the tooltip
    _list_children: Callable[[], list["Node"]] | None = field(default=None, repr=False)
    _children: list["Node"] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1] or "/"

    @property
    def parent_path(self) -> str:
        head = self.path.rstrip("/").rsplit("/", 1)[0]
        return head or "/"

    @property
    def is_broken_link(self) -> bool:
        """A link whose target cannot be opened (missing, or a cycle of soft links)."""
        return self.note.startswith(BROKEN_LINK_NOTES)

    def children(self) -> list["Node"]:
        """Child nodes (groups first, then datasets, natural name order); empty for datasets."""
        if self._children is None:
            self._children = self._list_children() if self._list_children else []
        return self._children

    def walk(self) -> Iterator["Node"]:
        """Depth-first iteration over this node and all descendants (reads the whole tree)."""
        yield self
        for child in self.children():
            yield from child.walk()

    def describe(self) -> str:
        """``dtype (shape)`` as shown in tooltips and by ``owlx info``."""
        if self.kind is Kind.GROUP:
            return "group"
        shape = "×".join(str(s) for s in self.shape) if self.shape else "scalar"
        return f"{self.dtype} ({shape})"


class Stack:
    """A lazy sequence of 2-D frames.

    Subclasses implement :meth:`_read` (one frame, native dtype) and set ``shape``/``dtype``.
    ``len(stack)`` is N; ``stack[i]`` returns a fresh 2-D ndarray (never a view of a cache) and
    raises :class:`IndexError` outside ``-N ≤ i < N``.
    """

    #: absolute path of the dataset inside its source (``/entry_1/data_1/data`` for virtual trees)
    path: str = "/entry_1/data_1/data"
    #: (n, ny, nx)
    shape: tuple[int, int, int] = (0, 0, 0)
    dtype: np.dtype = np.dtype("float32")

    def __len__(self) -> int:
        return int(self.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int]:
        return (int(self.shape[1]), int(self.shape[2]))

    @property
    def nbytes_per_frame(self) -> int:
        return int(self.shape[1]) * int(self.shape[2]) * self.dtype.itemsize

    def __getitem__(self, index: int) -> np.ndarray:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame {index} is outside the stack of {n} frames")
        return self._read(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._read(i)

    def _read(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def refresh(self) -> bool:
        """Re-read the frame count of a growing (live) file; return True when N changed."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} {self.shape} {self.dtype}>"


class ArrayStack(Stack):
    """A stack over an in-memory or memory-mapped array of shape (n, ny, nx)."""

    def __init__(self, array: np.ndarray, path: str = "/entry_1/data_1/data"):
        if array.ndim == 2:
            array = array[np.newaxis]
        if array.ndim != 3:
            raise ValueError(f"expected a 2-D or 3-D array, got shape {array.shape}")
        self._array = array
        self.path = path
        self.shape = tuple(int(s) for s in array.shape)  # type: ignore[assignment]
        self.dtype = array.dtype

    def _read(self, i: int) -> np.ndarray:
        return np.array(self._array[i])


@dataclass
class Geometry:
    """Experiment geometry found in a file (spec/formats.md §1.7), SI units; None = unknown.

    ``sources`` names the dataset each value came from, for the GUI's "from file" labels.
    """

    wavelength_m: float | None = None
    distance_m: float | None = None
    pixel_size_m: float | None = None
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return None not in (self.wavelength_m, self.distance_m, self.pixel_size_m)


class Source:
    """An opened file (or numbered series) with its tree and lazy stacks.

    Readers subclass this and implement :meth:`node`, :meth:`stack` and friends. A Source keeps
    at most a read-only handle; :meth:`close` releases it. Sources are context managers.
    """

    #: short format name: "hdf5", "edf", "mrc", "tiff", "npy", "dat"
    format: str = ""
    #: frame to show first: a numbered series opened from one of its files starts at that file
    start_frame: int = 0
    #: opened in SWMR (live) read mode
    swmr: bool = False
    #: N, the frame count of the image stack (spec/formats.md §1.5); None until one is chosen
    frame_count: int | None = None

    def __init__(self, path: str):
        self.path = path
        self.warnings: list[str] = []

    # -- tree -------------------------------------------------------------------------------
    @property
    def root(self) -> Node:  # pragma: no cover - abstract
        raise NotImplementedError

    def node(self, path: str) -> Node:
        """The node at ``path``; :class:`KeyError` when there is none."""
        raise NotImplementedError  # pragma: no cover

    def default_stack_path(self) -> str | None:
        """The dataset shown on open (spec/viewer.md F4), or None when the file has no image."""
        raise NotImplementedError  # pragma: no cover

    # -- data -------------------------------------------------------------------------------
    def stack(self, path: str | None = None) -> Stack:
        """A lazy stack view on an image dataset (default: :meth:`default_stack_path`)."""
        raise NotImplementedError  # pragma: no cover

    def per_frame(self, path: str, n_frames: int | None = None) -> np.ndarray:
        """A per-frame dataset read whole, aligned to ``n_frames`` (spec/formats.md §1.5):
        longer ones are sliced, shorter ones padded with NaN. Shape (N,) or (N, k)."""
        raise NotImplementedError  # pragma: no cover

    def read(self, path: str) -> np.ndarray:
        """A whole (small) dataset as an array."""
        raise NotImplementedError  # pragma: no cover

    def mask_stack(self, image_path: str) -> "Stack | None":
        """Raw mask values for an image dataset (``<group>/mask`` then ``<group>/mask_shared``,
        spec/formats.md §1.6) as a stack of len N or 1, or None. Convert with
        :func:`owlx.io.maskbits.valid_from_bits`."""
        return None

    def geometry(self, image_path: str | None = None, frame: int = 0) -> Geometry:
        """Detector distance, pixel size and wavelength found near an image dataset; values
        stored per frame are taken at ``frame``."""
        return Geometry()

    def geometry_for_frame(self, image_path: str | None, frame: int) -> Geometry:
        """:meth:`geometry` at ``frame``; cheap to call for every frame shown (readers cache
        the datasets they read)."""
        return self.geometry(image_path, frame)

    def set_image(self, path: str | None = None) -> Stack:
        """Make ``path`` (default: :meth:`default_stack_path`) the image stack being viewed:
        N becomes its frame count and the N-dependent rules are re-applied. Returns its stack."""
        stack = self.stack(path)
        self.set_frame_count(len(stack))
        return stack

    def set_frame_count(self, n: int | None) -> None:
        """Set N after the image stack changed; readers re-apply the rules that depend on N
        (spec/formats.md §1.3 rules 3 and 5) to the nodes they have listed."""
        self.frame_count = n

    def refresh(self) -> None:
        """Re-read sizes of growing datasets (live mode)."""

    def close(self) -> None:
        """Release file handles. Further reads raise."""

    # -- conveniences -----------------------------------------------------------------------
    def stacks(self) -> list[Node]:
        """All image nodes (stacks and single images), walking the whole tree."""
        return [n for n in self.root.walk() if n.kind.is_image]

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"


def natural_key(name: str) -> list:
    """Sort key giving natural order: ``entry_2`` before ``entry_10`` (spec/viewer.md F5)."""
    import re

    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def sort_children(nodes: Sequence[Node]) -> list[Node]:
    """Groups first, then datasets, each in natural name order."""
    return sorted(nodes, key=lambda n: (n.kind is not Kind.GROUP, natural_key(n.name)))
