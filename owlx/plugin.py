"""The plugin contract and its registry.

A plugin is a package that names a :class:`Plugin` object in the ``owlx.plugins`` entry-point
group, e.g. in its ``pyproject.toml``::

    [project.entry-points."owlx.plugins"]
    polar = "owlx_polar:plugin"

It may contribute

- **panels** (:class:`Panel`): dock widgets. The GUI calls ``Panel.create(context)`` on the GUI
  thread with a :class:`PanelContext` and docks the widget it returns. The context is all a panel
  sees of the application: the session, ``run_job``, overlay layers on the image view, status
  messages. Panels call algorithms in ``owlx.core``; they do not contain them.
- **readers** (:class:`Reader`): file extensions and a function ``open(path) -> Source``.
- **commands** (:class:`Command`): ``owlx NAME ...`` subcommands.

This module imports no Qt, so the CLI and scripts can load plugins (for their readers and
commands) without a display. :func:`discover` never raises for a broken plugin: it records the
error in the :class:`LoadedPlugin` so the GUI can list it in the Plugins menu and go on.
"""

from __future__ import annotations

import argparse
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .jobs import Job, JobOutcome
    from .session import Session

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "owlx.plugins"


@dataclass(frozen=True)
class Panel:
    """A dock panel.

    ``create(context)`` builds and returns the panel's QWidget (called once, on the GUI thread,
    when the user first opens the panel). ``area`` is "right", "left" or "bottom".
    ``shortcut`` is a Qt key sequence string such as "Ctrl+Shift+P" (optional).
    """

    title: str
    create: Callable[[PanelContext], Any]
    area: str = "right"
    shortcut: str | None = None


@dataclass(frozen=True)
class Reader:
    """Opens files with one of ``extensions`` (lower case, with the dot, e.g. ".dat").
    ``open(path)`` returns an :class:`owlx.io.source.Source`."""

    name: str
    extensions: tuple[str, ...]
    open: Callable[[str], Any]


