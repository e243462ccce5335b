"""CXI mask bits (spec/formats.md §1.6)."""

import numpy as np
import pytest

from owlx.io.maskbits import DEFAULT_MASK_OUT_BITS, MASK_BITS, bit_names, valid_from_bits


def test_default_is_owls_5855_and_matches_the_table():
    assert DEFAULT_MASK_OUT_BITS == 5855 == 1 + 2 + 4 + 8 + 16 + 64 + 128 + 512 + 1024 + 4096
    assert sum(b.value for b in MASK_BITS if b.masked_by_default) == 5855
    assert len(MASK_BITS) == 16
    by_value = {b.value: b for b in MASK_BITS}
    assert by_value[0x1000].owl_name == "artifact-correction failed"
    assert "CXI_PIXEL_HAS_SIGNAL" in by_value[0x1000].cxi_meaning  # both meanings are shown
    assert not by_value[0x10000].masked_by_default


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.uint32, np.int64])
def test_integer_mask_bits(dtype):
    raw = np.array([0, 64, 32, 64 | 32, 256, 4096, 2048], dtype=dtype)
    valid = valid_from_bits(raw)
    assert valid.tolist() == [True, False, True, False, True, False, True]
    assert valid.dtype == bool


def test_custom_out_bits_and_invert():
    raw = np.array([0, 32, 64], dtype=np.uint16)
    assert valid_from_bits(raw, out_bits=32).tolist() == [True, False, True]
    assert valid_from_bits(raw, out_bits=32, invert=True).tolist() == [False, True, False]


def test_uint8_mask_ignores_bits_it_cannot_hold():
    raw = np.array([0, 1, 128, 255], dtype=np.uint8)
    # 5855 has bits above 0xff; they must not make '&' fail or overflow
    assert valid_from_bits(raw).tolist() == [True, False, False, False]


def test_signed_int8_edf_style_mask():
    raw = np.array([0, 1, -1], dtype=np.int8)  # typical EDF mask: 1 = masked
    assert valid_from_bits(raw).tolist() == [True, False, False]


def test_bool_and_float_masks_count_as_bit_1():
    assert valid_from_bits(np.array([False, True])).tolist() == [True, False]
    assert valid_from_bits(np.array([0.0, 0.5, np.nan])).tolist() == [True, False, False]
    # without bit 0x1 in the selection, such masks mask nothing
    assert valid_from_bits(np.array([False, True]), out_bits=64).tolist() == [True, True]
    # "non-zero means good" masks (loki, TIFF 255 = valid) need invert
    assert valid_from_bits(np.array([0, 255], dtype=np.uint8), out_bits=0xFF, invert=True).tolist() == [False, True]


def test_unsupported_mask_dtype():
    with pytest.raises(TypeError):
        valid_from_bits(np.array(["a"]))


def test_bit_names():
    assert bit_names(0) == []
    assert bit_names(64) == ["ignore"]
    assert bit_names(1 | 2 | 0x1000) == ["invalid", "saturated", "artifact-correction failed"]
    assert bit_names(0x10000) == ["CXI_PIXEL_INSIDE_SUPPORT"]
    assert bit_names(0x8000) == ["bit 0x8000"]  # unknown bits are never hidden
    assert "invalid" in bit_names(-1)
