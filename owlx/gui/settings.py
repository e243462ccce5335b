"""Persistent settings (spec/viewer.md C1, C2, F11): a typed layer over ``QSettings``.

The store is ``QSettings(IniFormat, UserScope, "owlx", "owlx")`` — an INI file the user can read
(``~/.config/owlx/owlx.ini`` on Linux). Every read is typed by its default and falls back to the
default when the stored text is missing, corrupt or of another type, so a hand-edited or older
file never stops owlx from starting.

* ``settingsVersion`` is written on first use; :data:`SETTINGS_VERSION` is raised, with a
  migration step in :meth:`AppSettings._migrate`, when a key changes meaning.
* ``fresh=True`` (``owlx --fresh``) reads defaults and sends writes to a throw-away store for
  this run; the user's file is neither read nor changed.
* Dataclasses (``DisplaySettings``, ``MaskSettings`` of :mod:`owlx.core.display`) are stored
  field by field from :func:`dataclasses.fields`, so adding a field needs no change here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import tempfile
from typing import Any, TypeVar

from PyQt5 import QtCore

SETTINGS_VERSION = 1
MAX_RECENT = 10
DEFAULT_IMAGE_CACHE_MB = 1024  # Owl's default (spec C2)

T = TypeVar("T")


class AppSettings:
    """Typed access to owlx's settings store.

    Args:
        path: an explicit INI file (tests, portable installs); None = the per-user store.
        fresh: ignore the stored values for this run and write to a temporary store.
    """

    def __init__(self, path: str | os.PathLike | None = None, fresh: bool = False):
        self.fresh = fresh
        self._tmp: tempfile.TemporaryDirectory | None = None
        if fresh:
            # A real (temporary) store rather than "no store": values set during the run read
            # back consistently, and nothing reaches the user's file.
            self._tmp = tempfile.TemporaryDirectory(prefix="owlx-fresh-")
            self._store = QtCore.QSettings(os.path.join(self._tmp.name, "owlx.ini"), QtCore.QSettings.IniFormat)
        elif path is not None:
            self._store = QtCore.QSettings(os.fspath(path), QtCore.QSettings.IniFormat)
        else:
            self._store = QtCore.QSettings(
                QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, "owlx", "owlx"
            )
        self.stored_version = self.get("settingsVersion", 0)
        self._migrate(self.stored_version)

    def _migrate(self, stored: int) -> None:
        """Bring an older store up to :data:`SETTINGS_VERSION` (version 1 is the first)."""
        if stored < SETTINGS_VERSION:
            self.set("settingsVersion", SETTINGS_VERSION)

    # -- generic typed access -----------------------------------------------------------------
    @property
    def file_name(self) -> str:
        """Where the values are written (a temporary file in fresh mode)."""
        return self._store.fileName()

    def get(self, key: str, default: T) -> T:
        """The stored value of ``key`` as the type of ``default``; ``default`` if absent or bad.

        ``default`` may be a bool, int, float, str, bytes, Enum, tuple/list, dict or None.
        """
        return decode(self._store.value(key), default)

    def set(self, key: str, value: Any) -> None:
        self._store.setValue(key, encode(value))

    def contains(self, key: str) -> bool:
        return self._store.contains(key)

    def remove(self, key: str) -> None:
        """Remove a key or a whole group."""
        self._store.remove(key)

    def sync(self) -> None:
        """Write pending changes now (Qt also writes on its own, and at exit)."""
        self._store.sync()

    def reset(self) -> None:
        """Clear every stored value (Help › Reset settings); the version key is rewritten."""
        self._store.clear()
        self.set("settingsVersion", SETTINGS_VERSION)
        self._store.sync()

    # -- dataclasses --------------------------------------------------------------------------
    def get_dataclass(self, group: str, cls: type[T]) -> T:
        """An instance of dataclass ``cls`` from ``group/<field>`` keys.

        Each field is decoded against the class default. The stored fields are first applied
        together (fields that are only valid in combination, like levels in "value" units,
        must not be checked one by one); if the class rejects that — in ``__post_init__`` or
        its ``validate()`` — they are applied one at a time and each rejected one keeps its
        default, so one bad value never resets the others.
        """
        defaults = cls()
        stored: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = f"{group}/{f.name}"
            if f.init and self._store.contains(key):
                stored[f.name] = decode(self._store.value(key), getattr(defaults, f.name))
        candidate = _checked_replace(defaults, stored)
        if candidate is not None:
            return candidate
        result = defaults
        for name, value in stored.items():
            updated = _checked_replace(result, {name: value})
            if updated is not None:
                result = updated
        return result

    def set_dataclass(self, group: str, obj: Any) -> None:
        """Store every field of dataclass instance ``obj`` under ``group``, replacing the group
        so that fields a newer or older owlx had do not linger."""
        self._store.remove(group)
        for f in dataclasses.fields(obj):
            self.set(f"{group}/{f.name}", getattr(obj, f.name))

    def display_settings(self, cls: type | None = None) -> Any:
        """The stored :class:`owlx.core.display.DisplaySettings` (§6)."""
        if cls is None:
            from ..core.display import DisplaySettings as cls
        return self.get_dataclass("display", cls)

    def set_display_settings(self, settings: Any) -> None:
        self.set_dataclass("display", settings)

    def mask_settings(self, cls: type | None = None) -> Any:
        """The stored :class:`owlx.core.display.MaskSettings` (§7)."""
        if cls is None:
            from ..core.display import MaskSettings as cls
        return self.get_dataclass("mask", cls)

    def set_mask_settings(self, settings: Any) -> None:
        self.set_dataclass("mask", settings)

    # -- window and paths ---------------------------------------------------------------------
    def window_geometry(self) -> bytes | None:
        """``QMainWindow.saveGeometry()`` bytes, or None."""
        return self.get("window/geometry", b"") or None

    def set_window_geometry(self, data: bytes | QtCore.QByteArray) -> None:
        self.set("window/geometry", bytes(data))

    def dock_state(self) -> bytes | None:
        """``QMainWindow.saveState()`` bytes, or None."""
        return self.get("window/dockState", b"") or None

    def set_dock_state(self, data: bytes | QtCore.QByteArray) -> None:
        self.set("window/dockState", bytes(data))

    def image_cache_mb(self) -> int:
        value = self.get("cache/imageMB", DEFAULT_IMAGE_CACHE_MB)
        return value if value > 0 else DEFAULT_IMAGE_CACHE_MB

    def set_image_cache_mb(self, megabytes: int) -> None:
        self.set("cache/imageMB", int(megabytes))

    def last_directory(self) -> str:
        """The folder of the last Open dialog, or "" when unset or since removed."""
        path = self.get("paths/lastDirectory", "")
        return path if path and os.path.isdir(path) else ""

    def set_last_directory(self, path: str | os.PathLike) -> None:
        self.set("paths/lastDirectory", os.path.abspath(os.fspath(path)))

    def png_folder(self) -> str:
        """Where Ctrl+P writes PNGs, or "" when unset or since removed."""
        path = self.get("paths/pngFolder", "")
        return path if path and os.path.isdir(path) else ""

    def set_png_folder(self, path: str | os.PathLike) -> None:
        self.set("paths/pngFolder", os.path.abspath(os.fspath(path)))

    @property
    def recent(self) -> "RecentFiles":
        """File › Open Recent (F11)."""
        return RecentFiles(self)

    # QSettings array access for RecentFiles, kept here so the store stays private.
    def _read_array(self, name: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        n = self._store.beginReadArray(name)
        try:
            for i in range(n):
                self._store.setArrayIndex(i)
                rows.append({k: decode(self._store.value(k), d) for k, d in fields.items()})
        finally:
            self._store.endArray()
        return rows

    def _write_array(self, name: str, rows: list[dict[str, Any]]) -> None:
        self._store.remove(name)
        self._store.beginWriteArray(name, len(rows))
        try:
            for i, row in enumerate(rows):
                self._store.setArrayIndex(i)
                for key, value in row.items():
                    self._store.setValue(key, encode(value))
        finally:
            self._store.endArray()


def _checked_replace(obj: T, changes: dict[str, Any]) -> T | None:
    """``dataclasses.replace(obj, **changes)`` if the class accepts it (including its
    ``validate()`` method when it has one), else None."""
    try:
        new = dataclasses.replace(obj, **changes)
        validate = getattr(new, "validate", None)
        if callable(validate):
            validate()
    except Exception:
        return None
    return new


# -- recent files -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RecentEntry:
    """One File › Open Recent entry: the file and what was shown when it was last open."""

    path: str  # absolute
    dataset: str = ""  # "" = the file's default stack
    frame: int = 0

    @property
    def exists(self) -> bool:
        return os.path.exists(self.path)


class RecentFiles:
    """The recent-files list (spec/viewer.md F11, after silx's ApplicationContext): at most
    :data:`MAX_RECENT` entries, newest first, one per absolute path, each remembering the
    dataset and frame last shown. Stored as the ``recentFiles`` array of the settings."""

    _KEY = "recentFiles"
    _FIELDS = {"path": "", "dataset": "", "frame": 0}

    def __init__(self, settings: AppSettings):
        self._settings = settings

    def entries(self) -> list[RecentEntry]:
        """Newest first. Rows without a path or repeating a path (a hand-edited file) are
        dropped rather than shown."""
        result: list[RecentEntry] = []
        seen: set[str] = set()
        for row in self._settings._read_array(self._KEY, self._FIELDS):
            key = _match_key(row["path"]) if row["path"] else ""
            if not key or key in seen:
                continue
            seen.add(key)
            result.append(RecentEntry(os.path.abspath(row["path"]), row["dataset"], max(0, row["frame"])))
        return result[:MAX_RECENT]

    def find(self, path: str | os.PathLike) -> RecentEntry | None:
        key = _match_key(path)
        return next((e for e in self.entries() if _match_key(e.path) == key), None)

    def add(self, path: str | os.PathLike, dataset: str | None = None, frame: int | None = None) -> RecentEntry:
        """Put ``path`` first (the file was just opened). ``None`` keeps what the entry
        remembered, so reopening from the menu does not forget the dataset and frame."""
        old = self.find(path)
        entry = RecentEntry(
            os.path.abspath(os.fspath(path)),
            dataset if dataset is not None else (old.dataset if old else ""),
            int(frame) if frame is not None else (old.frame if old else 0),
        )
        others = [e for e in self.entries() if _match_key(e.path) != _match_key(entry.path)]
        self._write([entry, *others][:MAX_RECENT])
        return entry

    def remember(self, path: str | os.PathLike, dataset: str | None = None, frame: int | None = None) -> bool:
        """Update the dataset/frame of ``path`` without reordering (on close or dataset change);
        False when ``path`` is not in the list."""
        entries = self.entries()
        key = _match_key(path)
        for i, e in enumerate(entries):
            if _match_key(e.path) == key:
                entries[i] = dataclasses.replace(
                    e,
                    dataset=e.dataset if dataset is None else dataset,
                    frame=e.frame if frame is None else int(frame),
                )
                self._write(entries)
                return True
        return False

    def remove(self, path: str | os.PathLike) -> None:
        key = _match_key(path)
        self._write([e for e in self.entries() if _match_key(e.path) != key])

    def missing(self) -> list[RecentEntry]:
        """Entries whose file no longer exists (shown disabled with "(missing)")."""
        return [e for e in self.entries() if not e.exists]

    def clear(self) -> None:
        """The menu's **Clear list**."""
        self._write([])

    def _write(self, entries: list[RecentEntry]) -> None:
        self._settings._write_array(self._KEY, [dataclasses.asdict(e) for e in entries])


def _match_key(path: str | os.PathLike) -> str:
    # normcase: on Windows C:\Data\a.cxi and c:/data/A.cxi are the same file
    return os.path.normcase(os.path.abspath(os.fspath(path)))


def recent_menu_entries(settings: AppSettings) -> list[tuple[str, str, bool]]:
    """``(label, path, exists)`` for File › Open Recent, newest first.

    Labels carry a keyboard accelerator (``&1``…``1&0``), escape ``&`` in file names, add the
    parent folder when two entries share a file name, and end in "(missing)" for files that
    no longer exist (the menu shows those disabled).
    """
    entries = settings.recent.entries()
    names = [os.path.basename(e.path) for e in entries]
    result = []
    for i, (entry, name) in enumerate(zip(entries, names), start=1):
        text = name
        if names.count(name) > 1:
            text += f" — {os.path.basename(os.path.dirname(entry.path))}"
        text = text.replace("&", "&&")
        accel = f"&{i}" if i < 10 else f"{i // 10}&{i % 10}"
        exists = entry.exists
        label = f"{accel} {text}" + ("" if exists else " (missing)")
        result.append((label, entry.path, exists))
    return result


# -- value coding -------------------------------------------------------------------------------
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def encode(value: Any) -> Any:
    """A value QSettings writes to INI and reads back unambiguously.

    Scalars and strings are stored as themselves (readable in the file); bytes as QByteArray;
    Enums by value; tuples, lists, dicts and None as JSON text, because INI keeps no types.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (bytes, bytearray, QtCore.QByteArray)):
        return QtCore.QByteArray(bytes(value))
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and small arrays
        value = value.tolist()
    return json.dumps(value)


def decode(raw: Any, default: T) -> T:
    """``raw`` (as QSettings returns it: often a str from INI) converted to ``type(default)``;
    ``default`` when absent or not convertible."""
    if raw is None:
        return default
    try:
        value = _convert(raw, default)
    except (TypeError, ValueError, OverflowError, json.JSONDecodeError):
        return default
    return default if value is None and default is not None else value


def _convert(raw: Any, default: Any) -> Any:
    if isinstance(default, enum.Enum):
        cls = type(default)
        for member in cls:
            if str(member.value) == str(raw) or member.name == str(raw):
                return member
        return None
    if isinstance(default, bool):  # before int: bool is an int subclass
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(default, int):
        if isinstance(raw, float) and not raw.is_integer():
            return None
        return int(str(raw).strip()) if not isinstance(raw, (int, float)) else int(raw)
    if isinstance(default, float):
        value = float(raw)
        return value if math.isfinite(value) else None
    if isinstance(default, str):
        return raw if isinstance(raw, str) else None
    if isinstance(default, (bytes, bytearray)):
        return bytes(raw) if isinstance(raw, (QtCore.QByteArray, bytes, bytearray)) else None
    data = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(default, tuple):
        return _sequence_like(data, default, tuple)
    if isinstance(default, list):
        return _sequence_like(data, default, list)
    if isinstance(default, dict):
        return data if isinstance(data, dict) else None
    return data  # default None: any JSON value


def _sequence_like(data: Any, default: tuple | list, kind: type) -> Any:
    """A tuple/list like ``default``: same length and element types when the default has items."""
    if not isinstance(data, (list, tuple)):
        return None
    if not default:
        return kind(data)
    if len(data) != len(default):
        return None
    items = [_convert(x, d) for x, d in zip(data, default)]
    return None if any(i is None for i in items) else kind(items)
