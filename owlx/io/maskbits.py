"""CXI pixel-mask bits (spec/formats.md §1.6) and their conversion to owlx masks.

A raw CXI mask is an integer array whose bits flag why a pixel is bad. owlx works with boolean
masks, True = valid pixel, so every raw mask goes through :func:`valid_from_bits` at the reader.

The bit names are those of Owl's mask menu (FXIhub/owl, cxitree.py, cxi/pixelmask.py); the CXI
constants are those of the CXI file format specification v1.6 (cxidb/CXI, cxi_file_format.tex).
Bit 0x1000 is ambiguous: Owl/Cheetah mean "artifact correction failed", CXI v1.6 means "pixel has
signal". owlx keeps Owl's default (masked) and labels the bit with both meanings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from owlx.core.display import DEFAULT_MASK_OUT_BITS  # noqa: E402 - re-exported


@dataclass(frozen=True)
class MaskBit:
    """One row of the mask-bit table."""

    value: int  # the bit value, e.g. 64 for 0x0040
    owl_name: str  # the label of Owl's mask menu ("" when Owl had none)
    cxi_meaning: str  # the CXI v1.6 constant or comment
    masked_by_default: bool  # part of DEFAULT_MASK_OUT_BITS


MASK_BITS: tuple[MaskBit, ...] = (
    MaskBit(0x0001, "invalid", "CXI_PIXEL_IS_INVALID", True),
    MaskBit(0x0002, "saturated", "CXI_PIXEL_IS_SATURATED", True),
    MaskBit(0x0004, "hot", "CXI_PIXEL_IS_HOT", True),
    MaskBit(0x0008, "dead", "CXI_PIXEL_IS_DEAD", True),
    MaskBit(0x0010, "shadowed", "CXI_PIXEL_IS_SHADOWED", True),
    MaskBit(0x0020, "peakmask", "in peak mask (commented out in CXI v1.6)", False),
    MaskBit(0x0040, "ignore", "to be ignored (Owl/Cheetah; not in CXI v1.6)", True),
    MaskBit(0x0080, "bad", "CXI_PIXEL_IS_BAD", True),
    MaskBit(0x0100, "resolution", "out of resolution limits (commented out in CXI v1.6)", False),
    MaskBit(0x0200, "missing", "CXI_PIXEL_IS_MISSING (gap between modules)", True),
    MaskBit(0x0400, "noisy", "CXI_PIXEL_IS_NOISY", True),
    MaskBit(0x0800, "artifact-corrected", "artifact corrected (commented out in CXI v1.6)", False),
    MaskBit(
        0x1000,
        "artifact-correction failed",
        "CXI_PIXEL_HAS_SIGNAL in CXI v1.6 (Owl/Cheetah: artifact correction failed)",
        True,
    ),
    MaskBit(0x2000, "peak", "peak for hit finder (commented out in CXI v1.6)", False),
    MaskBit(0x4000, "background-corrected", "photon background corrected (commented out)", False),
    MaskBit(0x10000, "", "CXI_PIXEL_INSIDE_SUPPORT (Image class only)", False),
)

#: 1+2+4+8+16+64+128+512+1024+4096, Owl's default "mask out" selection.
# The default lives with the display settings (MaskSettings) in owlx.core; the table above
# must agree with it.

assert DEFAULT_MASK_OUT_BITS == sum(b.value for b in MASK_BITS if b.masked_by_default)


def valid_from_bits(raw: np.ndarray, out_bits: int = DEFAULT_MASK_OUT_BITS, invert: bool = False) -> np.ndarray:
    """Boolean validity (True = valid pixel) of a raw mask array.

    * Integer masks: a pixel is masked when ``raw & out_bits != 0``.
    * Boolean and floating-point masks carry no bit field: non-zero counts as bit 0x1
      ("invalid"), so they mask pixels whenever ``out_bits`` includes 0x1.
    * ``invert=True`` flips the final polarity, for masks where non-zero means good (TIFF masks
      with 255 = valid, loki's bool masks with True = valid).
    """
    raw = np.asarray(raw)
    if raw.dtype.kind in "iu":
        # Cast the selection to the mask's own dtype so that & never upcasts to an object array;
        # bits the dtype cannot hold cannot be set in the data either.
        bits = np.array(out_bits & _dtype_bit_mask(raw.dtype)).astype(raw.dtype)
        masked = (raw & bits) != 0
    elif raw.dtype.kind in "bfc":
        masked = (raw != 0) if (out_bits & 0x1) else np.zeros(raw.shape, dtype=bool)
    else:
        raise TypeError(f"a mask must be integer, boolean or floating point, not {raw.dtype}")
    return masked if invert else ~masked


def _dtype_bit_mask(dtype: np.dtype) -> int:
    return (1 << (8 * dtype.itemsize)) - 1


def bit_names(value: int) -> list[str]:
    """Names of the bits set in one raw mask value, for the pixel readout.

    Owl's name is used when it has one, otherwise the CXI meaning; unknown bits appear as
    ``"bit 0x…"`` so that nothing set in the file is hidden.
    """
    value = int(value)
    if value < 0:  # a signed mask (int8 -1 = every bit): read it as two's complement
        value &= (1 << 64) - 1
    names = []
    known = 0
    for bit in MASK_BITS:
        known |= bit.value
        if value & bit.value:
            names.append(bit.owl_name or bit.cxi_meaning.split(" ")[0])
    rest = value & ~known
    pos = 0
    while rest >> pos:
        if (rest >> pos) & 1:
            names.append(f"bit 0x{1 << pos:04x}")
        pos += 1
    return names
