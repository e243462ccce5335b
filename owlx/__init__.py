"""owlx: a viewer and analysis workbench for X-ray diffraction and electron-microscopy stacks.

Scripts start with :func:`owlx.open`, which returns a :class:`owlx.session.Session` without
needing Qt::

    import owlx
    s = owlx.open("run.cxi")
    s.frame_index = 5
    img = s.frame()
"""

from __future__ import annotations

from .errors import DatasetError, FileFormatError, JobCancelled, OwlxError, ParameterError

__version__ = "0.1.0"

__all__ = [
    "open",
    "OwlxError",
    "FileFormatError",
    "DatasetError",
    "ParameterError",
    "JobCancelled",
    "__version__",
]


def open(path: str, dataset: str | None = None, **kwargs):  # noqa: A001 - the API name users expect
    """Open a file and return a :class:`~owlx.session.Session` showing its default stack
    (or ``dataset``). Works without Qt."""
    from .session import Session

    session = Session()
    session.open(path, dataset=dataset, **kwargs)
    return session
