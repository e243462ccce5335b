"""XSVS projects: pyxsvs's ``.ini`` input files, or the same project built from an open EDF series
(spec/xsvs.md §2, §3.2, §5).

A project holds the geometry, the flat field and mask paths and the exposures, each a list of
frame files with an exposure time. ``.ini`` rules:

* RawConfigParser semantics (no interpolation, option names case-insensitive, ``#``/``;``
  comment lines), parsed strictly (:func:`owlx.io.ini_parse.parse_ini`): a repeated section
  (two ``[Exp_1]``) or a repeated option is refused with its line number rather than silently
  merged (pyxsvs's own tools rewrite the whole file, so they never produce repeats).
* Exposure sections are ``Exp_<integer>``, sorted numerically (Exp_2 before Exp_10); other
  sections besides ``[Main]`` are ignored with a warning. ``mode = XPCS`` and the old pyxpcs
  layout (``[Directories]``…) are refused with a message.
* Relative paths resolve against the folder holding the ``.ini``. File names are
  ``prefix + 4-digit number + suffix``; ``files in step``/``useful frames`` select files
  ``i … i+useful−1`` for every start ``i = first, first+step, …`` below ``last``.
* Missing frame files are listed per exposure; nothing here raises for them.

The centre: ``cenx`` is a column, ``ceny`` a row. ``center_convention`` says how the file
values map to owlx's 0-based pixel-centre ``(row0, col0)``: ``pyxsvs_1based`` (``.ini``
default): ``row0 = ceny − 1``, ``col0 = cenx − 1``; ``zero_based``: ``row0 = ceny``,
``col0 = cenx``. Masks on disk use pyxsvs's polarity (1 = excluded) and become
``valid = (m == 0)`` here. The ``.ini`` file is only read, never written.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from owlx.errors import FileFormatError, ParameterError
from owlx.io.ini_parse import parse_ini
from owlx.io.open import open_source
from owlx.io.source import Source

log = logging.getLogger(__name__)

CENTER_CONVENTIONS = ("pyxsvs_1based", "zero_based")
_EXP_SECTION = re.compile(r"^Exp_(\d+)$")
_ONE_BASED_OFFSET = {"pyxsvs_1based": 1.0, "zero_based": 0.0}


def center_to_internal(cenx: float, ceny: float, convention: str) -> tuple[float, float]:
    """File centre (cenx = column, ceny = row) → owlx's 0-based ``(row0, col0)``."""
    off = _offset(convention)
    return float(ceny) - off, float(cenx) - off


def center_to_file(row0: float, col0: float, convention: str) -> tuple[float, float]:
    """owlx's ``(row0, col0)`` → file values ``(cenx, ceny)`` in ``convention``."""
    off = _offset(convention)
    return float(col0) + off, float(row0) + off


def _offset(convention: str) -> float:
    if convention not in _ONE_BASED_OFFSET:
        raise ParameterError(f"unknown centre convention {convention!r}: use one of {', '.join(CENTER_CONVENTIONS)}")
    return _ONE_BASED_OFFSET[convention]


@dataclass
class XsvsExposure:
    """One exposure: its frame files (in acquisition order), exposure time [s] and the files
    that are not on disk."""

    name: str
    exp_time_s: float
    first_file: int
    last_file: int
    files: list[str]
    missing: list[str] = field(default_factory=list)

    @property
    def present_files(self) -> list[str]:
        gone = set(self.missing)
        return [f for f in self.files if f not in gone]

    @property
    def status(self) -> str:
        """"ok", "partial" (some files missing) or "missing" (none on disk)."""
        if not self.missing:
            return "ok"
        return "missing" if len(self.missing) == len(self.files) else "partial"


@dataclass
class XsvsProject:
    """Everything the analysis needs to know about a data set (spec §2). Lengths in mm,
    wavelength in Å, q in Å⁻¹; ``cenx``/``ceny`` as in the file (see the module docstring)."""

    q1: float
    q2: float
    qs: float
    dq: float
    wavelength_A: float
    pix_mm: float
    sddist_mm: float
    cenx: float
    ceny: float
    exposures: list[XsvsExposure]
    center_convention: str = "pyxsvs_1based"
    flat_field_path: str | None = None
    mask_path: str | None = None
    default_mask_path: str | None = None
    save_dir: str = "."
    data_dir: str = "."
    sample_name: str = ""
    figure_title: str = ""
    ini_path: str | None = None
    ini_text: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def center(self) -> tuple[float, float]:
        """Beam centre ``(row0, col0)``, 0-based pixel-centre coordinates."""
        return center_to_internal(self.cenx, self.ceny, self.center_convention)

    def with_center(self, row0: float, col0: float) -> None:
        """Set the centre from 0-based ``(row0, col0)``, kept in the project's convention."""
        self.cenx, self.ceny = center_to_file(row0, col0, self.center_convention)

    def default_output(self) -> str:
        """``<save dir>/<sample name>xsvs_results.h5`` (spec §11.1)."""
        return os.path.join(self.save_dir, f"{self.sample_name}xsvs_results.h5")

    def default_summary(self) -> str:
        """``<save dir>/<sample name>xsvs_summary.csv`` (spec §11.2)."""
        return os.path.join(self.save_dir, f"{self.sample_name}xsvs_summary.csv")


