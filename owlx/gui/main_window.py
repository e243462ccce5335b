"""The owlx main window: data tree (left), image view with frame browser (centre), display
panel (right), console dock (bottom, on demand) and the status bar (spec/viewer.md §1).

The window observes a :class:`owlx.session.Session` and drives a :class:`FrameLoader`; it does
no computing beyond picking a colour table. Errors a user can cause arrive as
:class:`owlx.OwlxError` and are shown in the status bar, never as a traceback, and never lose
what is loaded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from ..core.display import DisplaySettings, MaskSettings, warm_up
from ..core.geometry import beam_center, q_resolution
from ..core.preview import preview_step
from ..errors import OwlxError
from ..io.maskbits import bit_names
from ..jobs import Job
from ..session import Session
from .colormaps import colour_table
from .console import ConsoleDock
from .data_tree import DataTree
from .display_panel import DisplayPanel
from .frame_browser import FrameBrowser
from .frame_loader import FrameLoader, FrameResult
from .image_view import FrameView
from .qt_jobs import QtJobRunner
from .settings import AppSettings
from .status import ErrorIndicator, JobIndicator, format_readout
from .window_actions import ActionsMixin
from .window_gallery import GalleryMixin
from .window_model import ModelMixin
from .window_opening import OpeningMixin
from .window_output import OutputMixin
from .window_panels import PanelsMixin
from .window_plugins import PluginsMixin
from .window_tags import TagsMixin
from .window_tools import ToolsMixin

log = logging.getLogger(__name__)

def _render_fields(display: DisplaySettings) -> DisplaySettings:
    """The part of the display settings that changes the colour-index image (the colormap is
    applied afterwards through the colour table, so changing it needs no re-render)."""
    return replace(display, colormap="gray", invert_colormap=False)


class MainWindow(
    OpeningMixin, OutputMixin, ActionsMixin, TagsMixin, GalleryMixin, PanelsMixin, PluginsMixin, ModelMixin,
    ToolsMixin, QtWidgets.QMainWindow
):
    """One file per window. ``session`` is shared with the console and scripts."""

    frame_displayed = QtCore.pyqtSignal(int)  # emitted after a frame reached the view
    png_saved = QtCore.pyqtSignal(str)  # the PNG file an export wrote (Ctrl+P, Save PNG as…)
    image_copied = QtCore.pyqtSignal()  # Copy image put the image on the clipboard

    def __init__(self, session: Session | None = None, settings: AppSettings | None = None):
        super().__init__()
        self.settings = settings or AppSettings()
        self.session = session or Session(
            display=self.settings.display_settings(), mask=self.settings.mask_settings()
        )
        self.jobs = QtJobRunner(max_threads=2, parent=self)
        self.loader = FrameLoader(cache_mb=self.settings.image_cache_mb(), parent=self)
        self.loader.io_lock = self.session.io_lock
        self.loader.geometry_for = self._frame_geometry
        self.current: FrameResult | None = None
        self._hover: tuple[int, int] = (-1, -1)
        self.console: ConsoleDock | None = None
        self.last_error = ""  # why the last open_path failed, for the CLI's one-line report
        self._open_token = 0  # the newest open_path; older results are dropped
        self._opening = False

        self.setWindowTitle("owlx")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._build_central()
        self._build_docks()
        self._build_panels()
        self._build_status_bar()
        self._build_actions()
        self._build_plugins()
        self._connect_session()
        self._init_tags()
        self._init_gallery()
        self._build_model()

        self.slideshow = QtCore.QTimer(self)
        self.slideshow.setInterval(2000)
        self.slideshow.timeout.connect(self._slideshow_step)
        self._build_tools()  # Patterson, peaks, pixel peeper, live follow (window_tools.py)

        self.display_panel.set_settings(self.session.display)
        self.display_panel.set_mask_settings(self.session.mask_settings)
        self._apply_render_settings()
        self._restore_layout()
        # numba compiles (first run) or loads its cached kernels on a worker, so that the first
        # frame a user opens renders at full speed and the window appears at once.
        self.jobs.submit(Job(lambda ctx: warm_up(), name="preparing display kernels"), quiet=True)

    # -- construction -------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.view = FrameView(self)
        self.browser = FrameBrowser(self)
        central = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.view_stack = QtWidgets.QStackedWidget(self)
        self.view_stack.addWidget(self.view)
        self.view_stack.addWidget(self._build_gallery())
        layout.addWidget(self.view_stack, 1)
        layout.addWidget(self.browser)
        self.setCentralWidget(central)
        self.view.pixel_hovered.connect(self._on_hover)
        self.view.tag_square_clicked.connect(self._on_tag_square_clicked)
        self.browser.position_requested.connect(self._goto_position)
        self.browser.frame_requested.connect(self.goto_frame)
        self.browser.play_toggled.connect(self.set_slideshow)
        self.browser.extra_index_changed.connect(self._on_extra_index_changed)

    def _dock(self, title: str, name: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)  # needed to save and restore the dock layout
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.tree = DataTree(self)
        self.tree_dock = self._dock("Data", "tree_dock", self.tree, QtCore.Qt.LeftDockWidgetArea)
        self.tree.dataset_activated.connect(self._on_dataset_activated)
        self.display_panel = DisplayPanel(self.session.display, self.session.mask_settings, parent=self)
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.display_panel.minimumSizeHint().width() + 20)
        scroll.setWidget(self.display_panel)
        self.display_dock = self._dock("Display", "display_dock", scroll, QtCore.Qt.RightDockWidgetArea)
        self.display_panel.settings_changed.connect(self._on_panel_display)
        self.display_panel.mask_settings_changed.connect(self._on_panel_mask)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.readout_label = QtWidgets.QLabel(self)
        self.readout_label.setMinimumWidth(420)
        self.frame_label = QtWidgets.QLabel(self)
        self.job_indicator = JobIndicator(self.jobs, self)
        self.error_indicator = ErrorIndicator(self)
        bar.addWidget(self.readout_label, 1)
        bar.addPermanentWidget(self.frame_label)
        bar.addPermanentWidget(self.job_indicator)
        bar.addPermanentWidget(self.error_indicator)
        self.jobs.job_failed.connect(lambda name, o: self.error_indicator.add(f"{name}: {o.error}", o.traceback))

    def _connect_session(self) -> None:
        s = self.session
        s.source_changed.connect(self._on_source_changed)
        s.stack_changed.connect(self._on_stack_changed)
        s.frame_changed.connect(self._on_frame_changed)
        s.order_changed.connect(self._update_frame_label)
        s.display_changed.connect(self._on_display_changed)
        s.mask_changed.connect(self._on_mask_changed)
        s.message.connect(self.show_message)
        self.loader.frame_ready.connect(self._on_frame_ready)
        self.loader.load_failed.connect(self._on_load_failed)
        self.loader.full_ready.connect(self._on_full_ready)
        self.view.full_resolution_changed.connect(self._on_full_resolution_changed)
        self.view.full_image_wanted.connect(self._on_full_image_wanted)

    # -- session observers --------------------------------------------------------------------
    def _on_source_changed(self, source) -> None:
        self.tree.set_source(source)
        self._update_title()
        if source is None:
            self.loader.set_stack(None)
            self.view.clear()
            self.current = None
            self._update_frame_label()

    def _update_preview_step(self) -> None:
        """Big frames are also reduced to about the view's resolution on the loader's workers
        (owlx.core.preview); the step follows the stack's frame size and the view's size."""
        stack = self.session.stack
        if stack is None or len(stack.shape) != 3:
            self.loader.preview_step = 1
            return
        viewport = self.view.graphics.viewport()
        ratio = max(viewport.devicePixelRatioF(), 1.0)
        self.loader.preview_step = preview_step(stack.shape[1:], (viewport.height() * ratio, viewport.width() * ratio))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_preview_step()

    def _on_stack_changed(self, path) -> None:
        s = self.session
        self.loader.set_stack(s.stack, s.mask_stack)
        self._update_preview_step()
        self.current = None
        if path is not None:
            self.tree.select_path(path)
            self.display_panel.set_complex(np.issubdtype(s.stack.dtype, np.complexfloating))
        self._show_extra_axes(path)

    @staticmethod
    def _is_mask_dataset(path: str) -> bool:
        """True for a dataset named as a mask: CXI's ``mask``, ``mask_shared``, … (the name starts
        with "mask"), or Owl's rule, a name ending in "mask" (viewer.md F8). The readers have no
        other mask classification: the automatic mask (formats.md §1.6) is found by these names."""
        name = path.rstrip("/").rsplit("/", 1)[-1].lower()
        return name.startswith("mask") or name.endswith("mask")

    def _on_dataset_activated(self, path: str, kind) -> None:
        """A dataset clicked in the tree (F8): a mask becomes the mask of the shown image, any
        other image dataset is shown. Leaving a dataset whose sphere batch is running asks first
        (:meth:`_may_switch_dataset`); declining, or a dataset that cannot be shown, puts the
        tree selection back on the shown dataset."""
        if not getattr(kind, "is_image", False):
            return
        s = self.session
        try:
            if s.stack is not None and self._is_mask_dataset(path):
                # Showing the mask instead would replace the image and reset its display order.
                s.set_mask_dataset(path)
                self.show_message("info", f"'{path}' is now the mask of '{s.stack_path}'")
                return
            if not self._may_switch_dataset(path):
                self.tree.select_path(s.stack_path)
                return
            s.select_stack(path)
        except OwlxError as exc:
            self.show_message("error", str(exc))
            if s.stack_path is not None:
                self.tree.select_path(s.stack_path)

    # -- extra axes (index selectors) ----------------------------------------------------------
    def _show_extra_axes(self, path) -> None:
        """The frame browser's index selectors follow the shown stack's extra axes (formats.md
        §1.3: any axis besides frames, y, x and modules; index 0 at first). A stack with some
        says so in the status bar, since only one index along each is shown at a time."""
        stack = self.session.stack
        axes = dict(getattr(stack, "extra_axes", None) or {}) if stack is not None else {}
        index = dict(getattr(stack, "extra_index", None) or {}) if stack is not None else {}
        self.browser.set_extra_axes(axes, index)
        if not axes:
            return
        shown = ", ".join(f"{name} {index.get(a, 0)} of {size} (axis {a})" for a, (name, size) in sorted(axes.items()))
        what = "an extra axis" if len(axes) == 1 else "extra axes"
        self._extra_axes_note = f"'{path}' has {what}: showing {shown}; choose another index beside the frame slider"
        # Opening a file ends with its own "opened …" message, after this event: show ours later
        # (a timer of the window's own, so nothing fires once the window is gone).
        if getattr(self, "_extra_axes_timer", None) is None:
            self._extra_axes_timer = QtCore.QTimer(self)
            self._extra_axes_timer.setSingleShot(True)
            self._extra_axes_timer.setInterval(0)
            self._extra_axes_timer.timeout.connect(lambda: self.show_message("info", self._extra_axes_note))
        self._extra_axes_timer.start()

    def _on_extra_index_changed(self, axis: int, index: int) -> None:
        """An index selector moved: read every frame again at the new index along ``axis``."""
        s = self.session
        stack = s.stack
        if stack is None or axis not in (getattr(stack, "extra_axes", None) or {}):
            return
        # A new dict rather than an update in place: a worker reading a frame right now takes
        # either the old selection or the new one, never a half-changed one.
        stack.extra_index = {**stack.extra_index, int(axis): int(index)}
        self.loader.drop_frames()
        self.current = None
        self._gallery_set_stack()  # its thumbnails show the old index
        self.loader.request(s.frame_index, self._neighbours())
        name = stack.extra_axes[axis][0]
        self.show_message("info", f"showing {name} {index} of {stack.extra_axes[axis][1]}")

    def _neighbours(self) -> list[int]:
        """Frames to prefetch, most likely next first. Large frames (> 16 MB) prefetch only the
        next two and the previous one: each costs tens of ms, and reading ±10 for PgUp/PgDn
        would delay the frame the user steps to next."""
        order, pos = self.session.order, self.session.view_position
        if pos is None:
            return []
        big = self.session.stack is not None and self.session.stack.nbytes_per_frame > 16 * 2**20
        steps = (1, 2, -1) if big else (1, -1, 2, 10, -10)
        return [int(order[pos + d]) for d in steps if 0 <= pos + d < order.size]

    def _on_frame_changed(self, index: int) -> None:
        self._update_frame_label()
        if self.session.stack is None:
            return
        if not self.loader.request(index, self._neighbours()):
            if self.current is None or self.current.index != index:
                self.view.show_placeholder("Loading…")

    def _on_frame_ready(self, result: FrameResult) -> None:
        if result.index != self.session.frame_index:
            return
        self.current = result
        r = result.rendered
        if r.index is not None and r.index.ndim == 3:  # RGB(A) frames are shown as colour
            self.view.set_index_image(r.index, None)
        else:
            rgba = result.rgba if result.rgba_table is not None and np.array_equal(result.rgba_table, self._table) \
                else None
            self.view.set_index_image(r.index, self._table, result.preview, result.preview_step, rgba, result.shape)
        self._refresh_tag_squares()
        counts, edges = r.histogram if r.histogram is not None else (None, None)
        self.display_panel.set_frame_info(r.lo, r.hi, counts, edges)
        self._apply_mask_overlay()
        self._refresh_readout()
        if self.console is not None:
            self.console.push({"frame": result.raw})
        self.frame_displayed.emit(result.index)

    def _on_full_resolution_changed(self, full: bool) -> None:
        # Zoomed in past the preview: frames to come are rendered at full resolution as well.
        self.loader.full_resolution = full

    def _on_full_image_wanted(self) -> None:
        if self.current is not None:
            self.loader.request_full(self.current)

    def _on_full_ready(self, result: FrameResult) -> None:
        if result is self.current:
            self.view.set_full_index(result.rendered.index)

    def _on_load_failed(self, index: int, message: str) -> None:
        text = f"frame {index} could not be read: {message}"
        self.show_message("error", text)
        if index == self.session.frame_index:
            self.current = None
            self.view.clear()
            self.view.show_placeholder(f"frame {index} could not be read", busy=False)

    def _on_display_changed(self, settings: DisplaySettings) -> None:
        self.display_panel.set_settings(settings)
        self.settings.set_display_settings(settings)
        self._apply_render_settings()

    def _on_mask_changed(self, mask: MaskSettings) -> None:
        self.display_panel.set_mask_settings(mask)
        self.settings.set_mask_settings(mask)
        if self.session.mask_stack is not self.loader.mask_stack:
            self.loader.set_mask_stack(self.session.mask_stack)
            self._apply_render_settings(force=True)
        else:
            self._apply_render_settings()

    def _apply_render_settings(self, force: bool = False) -> None:
        d, m = self.session.display, self.session.mask_settings
        self._table = colour_table(d.colormap, d.invert_colormap)
        self.view.set_colour_table(self._table)
        self.loader.colour_table = self._table
        self._gallery_display()
        changed = self.loader.set_render_settings(_render_fields(d), m)
        if self.session.stack is not None and (force or changed):
            self.loader.request(self.session.frame_index, self._neighbours())
        else:
            self._apply_mask_overlay()

    def _apply_mask_overlay(self) -> None:
        m = self.session.mask_settings
        valid = self.current.valid if self.current is not None else None
        preview = self.current.valid_preview if self.current is not None else None
        self.view.set_mask_overlay(valid, m.colour, m.opacity, preview)

    def _on_panel_display(self, settings: DisplaySettings) -> None:
        try:
            self.session.set_display(settings)
        except OwlxError as exc:
            self.show_message("error", str(exc))
            self.display_panel.set_settings(self.session.display)

    def _on_panel_mask(self, mask: MaskSettings) -> None:
        self.session.set_mask_settings(mask)

    # -- navigation ---------------------------------------------------------------------------
    def goto_frame(self, index: int) -> None:
        try:
            self.session.frame_index = index
        except OwlxError as exc:
            self.show_message("error", str(exc))
        self.view.setFocus()

    def _goto_position(self, position: int) -> None:
        order = self.session.order
        if 0 <= position < order.size:
            self.session.frame_index = int(order[position])

    def set_slideshow(self, on: bool) -> None:
        if on and self.session.stack is not None:
            self.slideshow.start()
        else:
            self.slideshow.stop()
        self.browser.set_playing(self.slideshow.isActive())

    def _slideshow_step(self) -> None:
        s = self.session
        if s.view_position is not None and s.view_position >= s.order.size - 1:
            s.first()  # wraps at the end (spec/viewer.md V4)
        else:
            s.step(1)

    def _update_frame_label(self, *_):
        s = self.session
        if s.stack is None:
            self.frame_label.setText("no file")
            self.browser.set_state(0, None, 0, 0)
            return
        pos = s.view_position
        pos_text = f"view {pos + 1} / {s.order.size}" if pos is not None else "filtered out"
        self.frame_label.setText(f"frame {s.frame_index} / {s.n_frames}, {pos_text}")
        self.browser.set_state(s.frame_index, pos, s.order.size, s.n_frames)

    # -- readout ------------------------------------------------------------------------------
    def _on_hover(self, x: int, y: int) -> None:
        self._hover = (x, y)
        self._refresh_readout()

    def _refresh_readout(self) -> None:
        x, y = self._hover
        cur = self.current
        if cur is None or x < 0 or y < 0 or y >= cur.raw.shape[0] or x >= cur.raw.shape[1]:
            self.readout_label.setText("")
            return
        value = cur.raw[y, x]
        value = tuple(value.tolist()) if np.ndim(value) else value.item()
        names = ()
        raw_mask = cur.mask_raw
        if raw_mask is not None:
            names = bit_names(int(raw_mask[y, x])) if np.issubdtype(raw_mask.dtype, np.integer) else (
                ("masked",) if raw_mask[y, x] else ()
            )
        q = d = None
        g = cur.geometry or self.session.geometry
        if g.known:
            cx, cy = beam_center(cur.raw.shape[:2])
            q, d = q_resolution(x, y, cx, cy, g.wavelength_m, g.distance_m, g.pixel_size_m)
        self.readout_label.setText(format_readout(x, y, value, names, q, d))

    # -- console, layout, messages --------------------------------------------------------------
    def _console_namespace(self) -> dict:
        import owlx

        cur = self.current
        return {
            "session": self.session,
            "viewer": self.session,
            "frame": cur.raw if cur is not None else None,
            "np": np,
            "owlx": owlx,
        }

    def toggle_console(self) -> None:
        if self.console is None:
            self.console = ConsoleDock(self._console_namespace, self)
            self.console.setObjectName("console_dock")
            self.addDockWidget(QtCore.Qt.BottomDockWidgetArea, self.console)
            self.console.show()
            return
        self.console.setVisible(not self.console.isVisible())

    def _toggle_dock(self, dock: QtWidgets.QDockWidget) -> None:
        dock.setVisible(not dock.isVisible())

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == QtCore.Qt.Key_Escape and self.isFullScreen():
            self.showNormal()
            return
        super().keyPressEvent(event)

    def show_message(self, level: str, text: str) -> None:
        """Status-bar message; errors also go to the error indicator."""
        log.log({"error": logging.ERROR, "warning": logging.WARNING}.get(level, logging.INFO), text)
        self.statusBar().showMessage(text, 10000 if level == "info" else 30000)
        if level == "error":
            self.error_indicator.add(text)

    def reset_settings(self) -> None:
        self.settings.reset()
        self.session.set_display(DisplaySettings())
        self.session.set_mask_settings(MaskSettings())
        self.show_message("info", "settings reset to defaults")

    def _about(self) -> None:
        import owlx

        QtWidgets.QMessageBox.about(
            self,
            "About owlx",
            f"owlx {owlx.__version__}\nA viewer and analysis workbench for diffraction and "
            "electron-microscopy image stacks; successor of Owl (FXIhub/owl).",
        )

    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.dock_state()
        if geometry:
            self.restoreGeometry(geometry)
        if state and self.restoreState(state):
            return
        # First start: give the image most of the width.
        self.resizeDocks([self.tree_dock, self.display_dock], [330, 420], QtCore.Qt.Horizontal)

    def _frame_geometry(self, frame: int):
        """Geometry of one frame (worker thread): per-frame distance or energy (formats.md §1.7)."""
        s = self.session
        if s.source is None or s.stack_path is None:
            return None
        try:
            return s.source.geometry_for_frame(s.stack_path, frame)
        except Exception:  # noqa: BLE001 - the readout falls back to the file-wide geometry
            return None

    def _refresh_tag_squares(self) -> None:
        s = self.session
        if s.stack is None:
            self.view.set_tag_squares([], [])
            return
        tags, frame = s.tags, s.frame_index
        self.view.set_tag_squares([tags.has(t, frame) for t in range(len(tags))], list(tags.colors))

    def _on_tag_square_clicked(self, tag: int, shift: bool) -> None:
        """Click toggles the tag on this frame (T5); Shift+click gives every frame in the
        display order the opposite of this frame's value (T6)."""
        s = self.session
        if shift:
            s.tags.toggle_frames(tag, s.order, s.frame_index)
        else:
            s.tags.toggle(tag, s.frame_index)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self.confirm_close():
            event.ignore()
            return
        self.recovery_timer.stop()
        self.settings.set_window_geometry(bytes(self.saveGeometry()))
        self.settings.set_dock_state(bytes(self.saveState()))
        if self.session.source is not None:
            self.settings.recent.remember(
                os.path.abspath(str(self.session.source.path)), self.session.stack_path, self.session.frame_index
            )
        self.slideshow.stop()
        self.gallery.shutdown()
        self.loader.shutdown()
        # Cancel and cut off every job, but wait only briefly: a job that does not check its
        # cancel flag often must not freeze the close; it ends unheard (QtJobRunner.shutdown).
        self.jobs.shutdown(500)
        if self.console is not None:
            self.console.shutdown()
        self.settings.sync()
        super().closeEvent(event)
