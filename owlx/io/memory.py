"""An in-memory array as a Source, for ``session.show(array)`` (the console's ``viewer.show``).

The array is copied, so later changes to the caller's variable do not alter what is shown.
"""

from __future__ import annotations

import numpy as np

from owlx.errors import DatasetError
from owlx.io.source import ArrayStack
from owlx.io.virtual import DATA_PATH, VirtualSource


class ArraySource(VirtualSource):
    """A 2-D array (one frame) or 3-D array (a stack along axis 0) held in memory."""

    format = "memory"

    def __init__(self, array: np.ndarray, name: str = "array"):
        super().__init__(f"<{name}>")
        arr = np.array(array)  # a private copy
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise DatasetError(f"an image needs a non-empty 2-D or 3-D array, got shape {arr.shape}")
        if arr.dtype.kind not in "biufc":
            raise DatasetError(f"an image needs numbers, got dtype {arr.dtype}")
        self._build(ArrayStack(arr, DATA_PATH), {"format": "in-memory array", "name": name})
