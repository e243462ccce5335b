"""EDF (ESRF data format) header + data blocks, parsed by the rules of spec/formats.md §3.

owlx reads plain EDF blocks itself and leaves only blocks with an in-file ``Compression`` key or
an external binary file (``EDF_BinaryFileName``) to fabio. Reasons: a broken header must give a
clear message (fabio reports e.g. ``KeyError: 'BYTEORDER'``, and refuses one-byte data without a
``ByteOrder``); the frames of a multi-frame file must be located; and for a long gzip series the
header of each file must be readable by decompressing its first 512-byte blocks only.

Rules: the header is ASCII starting with ``{`` (whitespace before it allowed) and ends at the
first ``}`` followed by ``\n`` or ``\r\n``; ``EDF_HeaderSize`` is never trusted. Entries are
split on ``;`` and then at the first ``=``. ``Dim_1`` is the number of columns, so the frame
shape is ``(Dim_2, Dim_1)``. The data block follows the header directly and is
``EDF_BinarySize`` bytes, else ``Size``, else dims × item size. ``.gz``/``.bz2`` files are
whole-file compressed (chosen by extension).
"""

from __future__ import annotations

import bz2
import gzip
import io
import math
import os
import re
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

#: fabio's DataType table; looked up exactly, then case-insensitively
DATA_TYPES = {
    "SignedByte": "int8", "Signed8": "int8",
    "UnsignedByte": "uint8", "Unsigned8": "uint8",
    "SignedShort": "int16", "Signed16": "int16",
    "UnsignedShort": "uint16", "UnsignedShortInteger": "uint16", "Unsigned16": "uint16",
    "SignedInteger": "int32", "SignedLong": "int32", "Signed32": "int32",
    "UnsignedInteger": "uint32", "UnsignedLong": "uint32", "Unsigned32": "uint32",
    "Signed64": "int64", "Unsigned64": "uint64",
    "FloatValue": "float32", "FLOATVALUE": "float32", "Float": "float32", "FLOAT": "float32",
    "FloatIEEE32": "float32", "Float32": "float32",
    "DoubleValue": "float64", "Double": "float64", "FloatIEEE64": "float64", "DoubleIEEE64": "float64",
}  # fmt: skip
_DATA_TYPES_LOWER = {k.lower(): v for k, v in DATA_TYPES.items()}
BYTE_ORDERS = {"lowbytefirst": "<", "highbytefirst": ">"}
#: keys describing the block itself, not the measurement: never offered as per-frame values
STRUCTURAL_KEYS = {
    "edf_datablockid", "edf_binarysize", "edf_headersize", "byteorder", "datatype",
    "dim_1", "dim_2", "dim_3", "size", "image", "headerid", "compression", "edf_binaryfilename",
    "edf_binaryfileposition",
}  # fmt: skip

BLOCK = 512
MAX_HEADER_BYTES = 1 << 20  # a header this long is binary junk, not EDF
_END = re.compile(rb"}\r?\n")


class EdfHeaderError(ValueError):
    """A header that does not follow the EDF rules; the reader adds the file name."""


@dataclass
class EdfBlock:
    """One header + data block of an EDF file (offsets in the decompressed stream)."""

    header: dict[str, str]
    data_offset: int
    size: int  # bytes of the data block
    shape: tuple[int, ...]
    dtype: np.dtype
    special: bool = False  # in-file Compression or external binary file: only fabio can decode


def open_stream(path: str) -> BinaryIO:
    """The decompressed byte stream of an EDF file (``.gz``/``.bz2`` chosen by extension)."""
    lower = str(path).lower()
    if lower.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if lower.endswith(".bz2"):
        return bz2.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def get(header: dict[str, str], key: str) -> str | None:
    """A standard key, matched exactly first, then case-insensitively."""
    if key in header:
        return header[key]
    lower = key.lower()
    for k, v in header.items():
        if k.lower() == lower:
            return v
    return None


def parse_entries(text: str) -> dict[str, str]:
    """``Key = Value ;`` entries of a header (without its braces), in file order."""
    header: dict[str, str] = {}
    for entry in text.split(";"):
        if "=" not in entry:
            continue
        key, value = entry.split("=", 1)
        key = key.strip()
        if key:
            header[key] = value.strip()
    return header


def _read_header(stream: BinaryIO, pos: int) -> tuple[dict[str, str], int] | None:
    """Header starting at ``pos`` (stream positioned there): (entries, data offset), or None at
    a clean end of file."""
    buf = b""
    start = None
    while True:
        chunk = stream.read(BLOCK)
        buf += chunk
        if start is None:
            stripped = buf.lstrip(b" \t\r\n\x00")
            if stripped:
                if not stripped.startswith(b"{"):
                    raise EdfHeaderError(f"no '{{' at the start of the header at byte {pos}")
                start = len(buf) - len(stripped)
        if start is not None:
            # search from the start each time so a "}\r\n" split across two blocks is found
            match = _END.search(buf, start)
            if match:
                text = buf[start + 1 : match.start()].decode("ascii", errors="replace")
                return parse_entries(text), pos + match.end()
        if not chunk:
            if start is None:
                return None
            raise EdfHeaderError(f"the header starting at byte {pos + start} has no closing '}}' line")
        if len(buf) > MAX_HEADER_BYTES:
            raise EdfHeaderError(f"no end of header within {MAX_HEADER_BYTES} bytes of byte {pos}")


