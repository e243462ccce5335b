"""The file tree of the left dock: a lazy view of a :class:`~owlx.io.source.Source`.

Behaviour (spec/viewer.md F5–F8):

* A group's children are listed only when the group is first expanded (F7): each unexplored
  group carries one invisible-to-the-user placeholder child so Qt draws the expand arrow, and
  :meth:`DataTree._on_expanded` replaces it with the real children. Opening a file with 10⁵
  objects therefore lists only the root level.
* Order is the one :meth:`Node.children` returns: groups first, then datasets, natural order (F5).
* Colours by kind (F6): per-frame scalar blue, per-frame vector red, images green, anything
  else grey; datasets that do not run along the frame axis are faded; datasets named ``data``
  are bold. The tooltip shows ``dtype (shape)``, the attributes (truncated) and a link's target.
* A click (or Enter) on a dataset emits :attr:`DataTree.dataset_activated` ``(path, Kind)``;
  the main window decides what it means (image view, mask, plot Y, peak list — F8).
* Items can be dragged: the MIME data carry the node path as ``application/x-owlx-node-path``
  (and its kind as ``application/x-owlx-node-kind``) plus plain text, for the drop boxes (F9).

The tree has its own keyboard focus, so arrow keys move in the tree, never between frames
(spec/viewer.md §14: "the tree's own keys win").
"""

from __future__ import annotations

import functools
import html
import logging
from typing import Iterable

from PyQt5 import QtCore, QtGui, QtWidgets

from ..io.source import Kind, Node, Source

log = logging.getLogger(__name__)

#: MIME type carrying the dragged node's absolute path (UTF-8).
MIME_NODE_PATH = "application/x-owlx-node-path"
#: MIME type carrying the dragged node's :class:`Kind` value, so a drop box can accept or
#: refuse a drag in ``dragEnterEvent`` without asking the source.
MIME_NODE_KIND = "application/x-owlx-node-kind"

_PATH_ROLE = QtCore.Qt.UserRole
_NODE_ROLE = QtCore.Qt.UserRole + 1
_PLACEHOLDER_ROLE = QtCore.Qt.UserRole + 2

_KIND_LABELS = {
    Kind.GROUP: "",
    Kind.STACK: "image stack",
    Kind.IMAGE: "image",
    Kind.FRAME_SCALAR: "per-frame scalar",
    Kind.FRAME_VECTOR: "per-frame vector",
    Kind.ARRAY: "array",
    Kind.VALUE: "value",
}

#: Text colours of F6. Fixed hues rather than palette roles: the colour *is* the information.
KIND_COLOURS = {
    Kind.FRAME_SCALAR: QtGui.QColor(35, 95, 225),
    Kind.FRAME_VECTOR: QtGui.QColor(210, 45, 45),
    Kind.STACK: QtGui.QColor(25, 150, 50),
    Kind.IMAGE: QtGui.QColor(25, 150, 50),
}
OTHER_COLOUR = QtGui.QColor(128, 128, 128)
#: Alpha of datasets that are not per-frame (not aligned with the frames, F6 "faded").
FADED_ALPHA = 130

_MAX_ATTRS = 12  # attributes shown in a tooltip
_MAX_VALUE_CHARS = 80  # characters of one attribute value in a tooltip


def kind_colour(kind: Kind) -> QtGui.QColor:
    """Text colour of a dataset of ``kind`` (faded when it does not run along the frames)."""
    colour = QtGui.QColor(KIND_COLOURS.get(kind, OTHER_COLOUR))
    if not is_along_frames(kind):
        colour.setAlpha(FADED_ALPHA)
    return colour


@functools.lru_cache(maxsize=None)
def _brush(kind: Kind) -> QtGui.QBrush:
    # One shared brush per kind: a group of 10⁵ datasets would otherwise build 10⁵ of them.
    return QtGui.QBrush(kind_colour(kind))


def is_along_frames(kind: Kind) -> bool:
    """True for stacks and per-frame data: the datasets Owl called "stacks" and drew unfaded."""
    return kind in (Kind.STACK, Kind.FRAME_SCALAR, Kind.FRAME_VECTOR)


def path_from_mime(mime: QtCore.QMimeData) -> str | None:
    """The node path of a tree drag, or None when ``mime`` did not come from a DataTree."""
    if mime.hasFormat(MIME_NODE_PATH):
        return bytes(mime.data(MIME_NODE_PATH)).decode("utf-8")
    return None


def kind_from_mime(mime: QtCore.QMimeData) -> Kind | None:
    """The node kind of a tree drag, or None."""
    if mime.hasFormat(MIME_NODE_KIND):
        try:
            return Kind(bytes(mime.data(MIME_NODE_KIND)).decode("utf-8"))
        except ValueError:
            return None
    return None


