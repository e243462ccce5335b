"""XSVS project files are parsed strictly: a repeated [Exp_n] section or option is refused with
its line (formerly merged silently), and malformed lines give one-line messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from owlx.errors import FileFormatError
from owlx.io.ini_parse import parse_ini
from owlx.io.xsvs_project import read_project

MAIN = ("[Main]\nsave dir = out/\ndata dir = frames/\nmask = mask.edf\nflat field = flat.edf\nq1 = 0.002\n"
        "qs = 0.001\nq2 = 0.004\ndq = 4e-4\nsample name = s_\nwavelength = 1.53\ncenx = 30\nceny = 20\n"
        "pix = 0.055\nsddist = 2140\n")


def exp(n, first, last, t=1e-3):
    return f"\n[Exp_{n}]\ndata prefix = f_\ndata suffix = .edf\nfirst data file = {first}\nlast data file = {last}\n" \
           f"exp time = {t}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "input.txt"
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(path) -> str:
    with pytest.raises(FileFormatError) as err:
        read_project(path)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_repeated_exposure_section_is_refused_not_merged(tmp_path):
    text = MAIN + exp(1, 1, 10) + exp(2, 11, 20) + exp(1, 21, 30, 5e-3)  # the third: line 31
    assert text.splitlines()[30] == "[Exp_1]"
    message = one_line_error(write(tmp_path, text))
    assert message == ("'input.txt' line 31: section [Exp_1] appears a second time; merge the two [Exp_1] "
                       "sections or rename one")
    # formerly one exposure of files 21–30 at 5 ms: the first [Exp_1] silently lost its values
    ok = read_project(write(tmp_path, MAIN + exp(1, 1, 10) + exp(2, 11, 20) + exp(3, 21, 30, 5e-3)))
    assert [len(e.files) for e in ok.exposures] == [10, 10, 10]


def test_a_repeated_option_is_refused_with_its_line(tmp_path):
    text = MAIN + exp(1, 1, 10).replace("exp time = 0.001\n", "exp time = 0.001\nEXP TIME = 0.002\n")
    message = one_line_error(write(tmp_path, text))
    assert message == "'input.txt' line 23: 'exp time' is set a second time in [Exp_1]; keep only one of those lines"
    assert text.splitlines()[22] == "EXP TIME = 0.002"  # option names are case-insensitive


def test_malformed_files_give_one_clear_line(tmp_path):
    message = one_line_error(write(tmp_path, "q1 = 0.002\n" + MAIN + exp(1, 1, 2)))
    assert message == ("'input.txt' line 1: 'q1 = 0.002' comes before any [section] header; the file must start "
                       "with a section such as [Main]")
    message = one_line_error(write(tmp_path, MAIN + "just some words\n[Exp_1\nmore\n" + exp(1, 1, 2)))
    assert message == ("'input.txt' line 16: 'just some words\\n' is neither a [section] header nor a 'key = value' "
                       "line (and 2 more such lines)")


def test_parse_ini_keeps_the_raw_semantics():
    config = parse_ini("# c\n[Main]\nKey = a %(x)s ; not a comment\n; c\n[Exp_1]\nkey = 2\n", "x.ini")
    assert config.sections() == ["Main", "Exp_1"]
    assert config.get("Main", "key") == "a %(x)s ; not a comment" and config.get("Exp_1", "KEY") == "2"