def _int(header: dict[str, str], key: str) -> int | None:
    value = get(header, key)
    if value is None:
        return None
    try:
        return int(float(value.split()[0]))
    except (ValueError, IndexError):
        raise EdfHeaderError(f"{key} = {value!r} is not a number") from None


def block_from_header(header: dict[str, str], data_offset: int) -> EdfBlock:
    """Shape, dtype and size of the data block described by ``header``."""
    dims = [_int(header, f"Dim_{k}") for k in (1, 2, 3)]
    if dims[0] is None:
        raise EdfHeaderError("no Dim_1 (number of columns)")
    shape = tuple(d for d in (dims[2], dims[1] if dims[1] is not None else 1, dims[0]) if d is not None)
    if any(d < 0 for d in shape):
        raise EdfHeaderError(f"negative dimension in {shape}")
    type_name = get(header, "DataType")
    if type_name is None:
        raise EdfHeaderError("no DataType")
    base = DATA_TYPES.get(type_name) or _DATA_TYPES_LOWER.get(type_name.lower())
    if base is None:
        raise EdfHeaderError(f"unknown DataType {type_name!r}")
    dtype = np.dtype(base)
    if dtype.itemsize > 1:
        order = get(header, "ByteOrder")
        if order is None or order.lower() not in BYTE_ORDERS:
            raise EdfHeaderError(f"ByteOrder is {order!r}, not LowByteFirst or HighByteFirst")
        dtype = dtype.newbyteorder(BYTE_ORDERS[order.lower()])
    size = _int(header, "EDF_BinarySize")
    if size is None:
        size = _int(header, "Size")
    if size is None:
        size = math.prod(shape) * dtype.itemsize
    special = get(header, "Compression") not in (None, "", "None", "NONE", "none") or (
        get(header, "EDF_BinaryFileName") is not None
    )
    if not special and size < math.prod(shape) * dtype.itemsize:
        raise EdfHeaderError(f"data block of {size} bytes is too small for {shape} {dtype.name}")
    return EdfBlock(header, data_offset, size, shape, dtype, special)


def read_first_block(path: str) -> EdfBlock:
    """The first header of a file; only its first few 512-byte blocks are decompressed."""
    with open_stream(path) as stream:
        found = _read_header(stream, 0)
    if found is None:
        raise EdfHeaderError("the file holds no EDF header")
    return block_from_header(*found)


def read_blocks(path: str, warnings: list[str] | None = None) -> list[EdfBlock]:
    """Every header + data block of a (multi-frame) file, checking that the data are there.

    Bytes after the last complete frame that are not a header end the file, with a message in
    ``warnings`` (an error only when not even the first frame is readable).

    Compressed files are decompressed into memory first (fabio does the same to decode them),
    because seeking backwards in a gzip stream restarts decompression from the beginning.
    """
    with open_stream(path) as stream:
        if str(path).lower().endswith((".gz", ".bz2")):
            stream = io.BytesIO(stream.read())
        stream.seek(0, os.SEEK_END)
        length = stream.tell()
        stream.seek(0)
        blocks: list[EdfBlock] = []
        pos = 0
        while True:
            try:
                found = _read_header(stream, pos)
                if found is None:
                    break
                block = block_from_header(*found)
                external = block.special and get(block.header, "EDF_BinaryFileName") is not None
                end = block.data_offset + (0 if external else block.size)
                if end > length:
                    raise EdfHeaderError(
                        f"frame {len(blocks)} needs {end} bytes but the file holds {length}; it is truncated"
                    )
            except EdfHeaderError as err:
                if not blocks:
                    raise
                if warnings is not None:
                    warnings.append(f"data after frame {len(blocks) - 1} ignored ({err})")
                break
            blocks.append(block)
            stream.seek(end)
            pos = end
    if not blocks:
        raise EdfHeaderError("the file holds no EDF header")
    return blocks


def read_frame(path: str, index: int = 0, block: EdfBlock | None = None) -> tuple[np.ndarray | None, EdfBlock]:
    """Frame ``index`` of a file as a native-byte-order array, and its block.

    ``block`` (when already known) saves walking the headers. Returns ``(None, block)`` for a
    block only fabio can decode (in-file compression, external binary file).
    """
    with open_stream(path) as stream:
        if block is None:
            pos = 0
            for k in range(index + 1):
                stream.seek(pos)
                found = _read_header(stream, pos)
                if found is None:
                    raise EdfHeaderError(f"the file has no frame {index} (it ends after frame {k - 1})")
                block = block_from_header(*found)
                pos = block.data_offset + block.size
        if block.special:
            return None, block
        nbytes = math.prod(block.shape) * block.dtype.itemsize
        stream.seek(block.data_offset)
        raw = stream.read(nbytes)
    if len(raw) < nbytes:
        raise EdfHeaderError(f"frame {index} is truncated: {len(raw)} of {nbytes} bytes of data")
    data = np.frombuffer(raw, dtype=block.dtype).reshape(block.shape)
    return data.astype(block.dtype.newbyteorder("="), copy=True), block


def numeric_items(header: dict[str, str]) -> dict[str, float]:
    """Header values that parse as numbers (e.g. ``time_of_frame``), without structural keys."""
    out = {}
    for key, value in header.items():
        if key.lower() in STRUCTURAL_KEYS:
            continue
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out
