"""The 1024-byte header of Jeiss / Janelia (Shan Xu) FIB-SEM ``.dat`` files (spec/formats.md §6).

Every multi-byte value is big-endian; strings are fixed-length, NUL-padded ASCII. The field
tables below follow the per-version specifications of clbarnes/jeiss-specs (``specs/v1.tsv`` …
``specs/v9.tsv``; offsets, types and names are facts of the format):

* v1: ``Scaling`` is ChanNum × 4 ``>f8``; v2–6: ChanNum × 4 ``>f4``; v7+: always 2 × 4 ``>f4``.
* v1–3 use ``>f8`` for the scan block (ScanRate at 112, …) and a one-byte Oversampling;
  v1–2 also use ``>f8`` and other offsets for the SEM/FIB block (Mag at 408, PixelSize at 416…).
* v5+ add the milling block and ``MachineID``; v6+ temperature, currents, ``FocusIndex`` and
  ``FIBSliceNum``; v8+ ``BeamDump2I`` and ``MillingI``; v9 ``SampleID`` and ``FirstPixelX/Y``
  (first pixel of the scan, centre = 0).

``SampleID`` of files older than v9 is the text of ``Notes`` up to its first comma. ``SWdate``
is kept as text: its day/month order differs between files.

Units as stored: PixelSize nm, WD mm, EHT kV, Stage X/Y/Z/M mm, Stage T/R degrees, TimeStep s,
ScanRate Hz, currents nA/A as named by the instrument software.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from owlx.errors import FileFormatError

MAGIC = 0xD3EDF5F2  # = 3555587570
HEADER_BYTES = 1024
DATA_OFFSET = 1024
SUPPORTED_VERSIONS = tuple(range(1, 10))
#: byte 138: oversamples saved per pixel (v4+, absent from the jeiss specs; 0 in every known file)
SAVE_OVERSAMPLES_OFFSET = 138

# (offset, struct code, name) of fields shared by every version (Scaling is handled apart)
_COMMON = [
    (0, ">I", "FileMagicNum"), (4, ">h", "FileVersion"), (6, ">h", "FileType"), (8, "10s", "SWdate"),
    (24, ">d", "TimeStep"), (32, "B", "ChanNum"), (33, "B", "EightBit"),
    (100, ">I", "XResolution"), (104, ">I", "YResolution"), (111, "B", "ZeissScanSpeed"),
    (151, "B", "AI1"), (152, "B", "AI2"), (153, "B", "AI3"), (154, "B", "AI4"),
    (180, "200s", "Notes"), (380, "10s", "DetA"), (390, "18s", "DetB"), (1000, ">q", "FileLength"),
]
_SCAN_V1_3 = [
    (108, "B", "Oversampling"), (109, ">h", "AIDelay"), (112, ">d", "ScanRate"),
    (120, ">d", "FramelineRampdownRatio"), (128, ">d", "Xmin"), (136, ">d", "Xmax"),
]
_SCAN_V4 = [
    (108, ">H", "Oversampling"), (112, ">f", "ScanRate"), (116, ">f", "FramelineRampdownRatio"),
    (120, ">f", "Xmin"), (124, ">f", "Xmax"), (128, ">f", "Detmin"), (132, ">f", "Detmax"),
    (136, ">H", "DecimatingFactor"), (SAVE_OVERSAMPLES_OFFSET, "B", "SaveOversamples"),
]
# the SEM/FIB block: names in order, with their v1–2 (>f8) and v3+ (>f4) offsets; "B" = one byte
_SEM_FIB = [
    ("Mag", 408, 460), ("PixelSize", 416, 464), ("WD", 424, 468), ("EHT", 432, 472),
    ("SEMApr", 440, 480, "B"), ("HighCurrent", 441, 481, "B"), ("SEMCurr", 448, 490), ("SEMRot", 456, 494),
    ("ChamVac", 464, 498), ("GunVac", 472, 502), ("SEMShiftX", None, 510), ("SEMShiftY", None, 514),
    ("SEMStiX", 480, 518), ("SEMStiY", 488, 522), ("SEMAlnX", 496, 526), ("SEMAlnY", 504, 530),
    ("StageX", 512, 534), ("StageY", 520, 538), ("StageZ", 528, 542), ("StageT", 536, 546),
    ("StageR", 544, 550), ("StageM", 552, 554), ("BrightnessA", 560, 560), ("ContrastA", 568, 564),
    ("BrightnessB", 576, 568), ("ContrastB", 584, 572), ("Mode", 600, 600, "B"), ("FIBFocus", 608, 604),
    ("FIBProb", 616, 608, "B"), ("FIBCurr", 624, 620), ("FIBRot", 632, 624), ("FIBAlnX", 640, 628),
    ("FIBAlnY", 648, 632), ("FIBStiX", 656, 636), ("FIBStiY", 664, 640), ("FIBShiftX", 672, 644),
    ("FIBShiftY", 680, 648),
]
_MILLING_V5 = [
    (652, ">I", "MillingXResolution"), (656, ">I", "MillingYResolution"), (660, ">f", "MillingXSize"),
    (664, ">f", "MillingYSize"), (668, ">f", "MillingULAng"), (672, ">f", "MillingURAng"),
    (676, ">f", "MillingLineTime"), (680, ">f", "FIBFOV"), (684, ">H", "MillingLinesPerImage"),
    (686, "B", "MillingPIDOn"), (689, "B", "MillingPIDMeasured"), (690, ">f", "MillingPIDTarget"),
    (694, ">f", "MillingPIDTargetSlope"), (698, ">f", "MillingPIDP"), (702, ">f", "MillingPIDI"),
    (706, ">f", "MillingPIDD"), (800, "30s", "MachineID"),
]
_CURRENTS_V6 = [
    (850, ">f", "Temperature"), (854, ">f", "FaradayCupI"), (858, ">f", "FIBSpecimenI"),
    (862, ">f", "BeamDump1I"), (870, ">f", "MillingYVoltage"), (874, ">f", "FocusIndex"),
    (878, ">I", "FIBSliceNum"),
]
_V8 = [(882, ">f", "BeamDump2I"), (886, ">f", "MillingI")]
_V9 = [(68, "B", "Restart"), (69, "B", "StageMove"), (70, ">i", "FirstPixelX"), (74, ">i", "FirstPixelY"),
       (155, "25s", "SampleID")]

#: numeric fields that become per-frame scalars of a stack (when the version has them)
PER_FRAME_FIELDS = (
    "WD", "EHT", "Mag", "PixelSize", "StageX", "StageY", "StageZ", "StageT", "StageR", "StageM",
    "FIBSliceNum", "FocusIndex", "Temperature", "TimeStep", "ScanRate", "SEMCurr", "FIBCurr",
    "FIBFocus", "SEMSpecimenI", "FIBSpecimenI", "FaradayCupI", "BeamDump1I", "BeamDump2I", "MillingI",
    "MillingYVoltage", "FirstPixelX", "FirstPixelY", "Restart", "StageMove", "BrightnessA", "ContrastA",
    "BrightnessB", "ContrastB",
)


def field_table(version: int) -> list[tuple[int, str, str]]:
    """(offset, struct code, name) of every scalar or string field of ``version`` (1–9),
    ``Scaling`` excluded (its shape depends on ChanNum: see :func:`scaling_layout`)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(version)
    table = list(_COMMON)
    table += _SCAN_V1_3 if version <= 3 else _SCAN_V4
    old = version <= 2
    for name, off_old, off_new, *code in _SEM_FIB:
        offset = off_old if old else off_new
        if offset is None:
            continue
        table.append((offset, code[0] if code else (">d" if old else ">f"), name))
    table += [(700, "20s", "DetC"), (720, "20s", "DetD")] if old else [(410, "20s", "DetC"), (430, "20s", "DetD")]
    if version >= 5:
        table += _MILLING_V5
        # SEMSpecimenI sits at 980 in v5–8 and moved to 866 in v9 (866 was SEMSpecimenICurrent)
        table.append((866, ">f", "SEMSpecimenI") if version >= 9 else (980, ">f", "SEMSpecimenI"))
    if version >= 6:
        table += _CURRENTS_V6
        if version < 9:
            table.append((866, ">f", "SEMSpecimenICurrent"))
    if version >= 8:
        table += _V8
    if version >= 9:
        table += _V9
    return sorted(table)


