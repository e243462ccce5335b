"""refuse_input_as_output: an output naming an input file (same path, symbolic or hard link) is
refused; other outputs pass. source_files: the files an open source reads."""

from __future__ import annotations

import os

import numpy as np
import pytest

from owlx.errors import ParameterError
from owlx.io.output_paths import refuse_input_as_output, source_files


def test_the_input_itself_is_refused_under_any_name(tmp_path):
    data = tmp_path / "data.h5"
    data.write_bytes(b"frames")
    os.symlink(data, tmp_path / "link.h5")
    os.link(data, tmp_path / "hard.h5")
    for output in (data, str(data), tmp_path / "sub" / ".." / "data.h5", tmp_path / "link.h5", tmp_path / "hard.h5"):
        with pytest.raises(ParameterError, match="is the input file itself; choose another output file"):
            refuse_input_as_output(output, data)
    with pytest.raises(ParameterError, match=r"the output .*hard\.h5 is the input"):
        refuse_input_as_output(tmp_path / "hard.h5", [tmp_path / "other.h5", str(data)])  # a list of inputs
    assert data.read_bytes() == b"frames"


def test_other_outputs_pass(tmp_path):
    data = tmp_path / "data.h5"
    data.write_bytes(b"frames")
    (tmp_path / "old.h5").write_bytes(b"an older output")
    for output, inputs in ((tmp_path / "new.h5", data), (tmp_path / "old.h5", [data]), (None, data), ("", data),
                           (tmp_path / "new.h5", None), (tmp_path / "new.h5", [])):
        assert refuse_input_as_output(output, inputs) is None


def test_source_files_lists_the_files_on_disk(tmp_path):
    from owlx.io.memory import ArraySource
    from owlx.io.npy import NpySource

    path = tmp_path / "stack.npy"
    np.save(path, np.zeros((2, 3, 3)))
    with NpySource(str(path)) as src:
        assert [os.path.realpath(p) for p in source_files(src)] == [os.path.realpath(path)]
    assert source_files(ArraySource(np.zeros((2, 3, 3)))) == []  # in memory: nothing to protect
    assert source_files(None) == []
