"""The 1-D plot panel (spec/viewer.md L1–L3, P4; Ctrl+1): a per-frame dataset plotted against
the view position or another per-frame dataset.

* **Y** (needed) and **X** (optional, default: view position) are chosen by dropping a tree
  item on their buttons (or anywhere on the plot for Y), from the buttons' menus, or with
  :meth:`PlotPanel.set_y` / :meth:`PlotPanel.set_x`. A per-frame vector (N×k) asks which
  column to use (:attr:`PlotPanel.ask_column`, a dialog unless replaced); the column spin next
  to the name changes it later.
* Modes (the arrays come from :mod:`owlx.core.selection`, nothing is computed here):
  **plot** — the frames in display order, X and Y both in display order (L3); **running
  average** — a trailing average over W filtered frames in frame order, frame index on x;
  **histogram** — of the filtered frames, ``# bins`` bins.
* A vertical index line shows the selected frame; dragging it browses (sets
  ``session.frame_index``), clicking near a point selects that frame. The selected frame's
  value is shown under the plot (P4).
* Values are read through :class:`~owlx.gui.per_frame_data.PerFrameData`, on a worker the
  first time; :meth:`PlotPanel.refresh_values` puts new values in (e.g. from a batch fit).
* The plot follows ``order_changed``, ``filters_changed`` (redrawn once per event-loop turn),
  ``frame_changed`` (index line and value only) and ``stack_changed`` (values re-read).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets, sip

from ..core.selection import histogram, plot_series, running_average
from ..errors import OwlxError
from .per_frame_data import MAX_MENU_COLUMNS, DropFilter, PerFrameData, dataset_label, observe
from .qt_jobs import QtJobRunner

#: plot modes: key -> label
MODES = {"plot": "Plot", "average": "Running average", "histogram": "Histogram"}
WEIGHTINGS = {"uniform": "Uniform", "exponential": "Exponential"}
DEFAULT_WINDOW = 10
DEFAULT_BINS = 200
#: a click selects the nearest point within this many pixels
CLICK_RADIUS_PX = 12.0


def _fmt(value: float) -> str:
    return "NaN" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6g}"


def ask_column_dialog(parent: QtWidgets.QWidget, path: str, columns: int) -> int | None:
    """Ask which column of a per-frame vector to use (L2); None when cancelled."""
    value, ok = QtWidgets.QInputDialog.getInt(
        parent, "Choose a column", f"{dataset_label(path)} holds {columns} values per frame.\nColumn (0–{columns - 1}):",
        0, 0, columns - 1)
    return int(value) if ok else None


class PlotPanel(QtWidgets.QWidget):
    """The Plot panel. ``ask_column(path, k) -> column | None`` is called when a vector is
    chosen as Y or X without a column (replace it in tests).

    Signals:
        y_changed(path or None, column or None)  plot Y was set (after its values arrived)
        x_changed(path or None, column or None)  plot X was set
        redrawn()                                the curve was recomputed
    """

    y_changed = QtCore.pyqtSignal(object, object)
    x_changed = QtCore.pyqtSignal(object, object)
    redrawn = QtCore.pyqtSignal()

    def __init__(self, session, runner: QtJobRunner, parent: QtWidgets.QWidget | None = None,
                 data: PerFrameData | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.data = data or PerFrameData.shared(session, runner)
        self.ask_column: Callable[[str, int], int | None] = lambda path, k: ask_column_dialog(self, path, k)
        self._y: tuple[str, int | None] | None = None
        self._x: tuple[str, int | None] | None = None
        self._want: dict[str, tuple[str, int | None] | None] = {"y": None, "x": None}
        self._overrides: dict[str, np.ndarray] = {}
        # what is drawn: x, y, and the frame index of each point (plot and average modes)
        self._xs = np.zeros(0)
        self._ys = np.zeros(0)
        self._frames = np.zeros(0, np.int64)
        self._dragging = False
        self._stale = False
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.redraw)
        s = session
        observe(self, [(s.order_changed, self._schedule), (s.filters_changed, self._schedule),
                       (s.frame_changed, self._on_frame_changed), (s.stack_changed, self._on_stack_changed)])
        self.redraw()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.y_button = QtWidgets.QToolButton()
        self.y_button.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        self.y_button.setToolButtonStyle(QtCore.Qt.ToolButtonTextOnly)
        self.y_button.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        self.y_button.setToolTip("Plot Y: drop a per-frame dataset here or choose one")
        self.y_button.setMenu(self._dataset_menu("y"))
        self.column_spin = QtWidgets.QSpinBox()
        self.column_spin.setPrefix("column ")
        self.column_spin.setToolTip("Column of the per-frame vector plotted as Y")
        self.column_spin.hide()
        self.column_spin.valueChanged.connect(self._column_edited)
        self.x_button = QtWidgets.QToolButton()
        self.x_button.setPopupMode(QtWidgets.QToolButton.InstantPopup)
        self.x_button.setToolButtonStyle(QtCore.Qt.ToolButtonTextOnly)
        self.x_button.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        self.x_button.setToolTip("Plot X: drop a per-frame dataset here (default: view position)")
        self.x_button.setMenu(self._dataset_menu("x"))
        self.x_column_spin = QtWidgets.QSpinBox()
        self.x_column_spin.setPrefix("column ")
        self.x_column_spin.hide()
        self.x_column_spin.valueChanged.connect(self._x_column_edited)
        self.y_drop = DropFilter(self.y_button)
        self.y_drop.dropped.connect(lambda path, kind: self.set_y(path))
        self.x_drop = DropFilter(self.x_button)
        self.x_drop.dropped.connect(lambda path, kind: self.set_x(path))

        self.mode_combo = QtWidgets.QComboBox()
        for key, label in MODES.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.currentIndexChanged.connect(self._mode_edited)
        self.window_spin = QtWidgets.QSpinBox()
        self.window_spin.setRange(1, 10**7)
        self.window_spin.setValue(DEFAULT_WINDOW)
        self.window_spin.setPrefix("W ")
        self.window_spin.setToolTip("Running-average window: the frame and the W − 1 filtered frames before it")
        self.window_spin.setKeyboardTracking(False)
        self.window_spin.valueChanged.connect(self._schedule)
        self.weighting_combo = QtWidgets.QComboBox()
        for key, label in WEIGHTINGS.items():
            self.weighting_combo.addItem(label, key)
        self.weighting_combo.setToolTip("Exponential: half-life W/2 frames")
        self.weighting_combo.currentIndexChanged.connect(self._schedule)
        self.bins_spin = QtWidgets.QSpinBox()
        self.bins_spin.setRange(1, 10**6)
        self.bins_spin.setValue(DEFAULT_BINS)
        self.bins_spin.setPrefix("# bins ")
        self.bins_spin.setKeyboardTracking(False)
        self.bins_spin.valueChanged.connect(self._schedule)
        self.lines_box = QtWidgets.QCheckBox("Lines")
        self.lines_box.setChecked(True)
        self.points_box = QtWidgets.QCheckBox("Points")
        self.lines_box.toggled.connect(self._apply_style)
        self.points_box.toggled.connect(self._apply_style)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMinimumHeight(120)
        self.curve = pg.PlotDataItem(pen=pg.mkPen((80, 140, 230), width=1))
        self.hist_curve = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(80, 140, 230, 110),
                                          pen=pg.mkPen((80, 140, 230)))
        self.hist_curve.hide()
        self.index_line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen((230, 160, 30), width=2),
                                          hoverPen=pg.mkPen((255, 200, 80), width=3))
        self.index_line.setZValue(20)
        self.index_line.hide()
        self.index_line.sigDragged.connect(self._line_dragged)
        self.index_line.sigPositionChangeFinished.connect(self._line_released)
        for item in (self.curve, self.hist_curve, self.index_line):
            self.plot.addItem(item)
        # 10⁶ frames: draw about two points per pixel column. Set after addItem, which gives
        # an item the plot's own settings; not on the histogram (clipping breaks step mode).
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        # drags reach a QGraphicsView's viewport, not the view itself
        self.plot_drop = DropFilter(self.plot.viewport())
        self.plot_drop.dropped.connect(lambda path, kind: self.set_y(path))
        self.value_label = QtWidgets.QLabel("–")
        self.value_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Y"))
        top.addWidget(self.y_button, 2)
        top.addWidget(self.column_spin)
        top.addSpacing(8)
        top.addWidget(QtWidgets.QLabel("X"))
        top.addWidget(self.x_button, 2)
        top.addWidget(self.x_column_spin)
        modes = QtWidgets.QHBoxLayout()
        for w in (self.mode_combo, self.window_spin, self.weighting_combo, self.bins_spin):
            modes.addWidget(w)
        modes.addStretch(1)
        modes.addWidget(self.lines_box)
        modes.addWidget(self.points_box)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addLayout(modes)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.value_label)
        self._show_mode_fields()
        self._update_buttons()
        self._apply_style()

    def _dataset_menu(self, axis: str) -> QtWidgets.QMenu:
        menu = QtWidgets.QMenu(self)
        menu.aboutToShow.connect(lambda: self._fill_menu(menu, axis))
        return menu

    def _fill_menu(self, menu: QtWidgets.QMenu, axis: str) -> None:
        menu.clear()
        if axis == "x":
            menu.addAction("View position", lambda: self.set_x(None))
            menu.addSeparator()
        else:
            menu.addAction("None", lambda: self.set_y(None))
            menu.addSeparator()
        setter = self.set_y if axis == "y" else self.set_x
        self.data.watch_datasets()
        datasets = self.data.datasets
        if not datasets:
            act = menu.addAction("listing per-frame datasets…" if not self.data.scanned else "no per-frame datasets")
            act.setEnabled(False)
        for ds in datasets:
            if ds.is_vector:
                sub = menu.addMenu(ds.name)
                sub.setToolTip(ds.path)
                for c in range(min(ds.columns, MAX_MENU_COLUMNS)):
                    sub.addAction(f"column {c}", lambda p=ds.path, c=c: setter(p, c))
            else:
                act = menu.addAction(ds.name, lambda p=ds.path: setter(p))
                act.setToolTip(ds.path)

    # -- public API -----------------------------------------------------------------------------
    @property
    def y(self) -> tuple[str, int | None] | None:
        """(path, column) of plot Y, or None."""
        return self._y

    @property
    def x(self) -> tuple[str, int | None] | None:
        """(path, column) of plot X, or None (view position)."""
        return self._x

    @property
    def mode(self) -> str:
        return self.mode_combo.currentData()

    def set_mode(self, mode: str) -> None:
        """``"plot"``, ``"average"`` (running average) or ``"histogram"``."""
        i = self.mode_combo.findData(mode)
        if i < 0:
            raise ValueError(f"plot mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode_combo.setCurrentIndex(i)

    def set_window(self, window: int) -> None:
        """Running-average window W (frames, Preferences; default 10)."""
        self.window_spin.setValue(int(window))

    def set_weighting(self, weighting: str) -> None:
        self.weighting_combo.setCurrentIndex(self.weighting_combo.findData(weighting))

    def set_bins(self, bins: int) -> None:
        """Histogram bins (default 200)."""
        self.bins_spin.setValue(int(bins))

    def set_style(self, lines: bool | None = None, points: bool | None = None) -> None:
        if lines is not None:
            self.lines_box.setChecked(bool(lines))
        if points is not None:
            self.points_box.setChecked(bool(points))

    def set_y(self, path: str | None, column: int | None = None) -> None:
        """Plot ``path`` (column ``column`` of a vector) as Y; None clears. The values are read
        on a worker the first time; :attr:`y` changes when they arrive."""
        self._choose("y", path, column)

    def set_x(self, path: str | None, column: int | None = None) -> None:
        """Plot against ``path`` (None: the view position)."""
        self._choose("x", path, column)

    def refresh_values(self, path: str, values: np.ndarray | None = None) -> None:
        """``path`` has new values: ``values`` (length N, or (N, k)) replace what the session
        reads until the stack changes (live results of a batch fit); without ``values`` the
        session's values are shown again. Redraws when ``path`` is plotted."""
        if values is None:
            self._overrides.pop(path, None)
        else:
            values = np.asarray(values)
            if values.ndim not in (1, 2) or values.shape[0] != self.session.n_frames:
                raise ValueError(f"values for {path} must have {self.session.n_frames} rows, got shape {values.shape}")
            self._overrides[path] = values
        if any(sel is not None and sel[0] == path for sel in (self._y, self._x)):
            self._schedule()
        for axis in ("y", "x"):  # a pending choice of this path can now be completed
            want = self._want[axis]
            if want is not None and want[0] == path and values is not None and want != getattr(self, f"_{axis}"):
                self._loaded(axis, want, None)

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) as drawn: positions/X values and Y in display order (plot), frame indices
        and averages (running average), bin edges and counts (histogram)."""
        item = self.data_item()
        x, y = item.getOriginalDataset()
        return (np.zeros(0) if x is None else x), (np.zeros(0) if y is None else y)

    def data_item(self) -> pg.PlotDataItem:
        """The PlotDataItem of the current mode."""
        return self.hist_curve if self.mode == "histogram" else self.curve

    def redraw(self) -> None:
        """Recompute the curve now (normally done once per event-loop turn after changes)."""
        self._timer.stop()
        if sip.isdeleted(self):
            return
        if not self.isVisible():
            self._stale = True  # drawn when shown (a closed dock costs nothing)
            return
        self._stale = False
        y = self._values(self._y)
        mode = self.mode
        self._xs, self._ys, self._frames = np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
        if y is None or self.session.stack is None:
            self.curve.setData([], [])
            self.hist_curve.setData([], [])
            self._labels()
            self._update_marker()
            self.redrawn.emit()
            return
        order = np.asarray(self.session.order)
        if mode == "histogram":
            counts, edges = histogram(y[order], self.bins_spin.value())
            self.hist_curve.setData(edges, counts)
            self.curve.setData([], [])
        else:
            if mode == "plot":
                x = self._values(self._x)
                xs, ys = plot_series(order, y, x)
                frames = order
            else:
                xs, ys = running_average(order, y, self.window_spin.value(), self.weighting_combo.currentData())
                frames = xs
            self._xs, self._ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
            self._frames = np.asarray(frames, np.int64)
            self.curve.setData(self._xs, self._ys)
            self.hist_curve.setData([], [])
        self.curve.setVisible(mode != "histogram")
        self.hist_curve.setVisible(mode == "histogram")
        self._labels()
        self._update_marker()
        self.redrawn.emit()

    # -- choosing Y and X -----------------------------------------------------------------------
    def _choose(self, axis: str, path: str | None, column: int | None) -> None:
        if path is None:
            self._want[axis] = None
            self._set(axis, None)
            return
        want = (path, None if column is None else int(column))
        self._want[axis] = want
        self._update_buttons()
        if path in self._overrides:
            self._loaded(axis, want, None)
        else:
            self.data.request(path, lambda error, a=axis, w=want: self._loaded(a, w, error))

    def _loaded(self, axis: str, want: tuple[str, int | None], error: str | None) -> None:
        if sip.isdeleted(self) or self._want[axis] != want:
            return  # another choice was made meanwhile
        path, column = want
        if error is None:
            columns = self._column_count(path)
            if columns > 1 and column is None:
                column = self.ask_column(path, columns)
                if column is None:  # cancelled: keep what was plotted
                    self._want[axis] = getattr(self, f"_{axis}")
                    self._update_buttons()
                    return
            try:
                self._column_values(path, column)
            except (OwlxError, IndexError, ValueError) as err:
                error = str(err)
        if error is not None:
            self._want[axis] = None
            self.session.message.emit("error", f"cannot plot {dataset_label(path)}: {error}")
            self._set(axis, None)
            return
        self._want[axis] = (path, column)
        self._set(axis, (path, column))

    def _set(self, axis: str, sel: tuple[str, int | None] | None) -> None:
        setattr(self, f"_{axis}", sel)
        self._update_buttons()
        (self.y_changed if axis == "y" else self.x_changed).emit(*(sel or (None, None)))
        self._schedule()

    def _column_count(self, path: str) -> int:
        v = self._overrides.get(path)
        if v is not None:
            return 0 if v.ndim == 1 else int(v.shape[1])
        return self.data.columns(path) or 0

    def _column_values(self, path: str, column: int | None) -> np.ndarray:
        v = self._overrides.get(path)
        if v is None:
            return self.data.values(path, column)
        if v.ndim == 1:
            if column not in (None, 0):
                raise IndexError(f"{dataset_label(path)} holds one value per frame; there is no column {column}")
            return v
        k = v.shape[1]
        c = 0 if column is None and k == 1 else column
        if c is None or not 0 <= int(c) < k:
            raise IndexError(f"{dataset_label(path)} has columns 0–{k - 1}, not {column}")
        return v[:, int(c)]

    def _values(self, sel: tuple[str, int | None] | None) -> np.ndarray | None:
        if sel is None:
            return None
        path, column = sel
        if path not in self._overrides and not self.data.is_loaded(path):
            return None  # being read again (a new stack)
        try:
            return self._column_values(path, column)
        except (OwlxError, IndexError, RuntimeError):
            return None

    def _update_buttons(self) -> None:
        for axis, button, spin in (("y", self.y_button, self.column_spin), ("x", self.x_button, self.x_column_spin)):
            sel, want = getattr(self, f"_{axis}"), self._want[axis]
            if want is not None and want != sel:
                button.setText(f"{dataset_label(*want)} (reading…)")
            elif sel is None:
                button.setText("drop a per-frame dataset" if axis == "y" else "view position")
            else:
                button.setText(dataset_label(*sel))
                button.setToolTip(sel[0])
            k = self._column_count(sel[0]) if sel is not None else 0
            spin.blockSignals(True)
            spin.setVisible(k > 1)
            if k > 1:
                spin.setRange(0, k - 1)
                spin.setValue(sel[1] or 0)
            spin.blockSignals(False)

    def _column_edited(self, column: int) -> None:
        if self._y is not None:
            self.set_y(self._y[0], column)

    def _x_column_edited(self, column: int) -> None:
        if self._x is not None:
            self.set_x(self._x[0], column)

    # -- modes and style ------------------------------------------------------------------------
    def _mode_edited(self, _index: int = 0) -> None:
        self._show_mode_fields()
        self.redraw()

    def _show_mode_fields(self) -> None:
        mode = self.mode
        self.window_spin.setVisible(mode == "average")
        self.weighting_combo.setVisible(mode == "average")
        self.bins_spin.setVisible(mode == "histogram")
        self.lines_box.setEnabled(mode != "histogram")
        self.points_box.setEnabled(mode != "histogram")
        self.index_line.setMovable(mode != "histogram")

    def _apply_style(self, *_args) -> None:
        self.curve.setPen(pg.mkPen((80, 140, 230), width=1) if self.lines_box.isChecked() else None)
        if self.points_box.isChecked():
            self.curve.setSymbol("o")
            self.curve.setSymbolSize(5)
            self.curve.setSymbolBrush((80, 140, 230))
            self.curve.setSymbolPen(None)
        else:
            self.curve.setSymbol(None)

    def _labels(self) -> None:
        item = self.plot.getPlotItem()
        y = dataset_label(*self._y) if self._y is not None else ""
        mode = self.mode
        if mode == "plot":
            item.setLabel("bottom", dataset_label(*self._x) if self._x is not None else "view position")
            item.setLabel("left", y)
        elif mode == "average":
            item.setLabel("bottom", "frame index")
            item.setLabel("left", f"{y} (running average)" if y else "")
        else:
            item.setLabel("bottom", y)
            item.setLabel("left", "frames")

    # -- the selected frame ---------------------------------------------------------------------
    def _marker_x(self, frame: int) -> float | None:
        """Where the index line stands for ``frame`` in the current mode (None: not shown)."""
        mode = self.mode
        if mode == "average":
            return float(frame) if self._frames.size else None
        if mode == "histogram":
            y = self._values(self._y)
            v = float(y[frame]) if y is not None and frame < y.size else math.nan
            return v if math.isfinite(v) else None
        pos = self.session.view_position
        if pos is None or pos >= self._xs.size:
            return None
        v = float(self._xs[pos])
        return v if math.isfinite(v) else None

    def _update_marker(self) -> None:
        if self.session.stack is None:
            self.index_line.hide()
            self.value_label.setText("–")
            return
        frame = self.session.frame_index
        x = self._marker_x(frame)
        if x is None:
            self.index_line.hide()
        else:
            if not self._dragging:
                self.index_line.setValue(x)
            self.index_line.show()
        self.value_label.setText(self._value_text(frame))

    def _value_text(self, frame: int) -> str:
        """``frame 46: hit_score = 3.2`` (P4), with X when set."""
        if self._y is None:
            return f"frame {frame}"
        parts = []
        for sel in (self._y, self._x):
            v = self._values(sel)
            if sel is not None and v is not None and frame < v.size:
                parts.append(f"{dataset_label(*sel)} = {_fmt(float(v[frame]))}")
        text = f"frame {frame}: " + ", ".join(parts) if parts else f"frame {frame}"
        if self.session.view_position is None:
            text += " (filtered out)"
        return text

    def _on_frame_changed(self, _index: int) -> None:
        if sip.isdeleted(self):
            return
        if self._timer.isActive() or self._stale:
            return  # the pending redraw places the line
        self._update_marker()

    def _frame_at(self, x: float) -> int | None:
        """The frame the index line selects when dropped at ``x``."""
        if not self._frames.size or not math.isfinite(x):
            return None
        if self.mode == "plot" and self._x is None:
            pos = int(min(max(round(x), 0), self._frames.size - 1))
            return int(self._frames[pos])
        xs = self._xs
        finite = np.isfinite(xs)
        if not finite.any():
            return None
        d = np.where(finite, np.abs(xs - x), np.inf)
        return int(self._frames[int(np.argmin(d))])

    def _line_dragged(self, *_args) -> None:
        self._dragging = True
        frame = self._frame_at(float(self.index_line.value()))
        if frame is not None and frame != self.session.frame_index:
            self.session.frame_index = frame
        else:
            self.value_label.setText(self._value_text(self.session.frame_index))

    def _line_released(self, *_args) -> None:
        if not self._dragging:
            return
        self._dragging = False
        self._update_marker()  # snap onto the selected frame

    def _clicked(self, event) -> None:
        """A left click near a point selects its frame (plot and running-average modes)."""
        if event.button() != QtCore.Qt.LeftButton or event.double() or self.mode == "histogram":
            return
        if not self._xs.size:
            return
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        px, py = vb.viewPixelSize()
        if not (px > 0 and py > 0):
            return
        with np.errstate(invalid="ignore"):
            d2 = ((self._xs - p.x()) / px) ** 2 + ((self._ys - p.y()) / py) ** 2
        d2 = np.where(np.isfinite(d2), d2, np.inf)
        i = int(np.argmin(d2))
        if d2[i] <= CLICK_RADIUS_PX**2:
            self.session.frame_index = int(self._frames[i])
            event.accept()

    # -- following the session ------------------------------------------------------------------
    def _schedule(self, *_args) -> None:
        if not sip.isdeleted(self):
            self._timer.start()

    def _on_stack_changed(self, _path=None) -> None:
        """Another stack (or file): per-frame values are read again; plotted datasets that do
        not exist for it are dropped with a message."""
        if sip.isdeleted(self):
            return
        self._overrides.clear()
        for axis in ("y", "x"):
            sel = getattr(self, f"_{axis}") or self._want[axis]
            if sel is None:
                continue
            if self.session.stack is None:
                self._want[axis] = None
                setattr(self, f"_{axis}", None)
                continue
            self._want[axis] = sel
            self.data.request(sel[0], lambda error, a=axis, w=sel: self._loaded(a, w, error))
        self._update_buttons()
        self._schedule()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._schedule()
