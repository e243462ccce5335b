"""CXI / HDF5 files as a :class:`~owlx.io.source.Source` (spec/formats.md §1).

* Opened read-only; a lock held by another process makes owlx retry without file locking,
  and live mode (``swmr=True``) falls back to a normal open for files not written as SWMR.
  Both fallbacks leave a message in ``source.warnings``.
* The tree is lazy: a group's children are listed when first asked for (viewer.md F7).
  Soft and external links are followed and marked with ``Node.link_target``. A group that is
  one of its own ancestors (hard-link or soft-link cycle) is shown but not expanded. A soft
  link that never ends (``a -> b -> a``: h5py raises RuntimeError "too many links") is a broken
  link node (kind VALUE, note "link cycle"); every lookup by path treats it as absent.
* Datasets are classified by the rules of §1.3 with the ``axes`` parsing of §1.4 and the
  ``numEvents`` of §1.5. Rules 3 and 5 depend on N, the frame count of the image stack:
  :meth:`Hdf5Source.set_image` (or ``set_frame_count``) re-classifies the nodes already listed.
* Nothing but the open ``h5py.File`` is kept: nodes and stacks address datasets by path.
* Listing a group is the hot path of a big file (10⁴ members in one group is common): it opens
  the group once and works on its members with h5py's low-level calls, reading per dataset only
  what §1.3 needs (shape, dtype, and the ``axes`` and ``numEvents`` attributes when present).
  The other attributes are read when something asks for ``node.attrs`` (a tooltip, ``owlx
  info``), and a dataset's object address only when a walk needs it.
* Thread safety: a group may be listed on a worker thread while the GUI thread reads frames or
  changes N. h5py serialises its own calls; the reader's dictionaries are guarded by a lock, a
  group is listed once even when two threads ask at the same time, and nodes listed while N
  changes are classified with the new N.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from typing import Any, Callable

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5l, h5o, h5t

try:  # registers Bitshuffle, LZ4, Blosc, Zstd, ... filters with HDF5 (spec/formats.md §1.1)
    import hdf5plugin  # noqa: F401
except ImportError:  # pragma: no cover - optional at run time
    hdf5plugin = None

from owlx.errors import DatasetError, FileFormatError
from owlx.io import cxi
from owlx.io.geometry import GeometryReader
from owlx.io.hdf5_stack import LOOKUP_ERRORS, Hdf5Stack, complex_fields, convert_block, read_error
from owlx.io.source import (MAX_READ_BYTES, Geometry, Kind, Node, Source, Stack, normalize_path,
                            sort_children)

#: the default image of viewer.md F4, before the breadth-first search
DEFAULT_IMAGE_PATHS = ("/entry_1/image_1/data", "/entry_1/data_1/data")


def join(group: str, name: str) -> str:
    return group.rstrip("/") + "/" + name


def parent_of(path: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


class _Info:
    """Raw facts about a dataset, enough to re-classify it when N changes."""

    __slots__ = ("shape", "dtype", "numeric", "names", "num_events", "axes_warnings")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, axes: Any, num_events: Any):
        self.shape = shape
        self.dtype = dtype
        self.numeric = dtype.kind in "biufc" or complex_fields(dtype) is not None
        self.names, self.axes_warnings = cxi.parse_axes(axes, len(shape))
        self.num_events = cxi.parse_num_events(num_events)

    @classmethod
    def read(cls, dsid: h5d.DatasetID) -> _Info:
        """The facts of an open dataset, with as few HDF5 calls as possible: the two attributes
        are looked for only when the dataset has attributes at all."""
        dims = dsid.shape  # None for a null dataspace (h5py.Empty)
        shape = tuple(int(s) for s in dims) if dims is not None else ()
        axes = num_events = None
        if h5a.get_num_attrs(dsid):
            axes = _low_attr(dsid, b"axes")
            num_events = _low_attr(dsid, b"numEvents")
        return cls(shape, dsid.dtype, axes, num_events)

    def classify(self, n_frames: int | None) -> cxi.Classification:
        return cxi.classify(self.shape, self.numeric, self.names, self.num_events, n_frames)


class _Handle:
    """The one thing :class:`h5py.AttributeManager` needs of its parent: a low-level id."""

    __slots__ = ("id",)

    def __init__(self, oid: Any):
        self.id = oid


def _low_attr(oid: Any, name: bytes) -> Any:
    """Value of attribute ``name`` of an open object, decoded as ``obj.attrs[name]`` would be;
    None when absent or unreadable."""
    try:
        if not h5a.exists(oid, name):
            return None
        return h5py.AttributeManager(_Handle(oid))[name]
    except (OSError, TypeError, KeyError, ValueError):  # unreadable attribute types
        return None


class _Hdf5Node(Node):
    """A :class:`Node` whose attributes are read from the file the first time they are asked
    for: listing a group of 10⁴ datasets must not read 10⁴ attribute sets nobody looks at."""

    @property  # type: ignore[override]
    def attrs(self) -> dict[str, Any]:
        state = self.__dict__
        loader = state.get("_attrs_loader")
        if loader is not None:  # two threads may both read them: harmless, same values
            state["_attrs"] = loader()
            state.pop("_attrs_loader", None)
        return state.setdefault("_attrs", {})

    @attrs.setter
    def attrs(self, value: dict[str, Any]) -> None:
        self.__dict__.pop("_attrs_loader", None)
        self.__dict__["_attrs"] = value


def _lazy_node(path: str, kind: Kind, attrs: Callable[[], dict[str, Any]], **fields: Any) -> Node:
    node = _Hdf5Node(path, kind, **fields)
    node.__dict__["_attrs_loader"] = attrs
    return node


def _decode(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


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
    return _address_of_id(obj.id)


def _address_of_id(oid: Any) -> tuple[int, int]:
    return _address_of_info(h5o.get_info(oid))


def _address_of_info(info: Any) -> tuple[int, int]:
    """(file number, object address): the identity of an HDF5 object across links."""
    return (int(info.fileno), int(info.addr))


class Hdf5Source(Source):
    """An HDF5 file (CXI or any other layout). See the module docstring for conventions."""

    format = "hdf5"

    def __init__(self, path: str, *, swmr: bool = False):
        super().__init__(path)
        self.name = os.path.basename(path)
        self.swmr = False
        self._fd: int | None = None
        self._fd_lock = threading.Lock()
        self._file = self._open(path, swmr)
        try:
            self._init_tree()
        except BaseException:
            self._file.close()  # never leak the handle of a file that failed to open
            raise

    def _init_tree(self) -> None:
        # Guards the dictionaries below and frame_count: a worker may list a group while the
        # GUI thread changes N or reads per-frame data. h5py serialises its own calls.
        self._lock = threading.RLock()
        self._list_locks: dict[str, threading.Lock] = {}
        self._listed: dict[str, list[Node]] = {}
        self._nodes: dict[str, Node] = {}
        self._info: dict[str, _Info] = {}
        self._addr: dict[str, tuple[int, int] | None] = {}
        self._per_frame_cache: dict[tuple[str, int], np.ndarray] = {}
        self._geometry: dict[str, GeometryReader] = {}  # result group -> its geometry datasets
        self.frame_count: int | None = None
        self._addr["/"] = _address(self._file["/"])
        self._root = _lazy_node("/", Kind.GROUP, lambda: self._read_attrs("/"),
                                _list_children=lambda: self._list("/"))
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
        path = normalize_path(path)
        node = self._nodes.get(path)
        if node is not None:
            return node
        parent = self.node(parent_of(path))  # lists the parent group once
        name = path.rsplit("/", 1)[-1]
        for child in parent.children():
            if child.name == name:
                return child
        raise KeyError(f"no object '{path}' in '{self.name}'")

    def _list(self, path: str) -> list[Node]:
        """The children of group ``path``, listed once even when several threads ask."""
        with self._lock:
            listed = self._listed.get(path)
            if listed is not None:
                return listed
            path_lock = self._list_locks.setdefault(path, threading.Lock())
        with path_lock:  # a second caller waits for the first one's result
            listed = self._listed.get(path)
            if listed is None:
                listed = self._list_group(path)
                with self._lock:
                    self._listed[path] = listed
                    self._list_locks.pop(path, None)
            return listed

    def _list_group(self, path: str) -> list[Node]:
        try:
            gid = h5o.open(self._file.id, path.encode("utf-8", "surrogateescape"))
        except LOOKUP_ERRORS:
            return []
        if not isinstance(gid, h5g.GroupID):
            return []
        links: list[tuple[bytes, int]] = []
        gid.links.iterate(lambda name, info: links.append((name, info.type)), info=True)
        ancestors = self._ancestor_addresses(path)
        nodes, infos = [], {}
        for name, link_type in links:
            child = join(path, _decode(name))
            node, info = self._make_node(gid, name, link_type, child, ancestors)
            nodes.append(node)
            if info is not None:
                infos[child] = info
        n_frames = self.frame_count
        for node in nodes:  # classified outside the lock, checked against N below
            if node.path in infos:
                self._classify(node, infos[node.path], n_frames)
        with self._lock:
            if self.frame_count != n_frames:  # N changed meanwhile (set_image on another thread)
                for node in nodes:
                    if node.path in infos:
                        self._classify(node, infos[node.path], self.frame_count)
            self._info.update(infos)
            for node in nodes:
                self._nodes[node.path] = node
        return sort_children(nodes)

    def _ancestor_addresses(self, path: str) -> dict[tuple[int, int], str]:
        out = {}
        cur = path
        while True:
            addr = self._addr.get(cur)
            if addr is not None:
                out[addr] = cur
            if cur == "/":
                return out
            cur = parent_of(cur)

    def _make_node(self, gid: h5g.GroupID, name: bytes, link_type: int, path: str,
                   ancestors: dict) -> tuple[Node, _Info | None]:
        """The node of member ``name`` of the open group ``gid`` (and the facts of a dataset)."""
        target = None
        try:
            if link_type == h5l.TYPE_SOFT:
                target = _decode(gid.links.get_val(name))
            elif link_type == h5l.TYPE_EXTERNAL:
                filename, inner = gid.links.get_val(name)
                target = f"{_decode(filename)}:{_decode(inner)}"
        except LOOKUP_ERRORS:
            pass
        try:
            oid = h5o.open(gid, name)
        except LOOKUP_ERRORS as err:
            return Node(path, Kind.VALUE, link_target=target, note=self._broken_note(path, err)), None
        def attrs() -> dict[str, Any]:  # read when a tooltip asks
            return self._read_attrs(path)

        if isinstance(oid, h5g.GroupID):
            addr = _address_of_id(oid)
            self._addr[path] = addr
            if addr in ancestors:  # a cycle: show it, never expand it
                return _lazy_node(path, Kind.GROUP, attrs, link_target=target or ancestors[addr],
                                  note=f"link back to its ancestor {ancestors[addr]}; not expanded"), None
            return _lazy_node(path, Kind.GROUP, attrs, link_target=target,
                              _list_children=lambda: self._list(path)), None
        if isinstance(oid, h5d.DatasetID):
            try:
                info = _Info.read(oid)
            except (TypeError, ValueError, OSError) as err:  # types numpy cannot represent
                note = f"unreadable dataset: {_short(err)}"
                return Node(path, Kind.VALUE, link_target=target, note=note), None
            return _lazy_node(path, Kind.VALUE, attrs, shape=info.shape, dtype=info.dtype,
                              link_target=target), info
        kind_name = "Datatype" if isinstance(oid, h5t.TypeID) else type(oid).__name__
        return Node(path, Kind.VALUE, link_target=target, note=kind_name), None  # committed datatypes

    def _broken_note(self, path: str, err: Exception) -> str:
        """Why the link at ``path`` leads nowhere: a cycle of soft links, or a missing target."""
        if isinstance(err, RuntimeError):  # HDF5 gives up after 16 soft links in a row
            try:
                self._resolve(path)
            except DatasetError:
                return f"link cycle: the soft links on its path lead back to themselves ({_short(err)})"
            return f"broken link: a chain of soft links longer than HDF5 follows ({_short(err)})"
        return f"broken link: {_short(err)}"

    def _read_attrs(self, path: str) -> dict[str, Any]:
        try:
            return _attrs(self._file[path])
        except Exception:  # noqa: BLE001 - a closed file or a broken link: a tooltip without attributes
            return {}

    def _classify(self, node: Node, info: _Info, n_frames: int | None) -> None:
        result = info.classify(n_frames)
        node.kind = result.kind
        node.frame_axis = result.frame_axis
        node.note = "; ".join(info.axes_warnings + result.notes)

    def stacks(self) -> list[Node]:
        """All image nodes, breadth-first, each dataset once even when linked from elsewhere."""
        return [n for n in self._walk_unique() if n.kind.is_image]

    def _object_address(self, node: Node) -> tuple[int, int] | None:
        """Object address of a listed node: groups have theirs from the listing, a dataset's
        is looked up once, here (a walk needs it; a listing does not)."""
        if node.path in self._addr:
            return self._addr[node.path]
        addr = None
        if node.path in self._info:
            try:
                info = h5o.get_info(self._file.id, node.path.encode("utf-8", "surrogateescape"))
                addr = _address_of_info(info)
            except LOOKUP_ERRORS:
                addr = None
        self._addr[node.path] = addr
        return addr

    def _walk_unique(self):
        """Breadth-first over datasets, each object once; within a group real members come
        before links, so an object is reported under its own path when it has one."""
        seen = {self._addr["/"]}
        queue = deque([self._root])
        while queue:
            children = queue.popleft().children()
            for child in sorted(children, key=lambda c: c.link_target is not None):
                addr = self._object_address(child)
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
        with self._lock:
            self.frame_count = n
            self._per_frame_cache.clear()
            for path, info in self._info.items():
                self._classify(self._nodes[path], info, n)

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
        except LOOKUP_ERRORS as err:
            raise DatasetError(f"no dataset '{path}' in '{self.name}' ({_short(err)})") from err
        if not isinstance(obj, h5py.Dataset):
            raise DatasetError(f"'{path}' in '{self.name}' is a group, not a dataset")
        return obj

    def _dataset_node(self, path: str) -> tuple[Node, _Info]:
        try:
            node = self.node(path)
        except KeyError as err:
            raise DatasetError(f"no dataset '{normalize_path(path)}' in '{self.name}'") from err
        info = self._info.get(node.path)
        if info is None:
            raise DatasetError(f"'{node.path}' in '{self.name}' is a {cxi.kind_text(node.kind)}, not a dataset")
        return node, info

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
        values = self._per_frame_cache.get(key)
        if values is None:  # two threads may both read it: the same values, one kept
            values = self._read_per_frame(node.path, info, result, int(n_total))
            self._per_frame_cache[key] = values
        return values.copy()

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
        path = normalize_path(image_path)
        canonical, external = self._resolve(path)
        if external:
            return canonical
        group = parent_of(canonical)
        clicked = parent_of(path)
        if clicked == group:
            return group
        try:
            same = _address(self._file[clicked]) == _address(self._file[group])
        except LOOKUP_ERRORS:
            return group
        if same or self._resolve(clicked)[1]:
            return group
        clicked_has, canonical_has = self._holds_results(clicked), self._holds_results(group)
        if clicked_has and not canonical_has:
            return clicked
        if clicked_has and canonical_has:
            warning = (f"both '{clicked}' and '{group}' hold tags or model results for '{path}'; "
                       f"owlx uses '{group}'")
            if warning not in self.warnings:  # asked again for every frame's geometry
                self.warnings.append(warning)
        return group

    def _holds_results(self, group: str) -> bool:
        try:
            g = self._file[group]
            return "tags" in g or "model" in g
        except LOOKUP_ERRORS:
            return False

    def _resolve(self, path: str, depth: int = 0) -> tuple[str, bool]:
        """(path with every soft link resolved, True if stopped at an external link)."""
        if depth > 40:
            raise DatasetError(f"'{path}' in '{self.name}' is part of a cycle of soft links")
        cur = "/"
        for name in [p for p in path.split("/") if p]:
            try:
                link = self._file[cur].get(name, getlink=True)
            except LOOKUP_ERRORS:
                link = None
            if isinstance(link, h5py.SoftLink):
                target = link.path if link.path.startswith("/") else join(cur, link.path)
                cur, external = self._resolve(normalize_path(target), depth + 1)
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
        ``frame`` (spec: the selected frame's value, with a warning when values differ by more
        than 1%).

        The geometry datasets of a result group are read once and cached, so asking again for
        another frame reads nothing from the file (live mode drops the cache on ``refresh``).
        Warnings about rejected values are in the result; those of the first frame asked for
        a group also go to ``warnings`` (so browsing frames does not grow that list).
        """
        path = image_path or self.image_path
        if path is None:
            return Geometry()
        group = self.result_group(path)
        with self._lock:
            reader = self._geometry.get(group)
            first = reader is None
            if first:
                reader = self._geometry[group] = GeometryReader(group)
        geo = reader.at(self._file, frame)
        if first:
            self.warnings.extend(w for w in geo.warnings if w not in self.warnings)
        return geo

    # -- live mode and closing ---------------------------------------------------------------
    def refresh(self) -> None:
        """Live mode: re-read sizes and ``numEvents`` of listed image and per-frame datasets and
        recompute N from the image stack. Does nothing outside live mode."""
        if not self.swmr:
            return
        with self._lock:
            listed = [(path, self._nodes[path]) for path in self._info]
        fresh = {}
        for path, node in listed:
            if not (node.kind.is_image or node.kind.is_per_frame):
                continue
            try:
                ds = self._file[path]
                ds.refresh()
                fresh[path] = _Info.read(ds.id)
            except (*LOOKUP_ERRORS, TypeError):
                continue
            node.shape = fresh[path].shape
            node.attrs = _attrs(ds)
        with self._lock:
            self._info.update(fresh)
            self._geometry.clear()  # per-frame distance or energy may have grown
            n = None
            if self.image_path is not None:
                info = self._info[self.image_path]
                n = cxi.n_frames_of(info.shape, self._nodes[self.image_path].frame_axis, info.num_events)
            self.set_frame_count(n)

    @property
    def raw_filename(self) -> str:
        """The name HDF5 uses for this file (what ``raw_fd`` opens)."""
        return self._file.filename

    def raw_fd(self) -> int:
        """A read-only descriptor of the file for GIL-free raw frame reads (opened once, closed
        with the source)."""
        if not self._file.id.valid:
            raise DatasetError(f"'{self.name}' is closed; reopen it to read it")
        with self._fd_lock:  # two workers reading at once must not open (and leak) two
            if self._fd is None:
                self._fd = os.open(self._file.filename, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            return self._fd

    def close(self) -> None:
        with self._fd_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._file.id.valid:
            self._file.close()

    def __repr__(self) -> str:
        return f"<Hdf5Source {self.path!r}{' live' if self.swmr else ''}>"


def _short(err: Exception) -> str:
    """The useful part of an HDF5 error message (h5py repeats the call name first)."""
    text = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)  # KeyError quotes str()
    if "(" in text and text.endswith(")"):
        text = text[text.index("(") + 1 : -1]
    return text
