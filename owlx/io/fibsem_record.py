"""Files recording a FIB-SEM registration (spec/fibsem.md §9 "Record"): CSV tables and the
``<name>_registration.h5`` sidecar.

* :func:`write_tables_csv` writes one CSV per table. The tables use the reference's sheet
  names ("Orig. Transformation Matrix", "Cum. Transformation Matrix", "Intermediate Results",
  "Reg. Stat. Info", "kwargs Info"); file names are ``<stem>_<slug>.csv`` with the slug in
  lower case and underscores (``<stem>_orig_transformation_matrix.csv``, …).
* :func:`write_tables_xlsx` writes the same tables as one workbook, one sheet per table under
  its reference name, with openpyxl (optional: ``pip install owlx[xlsx]``); numbers stay
  numbers (openpyxl writes 16 significant digits, Excel keeps 15; the CSV and HDF5 files keep
  every bit), lists and tuples become JSON text, None an empty cell, NaN the text "nan".
  :func:`require_openpyxl` raises :class:`ParameterError` with the install hint when it is absent.
* :func:`write_record_h5` stores named arrays as datasets and a parameter dict as JSON in the
  root attribute ``settings_json`` (HDF5 attributes cannot hold nested settings directly).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from owlx.errors import FileFormatError, ParameterError

XLSX_HINT = "XLSX export needs openpyxl: install openpyxl (pip install owlx[xlsx])"


def table_file(stem: str, sheet: str) -> str:
    """``<stem>_<slug of sheet>.csv``."""
    slug = re.sub(r"[^a-z0-9]+", "_", sheet.lower()).strip("_")
    return f"{stem}_{slug}.csv"


def _cell(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # full precision, round-trips exactly
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (tuple, list, np.ndarray)):
        return json.dumps(np.asarray(value).tolist())
    return value


def write_csv(path: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """One CSV file with a header row; floats at full precision. Returns the path."""
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for row in rows:
                w.writerow([_cell(v) for v in row])
    except OSError as err:
        raise FileFormatError(f"cannot write '{os.path.basename(path)}': {err.strerror or err}") from err
    return path


def write_tables_csv(stem: str, tables: dict[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]) -> list[str]:
    """Write every table {sheet name: (columns, rows)}; returns the paths written."""
    return [write_csv(table_file(stem, sheet), cols, rows) for sheet, (cols, rows) in tables.items()]


def xlsx_available() -> bool:
    """True when openpyxl can be imported (the XLSX export works)."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        return False
    return True


def require_openpyxl():
    """The openpyxl module, or :class:`ParameterError` saying how to install it."""
    try:
        import openpyxl
    except ImportError as err:
        raise ParameterError(XLSX_HINT) from err
    return openpyxl


def _xlsx_cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else repr(float(value))  # XLSX has no NaN/inf number
    if isinstance(value, (tuple, list, np.ndarray, dict)):
        return json.dumps(np.asarray(value).tolist() if not isinstance(value, dict) else value,
                          default=lambda o: np.asarray(o).tolist())
    return str(value)


def write_tables_xlsx(path: str, tables: dict[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]) -> str:
    """One workbook with a sheet per table {sheet name: (columns, rows)} (header in row 1).
    Sheet names are used as given (Excel's limit is 31 characters). Returns the path."""
    openpyxl = require_openpyxl()
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet, (columns, rows) in tables.items():
        if len(sheet) > 31:
            raise ParameterError(f"sheet name {sheet!r} is longer than Excel's 31 characters")
        ws = wb.create_sheet(sheet)
        ws.append(list(columns))
        for row in rows:
            ws.append([_xlsx_cell(v) for v in row])
    try:
        wb.save(path)
    except OSError as err:
        raise FileFormatError(f"cannot write '{os.path.basename(path)}': {err.strerror or err}") from err
    return path


def read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    """(columns, rows as strings) of a CSV written by :func:`write_csv`."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write_record_h5(path: str, datasets: dict[str, np.ndarray], settings: dict[str, Any]) -> str:
    """The registration record: every array of ``datasets`` (names may contain ``/``; string
    arrays are stored as UTF-8), ``settings`` as JSON in the root attribute ``settings_json``."""
    import h5py

    try:
        with h5py.File(path, "w") as f:
            f.attrs["settings_json"] = json.dumps(settings, default=lambda o: np.asarray(o).tolist())
            f.attrs["creator"] = "owlx FIB-SEM registration"
            for name, value in datasets.items():
                arr = np.asarray(value)
                if arr.dtype.kind in "UO":
                    f.create_dataset(name, data=arr.astype(object), dtype=h5py.string_dtype())
                else:
                    f.create_dataset(name, data=arr)
    except OSError as err:
        raise FileFormatError(f"cannot write '{os.path.basename(path)}': {err}") from err
    return path