def scaling_layout(version: int, n_channels: int) -> tuple[str, int]:
    """(numpy dtype, number of channel rows) of the Scaling block at byte 36."""
    if version == 1:
        return ">f8", n_channels
    if version <= 6:
        return ">f4", n_channels
    return ">f4", 2


@dataclass
class DatHeader:
    """A parsed ``.dat`` header. ``fields`` maps field names to Python values (str for
    strings, float/int for numbers); ``scaling`` is (channel rows, 4) float64."""

    fields: dict[str, Any]
    scaling: np.ndarray
    raw: bytes = field(repr=False, default=b"")

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def version(self) -> int:
        return int(self.fields["FileVersion"])

    @property
    def n_channels(self) -> int:
        return int(self.fields["ChanNum"])

    @property
    def eight_bit(self) -> bool:
        return bool(self.fields["EightBit"])

    @property
    def shape(self) -> tuple[int, int]:
        """(YResolution, XResolution) = (rows, columns) of one channel image."""
        return int(self.fields["YResolution"]), int(self.fields["XResolution"])

    @property
    def dtype(self) -> np.dtype:
        """On-disk pixel type: uint8 when EightBit = 1, else big-endian int16."""
        return np.dtype(np.uint8) if self.eight_bit else np.dtype(">i2")

    @property
    def oversamples_saved(self) -> int:
        """Samples stored per pixel and channel (Oversampling when SaveOversamples is set, else 1)."""
        if self.fields.get("SaveOversamples"):
            return max(1, int(self.fields.get("Oversampling", 1)))
        return 1

    @property
    def data_bytes(self) -> int:
        """Bytes of the pixel block that follows the header."""
        ny, nx = self.shape
        return ny * nx * self.n_channels * self.oversamples_saved * self.dtype.itemsize

    @property
    def pixel_size_nm(self) -> float:
        return float(self.fields.get("PixelSize", 0.0))

    @property
    def sample_id(self) -> str:
        """``SampleID`` (v9) or the text of ``Notes`` up to its first comma (older files)."""
        if self.fields.get("SampleID"):
            return self.fields["SampleID"]
        return str(self.fields.get("Notes", "")).split(",")[0].strip()

    def channel_inputs(self) -> list[int]:
        """Analogue input (0 = AI1 … 3 = AI4) of each channel: channel k is the k-th enabled
        input. When the AI flags do not account for ChanNum channels, channel k is input k."""
        enabled = [k for k in range(4) if self.fields.get(f"AI{k + 1}")]
        if len(enabled) != self.n_channels:
            return list(range(self.n_channels))
        return enabled

    def channel_names(self) -> list[str]:
        """Detector name of each channel (DetA for AI1, DetB for AI2, …), or ``channel k``."""
        names = []
        for k, ai in enumerate(self.channel_inputs()):
            name = self.fields.get("Det" + "ABCD"[ai], "") if ai < 4 else ""
            names.append(name or f"channel {k}")
        return names

    def channel_scaling(self, channel: int) -> np.ndarray:
        """The 4 Scaling values (s0…s3) of ``channel``: row k of the Scaling block for
        channel k (the rows follow the channel order)."""
        if not 0 <= channel < len(self.scaling):
            raise FileFormatError(f"the header has no Scaling values for channel {channel}")
        return self.scaling[channel]