def node_tooltip(node: Node) -> str:
    """Rich-text tooltip: ``dtype (shape)``, link target, classification note, attributes.

    Built as escaped HTML so that attribute values containing ``<`` are shown, not rendered.
    """
    lines = [f"<b>{html.escape(node.path)}</b>", html.escape(node.describe())]
    if node.link_target:
        lines.append(f"link → {html.escape(node.link_target)}")
    if node.note:
        lines.append(f"<i>{html.escape(node.note)}</i>")
    attrs = list(node.attrs.items())
    for key, value in attrs[:_MAX_ATTRS]:
        text = _short_repr(value)
        lines.append(f"{html.escape(str(key))} = {html.escape(text)}")
    if len(attrs) > _MAX_ATTRS:
        lines.append(f"… {len(attrs) - _MAX_ATTRS} more attributes")
    return "<br>".join(lines)


def _short_repr(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())  # multi-line arrays become one tooltip line
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    return text


def _shape_text(node: Node) -> str:
    return "×".join(str(s) for s in node.shape) if node.shape else ""


class DataTree(QtWidgets.QTreeWidget):
    """Lazy tree of a source's groups and datasets (columns: name, kind, shape).

    Signals:
        dataset_activated(path: str, kind: Kind)  a dataset was clicked or Enter was pressed
    """

    dataset_activated = QtCore.pyqtSignal(str, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._source: Source | None = None
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        # Groups already listed, including empty ones (which keep no child item to show it).
        self._listed: set[str] = set()
        self.setColumnCount(3)
        self.setHeaderLabels(["Name", "Kind", "Shape"])
        self.setUniformRowHeights(True)  # lets Qt skip measuring every row of big groups
        self.setSortingEnabled(False)  # the order is the source's natural order (F5)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QtWidgets.QAbstractItemView.DragOnly)
        self.setDefaultDropAction(QtCore.Qt.CopyAction)
        self.setFocusPolicy(QtCore.Qt.StrongFocus)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        self.header().setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeToContents)
        self.header().setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeToContents)
        self.itemExpanded.connect(self._on_expanded)
        # itemClicked rather than itemActivated: on platforms with single-click activation
        # both would fire for one click and the dataset would be loaded twice.
        self.itemClicked.connect(self._on_clicked)

    # -- public API ---------------------------------------------------------------------------
    @property
    def source(self) -> Source | None:
        return self._source

    def set_source(self, source: Source | None) -> None:
        """Show ``source`` (only its root level is listed) or nothing (None)."""
        self.clear()
        self._items.clear()
        self._listed.clear()
        self._source = source
        if source is None:
            return
        root = source.root
        name = source.path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or source.path
        item = QtWidgets.QTreeWidgetItem([name, "", ""])
        item.setData(0, _PATH_ROLE, "/")
        item.setData(0, _NODE_ROLE, root)
        self._items["/"] = item
        self.addTopLevelItem(item)
        self._populate(item)
        item.setExpanded(True)

    def select_path(self, path: str) -> bool:
        """Expand down to ``path`` and make it the current item without emitting
        :attr:`dataset_activated` (used when the window shows the default stack)."""
        item = self._find(path)
        if item is None:
            return False
        parent = item.parent()
        while parent is not None:
            parent.setExpanded(True)
            parent = parent.parent()
        self.setCurrentItem(item)
        self.scrollToItem(item)
        return True

    def current_path(self) -> str | None:
        item = self.currentItem()
        return item.data(0, _PATH_ROLE) if item is not None else None

    def expanded_paths(self) -> list[str]:
        """Paths of the expanded groups, parents before children (for Reload, F12)."""
        return sorted((p for p, item in self._items.items() if item.isExpanded()), key=_depth_first)

    def restore_expanded(self, paths: Iterable[str]) -> None:
        """Expand the groups of ``paths`` that still exist (others are skipped silently)."""
        for path in sorted((_normalise(p) for p in paths), key=_depth_first):
            item = self._find(path)
            if item is not None:
                item.setExpanded(True)

    def tooltip_text(self, item: QtWidgets.QTreeWidgetItem) -> str:
        """The tooltip of ``item``, built when asked for: a group of 10⁵ datasets should not
        format 10⁵ attribute lists on expansion."""
        node = item.data(0, _NODE_ROLE)
        if item is self._items.get("/") and self._source is not None:
            return html.escape(str(self._source.path))
        return node_tooltip(node) if isinstance(node, Node) else ""

    def item_for_path(self, path: str) -> QtWidgets.QTreeWidgetItem | None:
        """The item of ``path`` if it has been listed already (no expansion, no file access)."""
        return self._items.get(_normalise(path))

    # -- lazy listing -------------------------------------------------------------------------
    def _find(self, path: str) -> QtWidgets.QTreeWidgetItem | None:
        """Item of ``path``, listing (not expanding) each group on the way. None if absent."""
        path = _normalise(path)
        if self._source is None or "/" not in self._items:
            return None
        if path in self._items:
            return self._items[path]
        prefix = ""
        item = self._items["/"]
        for part in path.strip("/").split("/"):
            self._populate(item)
            prefix = f"{prefix}/{part}"
            item = self._items.get(prefix)
            if item is None:
                return None
        return item

    def _populate(self, item: QtWidgets.QTreeWidgetItem) -> None:
        """List the children of a group item, once, replacing its placeholder."""
        path = item.data(0, _PATH_ROLE)
        if path in self._listed:
            return
        self._listed.add(path)
        if item.childCount() == 1 and item.child(0).data(0, _PLACEHOLDER_ROLE):
            item.takeChild(0)
        node: Node = item.data(0, _NODE_ROLE)
        try:
            children = node.children()
        except Exception as exc:  # a broken external link or a closed file must not kill the tree
            log.warning("cannot list %s: %s", node.path, exc)
            error = QtWidgets.QTreeWidgetItem([f"⚠ cannot list: {exc}", "", ""])
            error.setFlags(QtCore.Qt.NoItemFlags)
            item.addChild(error)
            return
        item.addChildren([self._make_item(child) for child in children])

    def _make_item(self, node: Node) -> QtWidgets.QTreeWidgetItem:
        item = QtWidgets.QTreeWidgetItem([node.name, _KIND_LABELS.get(node.kind, ""), _shape_text(node)])
        item.setData(0, _PATH_ROLE, node.path)
        item.setData(0, _NODE_ROLE, node)
        if node.kind is Kind.GROUP:
            placeholder = QtWidgets.QTreeWidgetItem(["…", "", ""])
            placeholder.setData(0, _PLACEHOLDER_ROLE, True)
            placeholder.setFlags(QtCore.Qt.NoItemFlags)
            item.addChild(placeholder)
        else:
            brush = _brush(node.kind)
            for column in range(3):
                item.setForeground(column, brush)
            if node.name == "data":
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
        self._items[node.path] = item
        return item

    # -- signals and Qt overrides -------------------------------------------------------------
    def _on_expanded(self, item: QtWidgets.QTreeWidgetItem) -> None:
        self._populate(item)

    def _on_clicked(self, item: QtWidgets.QTreeWidgetItem, column: int = 0) -> None:
        self._activate(item)

    def _activate(self, item: QtWidgets.QTreeWidgetItem | None) -> None:
        if item is None:
            return
        node = item.data(0, _NODE_ROLE)
        if isinstance(node, Node) and node.kind is not Kind.GROUP:
            self.dataset_activated.emit(node.path, node.kind)

    def viewportEvent(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.ToolTip:
            item = self.itemAt(event.pos())
            text = self.tooltip_text(item) if item is not None else ""
            if text:
                QtWidgets.QToolTip.showText(event.globalPos(), text, self.viewport(), self.visualItemRect(item))
            else:
                QtWidgets.QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() in (QtCore.Qt.Key_Return, QtCore.Qt.Key_Enter):
            item = self.currentItem()
            if item is not None and item.childCount() and not item.isExpanded():
                item.setExpanded(True)  # Enter on a group opens it, like a file manager
            self._activate(item)
            event.accept()
            return
        super().keyPressEvent(event)

    def mimeTypes(self) -> list[str]:
        return [MIME_NODE_PATH, MIME_NODE_KIND, "text/plain"]

    def mimeData(self, items: list[QtWidgets.QTreeWidgetItem]) -> QtCore.QMimeData:
        mime = QtCore.QMimeData()
        nodes = [it.data(0, _NODE_ROLE) for it in items]
        nodes = [n for n in nodes if isinstance(n, Node)]
        if not nodes:
            return mime
        node = nodes[0]  # single selection: one node per drag
        mime.setData(MIME_NODE_PATH, QtCore.QByteArray(node.path.encode("utf-8")))
        mime.setData(MIME_NODE_KIND, QtCore.QByteArray(node.kind.value.encode("utf-8")))
        mime.setText(node.path)
        return mime

    def supportedDropActions(self) -> QtCore.Qt.DropActions:
        # QTreeWidget adds MoveAction by default, and a drop accepted as a move makes Qt delete
        # the dragged item from the tree. A drop box only refers to the node: copy only.
        return QtCore.Qt.CopyAction


def _normalise(path: str) -> str:
    return "/" + path.strip().strip("/")


def _depth_first(path: str) -> tuple[int, str]:
    """Sort key putting parents before their children ("/" first)."""
    return (path.rstrip("/").count("/"), path)
