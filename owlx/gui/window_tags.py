"""Tags and saving in the main window (spec/viewer.md §9, §13 X1–X3, §16).

Keys 1–9 toggle tags on the selected frame while the view has focus; Ctrl+S saves (offering
sidecar / Save as… / Cancel when the data file cannot take it); Ctrl+Shift+S writes the sidecar;
Ctrl+Z / Ctrl+Shift+Z undo and redo tag edits; the title carries ``*`` while anything is unsaved;
closing asks Save / Discard / Cancel only when something changed; unsaved edits go to a recovery
file every 30 s and are offered again after a crash.
"""

from __future__ import annotations

import logging
import os

from PyQt5 import QtCore, QtWidgets

from ..errors import OwlxError
from ..io.save import SaveRefused
from ..recovery import apply_recovery, discard_recovery, find_recovery, write_recovery

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_MS = 30_000


class TagsMixin:
    """Part of :class:`MainWindow`. ``ask`` hooks (``ask_save_refused``, ``ask_unsaved``,
    ``ask_recovery``) are methods so tests can replace them without dialogs."""

    def _init_tags(self) -> None:
        s = self.session
        s.dirty_changed.connect(self._update_title)
        s.tags_changed.connect(lambda *_: self._on_tags_changed())
        s.saved.connect(lambda report: self.show_message("info", report.text))
        s.source_reopened.connect(self._on_source_reopened)
        self.recovery_timer = QtCore.QTimer(self)
        self.recovery_timer.setInterval(RECOVERY_INTERVAL_MS)
        self.recovery_timer.timeout.connect(self.write_recovery_now)
        self.recovery_timer.start()

    # -- keys and edits ------------------------------------------------------------------------
    def toggle_tag_key(self, key: int) -> None:
        """Key ``key`` (1–9) toggles tag ``key`` on the selected frame (T3)."""
        s = self.session
        if s.stack is None:
            return
        try:
            tag = s.tags.tag_for_key(key)
            s.tags.toggle(tag, s.frame_index)
        except OwlxError as exc:
            self.show_message("warning", str(exc))

    def set_tag_on_shown(self, key: int, value: bool) -> None:
        """Tags › Set/Clear on all unfiltered: tag ``key`` on every frame in display order."""
        s = self.session
        try:
            tag = s.tags.tag_for_key(key)
            n = s.tags.set_frames(tag, s.order, value)
        except OwlxError as exc:
            self.show_message("warning", str(exc))
            return
        self.show_message("info", f"{'set' if value else 'cleared'} '{s.tags.names[tag]}' on {n} frames")

    def undo_tags(self) -> None:
        if not self.session.tags.undo():
            self.show_message("info", "nothing to undo")

    def redo_tags(self) -> None:
        if not self.session.tags.redo():
            self.show_message("info", "nothing to redo")

    def _on_tags_changed(self) -> None:
        self._update_title()
        self._refresh_tag_squares()
        self._refresh_readout()

    def _update_title(self, *_) -> None:
        source = self.session.source
        name = os.path.basename(str(source.path)) if source is not None else ""
        star = " *" if source is not None and self.session.dirty else ""
        self.setWindowTitle(f"owlx — {name}{star}" if name else "owlx")

    # -- saving --------------------------------------------------------------------------------
    def save(self) -> bool:
        """Ctrl+S: everything unsaved in one operation (X1). Returns True when saved."""
        s = self.session
        if s.source is None:
            return True
        try:
            s.save(fallback=False)
            return True
        except SaveRefused as exc:
            choice = self.ask_save_refused(str(exc))
        except OwlxError as exc:
            self.show_message("error", f"not saved: {exc}")
            return False
        try:
            if choice == "sidecar":
                s.save_to_sidecar()
                return True
            if choice == "save_as":
                path, _ = QtWidgets.QFileDialog.getSaveFileName(
                    self, "Save tags and results as", str(s.source.path) + ".owlx.h5", "HDF5 (*.h5)"
                )
                if path:
                    s.save_to_sidecar(path)
                    return True
        except OwlxError as exc:
            self.show_message("error", f"not saved: {exc}")
        return False

    def save_to_sidecar(self) -> bool:
        """Ctrl+Shift+S: always into the sidecar (X2)."""
        if self.session.source is None:
            return True
        try:
            self.session.save_to_sidecar()
            return True
        except OwlxError as exc:
            self.show_message("error", f"not saved: {exc}")
            return False

    def ask_save_refused(self, reason: str) -> str:
        """The data file cannot take the save: "sidecar", "save_as" or "cancel"."""
        box = QtWidgets.QMessageBox(self)
        box.setIcon(QtWidgets.QMessageBox.Warning)
        box.setWindowTitle("owlx — cannot save into the file")
        box.setText(f"The tags and results cannot be saved into the data file:\n{reason}")
        sidecar = box.addButton("Save to sidecar", QtWidgets.QMessageBox.AcceptRole)
        save_as = box.addButton("Save as…", QtWidgets.QMessageBox.ActionRole)
        box.addButton(QtWidgets.QMessageBox.Cancel)
        box.exec_()
        return {sidecar: "sidecar", save_as: "save_as"}.get(box.clickedButton(), "cancel")

    def ask_unsaved(self) -> str:
        """Unsaved edits on quit: "save", "discard" or "cancel" (X3: one prompt)."""
        answer = QtWidgets.QMessageBox.question(
            self,
            "owlx — unsaved changes",
            "Tags or results have changed since the last save. Save them?",
            QtWidgets.QMessageBox.Save | QtWidgets.QMessageBox.Discard | QtWidgets.QMessageBox.Cancel,
            QtWidgets.QMessageBox.Save,
        )
        return {QtWidgets.QMessageBox.Save: "save", QtWidgets.QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def confirm_close(self) -> bool:
        """True when the window may close (nothing unsaved, saved, or discarded)."""
        if self.session.source is None or not self.session.dirty:
            return True
        choice = self.ask_unsaved()
        if choice == "save":
            return self.save()
        if choice == "discard":
            discard_recovery(str(self.session.source.path))
            return True
        return False

    # -- crash recovery ------------------------------------------------------------------------
    def write_recovery_now(self) -> None:
        if self.session.source is not None and self.session.dirty:
            try:
                write_recovery(self.session)
            except (OSError, OwlxError) as exc:  # recovery is a safety net: never interrupt work
                log.warning("could not write the recovery file: %s", exc)

    def offer_recovery(self) -> None:
        """After opening: offer unsaved edits a crashed session left behind (T9)."""
        source = self.session.source
        if source is None:
            return
        info = find_recovery(str(source.path))
        if info is None:
            return
        if self.ask_recovery(info.text):
            try:
                apply_recovery(self.session, info)
                self.show_message("info", "restored unsaved edits from the recovery file")
            except OwlxError as exc:
                self.show_message("error", f"could not restore: {exc}")
        else:
            discard_recovery(str(source.path))

    def ask_recovery(self, text: str) -> bool:
        answer = QtWidgets.QMessageBox.question(
            self, "owlx — restore unsaved edits?", text,
            QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No, QtWidgets.QMessageBox.Yes,
        )
        return answer == QtWidgets.QMessageBox.Yes

    # -- a save reopened the file ---------------------------------------------------------------
    def _on_source_reopened(self, source) -> None:
        """The save closed and reopened the file: every reader object is new; what is shown stays."""
        expanded = self.tree.expanded_paths()
        # Only tags and results were written: the frames are the same, so the caches stay.
        self.loader.swap_readers(self.session.stack, self.session.mask_stack)
        self.tree.set_source(source)
        self.tree.restore_expanded(expanded)
        if self.session.stack_path:
            self.tree.select_path(self.session.stack_path)
        self.loader.request(self.session.frame_index, self._neighbours())
