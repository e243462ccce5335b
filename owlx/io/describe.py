"""A readable text summary of a Source: what ``owlx info FILE`` prints.

One line per node, indented by depth; datasets show dtype, shape, kind and, for stacks, N;
links show their target after ``->`` (soft-linked groups are not expanded again: their contents
are listed at the target); links that lead nowhere say ``broken link`` with the reason in
brackets; the default stack is marked with ``*``. Example::

    run.cxi  (hdf5)
    /
      entry_1/
        data_1/  -> /entry_1/image_1
        image_1/
          data  float64 (50×100)  image, N = 1  * default
        loop  broken link -> /entry_1/loop  [link cycle: the soft links on its path lead back to themselves]
        old  broken link -> raw.h5:/frames  [unable to open external file]
"""

from __future__ import annotations

import os

import numpy as np

from owlx.io import cxi
from owlx.io.source import Kind, Node, Source

def _frames(node: Node) -> int | None:
    if node.kind is Kind.IMAGE:
        return 1
    if node.kind is Kind.STACK and node.frame_axis is not None and node.shape:
        return cxi.frame_count(int(node.shape[node.frame_axis]), cxi.parse_num_events(node.attrs.get("numEvents")))
    return None


def _value_text(value) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind == "S" or arr.dtype.kind == "O":
        items = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel()[:4]]
        text = ", ".join(repr(i) for i in items)
        return text if arr.size <= 4 else text + ", …"
    text = np.array2string(arr, threshold=6, edgeitems=2, precision=6) if arr.ndim else repr(arr.item())
    return text.replace("\n", " ")


def _dtype_text(dtype) -> str:
    """numpy's name, except for HDF5 variable-length strings (numpy "object" with metadata)."""
    if dtype is None:
        return "?"
    vlen = (dtype.metadata or {}).get("vlen") if dtype.kind == "O" else None
    if vlen in (str, bytes):
        return f"vlen {vlen.__name__}"
    return str(dtype)


def describe_node(node: Node, default: str | None = None) -> str:
    """One line for one node (without indentation)."""
    name = node.name if node.path != "/" else "/"
    if node.is_broken_link:
        reason = node.note.removeprefix("broken link").lstrip(": ")
        text = f"{name}  broken link -> {node.link_target or '?'}"
        if default and node.path == default:
            text += "  * default"
        return text + (f"  [{reason}]" if reason else "")
    if node.kind is Kind.GROUP:
        text = name + ("/" if node.path != "/" else "")
    else:
        shape = "×".join(str(d) for d in node.shape) if node.shape else "scalar"
        text = f"{name}  {_dtype_text(node.dtype)} ({shape})  {cxi.kind_text(node.kind)}"
        n = _frames(node)
        if n is not None:
            text += f", N = {n}"
        if node.frame_axis not in (None, 0):
            text += f" (frame axis {node.frame_axis})"
    if node.link_target:
        text += f"  -> {node.link_target}"
    if default and node.path == default:
        text += "  * default"
    if node.note:
        text += f"  [{node.note}]"
    return text


def describe_source(source: Source, max_children: int = 200, attrs: bool = False) -> str:
    """The tree of ``source`` as indented text (see the module docstring).

    ``max_children`` caps the lines per group (the rest is counted); ``attrs=True`` also lists
    attributes under each node.
    """
    default = source.default_stack_path()
    body: list[str] = []

    def visit(node: Node, depth: int) -> None:
        pad = "  " * depth
        body.append(pad + describe_node(node, default))
        if attrs:
            for key, value in node.attrs.items():
                body.append(f"{pad}    @{key} = {_value_text(value)}")
        if node.kind is not Kind.GROUP or (node.link_target and not _is_external(node.link_target)):
            return  # datasets have no children; a soft-linked group is listed at its target
        children = node.children()
        for child in children[:max_children]:
            visit(child, depth + 1)
        if len(children) > max_children:
            body.append(f"{pad}  … and {len(children) - max_children} more")

    visit(source.root, 0)  # first, so that warnings met while listing are shown too
    head = [f"{os.path.basename(str(source.path))}  ({source.format})"]
    head += [f"! {warning}" for warning in source.warnings]
    return "\n".join(head + body)


def _is_external(target: str) -> bool:
    """External link targets are written ``file:/path``; soft link targets are HDF5 paths."""
    return ":" in target and not target.startswith("/")
