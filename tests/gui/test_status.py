from owlx.core.geometry import beam_center, q_resolution
from owlx.gui.status import format_readout, format_value


def test_readout_of_check_10_in_both_units():
    cx, cy = beam_center((414, 414))
    q, d = q_resolution(cx + 100, cy, cx, cy, 0.2254e-9, 2.4, 110e-6)
    text = format_readout(int(cx + 100), 3, 17.0, ["hot", "bad"], q, d)
    assert text.split("   ")[:3] == ["x 306", "y 3", "value 17"]
    assert "[hot, bad]" in text
    assert "q 0.1278 nm⁻¹ (0.01278 Å⁻¹)" in text and "d 49.18 nm" in text
    assert "d 491.8 Å" in format_readout(1, 1, 0, (), q, d, angstrom=True)


def test_values_read_as_people_write_them():
    assert format_value(3.0) == "3" and format_value(2.5e-7) == "2.5e-07"
    assert format_value(float("nan")) == "nan" and format_value((1, 2, 3)) == "(1, 2, 3)"
    assert format_value(1 + 2j) == "1+2j"
