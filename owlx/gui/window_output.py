"""Output from the main window: Save view as PNG (Ctrl+P, Owl's naming made safe), Save PNG
as… and Copy image (spec/viewer.md X4–X6). The image is rendered at native resolution: one data
pixel per PNG pixel, with the current colormap, levels and mask, without UI."""

from __future__ import annotations

from pathlib import Path

from PyQt5 import QtGui, QtWidgets


class OutputMixin:
    """Part of :class:`MainWindow`."""

    def _native_image(self) -> QtGui.QImage | None:
        cur = self.current
        if cur is None:
            return None
        table = None if cur.rendered.index.ndim == 3 else self._table
        m = self.session.mask_settings
        return self.view.render_native(cur.rendered.index, table, cur.valid, m.colour, m.opacity)

    def png_name(self) -> Path:
        """``<file stem>_<dataset path with / → _>_<frame, 6 digits>.png`` in the PNG folder,
        with ``-1``, ``-2``… added instead of overwriting (spec/viewer.md X4)."""
        src = Path(str(self.session.source.path))
        folder = Path(self.settings.png_folder() or src.parent)
        dataset = (self.session.stack_path or "").strip("/").replace("/", "_")
        stem = Path(src.name.removesuffix(".gz").removesuffix(".bz2")).stem
        base = f"{stem}_{dataset}_{self.session.frame_index:06d}"
        candidate, k = folder / f"{base}.png", 0
        while candidate.exists():
            k += 1
            candidate = folder / f"{base}-{k}.png"
        return candidate

    def save_png(self, path: str | Path | None = None) -> Path | None:
        image = self._native_image()
        if image is None:
            self.show_message("warning", "nothing to save: no frame is shown")
            return None
        target = Path(path) if path else self.png_name()
        s = self.session
        for key, value in (
            ("Source", str(s.source.path)),
            ("Dataset", str(s.stack_path)),
            ("Frame", str(s.frame_index)),
            ("Norm", s.display.norm),
            ("Levels", f"{self.current.rendered.lo:.6g} {self.current.rendered.hi:.6g}"),
        ):
            image.setText(key, value)
        if not image.save(str(target), "PNG"):
            self.show_message("error", f"could not write {target}: check the folder is writable")
            return None
        self.show_message("info", f"saved {target}")
        return target

    def save_png_as(self) -> None:
        if self.current is None:
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save PNG", str(self.png_name()), "PNG (*.png)")
        if path:
            self.save_png(path)

    def copy_image(self) -> None:
        image = self._native_image()
        if image is not None:
            QtWidgets.QApplication.clipboard().setImage(image)
            self.show_message("info", "image copied")
