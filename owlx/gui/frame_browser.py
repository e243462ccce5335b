"""The frame browser under the image: first / previous / next / last, a go-to field, a slider
over the display order and a play button (spec/viewer.md S2, after silx's
HorizontalSliderWithBrowser). A stack with extra axes (spec/formats.md §1.3: any axis besides frames,
y, x and detector modules) gets an index selector per axis beside it."""

from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets


class FrameBrowser(QtWidgets.QWidget):
    """Emits ``position_requested(view_position)`` from the slider and buttons and
    ``frame_requested(frame_index)`` from the go-to field; :meth:`set_state` updates it
    without emitting. ``extra_index_changed(axis, index)`` comes from the index selectors that
    :meth:`set_extra_axes` shows (axis: position in the dataset's shape)."""

    position_requested = QtCore.pyqtSignal(int)
    frame_requested = QtCore.pyqtSignal(int)
    play_toggled = QtCore.pyqtSignal(bool)
    extra_index_changed = QtCore.pyqtSignal(int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        style = self.style()
        self._n_shown = 0
        self._position = 0

        def button(icon, tip, slot):
            b = QtWidgets.QToolButton(self)
            b.setIcon(style.standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFocusPolicy(QtCore.Qt.NoFocus)  # keys stay with the image view
            b.clicked.connect(slot)
            return b

        sp = QtWidgets.QStyle
        self.first_button = button(sp.SP_MediaSkipBackward, "First frame (Home)", lambda: self._go(0))
        self.prev_button = button(sp.SP_MediaSeekBackward, "Previous frame (Left)", lambda: self._go(self._position - 1))
        self.next_button = button(sp.SP_MediaSeekForward, "Next frame (Right)", lambda: self._go(self._position + 1))
        self.last_button = button(sp.SP_MediaSkipForward, "Last frame (End)", lambda: self._go(self._n_shown - 1))
        self.play_button = button(sp.SP_MediaPlay, "Slideshow (Space)", self._toggle_play)
        self.play_button.setCheckable(True)

        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, self)
        self.slider.setFocusPolicy(QtCore.Qt.NoFocus)
        self.slider.setMinimum(0)
        self.slider.valueChanged.connect(self._slider_moved)

        self.index_field = QtWidgets.QLineEdit(self)
        self.index_field.setToolTip("Frame index (Ctrl+J): type a frame number and press Enter")
        self.index_field.setValidator(QtGui.QIntValidator(0, 2**31 - 1, self))
        self.index_field.setFixedWidth(80)
        self.index_field.returnPressed.connect(self._field_entered)
        self.count_label = QtWidgets.QLabel("/ 0", self)

        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for w in (self.first_button, self.prev_button, self.play_button, self.next_button, self.last_button):
            layout.addWidget(w)
        layout.addWidget(self.slider, 1)
        layout.addWidget(QtWidgets.QLabel("frame", self))
        layout.addWidget(self.index_field)
        layout.addWidget(self.count_label)
        # One "name [index] / size" selector per extra axis; hidden while the stack has none.
        self.extra_box = QtWidgets.QWidget(self)
        self._extra_layout = QtWidgets.QHBoxLayout(self.extra_box)
        self._extra_layout.setContentsMargins(8, 0, 0, 0)
        self.extra_spins: dict[int, QtWidgets.QSpinBox] = {}
        self.extra_labels: dict[int, QtWidgets.QLabel] = {}
        self.extra_box.hide()
        layout.addWidget(self.extra_box)
        self.setEnabled(False)

    def set_state(self, frame_index: int, position: int | None, n_shown: int, n_total: int) -> None:
        """Show frame ``frame_index`` at ``position`` of ``n_shown`` shown frames (of ``n_total``)."""
        self._n_shown = n_shown
        self._position = position if position is not None else 0
        self.setEnabled(n_shown > 0)
        with QtCore.QSignalBlocker(self.slider):
            self.slider.setMaximum(max(n_shown - 1, 0))
            self.slider.setValue(self._position)
        if not self.index_field.hasFocus():
            self.index_field.setText(str(frame_index))
        shown = f" ({n_shown} shown)" if n_shown != n_total else ""
        self.count_label.setText(f"/ {n_total}{shown}")

    def set_extra_axes(self, axes: dict[int, tuple[str, int]], index: dict[int, int] | None = None) -> None:
        """Show an index selector for each extra axis, ``axes``: axis -> (name, size), set to
        ``index`` (axis -> index, default 0) without emitting; no axes hides the selectors."""
        while self._extra_layout.count():
            widget = self._extra_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.extra_spins.clear()
        self.extra_labels.clear()
        index = index or {}
        for axis in sorted(axes):
            name, size = axes[axis]
            label = QtWidgets.QLabel(str(name), self.extra_box)
            spin = QtWidgets.QSpinBox(self.extra_box)
            spin.setRange(0, max(int(size) - 1, 0))
            spin.setValue(int(index.get(axis, 0)))
            # Typing "12" must not show index 1 first: emit on Enter, focus loss or the arrows.
            spin.setKeyboardTracking(False)
            spin.setToolTip(f"Index along axis {axis} ('{name}', {size} entries: 0–{int(size) - 1}), "
                            "the same for every frame")
            spin.valueChanged.connect(lambda value, a=axis: self.extra_index_changed.emit(a, value))
            self._extra_layout.addWidget(label)
            self._extra_layout.addWidget(spin)
            self._extra_layout.addWidget(QtWidgets.QLabel(f"/ {size}", self.extra_box))
            self.extra_spins[axis], self.extra_labels[axis] = spin, label
        self.extra_box.setVisible(bool(axes))

    def set_playing(self, playing: bool) -> None:
        with QtCore.QSignalBlocker(self.play_button):
            self.play_button.setChecked(playing)
        icon = QtWidgets.QStyle.SP_MediaPause if playing else QtWidgets.QStyle.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def focus_index_field(self) -> None:
        self.index_field.setFocus()
        self.index_field.selectAll()

    def _go(self, position: int) -> None:
        if self._n_shown:
            self.position_requested.emit(min(max(position, 0), self._n_shown - 1))

    def _slider_moved(self, value: int) -> None:
        self.position_requested.emit(value)

    def _field_entered(self) -> None:
        text = self.index_field.text().strip()
        if text:
            self.frame_requested.emit(int(text))

    def _toggle_play(self, checked: bool) -> None:
        self.set_playing(checked)
        self.play_toggled.emit(checked)
