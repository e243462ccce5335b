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
from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets

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


class OutputMixin:
    """Part of :class:`MainWindow`."""

    def _patterson_shown(self) -> bool:
        p = getattr(self, "patterson", None)
        return bool(p is not None and p.active and p.answer is not None
                    and p.answer.frame == self.session.frame_index)

    def _native_image(self) -> QtGui.QImage | None:
        if self._patterson_shown():
            return self.view.render_native(self.patterson.answer.rendered.index, self._table)
        cur = self.current
        if cur is None:
            return None
        index = cur.full_index()  # a big frame shown zoomed out may only have its preview yet
        table = None if index.ndim == 3 else self._table
        m = self.session.mask_settings
        return self.view.render_native(index, table, cur.valid, m.colour, m.opacity)

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

    def _png_bytes(self, image: QtGui.QImage) -> bytes:
        s = self.session
        if self._patterson_shown():
            a = self.patterson.answer
            norm, lo, hi, what = self.patterson.panel.levels.norm, a.rendered.lo, a.rendered.hi, "Patterson map"
        else:
            r = self.current.rendered
            norm, lo, hi, what = s.display.norm, r.lo, r.hi, "frame"
        for key, value in (("Source", str(s.source.path)), ("Dataset", str(s.stack_path)),
                           ("Frame", str(s.frame_index)), ("Image", what), ("Norm", norm),
                           ("Colormap", s.display.colormap), ("Levels", f"{lo:.6g} {hi:.6g}")):
            image.setText(key, value)
        buffer = QtCore.QBuffer()
        buffer.open(QtCore.QIODevice.WriteOnly)
        if not image.save(buffer, "PNG"):
            raise OSError("the image could not be encoded as PNG")
        return bytes(buffer.data())

    def save_png(self, path: str | Path | None = None) -> Path | None:
        """Ctrl+P: write the view at native resolution (X4); with ``path`` (Save PNG as…) that
        file, which the dialog has confirmed. Returns the file written, or None."""
        image = self._native_image()
        if image is None:
            self.show_message("warning", "nothing to save: no frame is shown")
            return None
        try:
            data = self._png_bytes(image)
            if path:
                target = Path(path)
                target.write_bytes(data)
            else:
                target = write_new_file(self._png_folder(), self._png_base(), data)
        except OSError as err:
            self.show_message("error", f"could not write the PNG: {err}; check the PNG folder is writable")
            return None
        self.show_message("info", f"saved {target}")
        return target

    def save_png_as(self) -> None:
        if self._native_image() is None:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save PNG", str(self.png_name()), "PNG (*.png)")
        if path:
            self.save_png(path)

    def copy_image(self) -> None:
        image = self._native_image()
        if image is not None:
            QtWidgets.QApplication.clipboard().setImage(image)
            self.show_message("info", "image copied")
