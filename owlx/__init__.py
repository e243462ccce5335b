"""owlx: a viewer and analysis workbench for X-ray diffraction and electron-microscopy stacks.

Scripts start with :func:`owlx.open`, which returns a :class:`owlx.session.Session` without
needing Qt; the GUI console's ``session`` is the same kind of object (README "Scripting")::

    import owlx
    s = owlx.open("run.cxi")
    s.stacks()                          # image datasets of the file
    s.frame_index = 5                   # select a frame (the GUI view follows)
    img = s.frame()                     # raw frame, (ny, nx) in the file's units (ADU)
    for i, img in s.frames(): ...       # frames in view order (sorted, filtered)
    s.tag("fail", [3, 7])               # tags by name (s.tagged("fail") -> frame indices)
    s.fit()                             # sphere sizing of every frame (a Job: s.fit_job())
    t = s.results()                     # diameter_nm, intensity_mJ_um2, center_x/y_px, fit_error...
    s.save()                            # tags and model into the file, or its sidecar
"""

from __future__ import annotations

from .errors import (
    DatasetError,
    FileFormatError,
    JobCancelled,
    OwlxError,
    ParameterError,
)

__version__ = "0.1.0"

__all__ = [
    "DatasetError",
    "FileFormatError",
    "JobCancelled",
    "OwlxError",
    "ParameterError",
    "__version__",
    "open",
]


def open(path: str, dataset: str | None = None, **kwargs):
    """Open a file (or a list of numbered files) and return a :class:`~owlx.session.Session`
    showing its default image stack, or ``dataset`` (e.g. ``"/entry_1/image_1/data"``).
    ``swmr=True`` opens an HDF5 file that is still being written. Works without Qt; the
    scripting calls are listed in :mod:`owlx.session_api`."""
    from .session import Session

    session = Session()
    session.open(path, dataset=dataset, **kwargs)
    return session
