"""CXI / HDF5 files as a :class:`~owlx.io.source.Source` (spec/formats.md §1).

* Opened read-only; a lock held by another process makes owlx retry without file locking,
  and live mode (``swmr=True``) falls back to a normal open for files not written as SWMR.
  Both fallbacks leave a message in ``source.warnings``.
* The tree is lazy: a group's children are listed when first asked for (viewer.md F7).
  Soft and external links are followed and marked with ``Node.link_target``. A group that is
  one of its own ancestors (hard-link or soft-link cycle) is shown but not expanded.
* Datasets are classified by the rules of §1.3 with the ``axes`` parsing of §1.4 and the
  ``numEvents`` of §1.5. Rules 3 and 5 depend on N, the frame count of the image stack:
  :meth:`Hdf5Source.set_image` (or ``set_frame_count``) re-classifies the nodes already listed.
* Nothing but the open ``h5py.File`` is kept: nodes and stacks address datasets by path.
"""

from __future__ import annotations

import os
import re
from collections import deque
from typing import Any

import h5py
import numpy as np

try:  # registers Bitshuffle, LZ4, Blosc, Zstd, ... filters with HDF5 (spec/formats.md §1.1)
    import hdf5plugin  # noqa: F401
except ImportError:  # pragma: no cover - optional at run time
    hdf5plugin = None

from owlx.errors import DatasetError, FileFormatError
from owlx.io import cxi
from owlx.io.geometry import read_geometry
from owlx.io.hdf5_stack import Hdf5Stack, complex_fields, convert_block, read_error
from owlx.io.source import Geometry, Kind, Node, Source, Stack, sort_children

#: whole-dataset reads (``read``) larger than this are refused: use a stack instead
MAX_READ_BYTES = 512 * 2**20
#: the default image of viewer.md F4, before the breadth-first search
DEFAULT_IMAGE_PATHS = ("/entry_1/image_1/data", "/entry_1/data_1/data")


def join(group: str, name: str) -> str:
    return group.rstrip("/") + "/" + name


