"""Errors a user can cause, each with a message a person can act on.

Everything raised on purpose for bad input (a corrupt file, a wrong shape, a nonsense parameter)
derives from :class:`OwlxError`. The GUI shows ``str(err)`` in the status bar or a dialog and the
CLI prints it as one line; neither shows a traceback for these.
"""

from __future__ import annotations


class OwlxError(Exception):
    """Base class of every error owlx raises on purpose for bad user input."""


class FileFormatError(OwlxError):
    """A file cannot be opened: unknown format, corrupt or truncated content, missing file."""


class DatasetError(OwlxError):
    """A dataset exists but cannot be used as asked (not an image, empty, wrong shape, bad read)."""


class ParameterError(OwlxError, ValueError):
    """A parameter is outside its meaningful range (negative wavelength, unknown method name...)."""


class JobCancelled(OwlxError):
    """Raised inside a job when its cancel token was set; the job ends without an error report."""
