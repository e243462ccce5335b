"""A snapshot of a session's image stack for jobs that read frames on worker threads.

:class:`StackReader` captures the session's stack, mask dataset and mask settings when it is
made, so switching the dataset while a job runs cannot mix two stacks in one result. Every read
holds the session's ``io_lock``: a save closes and reopens the file while holding it, and marks
each closed reader with the one that replaces it (``reopened_as``), which the next read follows,
so a job running across a save (Ctrl+S) goes on reading the same dataset.
"""

from __future__ import annotations

import numpy as np

from .errors import OwlxError
from .io.maskbits import valid_from_bits
from .io.output_paths import source_files

__all__ = ["StackReader"]


class StackReader:
    """Frames (native dtype) and validity masks (True = valid) of ``session``'s current stack as
    it was when the reader was made. ``shape`` is the frame shape (rows, cols), ``name`` the
    stack's dataset path ("" when unknown), ``files`` the source's files on disk (a list)."""

    def __init__(self, session):
        if session.stack is None:
            raise OwlxError("no stack is open")
        self.stack = session.stack
        self.mask_stack = session.mask_stack
        self.mask_settings = session.mask_settings
        self.io_lock = session.io_lock
        self.shape = tuple(self.stack.frame_shape)
        self.name = str(getattr(session, "stack_path", "") or "")
        # the files read (none for in-memory data): tools writing a new file must not overwrite them
        self.files = source_files(getattr(session, "source", None))

    def __len__(self) -> int:
        return len(self.stack)

    @staticmethod
    def _current(stack):
        while getattr(stack, "reopened_as", None) is not None:
            stack = stack.reopened_as
        return stack

    def frame(self, index: int) -> np.ndarray:
        with self.io_lock:
            self.stack = self._current(self.stack)
            return np.asarray(self.stack[int(index)])

    def mask(self, index: int) -> np.ndarray | None:
        """The validity of frame ``index`` under the captured mask settings, or None (no mask
        dataset, or masking off). A mask dataset of one frame serves every frame."""
        ms = self.mask_settings
        if self.mask_stack is None or not ms.enabled:
            return None
        with self.io_lock:
            self.mask_stack = self._current(self.mask_stack)
            raw = self.mask_stack[0 if len(self.mask_stack) == 1 else int(index)]
        return valid_from_bits(raw, ms.out_bits, ms.invert)
