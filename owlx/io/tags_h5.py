"""Owl's ``tags`` dataset: reading every variant, planning writes in Owl's exact layout.

spec/formats.md §2.2. Owl writes ``<group>/tags`` as int8 ``(nTags, N)``, chunks ``(1, 10000)``,
maxshape ``(None, None)``, fill 0, no compression, with attributes ``axes`` =
``[b"tag:experiment_identifier"]`` (S25), ``headings`` (fixed-length UTF-8 bytes, one per row)
and ``colors`` (uint8 ``(nTags, 3)``, always written by owlx).

Reading accepts: any integer, boolean (or float) dtype, non-zero = set; a 1-D dataset (one column
when N = 1, else one tag); the transposed ``axes = "experiment_identifier:tag"``; ``axes`` as a
scalar or array string; missing or short ``headings`` (``Tag i``), extra ones (ignored), duplicates
(`` (2)`` suffix, warning), fixed- or variable-length strings; missing or mis-shaped ``colors``
(palette, viewer.md T2); more than N columns (only ``[:N]`` is read; the extras stay on disk and
follow their tag when rows move) or fewer (unset, warning). Siblings (``tag``, ``description``) stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from owlx.core.tagtable import TagTable, palette_colors, unique_names
from owlx.io import cxi
from owlx.io.writeplan import WritePlan, join

TAGS = "tags"
CHUNKS = (1, 10000)
AXES = np.array([b"tag:experiment_identifier"], dtype="S25")
#: owlx extension, sidecars only: data-file tag names deleted or renamed while saving there
DELETED_ATTR = "owlx_deleted_tags"


@dataclass
class TagsRead:
    """What :func:`read_tags` found: the tags over N frames and the warnings met."""

    table: TagTable
    warnings: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # sidecar attribute DELETED_ATTR
    columns: int = 0  # frame columns on disk (may differ from N)


# -- layout --------------------------------------------------------------------------------------

class _Layout:
    """Where tag rows and frame columns are in a stored ``tags`` dataset.

    ``tag_axis`` is 0 (Owl), 1 (transposed), ``None`` for a 1-D dataset holding one tag, or
    ``"tags1d"`` for a 1-D dataset holding one column per tag (N = 1)."""

    def __init__(self, ds: h5py.Dataset, n_frames: int):
        self.ndim = ds.ndim
        shape = tuple(int(s) for s in ds.shape)
        if ds.ndim == 2:
            names, _ = cxi.parse_axes(_attr(ds, "axes"), 2)
            self.tag_axis: Any = 1 if names[:2] == ["experiment_identifier", "tag"] else 0
            self.rows, self.cols = (shape[1], shape[0]) if self.tag_axis == 1 else shape
        elif ds.ndim == 1 and n_frames == 1:
            self.tag_axis, self.rows, self.cols = "tags1d", shape[0], 1
        elif ds.ndim == 1:
            self.tag_axis, self.rows, self.cols = None, 1, shape[0]
        else:  # 0-d: one tag on one frame
            self.tag_axis, self.rows, self.cols = "scalar", 1, 1

    def sel(self, row: int, cols: slice) -> tuple:
        if self.tag_axis == 0:
            return (row, cols)
        if self.tag_axis == 1:
            return (cols, row)
        if self.tag_axis is None:
            return (cols,)
        return (row,) if self.tag_axis == "tags1d" else ()

    def disk_shape(self, rows: int, cols: int) -> tuple[int, ...] | None:
        """Stored shape for ``rows`` tags over ``cols`` frames, or None when this layout cannot
        hold them."""
        if self.tag_axis == 0:
            return (rows, cols)
        if self.tag_axis == 1:
            return (cols, rows)
        if self.tag_axis is None:
            return (cols,) if rows == 1 else None
        if self.tag_axis == "tags1d":
            return (rows,) if cols == 1 else None
        return () if rows == 1 and cols == 1 else None

    def read_rows(self, ds: h5py.Dataset, n_cols: int) -> np.ndarray:
        """Stored values as ``(rows, n_cols)`` (``n_cols ≤ cols``), native dtype."""
        if self.tag_axis == 0:
            return np.asarray(ds[:, :n_cols])
        if self.tag_axis == 1:
            return np.asarray(ds[:n_cols, :]).T
        if self.tag_axis is None:
            return np.asarray(ds[:n_cols])[None, :]
        if self.tag_axis == "tags1d":
            return np.asarray(ds[:])[:, None][:, :n_cols]
        return np.asarray(ds[()]).reshape(1, 1)[:, :n_cols]


def _attr(obj: Any, name: str) -> Any:
    try:
        return obj.attrs[name] if name in obj.attrs else None
    except (OSError, TypeError, ValueError):
        return None


def _texts(value: Any) -> list[str] | None:
    """A string attribute (scalar or array, fixed or variable length) as a list of str."""
    if value is None:
        return None
    arr = np.asarray(value)
    items = [arr[()]] if arr.ndim == 0 else list(arr.ravel())
    return [(bytes(i).decode("utf-8", "replace") if isinstance(i, (bytes, np.bytes_)) else str(i)).strip("\x00").strip()
            for i in items]


def _is_set(values: np.ndarray) -> np.ndarray | None:
    """Non-zero = set, for integer, boolean and float data; None for other types."""
    kind = values.dtype.kind
    if kind in "biu":
        return values != 0
    if kind == "f":
        return (values != 0) & ~np.isnan(values)
    return None


# -- reading -------------------------------------------------------------------------------------

def read_tags(f: h5py.File | h5py.Group, group: str, n_frames: int) -> TagsRead | None:
    """The tags of ``<group>/tags`` aligned to ``n_frames`` frames; None when there are none."""
    path = join(group, TAGS)
    try:
        ds = f[path]
    except (KeyError, OSError, ValueError, RuntimeError):  # RuntimeError: soft-link cycle
        return None
    if not isinstance(ds, h5py.Dataset):
        return TagsRead(TagTable.empty(n_frames), [f"'{path}' is a group, not a tags dataset; ignored"])
    layout = _Layout(ds, n_frames)
    warnings: list[str] = []
    take = min(layout.cols, n_frames)
    try:
        raw = layout.read_rows(ds, take)
    except (OSError, TypeError, ValueError) as err:
        return TagsRead(TagTable.empty(n_frames), [f"cannot read '{path}': {err}; tags not shown"])
    is_set = _is_set(raw)
    if is_set is None:
        return TagsRead(TagTable.empty(n_frames), [f"'{path}' has type {ds.dtype}, not 0/1 integers; tags not shown"])
    rows = layout.rows
    members = np.zeros((rows, n_frames), bool)
    members[:, :take] = is_set
    if layout.cols < n_frames:
        warnings.append(f"dataset '{path}' covers {layout.cols} of {n_frames} frames; the others are untagged")

    headings = _texts(_attr(ds, "headings")) or []
    if headings and len(headings) < rows:
        warnings.append(f"'{path}' has {rows} tags but {len(headings)} headings; the others are named 'Tag i'")
    elif len(headings) > rows:
        warnings.append(f"'{path}' has {len(headings)} headings for {rows} tags; the extra names are ignored")
    names, dup_warnings = unique_names([headings[i] if i < len(headings) else "" for i in range(rows)])
    warnings += dup_warnings

    colors = palette_colors(rows)
    stored = _attr(ds, "colors")
    if stored is not None:
        arr = np.asarray(stored)
        if arr.ndim == 2 and arr.shape[1] == 3 and arr.dtype.kind in "iuf":
            k = min(rows, arr.shape[0])
            colors[:k] = np.clip(np.nan_to_num(arr[:k].astype(np.float64)), 0, 255).astype(np.uint8)
            if arr.shape[0] < rows:
                warnings.append(f"'{path}' has colours for {arr.shape[0]} of {rows} tags; the others use the palette")
        else:
            warnings.append(f"'{path}' colours have shape {arr.shape}, not ({rows}, 3); the palette is used")
    deleted = _texts(_attr(ds, DELETED_ATTR)) or []
    table = TagTable(names, colors, members, list(names))
    return TagsRead(table, warnings, [d for d in deleted if d], layout.cols)


# -- writing -------------------------------------------------------------------------------------

def headings_array(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """``headings`` as Owl wrote them: fixed-length UTF-8 bytes ``S<longest>`` (S1 when empty)."""
    raw = [n.encode("utf-8") for n in names]
    width = max([len(r) for r in raw] + [1])
    return np.array(raw, dtype=f"S{width}").reshape(len(raw))


def colors_array(colors: np.ndarray) -> np.ndarray:
    return np.asarray(colors, dtype=np.uint8).reshape(-1, 3)


def plan_tags(
    plan: WritePlan,
    group: str,
    table: TagTable,
    n_frames: int,
    origins: list[str | None] | None = None,
    deleted: list[str] | None = None,
) -> None:
    """Plan writing ``table`` (``n_frames`` columns) as ``<group>/tags``; a new dataset gets Owl's
    exact layout (module docstring; zero tags give shape (0, N)), a non-ASCII name a warning.
    An existing one keeps its dtype, orientation and columns beyond N: it is resized to
    ``(n_tags, max(columns, N))`` (only the tag axis may shrink, when tags were deleted), rows
    whose values changed are rewritten, extra columns follow their tag through ``origins``
    (each row's name on disk when it was read; default: its current name), and ``headings``
    and ``colors`` are rewritten when they differ. ``deleted`` (sidecars only) is stored as
    the ``owlx_deleted_tags`` attribute.
    """
    path = join(group, TAGS)
    n, N = table.n_tags, int(n_frames)
    if table.n_frames > N and table.members[:, N:].any():
        # Truncating would drop tags silently (the file shrank since they were set): refuse, so
        # the caller sends them to a sidecar sized to the tags instead.
        last = int(np.flatnonzero(table.members[:, N:].any(axis=0))[-1]) + N
        return plan.block(path, f"tags are set on frames up to {last}, but only {N} frames are to be written "
                                f"(frames {N}–{table.n_frames - 1} would be lost)")
    if table.n_frames != N:
        table = table.resized(N)
    members = table.members
    headings = headings_array(table.names)
    colors = colors_array(table.colors)
    if plan.for_owl:  # UTF-8 under HDF5's ASCII charset: owlx reads it, Python-2 Owl cannot save it again
        plan.warnings += [f"tag '{t}' is not plain ASCII: owlx reads it, but Owl cannot handle this name "
                          "(rename it before working on this file in Owl)" for t in table.names if not t.isascii()]
    obj = plan.existing(path)
    if plan.for_owl and _beyond_file(plan, group, obj, N):
        return
    if obj is None:
        if n == 0 and not deleted:
            return  # nothing was ever tagged here: do not create an empty dataset
        attrs = {"axes": AXES, "headings": headings, "colors": colors}
        if deleted is not None:
            attrs[DELETED_ATTR] = headings_array(deleted)
        plan.create_dataset(path, members.astype(np.int8), chunks=CHUNKS, maxshape=(None, None),
                            fillvalue=0, attrs=attrs)
        return
    if not isinstance(obj, h5py.Dataset):
        return plan.block(path, "is a group; owlx needs a tags dataset here")
    if obj.dtype.kind not in "biuf":
        return plan.block(path, f"has type {obj.dtype}; tags are stored as 0/1 integers")
    layout = _Layout(obj, N)
    cols = max(layout.cols, N)
    shape = layout.disk_shape(n, cols)
    if shape is None:
        return plan.block(path, f"has shape {obj.shape}, which cannot hold {n} tags over {N} frames "
                                "(incompatible shape)")
    if shape != tuple(obj.shape):
        grows = any(a > b for a, b in zip(shape, obj.shape))
        if obj.chunks is None:
            return plan.block(path, f"must change from {obj.shape} to {shape} but is not chunked "
                                    "(HDF5 can resize only chunked datasets; Owl issue 23)")
        if grows and not plan.can_grow(obj, path, shape):
            return
        plan.resize(path, shape)

    old = layout.read_rows(obj, min(layout.cols, N))
    old_set = _is_set(old)
    dtype = obj.dtype
    take = old.shape[1]
    for i in range(n):
        if i < layout.rows and np.array_equal(old_set[i], members[i, :take]) and not members[i, take:].any():
            continue
        if i >= layout.rows and not members[i].any():
            continue  # a new row is filled with 0 already
        plan.write(path, layout.sel(i, slice(0, N)), _row_values(members[i], dtype, layout),
                   text=f"write tag {table.names[i]!r} ({int(members[i].sum())} frames) to {path}")
    if layout.cols > N:
        _plan_extras(plan, path, obj, layout, table, origins, N, dtype)

    if obj.ndim == 2 and _attr(obj, "axes") is None:  # Owl's orientation, which the read assumed
        plan.set_attr(path, "axes", AXES)
    plan.set_attr(path, "headings", headings)
    plan.set_attr(path, "colors", colors)
    if deleted is not None:
        plan.set_attr(path, DELETED_ATTR, headings_array(deleted))


def _beyond_file(plan: WritePlan, group: str, obj: Any, N: int) -> bool:
    """Record a blocker and return True when tags over ``N`` frames would make ``<group>/tags``
    wider than both its current columns and the frames of ``<group>/data`` (formats.md §2.5
    rule 2: tags keep max(columns, N) columns, with N the file's frame count). This catches a
    caller whose frame count is stale, e.g. tags kept from before the file was rewritten with
    fewer frames; Owl's padding (existing columns ≥ N) stays writable."""
    frames = _data_frames(plan, group)
    if frames is None or N <= frames:
        return False
    cols = _Layout(obj, N).cols if isinstance(obj, h5py.Dataset) else 0
    if N <= cols:
        return False
    plan.block(join(group, TAGS), f"would cover {N} frames, but '{join(group, 'data')}' has {frames}; "
                                  "tags for frames the file does not have belong in the sidecar")
    return True


def _data_frames(plan: WritePlan, group: str) -> int | None:
    """Length of the frame axis of the image stack ``<group>/data`` (a dataset of ≥ 3 dimensions,
    frame axis from its ``axes`` attribute, default 0), or None when there is none to compare."""
    if plan.handle is None:
        return None
    try:
        ds = plan.handle[join(group, "data")]
    except (KeyError, OSError, ValueError, RuntimeError):
        return None
    if not isinstance(ds, h5py.Dataset) or ds.ndim < 3:
        return None
    names, _ = cxi.parse_axes(_attr(ds, "axes"), ds.ndim)
    axis = names.index("experiment_identifier") if "experiment_identifier" in names else 0
    return int(ds.shape[axis])


def _row_values(row: np.ndarray, dtype: np.dtype, layout: _Layout) -> np.ndarray:
    values = row.astype(dtype)
    return values[0] if layout.tag_axis in ("tags1d", "scalar") else values


def _plan_extras(plan: WritePlan, path: str, obj: h5py.Dataset, layout: _Layout, table: TagTable,
                 origins: list[str | None] | None, N: int, dtype: np.dtype) -> None:
    """Columns ≥ N that owlx does not show move with their tag when rows move; a row that
    now holds another (or a new) tag gets zeros there."""
    if layout.tag_axis not in (0, 1):
        return
    read = read_tags(plan.handle, path.rsplit("/", 1)[0] or "/", N) if plan.handle is not None else None
    on_disk = read.table.names if read is not None else []
    origins = list(origins) if origins is not None else list(table.names)
    extra = slice(N, layout.cols)
    for i in range(table.n_tags):
        origin = origins[i] if i < len(origins) else None
        j = on_disk.index(origin) if origin in on_disk else None
        if j == i:
            continue
        if j is None:
            if i < layout.rows:
                plan.write(path, layout.sel(i, extra), np.zeros(layout.cols - N, dtype),
                           text=f"clear columns ≥ {N} of row {i} in {path}")
            continue
        values = np.asarray(obj[layout.sel(j, extra)])
        plan.write(path, layout.sel(i, extra), values, text=f"move columns ≥ {N} of {origin!r} to row {i}")