def parent_of(path: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def normalize(path: str) -> str:
    parts = [p for p in str(path).split("/") if p and p != "."]
    return "/" + "/".join(parts)


class _Info:
    """Raw facts about a dataset, enough to re-classify it when N changes."""

    __slots__ = ("shape", "numeric", "names", "num_events", "axes_warnings")

    def __init__(self, ds: h5py.Dataset):
        self.shape = tuple(int(s) for s in ds.shape) if ds.shape is not None else ()
        dt = ds.dtype
        self.numeric = dt.kind in "biufc" or complex_fields(dt) is not None
        self.names, self.axes_warnings = cxi.parse_axes(_attr(ds, "axes"), len(self.shape))
        self.num_events = cxi.parse_num_events(_attr(ds, "numEvents"))

    def classify(self, n_frames: int | None) -> cxi.Classification:
        return cxi.classify(self.shape, self.numeric, self.names, self.num_events, n_frames)


def _attr(obj: Any, key: str) -> Any:
    try:
        return obj.attrs[key] if key in obj.attrs else None
    except (OSError, TypeError, KeyError):  # unreadable attribute types
        return None


def _attrs(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        keys = list(obj.attrs)
    except (OSError, TypeError):
        return out
    for key in keys:
        try:
            out[key] = obj.attrs[key]
        except (OSError, TypeError) as err:
            out[key] = f"<unreadable attribute: {err}>"
    return out


def _address(obj: Any) -> tuple[int, int]:
    info = h5py.h5o.get_info(obj.id)
    return (int(info.fileno), int(info.addr))


class Hdf5Source(Source):
    """An HDF5 file (CXI or any other layout). See the module docstring for conventions."""

    format = "hdf5"

    def __init__(self, path: str, *, swmr: bool = False):
        super().__init__(path)
        self.name = os.path.basename(path)
        self.swmr = False
        self._file = self._open(path, swmr)
        try:
            self._init_tree()
        except BaseException:
            self._file.close()  # never leak the handle of a file that failed to open
            raise

    def _init_tree(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._info: dict[str, _Info] = {}
        self._addr: dict[str, tuple[int, int]] = {}
        self._per_frame_cache: dict[tuple[str, int], np.ndarray] = {}
        self.frame_count: int | None = None
        root = self._file["/"]
        self._addr["/"] = _address(root)
        self._root = Node("/", Kind.GROUP, attrs=_attrs(root), _list_children=lambda: self._list("/"))
        self._nodes["/"] = self._root
        self._default = self._find_default()
        #: the image dataset whose frame count is N (§1.5); None when the file has no image
        self.image_path: str | None = None
        if self._default is not None:
            self.set_image(self._default)

    # -- opening ----------------------------------------------------------------------------
    def _open(self, path: str, swmr: bool) -> h5py.File:
        options: dict[str, Any] = {"libver": "latest", "swmr": True} if swmr else {}
        try:
            handle = self._try_open(path, options)
            self.swmr = swmr
            return handle
        except FileFormatError:
            if not swmr:
                raise
        handle = self._try_open(path, {})
        self.warnings.append(
            f"'{self.name}' was not written in SWMR mode, so it was opened normally: "
            "live updates are off; use Reload (F5) to see new frames"
        )
        return handle

    def _try_open(self, path: str, options: dict[str, Any]) -> h5py.File:
        try:
            return h5py.File(path, "r", **options)
        except OSError as err:
            # "unable to lock file"; beware "sblock->base_addr" in messages about truncation
            if not (isinstance(err, BlockingIOError) or re.search(r"\block(ing|ed)?\b", str(err), re.I)):
                raise FileFormatError(
                    f"cannot open '{self.name}': the file is truncated or corrupt "
                    f"(HDF5 signature found but HDF5 could not read it: {_short(err)})"
                ) from err
        try:  # another process holds the HDF5 lock (a writer): read anyway
            handle = h5py.File(path, "r", locking=False, **options)
        except OSError as err:
            raise FileFormatError(f"cannot open '{self.name}': {_short(err)}") from err
        self.warnings.append(f"'{self.name}' opened without file locking — contents may change")
        return handle

    # -- tree -------------------------------------------------------------------------------
    @property
    def root(self) -> Node:
        return self._root

    def node(self, path: str) -> Node:
        path = normalize(path)
        if path in self._nodes:
            return self._nodes[path]
        parent = self.node(parent_of(path))  # lists the parent group once
        name = path.rsplit("/", 1)[-1]
        for child in parent.children():
            if child.name == name:
                return child
        raise KeyError(f"no object '{path}' in '{self.name}'")

    def _list(self, path: str) -> list[Node]:
        try:
            group = self._file[path]
        except (KeyError, OSError, ValueError):
            return []
        ancestors = self._ancestor_addresses(path)
        nodes = []
        for name in group:
            nodes.append(self._make_node(group, join(path, name), name, ancestors))
        return sort_children(nodes)

    def _ancestor_addresses(self, path: str) -> dict[tuple[int, int], str]:
        out = {}
        cur = path
        while True:
            if cur in self._addr:
                out[self._addr[cur]] = cur
            if cur == "/":
                return out
            cur = parent_of(cur)

    def _make_node(self, group: h5py.Group, path: str, name: str, ancestors: dict) -> Node:
        target = None
        try:
            link = group.get(name, getlink=True)
        except (KeyError, OSError):
            link = None
        if isinstance(link, h5py.SoftLink):
            target = link.path
        elif isinstance(link, h5py.ExternalLink):
            target = f"{link.filename}:{link.path}"
        try:
            obj = group[name]
        except (KeyError, OSError, ValueError) as err:
            node = Node(path, Kind.VALUE, link_target=target, note=f"broken link: {_short(err)}")
            self._nodes[path] = node
            return node
        if isinstance(obj, h5py.Group):
            addr = _address(obj)
            self._addr[path] = addr
            if addr in ancestors:  # a cycle: show it, never expand it
                node = Node(path, Kind.GROUP, attrs=_attrs(obj), link_target=target or ancestors[addr],
                            note=f"link back to its ancestor {ancestors[addr]}; not expanded")
            else:
                node = Node(path, Kind.GROUP, attrs=_attrs(obj), link_target=target,
                            _list_children=lambda p=path: self._list(p))
        elif isinstance(obj, h5py.Dataset):
            self._addr[path] = _address(obj)
            try:
                info = _Info(obj)
            except (TypeError, ValueError, OSError) as err:  # types numpy cannot represent
                node = Node(path, Kind.VALUE, link_target=target, note=f"unreadable dataset: {_short(err)}")
                self._nodes[path] = node
                return node
            self._info[path] = info
            node = Node(path, Kind.VALUE, shape=info.shape, dtype=obj.dtype, attrs=_attrs(obj),
                        link_target=target)
            self._classify(node, info)
        else:  # committed datatypes
            node = Node(path, Kind.VALUE, link_target=target, note=f"{type(obj).__name__}")
        self._nodes[path] = node
        return node

    def _classify(self, node: Node, info: _Info) -> None:
        result = info.classify(self.frame_count)
        node.kind = result.kind
        node.frame_axis = result.frame_axis
        node.note = "; ".join(info.axes_warnings + result.notes)

    def stacks(self) -> list[Node]:
        """All image nodes, breadth-first, each dataset once even when linked from elsewhere."""
        return [n for n in self._walk_unique() if n.kind.is_image]

    def _walk_unique(self):
        """Breadth-first over datasets, each object once; within a group real members come
        before links, so an object is reported under its own path when it has one."""
        seen = {self._addr["/"]}
        queue = deque([self._root])
        while queue:
            children = queue.popleft().children()
            for child in sorted(children, key=lambda c: c.link_target is not None):
                addr = self._addr.get(child.path)
                if addr is not None and addr in seen:
                    continue
                seen.add(addr)
                if child.kind is Kind.GROUP:
                    queue.append(child)
                else:
                    yield child

    # -- the default image and N ----------------------------------------------------------
    def default_stack_path(self) -> str | None:
        return self._default

    def _find_default(self) -> str | None:
        for path in DEFAULT_IMAGE_PATHS:
            try:
                node = self.node(path)
            except KeyError:
                continue
            if node.kind.is_image and self._has_frames(node):
                return path
        first_image = None
        for node in self._walk_unique():
            if node.kind is Kind.STACK and self._has_frames(node):
                return node.path
            if node.kind is Kind.IMAGE and first_image is None:
                first_image = node.path
        return first_image

    def _has_frames(self, node: Node) -> bool:
        info = self._info[node.path]
        return self.swmr or cxi.n_frames_of(info.shape, node.frame_axis, info.num_events) > 0

    def set_frame_count(self, n: int | None) -> None:
        """Set N and re-apply the N-dependent rules (§1.3 rules 3 and 5) to listed nodes."""
        self.frame_count = n
        self._per_frame_cache.clear()
        for path, info in self._info.items():
            self._classify(self._nodes[path], info)

    def set_image(self, path: str) -> Stack:
        """Make ``path`` the image stack: N becomes its frame count. Returns its stack."""
        stack = self.stack(path)
        self.image_path = stack.path
        self.set_frame_count(len(stack))
        return stack

    # -- data -------------------------------------------------------------------------------
    def _dataset(self, path: str) -> h5py.Dataset:
        if not self._file.id.valid:
            raise DatasetError(f"'{self.name}' is closed; reopen it to read '{path}'")
        try:
            obj = self._file[path]
        except (KeyError, OSError, ValueError) as err:
            raise DatasetError(f"no dataset '{path}' in '{self.name}' ({_short(err)})") from err
        if not isinstance(obj, h5py.Dataset):
            raise DatasetError(f"'{path}' in '{self.name}' is a group, not a dataset")
        return obj

    def _dataset_node(self, path: str) -> tuple[Node, _Info]:
        try:
            node = self.node(path)
        except KeyError as err:
            raise DatasetError(f"no dataset '{normalize(path)}' in '{self.name}'") from err
        if node.path not in self._info:
            raise DatasetError(f"'{node.path}' in '{self.name}' is a {cxi.kind_text(node.kind)}, not a dataset")
        return node, self._info[node.path]

    def stack(self, path: str | None = None) -> Hdf5Stack:
        if path is None:
            path = self._default
            if path is None:
                raise DatasetError(f"'{self.name}' contains no image dataset (no 2-D or 3-D numeric data)")
        node, info = self._dataset_node(path)
        if not node.kind.is_image:
            raise DatasetError(
                f"'{node.path}' in '{self.name}' is a {cxi.kind_text(node.kind)} of shape "
                f"{info.shape}, not an image; choose a 2-D or 3-D dataset"
            )
        stack = Hdf5Stack(self, node.path, info.names, node.frame_axis)
        if len(stack) == 0 and not self.swmr:
            raise DatasetError(f"'{node.path}' in '{self.name}' holds no frames (shape {info.shape})")
        return stack

    def per_frame(self, path: str, n_frames: int | None = None) -> np.ndarray:
        """Per-frame values aligned to N (§1.5): shape (N,) or (N, k); a copy of a cached read.

        Longer datasets are sliced, shorter ones NaN-padded with a warning ("covers n of N").
        Integer data that needs padding becomes float64 so that NaN can mark missing frames.
        """
        node, info = self._dataset_node(path)
        n_total = self.frame_count if n_frames is None else n_frames
        result = info.classify(n_total)
        if not result.kind.is_per_frame:
            raise DatasetError(
                f"'{node.path}' in '{self.name}' (shape {info.shape}) is not a per-frame dataset "
                f"for {n_total} frames; it is a {cxi.kind_text(result.kind)}"
            )
        n_total = result.n if n_total is None else n_total
        key = (node.path, int(n_total))
        if key not in self._per_frame_cache:
            self._per_frame_cache[key] = self._read_per_frame(node.path, info, result, int(n_total))
        return self._per_frame_cache[key].copy()

    def _read_per_frame(self, path: str, info: _Info, result: cxi.Classification, n_total: int) -> np.ndarray:
        ds = self._dataset(path)
        axis = result.frame_axis
        take = min(result.n, n_total)
        sel = [slice(None)] * len(info.shape)
        sel[axis] = slice(0, take)
        try:
            values = convert_block(np.asarray(ds[tuple(sel)]))
        except (OSError, TypeError, ValueError) as err:
            raise read_error(self.name, path, ds, "the values", err) from err
        values = np.moveaxis(values, axis, 0)
        if values.ndim > 1:
            values = values.reshape(take, -1)
        if take < n_total:
            self.warnings.append(f"dataset '{path}' covers {take} of {n_total} frames; missing frames are NaN")
            dtype = values.dtype if values.dtype.kind in "fc" else np.float64
            padded = np.full((n_total,) + values.shape[1:], np.nan, dtype=dtype)
            padded[:take] = values
            values = padded
        return values

    def read(self, path: str) -> np.ndarray:
        node, info = self._dataset_node(path)
        ds = self._dataset(node.path)
        nbytes = cxi.total_size(info.shape) * ds.dtype.itemsize
        if nbytes > MAX_READ_BYTES:
            raise DatasetError(
                f"'{node.path}' in '{self.name}' is {nbytes / 2**20:.0f} MiB, too large to read at once; "
                "open it as a stack and read frame by frame"
            )
        try:
            return convert_block(np.asarray(ds[()]))
        except (OSError, TypeError, ValueError) as err:
            raise read_error(self.name, node.path, ds, "the data", err) from err

    # -- result group, mask, geometry ------------------------------------------------------
    def result_group(self, image_path: str) -> str:
        """The group that holds ``tags``, ``model/`` and ``patterson/`` for an image (§1.2).

        Soft links in every component of ``image_path`` are resolved and the canonical parent
        is used, so the same frames get the same tags whatever path opened them. External links
        are never written through: the group holding the first external link is used. When the
        unresolved parent is a different group that already holds ``tags`` or ``model`` (as
        Owl wrote), it is used unless the canonical group holds them too (then a warning).
        """
        path = normalize(image_path)
        canonical, external = self._resolve(path)
        if external:
            return canonical
        group = parent_of(canonical)
        clicked = parent_of(path)
        if clicked == group:
            return group
        try:
            same = _address(self._file[clicked]) == _address(self._file[group])
        except (KeyError, OSError, ValueError):
            return group
        if same or self._resolve(clicked)[1]:
            return group
        clicked_has, canonical_has = self._holds_results(clicked), self._holds_results(group)
        if clicked_has and not canonical_has:
            return clicked
        if clicked_has and canonical_has:
            self.warnings.append(
                f"both '{clicked}' and '{group}' hold tags or model results for '{path}'; "
                f"owlx uses '{group}'"
            )
        return group

    def _holds_results(self, group: str) -> bool:
        try:
            g = self._file[group]
            return "tags" in g or "model" in g
        except (KeyError, OSError, ValueError):
            return False

    def _resolve(self, path: str, depth: int = 0) -> tuple[str, bool]:
        """(path with every soft link resolved, True if stopped at an external link)."""
        if depth > 40:
            raise DatasetError(f"'{path}' in '{self.name}' is part of a cycle of soft links")
        cur = "/"
        for name in [p for p in path.split("/") if p]:
            try:
                link = self._file[cur].get(name, getlink=True)
            except (KeyError, OSError, ValueError):
                link = None
            if isinstance(link, h5py.SoftLink):
                target = link.path if link.path.startswith("/") else join(cur, link.path)
                cur, external = self._resolve(normalize(target), depth + 1)
                if external:
                    return cur, True
            elif isinstance(link, h5py.ExternalLink):
                return cur, True
            else:
                cur = join(cur, name)
        return cur, False

    def mask_stack(self, image_path: str) -> Hdf5Stack | None:
        """Raw mask for an image: ``<group>/mask`` (N frames or 2-D), else
        ``<group>/mask_shared`` (2-D); the frame shape must match (§1.6). Convert with
        :func:`owlx.io.maskbits.valid_from_bits`. Unusable candidates leave a warning."""
        image = self.stack(image_path)
        group = parent_of(image.path)
        for name, per_frame_allowed in (("mask", True), ("mask_shared", False)):
            path = join(group, name)
            try:
                node, info = self._dataset_node(path)
            except DatasetError:
                continue
            result = info.classify(None)  # a mask is never a "per-frame vector"
            if result.kind is Kind.STACK and per_frame_allowed:
                mask = Hdf5Stack(self, node.path, info.names, result.frame_axis)
                if len(mask) < len(image):
                    self.warnings.append(
                        f"mask '{path}' has {len(mask)} frames but the image has {len(image)}; not used"
                    )
                    continue
            elif result.kind is Kind.IMAGE:
                mask = Hdf5Stack(self, node.path, info.names, None)
            else:
                self.warnings.append(f"'{path}' (shape {info.shape}) is not a usable mask; not used")
                continue
            if mask.frame_shape != image.frame_shape:
                self.warnings.append(
                    f"mask '{path}' has frames of {mask.frame_shape} but the image has "
                    f"{image.frame_shape}; not used"
                )
                continue
            return mask
        return None

    def geometry(self, image_path: str | None = None, frame: int = 0) -> Geometry:
        """Wavelength, distance and pixel size near an image (§1.7); per-frame values at
        ``frame``. Warnings about rejected values are in the result and in ``warnings``."""
        path = image_path or self.image_path
        if path is None:
            return Geometry()
        geo = read_geometry(self._file, self.result_group(path), frame)
        self.warnings.extend(w for w in geo.warnings if w not in self.warnings)
        return geo

    # -- live mode and closing ---------------------------------------------------------------
    def refresh(self) -> None:
        """Live mode: re-read sizes and ``numEvents`` of listed image and per-frame datasets and
        recompute N from the image stack. Does nothing outside live mode."""
        if not self.swmr:
            return
        for path, node in list(self._nodes.items()):
            if path not in self._info or not (node.kind.is_image or node.kind.is_per_frame):
                continue
            try:
                ds = self._file[path]
                ds.refresh()
                info = _Info(ds)
            except (KeyError, OSError, ValueError):
                continue
            self._info[path] = info
            node.shape = info.shape
            node.attrs = _attrs(ds)
        n = None
        if self.image_path is not None:
            info = self._info[self.image_path]
            n = cxi.n_frames_of(info.shape, self._nodes[self.image_path].frame_axis, info.num_events)
        self.set_frame_count(n)

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __repr__(self) -> str:
        return f"<Hdf5Source {self.path!r}{' live' if self.swmr else ''}>"


def _short(err: Exception) -> str:
    """The useful part of an HDF5 error message (h5py repeats the call name first)."""
    text = str(err)
    if "(" in text and text.endswith(")"):
        text = text[text.index("(") + 1 : -1]
    return text
