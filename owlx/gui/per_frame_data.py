"""The GUI's access to per-frame datasets: first reads on a worker, drops from the data tree.

Panels that plot, sort or filter on a per-frame dataset (spec/viewer.md §8) need its values,
and :meth:`Session.per_frame <owlx.session_order.OrderMixin.per_frame>` reads the whole dataset
the first time it is asked. The GUI thread never reads from disk (W6), so
:class:`PerFrameData` makes that first read in a :class:`~owlx.gui.qt_jobs.QtJobRunner` worker
and tells the panel when the values are in the session's cache; from then on
``session.per_frame`` is a dictionary lookup (R4). One :class:`PerFrameData` is shared by all
panels of a session (:meth:`PerFrameData.shared`), so two panels asking for the same dataset
cause one read.

It also lists the per-frame datasets of the current source for the panels' menus, walking the
tree on a worker (soft-linked groups are listed once, at their target, as ``owlx info`` does).

:class:`DropFilter` makes any widget a drop target for data-tree drags
(``application/x-owlx-node-path``, :mod:`owlx.gui.data_tree`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
from PyQt5 import QtCore, QtWidgets, sip

from ..errors import ParameterError
from ..io.source import Kind, Node
from ..jobs import Job
from .data_tree import kind_from_mime, path_from_mime
from .qt_jobs import QtJobRunner

#: tree nodes visited at most when listing the per-frame datasets of a source
MAX_SCAN_NODES = 20000
#: columns of a per-frame vector offered one by one in menus and combos
MAX_MENU_COLUMNS = 32

Callback = Callable[[str | None], None]  # called with None when loaded, else the error text


@dataclass(frozen=True)
class PerFrameDataset:
    """A per-frame dataset of the source: ``columns`` is 0 for one value per frame, else the
    number of values per frame (a vector, shape (N, k))."""

    path: str
    columns: int = 0

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_vector(self) -> bool:
        return self.columns > 1


def dataset_label(path: str, column: int | None = None) -> str:
    """``hit_score`` or ``translation[1]``: how panels name a dataset (column)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name if column is None else f"{name}[{column}]"


def _is_internal_link(node: Node) -> bool:
    target = node.link_target
    return bool(target) and (target.startswith("/") or ":" not in target)


def _vector_columns(node: Node) -> int:
    shape = tuple(int(s) for s in node.shape)
    if not shape:
        return 0
    axis = node.frame_axis if node.frame_axis is not None else 0
    rest = int(np.prod([s for i, s in enumerate(shape) if i != axis])) if len(shape) > 1 else 1
    return rest if node.kind is Kind.FRAME_VECTOR else 0


def scan_per_frame(root: Node, lock=None, check: Callable[[], None] | None = None,
                   limit: int = MAX_SCAN_NODES) -> list[PerFrameDataset]:
    """The per-frame datasets under ``root``, depth first, in tree order. Soft-linked groups
    and datasets are skipped (their targets are listed); at most ``limit`` nodes are visited.
    ``lock`` is held around each group listing (the session's ``io_lock``)."""
    found: list[PerFrameDataset] = []
    stack = [root]
    seen = 0
    while stack and seen < limit:
        node = stack.pop()
        seen += 1
        if check is not None:
            check()
        if node is not root and _is_internal_link(node):
            continue
        if node.kind.is_per_frame:
            found.append(PerFrameDataset(node.path, _vector_columns(node)))
        elif node.kind is Kind.GROUP:
            if lock is not None:
                with lock:
                    children = node.children()
            else:
                children = node.children()
            stack.extend(reversed(children))
    return found


