"""MRC / MRC2014 files (cryo-EM maps, tomograms, image stacks) via mrcfile (spec/formats.md §4).

* Uncompressed files are memory-mapped (``mrcfile.mmap(..., permissive=True)``): opening reads
  the header only and ``stack[i]`` copies one section. ``.gz``/``.bz2`` files need
  ``mrcfile.open``, which decompresses the whole file into memory (a warning says so).
* Shape ``(nz, ny, nx)``, x = columns, frames along z; row 0 first as in every owlx view (many
  EM viewers draw y upwards; the GUI offers a vertical flip). Volume stacks (space groups
  401–630) are ``(nz/mz, mz, ny, nx)`` on disk and numbered here over (volume, z):
  :meth:`MrcStack.volume_index` gives both indices.
* Modes 0, 1, 2, 4, 6 and 12 (float16, kept as float16) are read; mode 3 (complex int16) and
  mode 101 (4-bit packed) raise :class:`FileFormatError`. ``mode0_unsigned=True`` reads mode 0
  as uint8, for old files that stored unsigned bytes there.
* The root node's attrs hold ``voxel_size`` (x, y, z) in **Å** (0 = unset), ``origin`` (Å),
  ``ispg``, ``mode``, ``labels``, ``exttyp`` and ``nversion``.
"""

from __future__ import annotations

import warnings

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io.source import Stack
from owlx.io.virtual import DATA_PATH, VirtualSource

_UNSUPPORTED_MODES = {
    3: "mode 3 (complex 16-bit integers), which mrcfile cannot read; convert it to mode 4 (complex64)",
    101: "mode 101 (4-bit packed integers), which owlx cannot read; convert it to mode 0 or 2",
}
_COMPRESSED = (".gz", ".bz2")


class MrcStack(Stack):
    """Sections of an MRC file. Frames of mode 0 files are int8 (uint8 with ``mode0_unsigned``)."""

    def __init__(self, data: np.ndarray, mz: int | None):
        ny, nx = data.shape[-2:]
        # a reshape of the memory map is a view: nothing is read here
        self._data = data.reshape(-1, ny, nx)
        self.shape = tuple(int(s) for s in self._data.shape)  # type: ignore[assignment]
        self.dtype = self._data.dtype
        self.path = DATA_PATH
        self.mz = mz

    def _read(self, i: int) -> np.ndarray:
        if self._data is None:
            raise DatasetError("the MRC file of this stack is closed; reopen it to read frames")
        return np.array(self._data[i])

    def volume_index(self, i: int) -> tuple[int, int]:
        """(volume, z) of frame ``i`` in a volume stack; (0, i) otherwise."""
        return divmod(int(i), self.mz) if self.mz else (0, int(i))


class MrcSource(VirtualSource):
    """An MRC file as a one-stack virtual tree."""

    format = "mrc"

    def __init__(self, path: str, *, mode0_unsigned: bool = False):
        super().__init__(path)
        import mrcfile  # imported here: only MRC users pay for it

        compressed = str(path).lower().endswith(_COMPRESSED)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if compressed:
                    self._mrc = mrcfile.open(path, mode="r", permissive=True)
                else:
                    self._mrc = mrcfile.mmap(path, mode="r", permissive=True)
            except (ValueError, OSError, EOFError) as err:
                raise FileFormatError(f"cannot open '{self.name}': not a readable MRC file ({err})") from err
        for w in caught:
            self.warnings.append(f"'{self.name}': {w.message}")
        header = self._mrc.header
        mode = int(header.mode)
        data = self._mrc.data
        if data is None:
            self._mrc.close()
            reason = _UNSUPPORTED_MODES.get(mode)
            if reason:
                raise FileFormatError(f"cannot open '{self.name}': it uses MRC {reason}")
            detail = "; ".join(str(w.message) for w in caught) or "no data block"
            raise FileFormatError(f"cannot open '{self.name}': the MRC data could not be read ({detail})")
        if data.ndim < 2 or data.size == 0:
            self._mrc.close()
            raise FileFormatError(f"cannot open '{self.name}': the MRC data of shape {data.shape} hold no image")
        if compressed:
            self.warnings.append(
                f"'{self.name}' is compressed: the whole file ({data.nbytes / 2**20:.0f} MiB) was decompressed "
                "into memory; decompress it on disk to open it memory-mapped"
            )
        if mode == 0 and mode0_unsigned:
            data = data.view(np.uint8)
        volume_stack = bool(self._mrc.is_volume_stack()) and data.ndim == 4
        stack = MrcStack(data, int(data.shape[1]) if volume_stack else None)

        voxel = self._mrc.voxel_size
        origin = header.origin
        labels = [
            bytes(header.label[k]).decode("ascii", errors="replace").strip()
            for k in range(min(int(header.nlabl), 10))
        ]
        root_attrs = {
            "format": "MRC",
            "mode": mode,
            "voxel_size": (float(voxel.x), float(voxel.y), float(voxel.z)),
            "voxel_size_units": "Å",
            "origin": (float(origin.x), float(origin.y), float(origin.z)),
            "ispg": int(header.ispg),
            "labels": labels,
            "exttyp": bytes(header.exttyp).decode("ascii", errors="replace").strip("\x00 "),
            "nversion": int(header.nversion),
            "volume_stack": volume_stack,
        }
        self._build(stack, root_attrs=root_attrs, data_attrs={"on_disk_shape": tuple(data.shape)})

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """(x, y, z) voxel size in Å; 0 means unset."""
        return self.root.attrs["voxel_size"]

    def close(self) -> None:
        if self._stack is not None:
            self._stack._data = None  # type: ignore[attr-defined]  # views would outlive the map
        self._mrc.close()

