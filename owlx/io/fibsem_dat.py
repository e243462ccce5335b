"""Jeiss / Janelia FIB-SEM ``.dat`` files and folders of them as one z-stack (spec/formats.md §6).

* One file holds one milled slice: a 1024-byte big-endian header
  (:mod:`owlx.io.fibsem_dat_header`) and the pixels from byte 1024: ``uint8`` when EightBit = 1,
  else big-endian ``int16``, C-order shape **(YResolution, XResolution, ChanNum)** (channels
  interleaved per pixel; channel k is the k-th enabled AI input). With SaveOversamples the
  shape is (Y, X, Oversampling, ChanNum) and the samples are averaged (float32 frames).
  Zero padding and a LabView "recipe" footer after the pixels are ignored.
* A truncated file yields its complete rows (:func:`read_dat`); in a stack the missing rows
  are NaN (the stack's frames are then float32) and the source carries a warning.
* Stacks: ``<machine>_<YY-MM-DD>_<HHMMSS>_<i-j-k>.dat`` files of one folder, sorted by name;
  only files with the same tile suffix ``i-j-k``, X, Y, ChanNum and EightBit as the file opened
  (or, for a folder, the largest tile group) join; the others are listed in a warning.
* Tree: channel 0 at ``/entry_1/data_1/data``, channel 1 at ``/entry_1/data_2/data`` … (attrs
  ``channel`` and ``detector``, e.g. ``InLens`` / ``ESB @ 600 V``); numeric header fields per
  frame at ``/entry_1/data_1/header/<Field>`` (WD mm, EHT kV, StageX…M, FIBSliceNum, …).
* Frames are raw values by default; ``scaled=True`` gives the instrument's scaled units
  (:func:`~owlx.io.fibsem_dat_header.scale_raw`, float32).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from owlx.errors import DatasetError, FileFormatError
from owlx.io.fibsem_dat_header import (
    DATA_OFFSET,
    PER_FRAME_FIELDS,
    DatHeader,
    build_header,
    parse_header,
    read_header,
    scale_raw,
)
from owlx.io.source import Geometry, Kind, Node, Stack, normalize_path, sort_children
from owlx.io.virtual import DATA_GROUP, VirtualSource

DAT_SUFFIX = ".dat"
_TILE = re.compile(r"_(\d+-\d+-\d+)\.dat$", re.IGNORECASE)


def tile_of(path: str) -> str | None:
    """The tile suffix ``i-j-k`` of a ``..._<i-j-k>.dat`` name, or None."""
    match = _TILE.search(os.path.basename(path))
    return match.group(1) if match else None


@dataclass
class DatFile:
    """One decoded file: ``data`` is (rows, X, ChanNum) in native byte order (uint8, int16, or
    float32 when oversamples were averaged); ``rows`` < Y when the file is truncated."""

    header: DatHeader
    data: np.ndarray
    warnings: list[str]

    @property
    def rows(self) -> int:
        return int(self.data.shape[0])


def _row_geometry(header: DatHeader) -> tuple[int, int, np.dtype]:
    ny, nx = header.shape
    samples = header.oversamples_saved
    per_row = nx * samples * header.n_channels
    return ny, per_row, header.dtype


def read_dat(path: str, header: DatHeader | None = None, rows: slice | None = None) -> DatFile:
    """Read a ``.dat`` file: its header and its complete rows of pixels, shape (rows, X, ChanNum).

    ``rows`` limits the read to a slice of image rows (fewer bytes read). A truncated file
    yields its complete rows and a warning; a file with no complete row gives 0 rows.
    """
    name = os.path.basename(path)
    header = header or read_header(path)
    ny, per_row, dtype = _row_geometry(header)
    row_bytes = per_row * dtype.itemsize
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise FileFormatError(f"cannot open '{name}': {err.strerror or err}") from err
    available = max(0, (size - DATA_OFFSET) // row_bytes)
    complete = min(ny, available)
    warnings = []
    if complete < ny:
        warnings.append(f"'{name}' is truncated: {complete} of {ny} rows are complete; missing rows are NaN")
    start, stop, _ = (rows or slice(None)).indices(complete)
    stop = max(start, stop)
    count = (stop - start) * per_row
    with open(path, "rb") as f:
        f.seek(DATA_OFFSET + start * row_bytes)
        flat = np.fromfile(f, dtype=dtype, count=count)
    nx, n_chan, samples = header.shape[1], header.n_channels, header.oversamples_saved
    if samples > 1:
        data = flat.reshape(stop - start, nx, samples, n_chan).astype(np.float32).mean(axis=2)
    else:
        data = flat.reshape(stop - start, nx, n_chan).astype(dtype.newbyteorder("="))
    return DatFile(header=header, data=data, warnings=warnings)


def write_dat(path: str, data: np.ndarray, *, version: int = 8, scaling: np.ndarray | None = None,
              footer: bytes = b"", **fields: Any) -> DatHeader:
    """Write a ``.dat`` file (used for synthetic test and benchmark data).

    ``data`` is (Y, X) or (Y, X, ChanNum), uint8 (EightBit = 1) or int16; ``fields`` set header
    fields by name (e.g. ``PixelSize=4.0, WD=5.1, DetA="InLens"``). FileLength is
    1024 + data bytes; ``footer`` bytes follow the pixels. Returns the header written.
    """
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if data.ndim != 3 or data.dtype not in (np.uint8, np.int16):
        raise DatasetError(f"write_dat needs (Y, X[, C]) uint8 or int16 data, got {data.shape} {data.dtype}")
    eight_bit = data.dtype == np.uint8
    values = {"FileType": 1, "ChanNum": data.shape[2], "EightBit": int(eight_bit),
              "XResolution": data.shape[1], "YResolution": data.shape[0],
              "AI1": 1, "AI2": int(data.shape[2] > 1)}
    values.update(fields)
    values["FileLength"] = DATA_OFFSET + data.size * data.dtype.itemsize
    raw = build_header(values, scaling, version)
    with open(path, "wb") as f:
        f.write(raw)
        f.write(data.astype(">i2" if not eight_bit else np.uint8).tobytes())
        f.write(footer)
    return parse_header(raw, os.path.basename(path))


class DatStack(Stack):
    """One channel of a stack of ``.dat`` files: frame i is file i."""

    def __init__(self, source: DatSource, channel: int, path: str, dtype: np.dtype):
        self._source = source
        self.channel = channel
        self.path = path
        ny, nx = source.headers[0].shape
        self.shape = (len(source.files), int(ny), int(nx))
        self.dtype = np.dtype(dtype)

    def _read(self, i: int) -> np.ndarray:
        return self._source._read_frame(i, self.channel)


class DatSource(VirtualSource):
    """A ``.dat`` file, a folder of them, or a list of them, as one z-stack per channel.

    ``series=True`` (default) makes a single file open the whole stack of its folder (files of
    the same tile); ``scaled=True`` converts raw values with the header's Scaling.
    """

    format = "dat"

    def __init__(self, path: str | os.PathLike | Sequence[str | os.PathLike], *, series: bool = True,
                 scaled: bool = False):
        candidates, opened = _candidates(path, series)
        super().__init__(opened)
        self.scaled = bool(scaled)
        self.files, self.headers = self._join(candidates, opened)
        self.start_frame = self.files.index(opened) if opened in self.files else 0
        first = self.headers[0]
        truncated = self._truncated()
        oversampled = any(h.oversamples_saved > 1 for h in self.headers)
        dtype = np.dtype(np.float32) if (scaled or truncated or oversampled) else first.dtype.newbyteorder("=")
        names = first.channel_names()
        self._channel_stacks = [DatStack(self, k, _channel_path(k), dtype) for k in range(first.n_channels)]
        root_attrs = {
            "format": "FIB-SEM .dat", "version": first.version, "MachineID": first.get("MachineID", ""),
            "SampleID": first.sample_id, "SWdate": first.get("SWdate", ""), "channels": names,
            "EightBit": int(first.eight_bit), "PixelSize_nm": first.pixel_size_nm, "files": len(self.files),
            "tile": tile_of(self.files[0]) or "", "scaled": self.scaled,
        }
        per_frame = {f"{DATA_GROUP}/header/{key}": (lambda k=key: self.header_values(k), np.dtype(np.float64))
                     for key in PER_FRAME_FIELDS if key in first.fields}
        self._build(self._channel_stacks[0], root_attrs=root_attrs,
                    data_attrs={"channel": 0, "detector": names[0]}, per_frame=per_frame)
        self._add_channel_nodes(names)

    # -- building ---------------------------------------------------------------------------
    def _join(self, candidates: list[str], opened: str) -> tuple[list[str], list[DatHeader]]:
        """Read the headers and keep the files that match the reference file (same tile, X, Y,
        ChanNum, EightBit); the others are named in a warning."""
        headers: dict[str, DatHeader] = {}
        unreadable = []
        for p in candidates:
            try:
                headers[p] = read_header(p)
            except FileFormatError as err:
                if p == opened or len(candidates) == 1:
                    raise
                unreadable.append(f"{os.path.basename(p)} ({err})")
        if not headers:
            raise FileFormatError(f"cannot open '{self.name}': none of its .dat files is readable")
        if opened in headers:
            ref_path = opened
        else:  # a folder: the largest tile group, then its first file
            groups: dict[Any, list[str]] = {}
            for p in headers:
                groups.setdefault(tile_of(p), []).append(p)
            ref_path = max(groups.values(), key=len)[0]
        ref = headers[ref_path]

        def key(p: str) -> tuple:
            h = headers[p]
            return (tile_of(p), h.shape, h.n_channels, h.eight_bit)

        files = [p for p in headers if key(p) == key(ref_path)]
        left_out = [os.path.basename(p) for p in headers if key(p) != key(ref_path)]
        if left_out:
            self.warnings.append(
                f"{len(left_out)} .dat file(s) left out of the stack (another tile, size, channel count or bit "
                f"depth than '{os.path.basename(ref_path)}' with {ref.shape[1]}×{ref.shape[0]} px, "
                f"{ref.n_channels} channel(s)): {', '.join(left_out[:5])}{' …' if len(left_out) > 5 else ''}"
            )
        if unreadable:
            self.warnings.append(f"{len(unreadable)} unreadable .dat file(s) skipped: {'; '.join(unreadable[:3])}")
        return files, [headers[p] for p in files]

    def _truncated(self) -> bool:
        short = []
        for p, h in zip(self.files, self.headers):
            try:
                if os.path.getsize(p) < DATA_OFFSET + h.data_bytes:
                    short.append(os.path.basename(p))
            except OSError:
                short.append(os.path.basename(p))
        if short:
            self.warnings.append(
                f"{len(short)} truncated .dat file(s) ({', '.join(short[:3])}{' …' if len(short) > 3 else ''}): "
                "their missing rows are NaN"
            )
        return bool(short)

    def _add_channel_nodes(self, names: list[str]) -> None:
        """Channels 1… as ``/entry_1/data_<k+1>/data`` next to channel 0 (the virtual tree
        knows one stack; the extra groups are spliced into ``/entry_1``)."""
        extra = []
        for k, stack in enumerate(self._channel_stacks[1:], start=1):
            group_path = _channel_path(k).rsplit("/", 1)[0]
            node = Node(stack.path, Kind.STACK if len(stack) > 1 else Kind.IMAGE,
                        shape=tuple(stack.shape) if len(stack) > 1 else tuple(stack.shape[1:]),
                        dtype=stack.dtype, attrs={"channel": k, "detector": names[k]},
                        frame_axis=0 if len(stack) > 1 else None)
            group = Node(group_path, Kind.GROUP)
            group._children = [node]
            self._nodes[group_path] = group
            self._nodes[node.path] = node
            extra.append(group)
        if extra:
            entry = self._nodes["/entry_1"]
            listing = entry._list_children
            entry._children = None
            entry._list_children = lambda: sort_children(list(listing() if listing else []) + extra)

    # -- data -------------------------------------------------------------------------------
    @property
    def channel_names(self) -> list[str]:
        return self.headers[0].channel_names()

    def stack(self, path: str | None = None) -> Stack:
        key = normalize_path(path) if path else _channel_path(0)
        for stack in self._channel_stacks:
            if stack.path == key:
                return stack
        return super().stack(path)

    def channel_stack(self, channel: int) -> DatStack:
        """The stack of channel ``channel`` (0 = the first enabled detector)."""
        if not 0 <= channel < len(self._channel_stacks):
            raise DatasetError(f"'{self.name}' has {len(self._channel_stacks)} channel(s), not channel {channel}")
        return self._channel_stacks[channel]

    def header_values(self, key: str) -> np.ndarray:
        """The numeric header field ``key`` of every frame (NaN where a file lacks it)."""
        return np.array([float(h.get(key, np.nan)) for h in self.headers], dtype=np.float64)

    def geometry(self, image_path: str | None = None, frame: int = 0) -> Geometry:
        header = self.headers[min(max(int(frame), 0), len(self.headers) - 1)]
        size = header.pixel_size_nm
        return Geometry(pixel_size_m=size * 1e-9 if size > 0 else None,
                        sources={"pixel_size": "PixelSize (.dat header)"} if size > 0 else {})

    def _read_frame(self, i: int, channel: int) -> np.ndarray:
        path, header = self.files[i], self.headers[i]
        dat = read_dat(path, header)
        frame = dat.data[:, :, channel]
        if self.scaled:
            frame = scale_raw(frame, header, channel)
        out_dtype = self._channel_stacks[channel].dtype
        ny = header.shape[0]
        if dat.rows < ny:
            full = np.full((ny, header.shape[1]), np.nan, dtype=np.float32)
            full[: dat.rows] = frame
            return full
        return np.ascontiguousarray(frame, dtype=out_dtype)


def _channel_path(k: int) -> str:
    return f"/entry_1/data_{k + 1}/data"


def _candidates(path, series: bool) -> tuple[list[str], str]:
    """The files to consider and the file opened (the folder itself for a folder)."""
    if not isinstance(path, (str, os.PathLike)):
        paths = sorted(os.path.abspath(os.fspath(p)) for p in path)
        if not paths:
            raise FileFormatError("cannot open an empty list of .dat files")
        return paths, paths[0]
    opened = os.path.abspath(os.fspath(path))
    if os.path.isdir(opened):
        found = dat_files_in(opened)
        if not found:
            raise FileFormatError(f"cannot open '{os.path.basename(opened)}': the folder holds no .dat file")
        return found, opened
    if not series:
        return [opened], opened
    folder = os.path.dirname(opened)
    tile = tile_of(opened)
    found = [p for p in dat_files_in(folder) if tile_of(p) == tile]
    return (found if opened in found else [opened]), opened


def dat_files_in(folder: str) -> list[str]:
    """The ``.dat`` files of ``folder``, sorted by name."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(DAT_SUFFIX))
    except OSError as err:
        raise FileFormatError(f"cannot list the folder '{os.path.basename(folder)}': {err}") from err
    return [os.path.join(folder, n) for n in names]