def _load_per_frame(session, path: str) -> int:
    """Read ``path`` into the session's per-frame cache (worker thread); return its columns:
    0 for one value per frame, else k of an (N, k) vector."""
    try:
        values = session.per_frame(path)  # the first call reads the dataset and caches it
        return 0 if values.ndim == 1 else int(values.shape[1])
    except ParameterError:
        pass  # a vector of k > 1 values per frame: the values are cached, find k

    def has(c: int) -> bool:
        try:
            session.per_frame(path, c)
            return True
        except ParameterError:
            return False

    lo, hi = 1, 2  # has(lo - 1) is true; find the first column that does not exist
    while has(hi - 1):
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if has(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


class PerFrameData(QtCore.QObject):
    """Per-frame values of a session for the GUI: first reads on a worker, then the cache.

    Signals:
        loaded(path)            the values of ``path`` are in the session's cache
        failed(path, message)   ``path`` cannot be used as a per-frame dataset
        datasets_changed()      :attr:`datasets` changed (a new stack, or a scan finished)
    """

    loaded = QtCore.pyqtSignal(str)
    failed = QtCore.pyqtSignal(str, str)
    datasets_changed = QtCore.pyqtSignal()

    _registry: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()  # session -> instance

    @classmethod
    def shared(cls, session, runner: QtJobRunner) -> "PerFrameData":
        """The instance of ``session`` that runs on ``runner`` (made on first use, owned by
        the runner)."""
        data = cls._registry.get(session)
        if data is None or sip.isdeleted(data) or sip.isdeleted(data.runner) or data.runner is not runner:
            data = cls(session, runner, parent=runner)
            cls._registry[session] = data
        return data

    def __init__(self, session, runner: QtJobRunner, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self._shown: tuple | None = None  # what the state belongs to (see _key)
        self._generation = 0
        self._columns: dict[str, int] = {}
        self._pending: dict[str, list[Callback]] = {}
        self._datasets: list[PerFrameDataset] = []
        self._scan_wanted = False
        self._scan_job: Job | None = None
        self._scanned = False
        # Before the panels' own observers (priority), so that a panel asking for values in
        # its stack_changed slot asks the new stack.
        observe(self, [(session.stack_changed, self._on_stack_changed)], priority=100)

    # -- values ---------------------------------------------------------------------------------
    def is_loaded(self, path: str) -> bool:
        """True when the values of ``path`` are cached (reading them costs no disk access)."""
        self._sync()
        return path in self._columns

    def columns(self, path: str) -> int | None:
        """0 for one value per frame, k for an (N, k) vector; None until loaded."""
        self._sync()
        return self._columns.get(path)

    def values(self, path: str, column: int | None = None) -> np.ndarray:
        """The cached values (length N); only after :meth:`is_loaded` is true."""
        if not self.is_loaded(path):
            raise RuntimeError(f"per-frame values of {path} were not loaded yet; call request() first")
        return self.session.per_frame(path, column)

    def request(self, path: str, callback: Callback | None = None) -> bool:
        """Make sure ``path`` is cached. Returns True when it already is (``callback(None)``
        has been called); otherwise the read runs on a worker and ``callback`` is called on
        this thread when it ends (``None``, or the error text), unless the stack changed
        meanwhile."""
        self._sync()
        if path in self._columns:
            if callback is not None:
                callback(None)
            return True
        if self.session.stack is None:
            if callback is not None:
                callback("no stack is open")
            return False
        waiting = self._pending.get(path)
        if waiting is not None:
            if callback is not None:
                waiting.append(callback)
            return False
        self._pending[path] = [callback] if callback is not None else []
        session, key, generation = self.session, self._key(), self._generation

        def work(ctx, path=path):
            with session.io_lock:
                if _key_of(session) != key:
                    return None  # another stack is shown: nothing to read
                try:
                    return _load_per_frame(session, path)
                finally:
                    if _key_of(session) != key:
                        _forget_stale(session, path)

        self.runner.submit(
            Job(work, name=f"read {dataset_label(path)}"), quiet=True,
            on_finished=lambda outcome, p=path, g=generation: self._on_loaded(p, g, outcome),
        )
        return False

    def _on_loaded(self, path: str, generation: int, outcome) -> None:
        if sip.isdeleted(self):
            return
        self._sync()
        if generation != self._generation:
            return
        callbacks = self._pending.pop(path, [])
        if outcome.ok and outcome.value is not None:
            self._columns[path] = int(outcome.value)
            error = None
            self.loaded.emit(path)
        else:
            error = str(outcome.error) if outcome.error is not None else outcome.status
            self.failed.emit(path, error)
        for callback in callbacks:
            callback(error)

    # -- the per-frame datasets of the source ---------------------------------------------------
    @property
    def datasets(self) -> list[PerFrameDataset]:
        """Per-frame datasets found in the current source (empty until a scan finished)."""
        self._sync()
        return list(self._datasets)

    @property
    def scanned(self) -> bool:
        """True once the datasets of the current stack have been listed."""
        self._sync()
        return self._scanned

    def watch_datasets(self) -> None:
        """List the per-frame datasets now (on a worker) and again for every new stack."""
        self._scan_wanted = True
        self._sync()
        if self._scan_job is None and not self._scanned:
            self._start_scan()

    def _start_scan(self) -> None:
        source = self.session.source
        if source is None or self.session.stack is None:
            return
        lock, generation = self.session.io_lock, self._generation
        job = Job(lambda ctx: scan_per_frame(source.root, lock, ctx.check), name="list per-frame datasets")
        self._scan_job = job
        self.runner.submit(job, quiet=True,
                           on_finished=lambda outcome, g=generation: self._on_scanned(g, outcome))

    def _on_scanned(self, generation: int, outcome) -> None:
        if sip.isdeleted(self):
            return
        self._sync()
        if generation != self._generation:
            return
        self._scan_job = None
        self._scanned = True
        self._datasets = list(outcome.value or []) if outcome.ok else []
        self.datasets_changed.emit()

    # -- following the session ------------------------------------------------------------------
    def _key(self) -> tuple | None:
        return _key_of(self.session)

    def _sync(self, force: bool = False) -> None:
        """Forget everything when another stack is shown (also checked on every call, as a
        safety net for changes that reached this object before the signal did)."""
        key = self._key()
        if not force and key == self._shown:
            return
        self._shown = key
        self._generation += 1
        self._columns.clear()
        self._pending.clear()
        if self._scan_job is not None:
            self._scan_job.cancel()
            self._scan_job = None
        had = bool(self._datasets)
        self._datasets = []
        self._scanned = False
        if self._scan_wanted and key is not None:
            self._start_scan()
        if had:
            self.datasets_changed.emit()

    def _on_stack_changed(self, _path=None) -> None:
        if not sip.isdeleted(self):
            self._sync(force=True)


def observe(owner: QtCore.QObject, pairs: list, priority: int = 0) -> None:
    """Connect psygnal ``(signal, slot)`` pairs of the session and disconnect them when
    ``owner`` is destroyed, so that the session never calls into a deleted widget."""
    for signal, slot in pairs:
        signal.connect(slot, priority=priority)

    pairs = list(pairs)

    def detach(*_args):
        for signal, slot in pairs:
            try:
                signal.disconnect(slot)
            except (ValueError, RuntimeError):
                pass

    owner.destroyed.connect(detach)


def _key_of(session) -> tuple | None:
    """What cached per-frame values belong to. The session clears its per-frame cache when
    it shows another stack (``stack_changed``), not when a save reopens the same file, so the
    key is made of names, not objects."""
    source, stack = session.source, session.stack
    if source is None or stack is None:
        return None
    return (str(source.path), session.stack_path, len(stack))


def _forget_stale(session, path: str) -> None:
    """A read that finished after the session switched stacks may have put the old stack's
    values into the new stack's cache: drop that entry (the next use reads it again)."""
    # Only this entry: clearing all would drop the values of the filters that carried over and
    # make the GUI thread read them again.
    session.clear_per_frame_cache(path)


class DropFilter(QtCore.QObject):
    """Makes ``widget`` accept data-tree drags: emits ``dropped(path, kind)`` (kind may be
    None for drags that carry no kind) from the event loop right after the drop. ``accept(path, kind)`` decides which drags light the
    widget up (default: per-frame datasets and datasets of unknown kind)."""

    dropped = QtCore.pyqtSignal(str, object)

    def __init__(self, widget: QtWidgets.QWidget, accept: Callable[[str, Kind | None], bool] | None = None):
        super().__init__(widget)
        self._accept = accept or (lambda path, kind: kind is None or kind.is_per_frame)
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def accepts(self, mime: QtCore.QMimeData) -> bool:
        path = path_from_mime(mime)
        return path is not None and self._accept(path, kind_from_mime(mime))

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        t = event.type()
        if t in (QtCore.QEvent.DragEnter, QtCore.QEvent.DragMove):
            if self.accepts(event.mimeData()):
                event.setDropAction(QtCore.Qt.CopyAction)
                event.accept()
            else:
                event.ignore()
            return True
        if t == QtCore.QEvent.Drop:
            mime = event.mimeData()
            if not self.accepts(mime):
                event.ignore()
                return True
            event.setDropAction(QtCore.Qt.CopyAction)
            event.accept()
            # Emitted from the event loop, not inside the drop: a slot may open a dialog (which
            # column?), and the drag source is still waiting in QDrag.exec until we return.
            path, kind = path_from_mime(mime), kind_from_mime(mime)
            QtCore.QTimer.singleShot(0, lambda: self._emit(path, kind))
            return True
        return super().eventFilter(obj, event)

    def _emit(self, path: str, kind: Kind | None) -> None:
        if not sip.isdeleted(self):
            self.dropped.emit(path, kind)


def make_node_mime(path: str, kind: Kind | None = None) -> QtCore.QMimeData:
    """The MIME data a data-tree drag of ``path`` carries (for tests and programmatic drops)."""
    from .data_tree import MIME_NODE_KIND, MIME_NODE_PATH

    mime = QtCore.QMimeData()
    mime.setData(MIME_NODE_PATH, QtCore.QByteArray(path.encode("utf-8")))
    if kind is not None:
        mime.setData(MIME_NODE_KIND, QtCore.QByteArray(kind.value.encode("utf-8")))
    mime.setText(path)
    return mime
