"""The file tree of the left dock: a lazy view of a :class:`~owlx.io.source.Source`.

Behaviour (spec/viewer.md F5–F8):

* A group's children are listed only when the group is first expanded (F7), and never on the
  GUI thread (W6): each unexplored group carries one placeholder child so Qt draws the expand
  arrow; expanding the group turns it into "Loading…", lists the group with a
  :class:`~owlx.gui.qt_jobs.QtJobRunner` worker, and fills the items in batches of
  :data:`FILL_BATCH` per event-loop turn, so a group of 10⁵ datasets never freezes the window.
  Opening a file therefore lists only the root level. Results for a source that was replaced
  meanwhile are dropped.
* :meth:`DataTree.select_path` and :meth:`DataTree.restore_expanded` wait for the listings they
  need: the request is remembered and applied when the items arrive.
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
from collections import deque
from typing import Iterable

from PyQt5 import QtCore, QtGui, QtWidgets, sip

from ..io.source import Kind, Node, Source
from ..jobs import Job
from .qt_jobs import JobHandle, QtJobRunner

log = logging.getLogger(__name__)

#: MIME type carrying the dragged node's absolute path (UTF-8).
MIME_NODE_PATH = "application/x-owlx-node-path"
#: MIME type carrying the dragged node's :class:`Kind` value, so a drop box can accept or
#: refuse a drag in ``dragEnterEvent`` without asking the source.
MIME_NODE_KIND = "application/x-owlx-node-kind"

_PATH_ROLE = QtCore.Qt.UserRole
_NODE_ROLE = QtCore.Qt.UserRole + 1
_PLACEHOLDER_ROLE = QtCore.Qt.UserRole + 2

# Short labels keep the name column wide in a narrow dock; the tooltip and the colour say more.
_KIND_LABELS = {
    Kind.GROUP: "",
    Kind.STACK: "stack",
    Kind.IMAGE: "image",
    Kind.FRAME_SCALAR: "scalar",
    Kind.FRAME_VECTOR: "vector",
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

#: tree items created per event-loop turn while a listed group is filled in
FILL_BATCH = 500
#: text of the placeholder child while a group is being listed
LOADING_TEXT = "Loading…"
_WAITING = object()  # _locate: the item may exist once a listing has arrived

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

    Listings run on ``runner``, by default one :class:`QtJobRunner` shared by all trees and
    owned by the application: listing a big group never delays frame loads queued on the main
    window's runner, and closing a tree never waits for a listing still running.

    Signals:
        dataset_activated(path: str, kind: Kind)  a dataset was clicked or Enter was pressed
        group_listed(path: str)  all children of a group are in the tree (or its listing failed)
    """

    dataset_activated = QtCore.pyqtSignal(str, object)
    group_listed = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, runner: QtJobRunner | None = None):
        super().__init__(parent)
        self._source: Source | None = None
        self._runner = runner if runner is not None else _listing_runner()
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        # Groups whose children are all in the tree, including empty and failed ones.
        self._listed: set[str] = set()
        # Groups being listed by a worker or filled in: a listing is requested once.
        self._loading: set[str] = set()
        # Running listings: handle -> (generation, group path). set_source bumps the
        # generation, so a listing of a replaced source is dropped when it arrives.
        self._jobs: dict[JobHandle, tuple[int, str]] = {}
        self._generation = 0
        # Listed groups being filled in, as [path, nodes, next index], served round-robin.
        self._fill: deque[list] = deque()
        self._pump = QtCore.QTimer(self)
        self._pump.setSingleShot(True)
        self._pump.setInterval(0)
        self._pump.timeout.connect(self._fill_some)
        # What select_path / restore_expanded asked for and could not do yet.
        self._pending_select: str | None = None
        self._pending_expand: set[str] = set()
        self._advancing = self._advance_again = False
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
        self.header().setSectionResizeMode(2, QtWidgets.QHeaderView.Interactive)
        self.header().resizeSection(2, 90)  # long shapes are elided; the tooltip has them whole
        self.itemExpanded.connect(self._on_expanded)
        # itemClicked rather than itemActivated: on platforms with single-click activation
        # both would fire for one click and the dataset would be loaded twice.
        self.itemClicked.connect(self._on_clicked)

    # -- public API ---------------------------------------------------------------------------
    @property
    def source(self) -> Source | None:
        return self._source

    def set_source(self, source: Source | None) -> None:
        """Show ``source`` (its root level is listed in the background) or nothing (None)."""
        self._generation += 1
        self._pump.stop()
        self._fill.clear()
        self._loading.clear()
        self._listed.clear()
        self._pending_select = None
        self._pending_expand.clear()
        self.clear()
        self._items.clear()
        self._source = source
        if source is None:
            return
        root = source.root
        name = source.path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or source.path
        item = QtWidgets.QTreeWidgetItem([name, "", ""])
        item.setData(0, _PATH_ROLE, "/")
        item.setData(0, _NODE_ROLE, root)
        item.addChild(_placeholder())
        self._items["/"] = item
        self.addTopLevelItem(item)
        item.setExpanded(True)  # lists the root level

    def select_path(self, path: str) -> bool:
        """Expand down to ``path`` and make it the current item without emitting
        :attr:`dataset_activated` (used when the window shows the default stack).

        Groups on the way that are not listed yet are listed in the background and the
        selection is made when they arrive; a later call replaces a pending one. Returns False
        when ``path`` is known not to exist, True when it was selected or is pending."""
        if self._source is None:
            return False
        path = _normalise(path)
        self._pending_select = path
        self._advance_pending()
        return self._pending_select == path or self.current_path() == path

    def current_path(self) -> str | None:
        item = self.currentItem()
        return item.data(0, _PATH_ROLE) if item is not None else None

    def expanded_paths(self) -> list[str]:
        """Paths of the expanded groups, parents before children (for Reload, F12), including
        those :meth:`restore_expanded` is still waiting for."""
        paths = {p for p, item in self._items.items() if item.isExpanded()} | self._pending_expand
        return sorted(paths, key=_depth_first)

    def restore_expanded(self, paths: Iterable[str]) -> None:
        """Expand the groups of ``paths`` that still exist (others are skipped silently), each
        as soon as its parent is listed."""
        if self._source is None:
            return
        self._pending_expand.update(_normalise(p) for p in paths)
        self._advance_pending()

    def is_loading(self, path: str | None = None) -> bool:
        """True while the group ``path`` (default: any group) is being listed or filled in."""
        return bool(self._loading) if path is None else _normalise(path) in self._loading

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
    def _request_listing(self, item: QtWidgets.QTreeWidgetItem) -> None:
        """Start listing the children of a group item on a worker, once."""
        path = item.data(0, _PATH_ROLE)
        node = item.data(0, _NODE_ROLE)
        if path in self._listed or path in self._loading:
            return
        if not isinstance(node, Node) or node.kind is not Kind.GROUP:
            return
        self._loading.add(path)
        placeholder = _placeholder_of(item)
        if placeholder is not None:
            placeholder.setText(0, LOADING_TEXT)
        job = Job(lambda ctx, node=node: node.children(), name=f"list {path}")
        # on_finished is connected before the job starts (a fast listing cannot finish unheard);
        # the slot runs on this thread's event loop, so after _jobs knows the handle.
        handle = self._runner.submit(job, quiet=True, on_finished=self._on_listing_finished)
        self._jobs[handle] = (self._generation, path)

    @QtCore.pyqtSlot(object)  # a real slot: Qt drops the connection when the tree is deleted
    def _on_listing_finished(self, outcome) -> None:
        handle = self.sender()
        if isinstance(handle, JobHandle):
            self._accept(handle, outcome)

    def _accept(self, handle: JobHandle, outcome) -> None:
        entry = self._jobs.pop(handle, None)
        if entry is None:
            return
        generation, path = entry
        item = self._items.get(path)
        if generation != self._generation or item is None or path not in self._loading:
            return  # the source was replaced meanwhile
        if outcome.status != "done":
            error = outcome.error if outcome.error is not None else outcome.status
            log.warning("cannot list %s: %s", path, error)
            _remove_placeholder(item)
            failed = QtWidgets.QTreeWidgetItem([f"⚠ cannot list: {error}", "", ""])
            failed.setFlags(QtCore.Qt.NoItemFlags)
            item.addChild(failed)
            self._done(path)
            return
        self._fill.append([path, list(outcome.value or ()), 0])
        self._pump.start()

    def _fill_some(self) -> None:
        """One event-loop turn of filling: FILL_BATCH items of the group first in line."""
        while self._fill:
            entry = self._fill.popleft()
            path, nodes, start = entry
            item = self._items.get(path)
            if item is None or path not in self._loading:
                continue
            batch = nodes[start : start + FILL_BATCH]
            if batch:  # inserted above the "Loading…" placeholder, which stays last
                at = item.childCount() - (1 if _placeholder_of(item) is not None else 0)
                item.insertChildren(at, [self._make_item(node) for node in batch])
            entry[2] = start + len(batch)
            if entry[2] >= len(nodes):
                _remove_placeholder(item)
                self._done(path)
            else:
                self._fill.append(entry)  # round-robin: a small group is not stuck behind a big one
                self._advance_pending()  # the item select_path waits for may be in this batch
            break
        if self._fill:
            self._pump.start()

    def _done(self, path: str) -> None:
        self._loading.discard(path)
        self._listed.add(path)
        self._advance_pending()
        self.group_listed.emit(path)

    def _locate(self, path: str):
        """The item of ``path``; :data:`_WAITING` after requesting the listing that may
        create it; None when ``path`` does not exist."""
        item = self._items.get(path)
        if item is not None or path == "/":
            return item
        parent_path = path.rsplit("/", 1)[0] or "/"
        parent = self._locate(parent_path)
        if parent is None or parent is _WAITING:
            return parent
        node = parent.data(0, _NODE_ROLE)
        if parent_path in self._listed or not isinstance(node, Node) or node.kind is not Kind.GROUP:
            return None
        self._request_listing(parent)  # lists without expanding, as the synchronous tree did
        return _WAITING

    def _advance_pending(self) -> None:
        """Apply what select_path / restore_expanded asked for, as far as the listings allow."""
        if self._advancing:  # re-entered through itemExpanded: the running pass repeats
            self._advance_again = True
            return
        self._advancing = True
        try:
            self._advance_again = True
            while self._advance_again:
                self._advance_again = False
                self._advance_once()
        finally:
            self._advancing = False

    def _advance_once(self) -> None:
        if self._source is None:
            return
        if self._pending_select is not None:
            item = self._locate(self._pending_select)
            if item is not _WAITING:
                self._pending_select = None
            if isinstance(item, QtWidgets.QTreeWidgetItem):
                parent = item.parent()
                while parent is not None:
                    parent.setExpanded(True)
                    parent = parent.parent()
                self.setCurrentItem(item)
                self.scrollToItem(item)
        for path in sorted(self._pending_expand, key=_depth_first):
            item = self._locate(path)
            if item is _WAITING:
                continue
            self._pending_expand.discard(path)
            if isinstance(item, QtWidgets.QTreeWidgetItem):
                item.setExpanded(True)

    def _make_item(self, node: Node) -> QtWidgets.QTreeWidgetItem:
        item = QtWidgets.QTreeWidgetItem([node.name, _KIND_LABELS.get(node.kind, ""), _shape_text(node)])
        item.setData(0, _PATH_ROLE, node.path)
        item.setData(0, _NODE_ROLE, node)
        if node.kind is Kind.GROUP:
            item.addChild(_placeholder())
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
        self._request_listing(item)

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