@dataclass(frozen=True)
class Command:
    """An ``owlx NAME`` subcommand: ``configure(parser)`` adds its arguments, ``run(args)``
    does the work and returns the process exit code."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Plugin:
    """What a plugin contributes. ``name`` is shown in the Plugins menu with ``version``."""

    name: str
    version: str
    panels: tuple[Panel, ...] = ()
    readers: tuple[Reader, ...] = ()
    commands: tuple[Command, ...] = ()
    description: str = ""


class Overlay(Protocol):
    """One named layer of shapes drawn over the image view (implemented by the GUI).

    Coordinates are array indices of the shown frame: ``x`` = column, ``y`` = row, the centre
    of pixel (0, 0) at (0, 0). Colours are anything pyqtgraph's ``mkColor`` accepts
    (e.g. "r", "#00ff00", (255, 128, 0)). Each ``set_*`` call replaces what the layer showed.
    """

    def set_circles(self, x, y, radius, color: Any = "r", width: float = 1.5, dashed: bool = False) -> None: ...

    def set_points(self, x, y, color: Any = "r", size: float = 8.0, symbol: str = "+") -> None: ...

    def set_lines(self, segments, color: Any = "r", width: float = 1.5, dashed: bool = False) -> None: ...

    def clear(self) -> None: ...

    def set_visible(self, visible: bool) -> None: ...


class PanelContext(Protocol):
    """What a panel may use of the application (implemented by ``owlx.gui.plugin_host``).

    Attributes:
        session: the :class:`owlx.session.Session` (current stack, frame index, ``frame()``,
            ``valid_mask()``, ``order``, tags, model results; psygnal events such as
            ``frame_changed``, ``stack_changed``). Reading a whole frame from a big file can take
            tens of ms: do it inside a job, not on the GUI thread.
    """

    session: Session

    def run_job(
        self,
        job: Job,
        on_result: Callable[[Any], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        on_finished: Callable[[JobOutcome], None] | None = None,
    ) -> Any:
        """Run ``job`` on a worker thread; callbacks arrive on the GUI thread. The job shows in
        the status bar (progress, cancel). Returns a handle with ``cancel()``."""
        ...

    def overlay(self, name: str) -> Overlay:
        """The overlay layer ``name`` of this plugin (created on first use)."""
        ...

    def status(self, message: str, timeout_ms: int = 5000) -> None:
        """Show ``message`` in the status bar."""
        ...

    def error(self, message: str) -> None:
        """Report an error a user can act on (status bar, red), never a traceback."""
        ...


@dataclass
class LoadedPlugin:
    """One entry point and what became of it: ``plugin`` when it loaded, else ``error``."""

    entry_point: str
    distribution: str
    module: str = ""  # top-level module of the entry point ("owlx_polar"), to attribute errors
    plugin: Plugin | None = None
    error: str | None = None
    details: str = ""
    panel_errors: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.plugin.name if self.plugin is not None else self.entry_point

    @property
    def version(self) -> str:
        return self.plugin.version if self.plugin is not None else "?"


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)


def load_entry_point(ep: metadata.EntryPoint) -> LoadedPlugin:
    """Import one entry point; any exception (or an object that is not a :class:`Plugin`)
    becomes ``error`` instead of propagating."""
    dist = getattr(getattr(ep, "dist", None), "name", "") or ""
    loaded = LoadedPlugin(entry_point=ep.name, distribution=dist, module=ep.value.split(":")[0].split(".")[0])
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, Plugin):
            obj = obj()  # a factory function is allowed
        if not isinstance(obj, Plugin):
            raise TypeError(f"{ep.value} is a {type(obj).__name__}, not an owlx.plugin.Plugin")
        loaded.plugin = obj
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the app
        loaded.error = f"{type(exc).__name__}: {exc}"
        loaded.details = traceback.format_exc()
        log.debug("plugin %s (%s) failed to load:\n%s", ep.name, ep.value, loaded.details)
    return loaded


_cache: dict[str, list[LoadedPlugin]] = {}


def discover(group: str = ENTRY_POINT_GROUP, refresh: bool = False) -> list[LoadedPlugin]:
    """All plugins of ``group``, loaded once per process (``refresh`` reloads), sorted by name."""
    if refresh or group not in _cache:
        _cache[group] = [load_entry_point(ep) for ep in _entry_points(group)]
    return _cache[group]


def plugins(group: str = ENTRY_POINT_GROUP) -> list[Plugin]:
    """The plugins that loaded."""
    return [p.plugin for p in discover(group) if p.plugin is not None]


def readers(group: str = ENTRY_POINT_GROUP) -> list[Reader]:
    return [r for p in plugins(group) for r in p.readers]


def open_source(path, swmr: bool = False, group: str = ENTRY_POINT_GROUP):
    """Open ``path`` as :func:`owlx.io.open.open_source` does; a single file whose extension no
    built-in reader knows (and that is not HDF5 by its signature) goes to the first plugin
    :class:`Reader` that claims the extension. This is what the session, the GUI and
    ``owlx info`` open files with."""
    import os

    from .errors import FileFormatError, OwlxError
    from .io.open import is_hdf5, known_extension
    from .io.open import open_source as open_builtin

    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path) and not known_extension(path):
        lower = os.fspath(path).lower()
        reader = next((r for r in readers(group) if lower.endswith(tuple(e.lower() for e in r.extensions))), None)
        if reader is not None and not is_hdf5(path):
            try:
                return reader.open(os.fspath(path))
            except OwlxError:
                raise  # already a message a person can act on
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, not a crash
                raise FileFormatError(f"the {reader.name} reader (a plugin) could not open "
                                      f"'{os.path.basename(path)}': {type(exc).__name__}: {exc}") from exc
    return open_builtin(path, swmr=swmr)


def commands(group: str = ENTRY_POINT_GROUP) -> list[Command]:
    return [c for p in plugins(group) for c in p.commands]
