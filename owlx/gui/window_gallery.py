"""The gallery mode of the main window (spec/viewer.md §4): G toggles between the grid and the
single frame, a double-click opens a cell, Escape goes back to the grid, Ctrl++ / Ctrl+- change
the number of columns. The gallery follows the session's display order, selected frame, display
settings and tags, and shares the single view's raw-frame cache."""

from __future__ import annotations

from PyQt5 import QtWidgets

from .gallery import GalleryView


class GalleryMixin:
    """Part of :class:`MainWindow`."""

    def _build_gallery(self) -> QtWidgets.QWidget:
        self.gallery = GalleryView(self)
        self.gallery.set_columns(int(self.settings.get("gallery/columns", 4)))
        g = self.gallery
        g.frame_selected.connect(self._gallery_selected)
        g.frame_activated.connect(self._gallery_activated)
        g.tag_square_clicked.connect(self._gallery_tag_clicked)
        g.columns_changed.connect(lambda n: self.settings.set("gallery/columns", int(n)))
        return g

    def _init_gallery(self) -> None:
        s, g = self.session, self.gallery
        g.loader.io_lock = s.io_lock
        g.load_failed.connect(lambda i, msg: self.error_indicator.add(f"frame {i} could not be read: {msg}"))
        s.stack_changed.connect(lambda *_: self._gallery_set_stack())
        s.source_reopened.connect(lambda *_: self._gallery_swap_readers())
        s.order_changed.connect(lambda: g.set_order(s.order))
        s.frame_changed.connect(lambda i: g.set_selected(i))
        s.tags_changed.connect(lambda *_: self._gallery_tags())
        g.set_tags(lambda frame: [s.tags.has(t, frame) for t in range(len(s.tags))])

    @property
    def gallery_mode(self) -> bool:
        return self.view_stack.currentWidget() is self.gallery

    def toggle_gallery(self) -> None:
        self.set_gallery_mode(not self.gallery_mode)

    def set_gallery_mode(self, on: bool) -> None:
        target = self.gallery if on else self.view
        self.view_stack.setCurrentWidget(target)
        if on and self.session.stack is not None:
            self.gallery.set_selected(self.session.frame_index)
        target.setFocus()

    def _escape(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        elif not self.gallery_mode:
            self.set_gallery_mode(True)

    def _gallery_columns(self, delta: int) -> None:
        if self.gallery_mode:
            self.gallery.set_columns(max(1, self.gallery.columns() + delta))

    def _gallery_set_stack(self) -> None:
        s, g = self.session, self.gallery
        g.set_stack(s.stack, s.mask_stack)
        if s.stack is not None:
            # Frames read for cells are then already there when a cell is opened, and back.
            g.share_raw_cache(self.loader.cache, lambda i, t=self.loader.stack_token: ("raw", t, i))
            g.set_order(s.order)
            g.set_selected(s.frame_index)
        self._gallery_tags()

    def _gallery_swap_readers(self) -> None:
        """A save reopened the file: same frames, new readers; the thumbnails stay."""
        s = self.session
        if s.stack is None or self.gallery.loader.stack is None or len(s.stack) != len(self.gallery.loader.stack):
            self._gallery_set_stack()
            return
        self.gallery.swap_readers(s.stack, s.mask_stack)

    def _gallery_display(self) -> None:
        self.gallery.set_display(self.session.display, self.session.mask_settings, self._table)

    def _gallery_tags(self) -> None:
        tags = self.session.tags
        self.gallery.set_tag_colours([tuple(int(v) for v in c) for c in tags.colors])
        self.gallery.set_tag_names(list(tags.names))
        self.gallery.refresh_tags()

    def _gallery_selected(self, frame: int) -> None:
        if frame != self.session.frame_index:
            self.session.frame_index = frame

    def _gallery_activated(self, frame: int) -> None:
        self._gallery_selected(frame)
        self.set_gallery_mode(False)

    def _gallery_tag_clicked(self, frame: int, tag: int, shift: bool) -> None:
        s = self.session
        if shift:
            s.tags.toggle_frames(tag, s.order, frame)
        else:
            s.tags.toggle(tag, frame)
