"""Output from the main window: Save view as PNG (Ctrl+P, Owl's naming made safe), Save PNG
as… and Copy image (spec/viewer.md X4–X6).

The image is rendered at native resolution: one data pixel per PNG pixel, with the current
colormap, levels and mask, without tag squares or UI. While the Patterson view is shown (Ctrl+A)
the map is saved instead, with its own levels, and ``_patterson`` is added to the name.

Naming (X4): ``<file stem>_<dataset path with / → _>_<frame index, 6 digits>.png`` in the PNG
folder (Preferences; default: the data file's folder). Owl cut four characters off the file
name, which is wrong for ``.h5``; here ``.gz``/``.bz2`` and then the last extension are removed,
and characters that are not safe in file names on every system become ``_``. An existing name
gets ``-1``, ``-2``, …; the file is created with exclusive creation, so even a file that appears
between choosing the name and writing is never overwritten.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from ..core.display import full_index
from ..jobs import Job, JobContext
from .image_view import FrameView

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
MAX_SUFFIX = 10000


def safe_name_part(text: str) -> str:
    """``text`` with every run of characters outside ``A–Z a–z 0–9 . _ + -`` replaced by ``_``."""
    return _UNSAFE.sub("_", text).strip("_") or "data"


def png_base_name(source_path, dataset: str | None, frame: int, suffix: str = "") -> str:
    """``<file stem>_<dataset with / → _>_<frame:06d><suffix>`` without ``.png`` (X4)."""
    first = source_path[0] if isinstance(source_path, (list, tuple)) else source_path
    name = Path(str(first)).name
    for ext in (".gz", ".bz2"):
        name = name.removesuffix(ext)
    stem = safe_name_part(Path(name).stem)
    data = safe_name_part((dataset or "").strip("/").replace("/", "_"))
    return f"{stem}_{data}_{int(frame):06d}{suffix}"


def write_new_file(folder: Path, base: str, data: bytes, ext: str = ".png") -> Path:
    """Write ``data`` to ``folder/base.ext``, or ``base-1.ext``, ``base-2.ext``, … — the first
    name that does not exist, created exclusively (never overwrites)."""
    for k in range(MAX_SUFFIX):
        target = folder / (f"{base}{ext}" if k == 0 else f"{base}-{k}{ext}")
        try:
            with open(target, "xb") as fh:
                fh.write(data)
            return target
        except FileExistsError:
            continue
    raise OSError(f"{MAX_SUFFIX} files named {base}-….png exist already in {folder}")


@dataclass
class NativeExport:
    """What an export needs, captured on the GUI thread; :meth:`image` and :meth:`png` run on a
    worker. ``make_index`` returns the colour-index image (or RGB(A) frame) at native resolution
    (for a big frame shown zoomed out, mapping it is tens of ms), ``table`` its colour table,
    ``valid`` the mask painted in ``colour`` with ``opacity``, ``texts`` the PNG text chunks."""

    make_index: Callable[[], np.ndarray]
    table: np.ndarray | None
    valid: np.ndarray | None = None
    colour: tuple = (0, 0, 0)
    opacity: float = 0.0
    texts: dict = field(default_factory=dict)

    def image(self) -> QtGui.QImage:
        index = self.make_index()
        table = None if index.ndim == 3 else self.table
        return FrameView.render_native(index, table, self.valid, self.colour, self.opacity)

    def png(self) -> bytes:
        image = self.image()
        for key, value in self.texts.items():
            image.setText(key, value)
        buffer = QtCore.QBuffer()
        buffer.open(QtCore.QIODevice.WriteOnly)
        if not image.save(buffer, "PNG"):
            raise OSError("the image could not be encoded as PNG")
        return bytes(buffer.data())


class OutputMixin:
    """Part of :class:`MainWindow`. Rendering, encoding and writing run as jobs (a 4096² PNG
    takes seconds to encode); ``png_saved`` reports the file written, ``image_copied`` the
    clipboard copy."""

    def _patterson_shown(self) -> bool:
        p = getattr(self, "patterson", None)
        return bool(p is not None and p.active and p.answer is not None
                    and p.answer.frame == self.session.frame_index)

    def _export(self) -> NativeExport | None:
        """The image shown, as an export to run on a worker (None: nothing is shown)."""
        s = self.session
        if self._patterson_shown():
            a = self.patterson.answer
            norm, lo, hi, what = self.patterson.panel.levels.norm, a.rendered.lo, a.rendered.hi, "Patterson map"
            export = NativeExport(lambda index=a.rendered.index: index, self._table)
        else:
            cur = self.current
            if cur is None:
                return None
            r, m = cur.rendered, s.mask_settings
            norm, lo, hi, what = s.display.norm, r.lo, r.hi, "frame"
            # mapped on the worker and not kept: the cached entry stays the size it was counted at
            export = NativeExport(lambda raw=cur.raw, r=r: full_index(raw, r), self._table, cur.valid,
                                  m.colour, m.opacity)
        export.texts = {"Source": str(s.source.path), "Dataset": str(s.stack_path), "Frame": str(s.frame_index),
                        "Image": what, "Norm": norm, "Colormap": s.display.colormap, "Levels": f"{lo:.6g} {hi:.6g}"}
        return export

    def _native_image(self) -> QtGui.QImage | None:
        """The export image, made here and now (for scripts and tests; the menu actions make it
        on a worker)."""
        export = self._export()
        return export.image() if export is not None else None

    def _png_folder(self) -> Path:
        chosen = self.settings.png_folder()
        if chosen:
            return Path(chosen)
        first = self.session.source.path
        first = first[0] if isinstance(first, (list, tuple)) else first
        parent = Path(str(first)).parent
        if os.path.isfile(str(first)):
            return parent
        return Path(self.settings.last_directory() or os.getcwd())  # in-memory data: no file folder

    def _png_base(self) -> str:
        s = self.session
        suffix = "_patterson" if self._patterson_shown() else ""
        return png_base_name(s.source.path, s.stack_path, s.frame_index, suffix)

    def png_name(self) -> Path:
        """The name Ctrl+P would use now (the first that does not exist; X4)."""
        folder, base = self._png_folder(), self._png_base()
        candidate, k = folder / f"{base}.png", 0
        while candidate.exists():
            k += 1
            candidate = folder / f"{base}-{k}.png"
        return candidate

    def save_png(self, path: str | Path | None = None):
        """Ctrl+P: write the view at native resolution (X4) on a worker; with ``path`` (Save PNG
        as…) that file, which the dialog has confirmed. Returns the job's handle (None when no
        frame is shown); ``png_saved(path)`` follows when the file is written."""
        export = self._export()
        if export is None:
            self.show_message("warning", "nothing to save: no frame is shown")
            return None
        folder, base = self._png_folder(), self._png_base()

        def work(ctx: JobContext) -> Path:
            data = export.png()
            ctx.check()
            if path:
                target = Path(path)
                target.write_bytes(data)
                return target
            return write_new_file(folder, base, data)

        return self.jobs.submit(Job(work, name="saving the PNG"), on_finished=self._png_written)

    def _png_written(self, outcome) -> None:
        if outcome.status == "failed":
            self.show_message("error", f"could not write the PNG: {outcome.error}; check the PNG folder is writable")
        elif outcome.status == "done":
            self.show_message("info", f"saved {outcome.value}")
            self.png_saved.emit(str(outcome.value))

    def save_png_as(self) -> None:
        if self._export() is None:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save PNG", str(self.png_name()), "PNG (*.png)")
        if path:
            self.save_png(path)

    def copy_image(self):
        """Copy the image at native resolution to the clipboard (made on a worker); returns the
        job's handle, or None when no frame is shown."""
        export = self._export()
        if export is None:
            return None
        return self.jobs.submit(Job(lambda ctx: export.image(), name="copying the image"), on_finished=self._copied)

    def _copied(self, outcome) -> None:
        if outcome.status == "failed":
            self.show_message("error", f"could not copy the image: {outcome.error}")
        elif outcome.status == "done":
            QtWidgets.QApplication.clipboard().setImage(outcome.value)
            self.show_message("info", "image copied")
            self.image_copied.emit()