# -- .ini -----------------------------------------------------------------------------------
def read_project(path: str | os.PathLike, center_convention: str = "pyxsvs_1based") -> XsvsProject:
    """Read a pyxsvs input file. Errors a user can fix raise FileFormatError/ParameterError."""
    path = os.fspath(path)
    _offset(center_convention)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise FileFormatError(f"cannot read the XSVS project '{path}': {err.strerror or err}") from err
    text = raw.decode("utf-8", errors="replace")
    name = os.path.basename(path)
    config = parse_ini(text, name, source=path)
    if not config.has_section("Main"):
        if config.has_section("Directories"):
            raise FileFormatError(f"'{name}' uses the old pyxpcs layout ([Directories], [Analysis], …), which owlx "
                                  "does not read; convert it to a [Main] + [Exp_n] file")
        raise FileFormatError(f"'{name}' has no [Main] section; it is not a pyxsvs input file")
    base = os.path.dirname(os.path.abspath(path))

    def get(key: str, section: str = "Main", required: bool = True) -> str | None:
        if config.has_option(section, key):
            return config.get(section, key).strip()
        if required:
            raise FileFormatError(f"'{name}': [{section}] has no '{key}' entry")
        return None

    def num(key: str, section: str = "Main") -> float:
        value = get(key, section)
        try:
            return float(value)
        except ValueError:
            raise ParameterError(f"'{name}': [{section}] {key} = {value!r} is not a number") from None

    def resolve(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return os.path.normpath(os.path.join(base, os.path.expanduser(value)))

    mode = (get("mode", required=False) or "XSVS").strip()
    if mode.upper() != "XSVS":
        raise FileFormatError(f"'{name}': mode = {mode} is not supported; owlx analyses XSVS mode "
                              "([Exp_n] sections) only")
    warnings: list[str] = []
    mask = resolve(get("mask", required=False))
    if mask is None:
        warnings.append(f"'{name}' names no analysis mask: every pixel counts as valid")
    flat = resolve(get("flat field", required=False))
    if flat is None:
        warnings.append(f"'{name}' names no flat field: frames are histogrammed without flat-field division")
    data_dir = resolve(get("data dir")) or base
    exposures = []
    numbered = []
    for section in config.sections():
        match = _EXP_SECTION.match(section)
        if match:
            numbered.append((int(match.group(1)), section))
        elif section != "Main":
            warnings.append(f"'{name}': section [{section}] is not [Main] or [Exp_<number>]; ignored")
    for _, section in sorted(numbered):
        exposures.append(_read_exposure(config, section, name, data_dir, num, get, warnings))
    if not exposures:
        raise FileFormatError(f"'{name}' has no [Exp_<number>] section: nothing to analyse")
    project = XsvsProject(
        q1=num("q1"), q2=num("q2"), qs=num("qs"), dq=num("dq"), wavelength_A=num("wavelength"),
        pix_mm=num("pix"), sddist_mm=num("sddist"), cenx=num("cenx"), ceny=num("ceny"), exposures=exposures,
        center_convention=center_convention, flat_field_path=flat, mask_path=mask,
        default_mask_path=resolve(get("default mask", required=False)),
        save_dir=resolve(get("save dir", required=False)) or base, data_dir=data_dir,
        sample_name=get("sample name", required=False) or "", figure_title=get("figure title", required=False) or "",
        ini_path=os.path.abspath(path), ini_text=text, warnings=warnings,
    )
    for w in warnings:
        log.warning(w)
    return project


def _read_exposure(config, section, name, data_dir, num, get, warnings) -> XsvsExposure:
    def integer(key: str) -> int:
        value = get(key, section)
        try:
            return int(value)
        except ValueError:
            raise ParameterError(f"'{name}': [{section}] {key} = {value!r} is not an integer") from None

    prefix = get("data prefix", section)
    suffix = get("data suffix", section)
    first, last = integer("first data file"), integer("last data file")
    exp_time = num("exp time", section)
    if not exp_time > 0:
        raise ParameterError(f"'{name}': [{section}] exp time = {exp_time} must be a positive time in seconds")
    if last < first:
        raise ParameterError(f"'{name}': [{section}] last data file {last} is before the first {first}")
    has_step = config.has_option(section, "files in step")
    has_useful = config.has_option(section, "useful frames")
    numbers: Sequence[int] = range(first, last + 1)
    if has_step and has_useful:
        step, useful = integer("files in step"), integer("useful frames")
        if step > 0 and useful > 0:
            numbers = [i for start in range(first, last, step) for i in range(start, start + useful)]
    elif has_step or has_useful:
        warnings.append(f"'{name}': [{section}] gives only one of 'files in step' and 'useful frames'; "
                        "both are needed, so every file is used")
    files = [os.path.join(data_dir, f"{prefix}{i:04d}{suffix}") for i in numbers]
    missing = [f for f in files if not os.path.isfile(f)]
    return XsvsExposure(section, exp_time, first, last, files, missing)


# -- a project from an open series ------------------------------------------------------------
def project_from_series(files: Sequence[str], numbers: Sequence[int],
                        exposures: Sequence[tuple[str, int, int, float]], *, q1: float, q2: float, qs: float,
                        dq: float, wavelength_A: float, pix_mm: float, sddist_mm: float, cenx: float, ceny: float,
                        center_convention: str = "zero_based", flat_field_path: str | None = None,
                        mask_path: str | None = None, sample_name: str = "", save_dir: str | None = None
                        ) -> XsvsProject:
    """A project over the files of an open numbered series (``files`` with their ``numbers``).
    ``exposures`` are ``(name, first number, last number, exposure time [s])``; numbers absent
    from the series are listed as missing files."""
    _offset(center_convention)
    by_number = dict(zip((int(n) for n in numbers), files))
    folder = os.path.dirname(files[0]) if files else "."
    out = []
    for name, first, last, exp_time in sorted(exposures, key=lambda e: _exposure_order(e[0])):
        if not exp_time > 0:
            raise ParameterError(f"{name}: the exposure time {exp_time} must be a positive time in seconds")
        if last < first:
            raise ParameterError(f"{name}: the last file number {last} is before the first {first}")
        chosen = [by_number.get(i, os.path.join(folder, f"<file {i}>")) for i in range(first, last + 1)]
        missing = [f for i, f in zip(range(first, last + 1), chosen) if i not in by_number]
        out.append(XsvsExposure(name, float(exp_time), int(first), int(last), chosen, missing))
    if not out:
        raise ParameterError("define at least one exposure (first and last file number, exposure time)")
    return XsvsProject(q1=q1, q2=q2, qs=qs, dq=dq, wavelength_A=wavelength_A, pix_mm=pix_mm, sddist_mm=sddist_mm,
                       cenx=cenx, ceny=ceny, exposures=out, center_convention=center_convention,
                       flat_field_path=flat_field_path, mask_path=mask_path, save_dir=save_dir or folder,
                       data_dir=folder, sample_name=sample_name)


def _exposure_order(name: str) -> tuple[int, int | str]:
    match = _EXP_SECTION.match(name)
    return (0, int(match.group(1))) if match else (1, name)


# -- images ---------------------------------------------------------------------------------
def read_image(path: str) -> np.ndarray:
    """The first frame of a single EDF (or other) file; never opens the file's whole series."""
    with open_source(path, series=False) as source:
        stack = source.stack()
        if len(stack) < 1:
            raise FileFormatError(f"'{os.path.basename(path)}' holds no image")
        return stack[0]


def load_flat_field(path: str) -> np.ndarray:
    """The flat field as float64 (pixels ≤ 0 or non-finite are made invalid by the analysis)."""
    return np.asarray(read_image(path), dtype=np.float64)


def load_mask(path: str) -> np.ndarray:
    """A pyxsvs mask file (1 = excluded, 0 = valid) as owlx's boolean mask, True = valid."""
    return np.asarray(read_image(path)) == 0


def open_exposure(exposure: XsvsExposure) -> Source:
    """The files of ``exposure`` that are on disk, opened as one series (the EDF series reader,
    exactly these files, ordered by number): ``source.stack()`` gives the frames. Close it
    after use. FileFormatError when no file is on disk."""
    present = exposure.present_files
    if not present:
        raise FileFormatError(f"{exposure.name}: none of its {len(exposure.files)} frame files is on disk")
    return open_source(present[0], series=False) if len(present) == 1 else open_source(present)
