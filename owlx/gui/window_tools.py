"""Owl's remaining tools in the main window: Patterson view (Ctrl+A), Cheetah peak overlay
(Ctrl+K), pixel peeper (Ctrl+X), live follow (File › Live, ``--live``) with auto-last (Ctrl+L),
and the slideshow's interval and gallery rows (spec/viewer.md §5, §11, §12).

Each tool lives in its own module; this mixin creates them, adds their menu entries and keys,
and keeps their settings (``patterson/…``, ``peaks/radius``, ``peeper/size``,
``live/intervalS``, ``slideshow/intervalMs``).
"""

from __future__ import annotations

from PyQt5 import QtWidgets

from ..core.pixel_block import MAX_SIZE, MIN_SIZE
from .live_follow import (
    DEFAULT_INTERVAL_S,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    LiveFollower,
)
from .patterson_view import PattersonController
from .peak_overlay import OVERRIDES, PeakOverlay
from .pixel_peeper import PixelPeeper

DEFAULT_SLIDESHOW_MS = 2000


class ToolsMixin:
    """Part of :class:`MainWindow`; :meth:`_build_tools` runs once the menus exist."""

    def _menu(self, title: str) -> QtWidgets.QMenu:
        for act in self.menuBar().actions():
            if act.menu() is not None and act.text().replace("&", "") == title:
                return act.menu()
        return self.menuBar().addMenu(title)

    def _build_tools(self) -> None:
        st = self.settings
        file_menu, view_menu = self._menu("File"), self._menu("View")

        # live follow, placed after Reload in the File menu
        self.live = LiveFollower(self, float(st.get("live/intervalS", DEFAULT_INTERVAL_S)))
        anchor = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Reload"), None)
        live_acts = [
            self._action(file_menu, "&Live (follow a file being written)", self.set_live, checkable=True,
                         tip="Reopen the HDF5 file in SWMR read mode and poll it for new frames"),
            self._action(file_menu, "Auto-&last (jump to the newest frame)", self.live.set_auto_last, "Ctrl+L",
                         checkable=True),
            self._action(file_menu, "Live poll interval…", self._ask_live_interval),
        ]
        self.live_action, self.auto_last_action = live_acts[0], live_acts[1]
        if anchor is not None:
            after = file_menu.actions()[file_menu.actions().index(anchor) + 1]
            for act in live_acts:
                file_menu.insertAction(after, act)
        self.live_label = QtWidgets.QLabel(self)
        self.peaks_label = QtWidgets.QLabel(self)
        bar = self.statusBar()
        bar.insertPermanentWidget(2, self.live_label)
        bar.insertPermanentWidget(2, self.peaks_label)
        self.live.state_changed.connect(self._live_state)
        self.live.grew.connect(self._live_grew)

        view_menu.addSeparator()
        self.patterson = PattersonController(self)
        self.patterson_action = self._action(view_menu, "&Patterson", self.patterson.set_active, "Ctrl+A",
                                             checkable=True)
        self.peaks = PeakOverlay(self, float(st.get("peaks/radius", 10.0)))
        self.peaks_action = self._action(view_menu, "Pea&k overlay", self.peaks.set_enabled, "Ctrl+K", checkable=True)
        positions = view_menu.addMenu("Peak positions")
        group = QtWidgets.QActionGroup(self)
        for kind in OVERRIDES:
            act = positions.addAction({"auto": "From the image path", "raw": "Raw (detector)",
                                       "assembled": "Assembled (image)"}[kind])
            act.setCheckable(True)
            act.setChecked(kind == "auto")
            act.setActionGroup(group)
            act.triggered.connect(lambda _=False, k=kind: self.peaks.set_override(k))
        self._action(view_menu, "Peak circle radius…", self._ask_peak_radius)
        self.peaks.count_changed.connect(lambda *_: self.peaks_label.setText(self.peaks.status_text()))

        self.pixel_peeper = PixelPeeper(self.view, int(st.get("peeper/size", 5)))
        self.peeper_action = self._action(view_menu, "Pi&xel peeper", self.set_pixel_peeper, "Ctrl+X", checkable=True)
        sizes = view_menu.addMenu("Pixel peeper size")
        group = QtWidgets.QActionGroup(self)
        for n in range(MIN_SIZE, MAX_SIZE + 1, 2):
            act = sizes.addAction(f"{n} × {n}")
            act.setCheckable(True)
            act.setChecked(n == self.pixel_peeper.block_size)
            act.setActionGroup(group)
            act.triggered.connect(lambda _=False, k=n: self.set_pixel_peeper_size(k))
        self.view.pixel_hovered.connect(lambda *_: self._update_peeper())
        self.frame_displayed.connect(lambda *_: self._update_peeper())
        self.session.display_changed.connect(lambda *_: self._update_peeper())

        self.slideshow.setInterval(int(st.get("slideshow/intervalMs", DEFAULT_SLIDESHOW_MS)))
        self.slideshow.timeout.disconnect()
        self.slideshow.timeout.connect(self._slideshow_tick)
        self._action(view_menu, "Slideshow interval…", self._ask_slideshow_interval).setToolTip(
            "Space starts and stops the slideshow while the view has focus")

    # -- live ------------------------------------------------------------------------------------------
    def set_live(self, on: bool) -> None:
        """File › Live: reopen the file in SWMR read mode and follow it; off stops polling."""
        s = self.session
        if not on:
            self.live.stop()
            return
        if s.source is None:
            self.show_message("warning", "open an HDF5 file first, then switch Live on (or start owlx with --live)")
            self.live_action.setChecked(False)
            return
        if s.source.swmr:
            self.live.start()
        elif s.source.format == "hdf5":
            self.open_path(str(s.source.path), dataset=s.stack_path, frame=s.frame_index, live=True)
        else:
            self.show_message("warning", "live follow works on HDF5 files written in SWMR mode")
            self.live_action.setChecked(False)

    def _live_state(self, text: str) -> None:
        self.live_label.setText(text)
        self.live_action.setChecked(self.live.active)

    def _live_grew(self, added: int) -> None:
        """Panels that cache per-frame values by frame count read them again (from the reader's
        cache, filled by the poll), and the peak overlay may have new peaks."""
        plot = getattr(self, "plot_panel", None)
        if plot is not None:
            for sel in (plot.y, plot.x):
                if sel is not None:
                    plot.data.request(sel[0], lambda error, p=sel[0]: None if error else plot.refresh_values(p))
        if self.peaks.enabled:
            self.peaks.request()
        # The tree's Shape column of the datasets that grew (their nodes were refreshed by the
        # poll; looking them up reads nothing).
        s = self.session
        paths = [s.stack_path, *getattr(s, "_per_frame_cache", {})]
        for path in filter(None, paths):
            item = self.tree.item_for_path(path)
            try:
                shape = s.source.node(path).shape
            except KeyError:
                continue
            if item is not None:
                item.setText(2, "×".join(str(v) for v in shape))

    def _ask_live_interval(self) -> None:
        value, ok = QtWidgets.QInputDialog.getDouble(
            self, "Live poll interval", "Seconds between polls:", self.live.interval_s, MIN_INTERVAL_S,
            MAX_INTERVAL_S, 1)
        if ok:
            self.live.set_interval(value)
            self.settings.set("live/intervalS", float(value))

    # -- peaks and peeper --------------------------------------------------------------------------------
    def _ask_peak_radius(self) -> None:
        value, ok = QtWidgets.QInputDialog.getDouble(self, "Peak circles", "Radius (px):", self.peaks.radius,
                                                     1, 500, 1)
        if ok:
            self.peaks.set_radius(value)
            self.settings.set("peaks/radius", float(value))

    def set_pixel_peeper(self, on: bool) -> None:
        """Ctrl+X: the magnified block of values around the cursor (P3)."""
        self.pixel_peeper.setVisible(bool(on))
        self.peeper_action.setChecked(bool(on))
        self._update_peeper()

    def set_pixel_peeper_size(self, size: int) -> None:
        self.pixel_peeper.set_block_size(size)
        self.settings.set("peeper/size", int(size))
        self._update_peeper()

    def _update_peeper(self) -> None:
        if not self.peeper_action.isChecked():
            return
        x, y = self._hover
        cur = self.current
        if cur is None:
            self.pixel_peeper.update_block(-1, -1, None, None, None, None)
            return
        self.pixel_peeper.update_block(x, y, cur.raw, cur.valid, cur.rendered.index, self._table, cur.rendered)

    # -- slideshow ----------------------------------------------------------------------------------------
    def _slideshow_tick(self) -> None:
        """One frame in single mode, one row in the gallery; wraps at the end (V4)."""
        s = self.session
        if not self.gallery_mode:
            self._slideshow_step()
            return
        pos, cols = s.view_position, self.gallery.columns()
        if pos is None or pos + cols >= s.order.size:
            self.gallery.select_position(0)
        else:
            self.gallery.row_step(1)

    def _ask_slideshow_interval(self) -> None:
        value, ok = QtWidgets.QInputDialog.getInt(self, "Slideshow", "Milliseconds per step:",
                                                  self.slideshow.interval(), 100, 60000, 100)
        if ok:
            self.slideshow.setInterval(value)
            self.settings.set("slideshow/intervalMs", int(value))

