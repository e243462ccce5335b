"""Cooperative cancellation for long core computations.

Core functions take an optional ``cancel`` argument and call the checker this module builds at
safe points (between stages, inside search loops, in optimiser evaluations). The core cannot
import ``owlx.jobs``, so any of these is accepted:

* ``None`` — never cancelled;
* an object with a ``cancelled`` attribute or property (``owlx.jobs.CancelToken``, a job context);
* an object with ``is_set()`` (``threading.Event``);
* a callable returning True when the work should stop.

When cancelled, the checker raises :class:`owlx.errors.JobCancelled`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from owlx.errors import JobCancelled

__all__ = ["cancel_checker", "never"]


def never() -> None:
    """The checker of work that cannot be cancelled."""


def cancel_checker(cancel: Any) -> Callable[[], None]:
    """Return a function that raises JobCancelled once ``cancel`` says so (see module doc)."""
    if cancel is None:
        return never
    if hasattr(cancel, "cancelled"):
        def check() -> None:
            flag = cancel.cancelled
            if callable(flag):
                flag = flag()
            if flag:
                raise JobCancelled("cancelled")
    elif hasattr(cancel, "is_set"):
        def check() -> None:
            if cancel.is_set():
                raise JobCancelled("cancelled")
    elif callable(cancel):
        def check() -> None:
            if cancel():
                raise JobCancelled("cancelled")
    else:
        raise TypeError(
            "cancel must be None, a token with .cancelled, an Event or a callable, "
            f"got {type(cancel).__name__}")
    return check
