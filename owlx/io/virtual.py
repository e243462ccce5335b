"""The small virtual tree shown for files that are not HDF5 (spec/viewer.md F14).

EDF, MRC, TIFF and NPY readers build a :class:`VirtualSource`::

    /                               group, attrs = file-level metadata
    /entry_1                        group
    /entry_1/data_1                 group
    /entry_1/data_1/data            the frames (stack, or image when there is one frame)
    /entry_1/data_1/file_number     per-frame scalar, for numbered series
    /entry_1/data_1/header/<key>    per-frame scalars from file headers (EDF)

Per-frame datasets are given as *loaders* (functions returning the N values) so that nothing is
read before it is asked for; a loaded array is cached.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from owlx.errors import DatasetError
from owlx.io import cxi
from owlx.io.source import MAX_READ_BYTES, Kind, Node, Source, Stack, normalize_path, sort_children

DATA_GROUP = "/entry_1/data_1"
DATA_PATH = DATA_GROUP + "/data"


class VirtualSource(Source):
    """A Source whose tree is built in memory around one :class:`Stack`.

    Subclasses call :meth:`_build` once the stack and the per-frame loaders are known.
    """

    def __init__(self, path: str):
        super().__init__(path)
        self.name = os.path.basename(str(path))
        self._stack: Stack | None = None
        self._nodes: dict[str, Node] = {}
        self._loaders: dict[str, Callable[[], np.ndarray]] = {}
        self._cache: dict[str, np.ndarray] = {}
        self.frame_count: int | None = None
        self.image_path: str | None = None

    def _build(
        self,
        stack: Stack | None,
        root_attrs: dict[str, Any] | None = None,
        data_attrs: dict[str, Any] | None = None,
        per_frame: dict[str, tuple[Callable[[], np.ndarray], np.dtype]] | None = None,
        data_node: Node | None = None,
    ) -> None:
        """Create the tree. ``per_frame`` maps a path to (loader, dtype); every loader returns
        one value per frame. ``data_node`` replaces the default node at ``DATA_PATH`` (used
        for data that are not images, e.g. a 1-D .npy file)."""
        self._stack = stack
        children: dict[str, list[Node]] = {}

        def add(node: Node) -> Node:
            self._nodes[node.path] = node
            if node.path != "/":
                children.setdefault(node.parent_path, []).append(node)
            return node

        def group(path: str, attrs: dict[str, Any] | None = None) -> Node:
            if path in self._nodes:
                return self._nodes[path]
            if path != "/":
                group(path.rsplit("/", 1)[0] or "/")
            node = Node(path, Kind.GROUP, attrs=dict(attrs or {}))
            node._list_children = lambda p=path: sort_children(children.get(p, []))
            return add(node)

        group("/", root_attrs)
        group(DATA_GROUP)
        if data_node is not None:
            group(data_node.parent_path)
            add(data_node)
        elif stack is not None:
            n = len(stack)
            kind = Kind.IMAGE if n == 1 else Kind.STACK
            shape = tuple(stack.shape[1:]) if n == 1 else tuple(stack.shape)
            add(Node(DATA_PATH, kind, shape=shape, dtype=stack.dtype, attrs=dict(data_attrs or {}),
                     frame_axis=None if n == 1 else 0))
            self.frame_count = n
            self.image_path = DATA_PATH
        for path, (loader, dtype) in (per_frame or {}).items():
            group(path.rsplit("/", 1)[0])
            self._loaders[path] = loader
            add(Node(path, Kind.FRAME_SCALAR, shape=(self.frame_count or 0,), dtype=np.dtype(dtype), frame_axis=0))

    # -- tree -------------------------------------------------------------------------------
    @property
    def root(self) -> Node:
        return self._nodes["/"]

    def node(self, path: str) -> Node:
        key = normalize_path(path)
        try:
            return self._nodes[key]
        except KeyError:
            raise KeyError(f"no object '{key}' in '{self.name}'") from None

    def default_stack_path(self) -> str | None:
        return DATA_PATH if self._stack is not None else None

    # -- data -------------------------------------------------------------------------------
    def stack(self, path: str | None = None) -> Stack:
        node = self._dataset_node(path or DATA_PATH)
        if node.path != DATA_PATH or self._stack is None:
            raise DatasetError(
                f"'{node.path}' in '{self.name}' is a {cxi.kind_text(node.kind)}, not an image"
            )
        return self._stack

    def _dataset_node(self, path: str) -> Node:
        try:
            node = self.node(path)
        except KeyError as err:
            raise DatasetError(str(err.args[0])) from err
        if node.kind is Kind.GROUP:
            raise DatasetError(f"'{node.path}' in '{self.name}' is a group, not a dataset")
        return node

    def per_frame(self, path: str, n_frames: int | None = None) -> np.ndarray:
        node = self._dataset_node(path)
        if node.path not in self._loaders:
            raise DatasetError(f"'{node.path}' in '{self.name}' is not a per-frame dataset")
        if node.path not in self._cache:
            self._cache[node.path] = np.asarray(self._loaders[node.path]())
        values = self._cache[node.path]
        n = len(values) if n_frames is None else int(n_frames)
        if len(values) >= n:
            return values[:n].copy()
        self.warnings.append(f"dataset '{node.path}' covers {len(values)} of {n} frames; missing frames are NaN")
        out = np.full(n, np.nan, dtype=values.dtype if values.dtype.kind in "fc" else np.float64)
        out[: len(values)] = values
        return out

    def read(self, path: str) -> np.ndarray:
        node = self._dataset_node(path)
        if node.path in self._loaders:
            return self.per_frame(node.path)
        stack = self.stack(node.path)
        if len(stack) * stack.nbytes_per_frame > MAX_READ_BYTES:
            raise DatasetError(
                f"'{node.path}' in '{self.name}' is too large to read at once; read it frame by frame"
            )
        frames = np.stack([stack[i] for i in range(len(stack))])
        return frames[0] if len(stack) == 1 else frames