def _decode(code: str, raw: bytes, offset: int) -> Any:
    (value,) = struct.unpack_from(code, raw, offset)
    if isinstance(value, bytes):
        return value.split(b"\x00", 1)[0].decode("latin-1").rstrip()
    return value


def parse_header(raw: bytes, name: str = "file") -> DatHeader:
    """Parse the first 1024 bytes of a ``.dat`` file. :class:`FileFormatError` for a short
    header, a wrong magic number or an unknown version (``name`` is used in messages)."""
    if len(raw) < HEADER_BYTES:
        raise FileFormatError(
            f"cannot open '{name}': a FIB-SEM .dat header has {HEADER_BYTES} bytes, the file has {len(raw)}"
        )
    raw = bytes(raw[:HEADER_BYTES])
    magic = struct.unpack_from(">I", raw, 0)[0]
    if magic != MAGIC:
        raise FileFormatError(
            f"cannot open '{name}': not a Jeiss FIB-SEM .dat file (magic number {magic}, expected {MAGIC})"
        )
    version = struct.unpack_from(">h", raw, 4)[0]
    if version not in SUPPORTED_VERSIONS:
        raise FileFormatError(
            f"cannot open '{name}': .dat file version {version} is unknown; owlx reads versions "
            f"{SUPPORTED_VERSIONS[0]}–{SUPPORTED_VERSIONS[-1]}"
        )
    fields = {fname: _decode(code, raw, off) for off, code, fname in field_table(version)}
    n_chan = int(fields["ChanNum"])
    if n_chan < 1:
        raise FileFormatError(f"cannot open '{name}': the header declares {n_chan} channels")
    dtype, rows = scaling_layout(version, n_chan)
    count = rows * 4
    if 36 + count * np.dtype(dtype).itemsize > 100:  # the block would run into XResolution
        raise FileFormatError(f"cannot open '{name}': {n_chan} channels do not fit the v{version} Scaling block")
    scaling = np.frombuffer(raw, dtype=dtype, count=count, offset=36).astype(np.float64).reshape(rows, 4)
    if version >= 9:
        fields["SampleID"] = fields.get("SampleID", "")
    if fields["XResolution"] < 1 or fields["YResolution"] < 1:
        raise FileFormatError(
            f"cannot open '{name}': the header declares an image of "
            f"{fields['XResolution']} × {fields['YResolution']} pixels"
        )
    return DatHeader(fields=fields, scaling=scaling, raw=raw)


