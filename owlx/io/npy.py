"""NumPy ``.npy`` files as a one-stack virtual tree.

The array is memory-mapped (``np.load(mmap_mode="r")``), so opening reads the header only.
2-D arrays are one frame, 3-D arrays a stack along axis 0, and arrays with more dimensions a
stack over all leading axes (C order). 0-D and 1-D arrays are shown as plain data, with no
stack. Pickled object arrays are refused (loading them could run code).
"""

from __future__ import annotations

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io.source import ArrayStack, Kind, Node, Stack
from owlx.io.virtual import DATA_PATH, VirtualSource


class NpySource(VirtualSource):
    """A ``.npy`` file."""

    format = "npy"

    def __init__(self, path: str):
        super().__init__(path)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise FileFormatError(f"cannot open '{self.name}': not a readable .npy file ({err})") from err
        if not isinstance(array, np.ndarray):
            raise FileFormatError(f"cannot open '{self.name}': it holds no array")
        self._array = array
        root_attrs = {"format": "NPY", "shape": tuple(array.shape), "dtype": str(array.dtype)}
        if array.dtype.names is not None or array.dtype.kind not in "biufc":
            self._build(None, root_attrs, data_node=Node(DATA_PATH, Kind.VALUE, shape=array.shape, dtype=array.dtype))
        elif array.ndim < 2:
            kind = Kind.VALUE if array.ndim == 0 else Kind.ARRAY
            self._build(None, root_attrs, data_node=Node(DATA_PATH, kind, shape=array.shape, dtype=array.dtype))
        elif 0 in array.shape:
            raise FileFormatError(f"cannot open '{self.name}': the array of shape {array.shape} is empty")
        else:
            self._build(ArrayStack(array, DATA_PATH) if array.ndim <= 3 else _LeadingAxesStack(array), root_attrs)

    def read(self, path: str) -> np.ndarray:
        node = self._dataset_node(path)
        if self._stack is None and node.path == DATA_PATH:
            return np.array(self._array)
        return super().read(path)

    def stack(self, path=None):
        if self._stack is None:
            raise DatasetError(
                f"'{self.name}' holds an array of shape {self._array.shape} {self._array.dtype}, not an image"
            )
        return super().stack(path)


class _LeadingAxesStack(Stack):
    """Frames of an n-D array (n > 3) indexed over all leading axes in C order, without the
    reshape that would copy a Fortran-ordered memory map."""

    def __init__(self, array: np.ndarray):
        self._array = array
        self._lead = array.shape[:-2]
        self.path = DATA_PATH
        self.shape = (int(np.prod(self._lead)), int(array.shape[-2]), int(array.shape[-1]))
        self.dtype = array.dtype

    def _read(self, i: int) -> np.ndarray:
        return np.array(self._array[np.unravel_index(i, self._lead)])
