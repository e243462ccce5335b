"""Helpers of the plot, sort/filter and tag-editor tests: a small CXI file with per-frame
datasets, drops as the data tree makes them, and mouse drags pyqtgraph accepts."""

from __future__ import annotations

import h5py
import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from owlx.gui.per_frame_data import make_node_mime
from owlx.io.source import Kind

GROUP = "/entry_1/image_1"


def make_cxi(path, n: int, per_frame: dict[str, np.ndarray]) -> str:
    """A CXI file with an (n, 8, 8) image stack and the given per-frame datasets in
    ``/entry_1/image_1`` (the frame value is the frame index, so frames differ)."""
    with h5py.File(path, "w") as f:
        data = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, 8, 8))
        ds = f.create_dataset("entry_1/image_1/data", data=data, chunks=(1, 8, 8))
        ds.attrs["axes"] = np.array([b"experiment_identifier:y:x"])
        for name, values in per_frame.items():
            f[f"entry_1/image_1/{name}"] = values
    return str(path)


def drop(widget: QtWidgets.QWidget, path: str, kind: Kind | None = None, pos: QtCore.QPoint | None = None) -> bool:
    """Drag-enter and drop a data-tree node on ``widget``; True when the drop was accepted."""
    mime = make_node_mime(path, kind)
    pos = pos or widget.rect().center()
    actions = QtCore.Qt.CopyAction | QtCore.Qt.MoveAction
    enter = QtGui.QDragEnterEvent(pos, actions, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QtGui.QDropEvent(QtCore.QPointF(pos), actions, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, event)
    return event.isAccepted()


def send_mouse(widget, kind, pos, button, buttons):
    event = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), button, buttons, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, event)


def drag(qtbot, widget, start: QtCore.QPoint, end: QtCore.QPoint, steps: int = 8):
    """A left-button drag made of real mouse events (QTest's mouseMove drops the button)."""
    left = QtCore.Qt.LeftButton
    send_mouse(widget, QtCore.QEvent.MouseMove, start, QtCore.Qt.NoButton, QtCore.Qt.NoButton)  # hover first
    qtbot.wait(20)
    send_mouse(widget, QtCore.QEvent.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        qtbot.wait(20)  # pyqtgraph rate-limits moves
        p = start + (end - start) * (i / steps)
        send_mouse(widget, QtCore.QEvent.MouseMove, p, QtCore.Qt.NoButton, left)
    send_mouse(widget, QtCore.QEvent.MouseButtonRelease, end, left, QtCore.Qt.NoButton)
    qtbot.wait(20)


def click(qtbot, widget, pos: QtCore.QPoint):
    left = QtCore.Qt.LeftButton
    send_mouse(widget, QtCore.QEvent.MouseButtonPress, pos, left, left)
    send_mouse(widget, QtCore.QEvent.MouseButtonRelease, pos, left, QtCore.Qt.NoButton)
    qtbot.wait(20)


def view_point(plot, x: float, y: float) -> QtCore.QPoint:
    """Viewport pixel of the data point (x, y) in a pg.PlotWidget."""
    vb = plot.getPlotItem().getViewBox()
    return plot.mapFromScene(vb.mapViewToScene(QtCore.QPointF(x, y)))