def read_header(path: str) -> DatHeader:
    """Read and parse the header of the ``.dat`` file at ``path``."""
    import os

    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as err:
        raise FileFormatError(f"cannot open '{name}': {err.strerror or err}") from err
    return parse_header(raw, name)


def scale_raw(raw: np.ndarray, header: DatHeader, channel: int) -> np.ndarray:
    """Raw detector values of ``channel`` in the instrument's scaled units (float32), after
    spec/formats.md §6: 8-bit ``Raw·ScanRate/s0/s2/s3 + s1``; v1–6 ``s0 + Raw·s1``;
    v7 ``(Raw − s1)·s2``; v8/9 ``(Raw − s1)·s2/ScanRate·s0/0.1``."""
    s0, s1, s2, s3 = (float(v) for v in header.channel_scaling(channel))
    x = np.asarray(raw, dtype=np.float64)
    rate = float(header.get("ScanRate", 0.0))
    if header.eight_bit:
        out = x * rate / s0 / s2 / s3 + s1
    elif header.version <= 6:
        out = s0 + x * s1
    elif header.version == 7:
        out = (x - s1) * s2
    else:
        out = (x - s1) * s2 / rate * s0 / 0.1
    return out.astype(np.float32)


def build_header(fields: dict[str, Any], scaling: np.ndarray | None = None, version: int = 8) -> bytes:
    """A 1024-byte header of ``version`` with ``fields`` (others 0/empty); used to write
    synthetic ``.dat`` files for tests and benchmarks. Magic number and version are set."""
    raw = bytearray(HEADER_BYTES)
    values = dict(fields)
    values["FileMagicNum"] = MAGIC
    values["FileVersion"] = version
    for off, code, fname in field_table(version):
        if fname not in values:
            continue
        value = values[fname]
        if code.endswith("s"):
            value = str(value).encode("latin-1")
        struct.pack_into(code, raw, off, value)
    n_chan = int(values.get("ChanNum", 1))
    dtype, rows = scaling_layout(version, n_chan)
    block = np.zeros((rows, 4), dtype=dtype)
    if scaling is not None:
        s = np.asarray(scaling, dtype=np.float64).reshape(-1, 4)
        block[: min(rows, len(s))] = s[:rows]
    raw[36: 36 + block.nbytes] = block.tobytes()
    return bytes(raw)
