"""Reading ``.ini`` text strictly, with one-line errors a person can act on.

``configparser``'s non-strict mode merges a repeated ``[Exp_1]`` section into the first one and
keeps the last of repeated options, silently: a project would lose an exposure or a value without
a word. Strict parsing refuses both; the errors are rewritten as one line naming the file, the
line number and the section/option (the library's own messages span several lines).
"""

from __future__ import annotations

import configparser

from owlx.errors import FileFormatError

__all__ = ["parse_ini"]


def parse_ini(text: str, name: str, source: str | None = None) -> configparser.RawConfigParser:
    """``text`` parsed with RawConfigParser semantics (no interpolation, option names
    case-insensitive, ``#``/``;`` whole-line comments, no inline comments), strictly: a repeated
    section or option raises :class:`~owlx.errors.FileFormatError`, as do lines before the first
    ``[section]`` and lines that are neither. ``name`` is the file name used in messages,
    ``source`` the path recorded by the parser."""
    config = configparser.RawConfigParser(strict=True, comment_prefixes=("#", ";"), inline_comment_prefixes=None)
    try:
        config.read_string(text, source=source or name)
    except configparser.DuplicateSectionError as err:
        raise FileFormatError(f"'{name}' line {err.lineno}: section [{err.section}] appears a second time; "
                              f"merge the two [{err.section}] sections or rename one") from None
    except configparser.DuplicateOptionError as err:
        raise FileFormatError(f"'{name}' line {err.lineno}: '{err.option}' is set a second time in "
                              f"[{err.section}]; keep only one of those lines") from None
    except configparser.MissingSectionHeaderError as err:
        raise FileFormatError(f"'{name}' line {err.lineno}: {err.line.strip()!r} comes before any [section] "
                              "header; the file must start with a section such as [Main]") from None
    except configparser.ParsingError as err:
        lineno, line = err.errors[0]
        more = f" (and {len(err.errors) - 1} more such lines)" if len(err.errors) > 1 else ""
        raise FileFormatError(f"'{name}' line {lineno}: {line} is neither a [section] header nor a "
                              f"'key = value' line{more}") from None
    except configparser.Error as err:  # any other parser complaint, still on one line
        raise FileFormatError(f"'{name}' cannot be read as an .ini file: {' '.join(str(err).split())}") from None
    return config