_shared_runner: QtJobRunner | None = None


def _listing_runner() -> QtJobRunner:
    """The runner of tree listings, created once and owned by the application."""
    global _shared_runner
    if _shared_runner is None or sip.isdeleted(_shared_runner):
        _shared_runner = QtJobRunner(max_threads=2, parent=QtCore.QCoreApplication.instance())
    return _shared_runner


def _placeholder() -> QtWidgets.QTreeWidgetItem:
    """The child that gives an unlisted group its expand arrow ("Loading…" while listed)."""
    item = QtWidgets.QTreeWidgetItem(["…", "", ""])
    item.setData(0, _PLACEHOLDER_ROLE, True)
    item.setFlags(QtCore.Qt.NoItemFlags)
    return item


def _placeholder_of(item: QtWidgets.QTreeWidgetItem) -> QtWidgets.QTreeWidgetItem | None:
    n = item.childCount()
    last = item.child(n - 1) if n else None
    return last if last is not None and last.data(0, _PLACEHOLDER_ROLE) else None


def _remove_placeholder(item: QtWidgets.QTreeWidgetItem) -> None:
    if _placeholder_of(item) is not None:
        item.takeChild(item.childCount() - 1)


def _normalise(path: str) -> str:
    return "/" + path.strip().strip("/")


def _depth_first(path: str) -> tuple[int, str]:
    """Sort key putting parents before their children ("/" first)."""
    return (path.rstrip("/").count("/"), path)
