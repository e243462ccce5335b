"""Opening files in the main window: dialog, drag and drop, recent files, reload.

Opening reads headers, decompresses the first file of a gzip series, scans TIFF pages and reads
geometry, so it runs as a job (:func:`owlx.session.load_view`) and only the result is applied on
the GUI thread (spec/viewer.md W6). A failed open leaves the file shown before untouched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets

from ..errors import OwlxError
from ..jobs import Job, JobOutcome
from ..session import LoadedView, _same_file, load_view, reload_problem
from .settings import recent_menu_entries

log = logging.getLogger(__name__)

OPEN_FILTER = (
    "All supported (*.cxi *.h5 *.hdf5 *.nxs *.edf *.edf.gz *.edf.bz2 *.mrc *.mrcs *.map *.st "
    "*.tif *.tiff *.npy *.dat);;CXI/HDF5 (*.cxi *.h5 *.hdf5 *.nxs);;EDF (*.edf *.edf.gz *.edf.bz2);;"
    "MRC (*.mrc *.mrcs *.map *.st);;TIFF (*.tif *.tiff);;NumPy (*.npy);;FIB-SEM (*.dat);;All files (*)"
)


def _display_name(path) -> str:
    first = path[0] if isinstance(path, (list, tuple)) else path
    return Path(str(first)).name


def error_text(outcome: JobOutcome, path) -> str:
    """What to tell the user about a failed open: our own messages as they are; anything
    unexpected with its type (the traceback goes to the log at debug level)."""
    if isinstance(outcome.error, OwlxError):
        return str(outcome.error)
    log.debug("opening %s failed:\n%s", path, outcome.traceback)
    return f"cannot open {_display_name(path)}: {type(outcome.error).__name__}: {outcome.error}"


class OpeningMixin:
    """Part of :class:`MainWindow`: everything that brings a file into the session."""

    def open_path(
        self,
        path,
        dataset: str | None = None,
        frame: int | None = None,
        live: bool = False,
        wait: bool = False,
        _after=None,
    ) -> bool | None:
        """Open a file (or a list of numbered files) on a worker; ``live`` opens HDF5 in SWMR
        read mode. With ``wait`` the call returns once the file is shown (True) or refused
        (False, the reason in :attr:`last_error` and the status bar)."""
        if not self._may_replace_file(path):
            return False
        self._open_token = token = self._open_token + 1
        self.last_error = ""
        self._opening = True
        name = _display_name(path)
        self.statusBar().showMessage(f"opening {name}…")
        job = Job(lambda ctx: load_view(path, dataset=dataset, swmr=live), name=f"opening {name}")
        self.jobs.submit(job, on_finished=lambda outcome: self._opened(token, path, frame, outcome, _after))
        if wait:
            app = QtWidgets.QApplication.instance()
            while self._opening and self._open_token == token:
                app.processEvents(QtCore.QEventLoop.AllEvents | QtCore.QEventLoop.WaitForMoreEvents, 50)
            return not self.last_error
        return None

    def _may_replace_file(self, path) -> bool:
        """One file per window (F13): opening another file while tags or results are unsaved
        asks Save / Discard / Cancel. Reopening the same file keeps the edits in memory."""
        s = self.session
        if s.source is None or not s.dirty:
            return True
        if _same_file(path, s.source.path):  # the session's own test: edits are kept
            return True
        return self.confirm_close()

    def _opened(self, token: int, path, frame, outcome: JobOutcome, after) -> None:
        if token != self._open_token:  # a newer open superseded this one
            if outcome.ok:
                outcome.value.source.close()
            return
        self._opening = False
        if not outcome.ok:
            if outcome.status == "cancelled":
                self.statusBar().showMessage("opening cancelled", 5000)
                return
            self.last_error = error_text(outcome, path)
            self.show_message("error", self.last_error)
            return
        view: LoadedView = outcome.value
        s = self.session
        # The same file again with unsaved edits (F5, Recent): the session keeps them in memory,
        # so a recovery file of this session is not a crash's leftover to offer back.
        kept_edits = s.source is not None and s.dirty and _same_file(s.source.path, view.source.path)
        warnings: list[str] = []

        def collect(level: str, text: str) -> None:
            if level != "info":
                warnings.append(text)

        s.message.connect(collect)
        try:
            s.adopt(view)
        except OwlxError as exc:
            view.source.close()
            self.last_error = str(exc)
            self.show_message("error", self.last_error)
            return
        finally:
            s.message.disconnect(collect)
        if frame is not None:
            s.goto_nearest(frame)  # a file that shrank shows its last frame, not frame 0
        first = path[0] if isinstance(path, (list, tuple)) else path
        self.settings.recent.add(os.path.abspath(str(first)), self.session.stack_path, self.session.frame_index)
        self.settings.set_last_directory(os.path.dirname(os.path.abspath(str(first))))
        self.statusBar().showMessage(f"opened {_display_name(path)}", 5000)
        self.view.setFocus()
        if not kept_edits:
            self.offer_recovery()
        if after is not None:
            after()
        if kept_edits and warnings:  # "reloaded" must not hide what happened to the kept edits (a file that shrank)
            self.statusBar().showMessage("; ".join(warnings), 30000)

    def open_dialog(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open", self.settings.last_directory(), OPEN_FILTER)
        if paths:
            self.open_path(paths if len(paths) > 1 else paths[0])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = self.settings.recent.entries()
        for entry, (label, _, exists) in zip(entries, recent_menu_entries(self.settings)):
            act = self.recent_menu.addAction(label)
            act.setEnabled(exists)
            act.triggered.connect(
                lambda _=False, e=entry: self.open_path(e.path, dataset=e.dataset or None, frame=e.frame)
            )
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list", self.settings.recent.clear)

    def reload(self, wait: bool = False) -> bool | None:
        """Close and reopen the file (F5), keeping the dataset, the selected frame and the
        expanded tree nodes (spec/viewer.md F12)."""
        s = self.session
        problem = reload_problem(s.source)
        if problem is not None:
            self.show_message("warning", problem)
            return False
        expanded = self.tree.expanded_paths()

        def restore() -> None:
            self.tree.restore_expanded(expanded)
            self.show_message("info", "reloaded")

        path = s.source.path
        return self.open_path(
            list(path) if isinstance(path, (list, tuple)) else str(path), dataset=s.stack_path,
            frame=s.frame_index, live=s.source.swmr,
            wait=wait, _after=restore,
        )

    def close_file(self) -> None:
        """Ctrl+W: close the file, asking first when tags or results are unsaved."""
        if self.confirm_close():
            self.session.close()

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths if len(paths) > 1 else paths[0])
