"""Guards for the file a tool writes: never the file it is reading.

A writer that opens its output with ``"w"`` (or renames a finished temporary file onto it)
destroys the input when both are the same file, while frames are still being read from it. Every
tool that writes a new file from an open one (stack alignment, FIB-SEM registration) checks its
output with :func:`refuse_input_as_output` before it starts.
"""

from __future__ import annotations

import os

from owlx.errors import ParameterError

__all__ = ["refuse_input_as_output", "source_files"]


def refuse_input_as_output(output: str | os.PathLike | None, inputs) -> None:
    """Raise :class:`~owlx.errors.ParameterError` when ``output`` names one of the files in
    ``inputs`` (a path, a list of paths, or None).

    Two names are the same file when their real paths (symbolic links resolved) are equal, or,
    when both exist, when :func:`os.path.samefile` says so (hard links, case-insensitive file
    systems). ``output`` None or "" means "nothing is written" and passes."""
    if not output:
        return
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out = os.path.realpath(os.fspath(output))
    for path in inputs or ():
        path = os.fspath(path)
        same = os.path.realpath(path) == out
        if not same and os.path.exists(path) and os.path.exists(out):
            same = os.path.samefile(path, out)
        if same:
            raise ParameterError(f"the output {output} is the input file itself; choose another output file")


def source_files(source) -> list[str]:
    """The files an open :class:`~owlx.io.source.Source` reads: every file of a numbered series
    (``files``), else its ``path``; in-memory sources (no such file) give an empty list."""
    if source is None:
        return []
    files = getattr(source, "files", None)
    paths = list(files) if files else [getattr(source, "path", None)]
    if paths and isinstance(paths[0], (list, tuple)):  # a source opened from a list of files
        paths = list(paths[0])
    return [os.fspath(p) for p in paths if isinstance(p, (str, os.PathLike)) and os.path.isfile(os.fspath(p))]
