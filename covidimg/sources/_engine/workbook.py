"""Read Excel workbooks (``.xlsx``) as text tables, within bounds.

``pd.read_excel`` trusts a sheet's used range: one value at ``XFD1048576`` in a 13 KB file makes
it pad a million rows to 16,384 columns and allocate until the process is killed. This reader
streams the cells (openpyxl read-only mode, which ignores the declared ``<dimension>``), keeps
only rows and columns that hold a value, and refuses a workbook before it grows past the bounds:

* :data:`MAX_SHEET_COLUMNS` columns in a sheet (a value further right is refused, naming the
  sheet and the cell);
* :data:`MAX_WORKBOOK_CELLS` cells (rows times columns of each sheet's used range, over all the
  sheets read);
* :data:`MAX_WORKBOOK_BYTES` bytes of XML once decompressed (a zip bomb is refused before
  openpyxl opens it).

Values are text as ``pd.read_excel(path, dtype=str, header=None)`` gives them: whole numbers
without ``.0`` (``"3"``), other numbers as Python prints them, dates as ``"2020-03-01
00:00:00"``, booleans as ``"True"``/``"False"``, and empty cells, Excel error cells and pandas'
default missing-value strings (``"NA"``, ``"n/a"``, ``"NULL"``, ...) as ``NaN``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from covidimg.errors import TableReadError
from covidimg.sources._engine.ledger import (
    MAX_TABLE_CELLS,
    MAX_TABLE_COLUMNS,
    Ledger,
    outside_root,
)

__all__ = ["MAX_SHEET_COLUMNS", "MAX_WORKBOOK_BYTES", "MAX_WORKBOOK_CELLS", "read_workbook"]

#: Most columns a sheet may use (as for text tables: see
#: :data:`covidimg.sources._engine.ledger.MAX_TABLE_COLUMNS`).
MAX_SHEET_COLUMNS = MAX_TABLE_COLUMNS
#: Most cells (each sheet's used rows times used columns, summed over the sheets read).
MAX_WORKBOOK_CELLS = MAX_TABLE_CELLS
#: Most bytes the workbook's parts may hold once decompressed, as its zip directory declares
#: them. The sources' workbooks hold at most a few MB.
MAX_WORKBOOK_BYTES = 256 << 20
#: Excel's last row; a sheet claiming rows beyond it is damaged.
_EXCEL_ROWS = 1_048_576
#: Most cells, filled or empty, looked at in one sheet (openpyxl pads each row to its last
#: cell, so a styled empty cell at column XFD on every row would mean 17 billion cells).
_MAX_SCANNED = 16 * MAX_TABLE_CELLS

#: What pandas reads as missing by default (``pd.read_csv``'s ``na_values`` documentation).
_NA_STRINGS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
#: Excel's error values (a formula that failed), read as missing.
_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
                     "#GETTING_DATA"})


def read_workbook(path: str | os.PathLike[str], ledger: Ledger, *,
                  sheets: Literal["all", "first"] = "all",
                  header: bool = False) -> dict[str, pd.DataFrame]:
    """Read the sheets of an ``.xlsx`` workbook as text DataFrames, within bounds.

    Parameters
    ----------
    path
        The workbook.
    ledger
        The source's ledger; a path that leads outside ``ledger.root`` (a symbolic link, see
        :func:`covidimg.sources._engine.ledger.outside_root`) is not read.
    sheets
        ``"all"`` (every sheet, in workbook order) or ``"first"`` (the first sheet only, as
        ``pd.read_excel``'s default).
    header
        ``False``: columns are numbered ``0, 1, ...`` and every row is data (as
        ``header=None``). ``True``: the first row gives the column names (as ``header=0``:
        text, ``"Unnamed: i"`` for an empty one, ``"name.1"`` for a repeated one).

    Returns
    -------
    dict of str to DataFrame
        Sheet name to its used range: ``str`` values, ``NaN`` for empty cells. Trailing empty
        rows and columns are dropped; a sheet without values is an empty DataFrame.

    Raises
    ------
    TableReadError
        If the file lies outside the source folder, is not a readable workbook, or exceeds
        :data:`MAX_WORKBOOK_BYTES`, :data:`MAX_SHEET_COLUMNS` or :data:`MAX_WORKBOOK_CELLS`; the
        message names the file, the sheet and the count. The caller rejects the file.

    Examples
    --------
    >>> import os, tempfile, openpyxl
    >>> from covidimg.sources._engine.ledger import Ledger
    >>> from covidimg.sources._engine.workbook import read_workbook
    >>> path = os.path.join(tempfile.mkdtemp(), "t.xlsx")
    >>> book = openpyxl.Workbook()
    >>> book.active.append(["id", "age"]); book.active.append(["P1", 41.0])
    >>> book.save(path)
    >>> read_workbook(path, Ledger("tcia"), header=True)["Sheet"]
       id age
    0  P1  41
    """
    escape = outside_root(path, ledger.root)
    if escape is not None:
        raise TableReadError(path, escape)
    _check_parts(path)
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types (KeyError, ValueError, ...) on damage
        raise TableReadError(path, f"cannot be opened as an Excel workbook "
                                   f"({type(exc).__name__}); download or export it again"
                             ) from exc
    out: dict[str, pd.DataFrame] = {}
    budget = MAX_WORKBOOK_CELLS
    try:
        worksheets = book.worksheets[:1] if sheets == "first" else book.worksheets
        for sheet in worksheets:
            sheet.reset_dimensions()  # the declared <dimension> may lie; read the cells
            try:
                values, n_rows, n_columns = _used_range(sheet.iter_rows(values_only=True),
                                                        path, sheet.title, budget)
            except TableReadError:
                raise
            except Exception as exc:  # a damaged sheet: openpyxl raises many types
                raise TableReadError(path, f"sheet {sheet.title!r} cannot be read "
                                     f"({type(exc).__name__}); download or export it again"
                                     ) from exc
            budget -= n_rows * n_columns
            out[sheet.title] = _frame(values, n_rows, n_columns, header)
    finally:
        book.close()
    return out


def _check_parts(path: str | os.PathLike[str]) -> None:
    """Refuse a file that is not a zip, or whose parts decompress to more than the bound."""
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise TableReadError(path, "is not an .xlsx workbook (not a readable zip); download "
                                   "or export it again") from exc
    if declared > MAX_WORKBOOK_BYTES:
        raise TableReadError(path, f"holds {declared:,} bytes once decompressed, more than the "
                                   f"limit of {MAX_WORKBOOK_BYTES:,} "
                                   "(covidimg.sources._engine.workbook.MAX_WORKBOOK_BYTES); "
                                   "the workbook was not read")


def _used_range(rows: Iterable[tuple[object, ...]], path: str | os.PathLike[str], title: str,
                budget: int) -> tuple[dict[tuple[int, int], str], int, int]:
    """The non-empty values of one sheet by (row, column), and its used size.

    Stops as soon as a value lies beyond :data:`MAX_SHEET_COLUMNS`, the used range would
    exceed ``budget`` cells, or the sheet claims more rows than Excel allows. Rows with no
    value (the gaps openpyxl fills in between distant rows, rows of styled empty cells) cost
    no memory, and their cells are looked at in C (``tuple.count``), not one by one.
    """
    values: dict[tuple[int, int], str] = {}
    n_rows = n_columns = 0
    scanned = 0
    for number, row in enumerate(rows):
        if number >= _EXCEL_ROWS:
            raise TableReadError(path, f"sheet {title!r} has rows beyond Excel's last row "
                                 f"({_EXCEL_ROWS:,}); the workbook is damaged, download or "
                                 "export it again")
        width = len(row)
        scanned += width
        if scanned > _MAX_SCANNED:
            raise TableReadError(path, f"sheet {title!r} spans more than {_MAX_SCANNED:,} "
                                 "cells, filled or empty; the workbook was not read")
        if not width or row.count(None) == width:
            continue
        if width > MAX_SHEET_COLUMNS:
            extra = row[MAX_SHEET_COLUMNS:]
            if extra.count(None) != len(extra):
                first = next(i for i, value in enumerate(extra) if value is not None)
                raise TableReadError(path, _beyond_columns(title, number,
                                                           MAX_SHEET_COLUMNS + first))
            row = row[:MAX_SHEET_COLUMNS]
        last = -1
        for column, value in enumerate(row):
            text = _text(value)
            if text is not None:
                values[number, column] = text
                last = column
        if last < 0:
            continue
        n_rows, n_columns = number + 1, max(n_columns, last + 1)
        if n_rows * n_columns > budget:
            raise TableReadError(path, f"sheet {title!r} uses more than {budget:,} cells "
                                 f"(row {n_rows:,}, {n_columns:,} columns); the limit for the "
                                 f"workbook is {MAX_WORKBOOK_CELLS:,} "
                                 "(covidimg.sources._engine.workbook.MAX_WORKBOOK_CELLS). The "
                                 "workbook was not read: delete stray cells far below the "
                                 "table, or raise the limit")
    return values, n_rows, n_columns


def _beyond_columns(title: str, row: int, column: int) -> str:
    from openpyxl.utils import get_column_letter

    cell = f"{get_column_letter(column + 1)}{row + 1}"
    return (f"sheet {title!r} has a value at {cell} (column {column + 1:,}), beyond the limit "
            f"of {MAX_SHEET_COLUMNS:,} columns "
            "(covidimg.sources._engine.workbook.MAX_SHEET_COLUMNS); the workbook was not read. "
            "Delete stray cells far right of the table, or raise the limit")


def _text(value: object) -> str | None:
    """A cell value as ``pd.read_excel(dtype=str)`` shows it; ``None`` for a missing one."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not np.isfinite(value):
            return str(value)
        whole = int(value)
        return str(whole) if whole == value else str(float(value))
    text = str(value)
    if text in _NA_STRINGS or text in _ERRORS:
        return None
    return text


def _frame(values: dict[tuple[int, int], str], n_rows: int, n_columns: int,
           header: bool) -> pd.DataFrame:
    grid = np.full((n_rows, n_columns), np.nan, dtype=object)
    for (row, column), text in values.items():
        grid[row, column] = text
    if not header:
        return pd.DataFrame(grid, dtype="str")
    names: list[str] = []
    seen: dict[str, int] = {}
    for column in range(n_columns):
        name = grid[0, column] if n_rows else np.nan
        name = f"Unnamed: {column}" if not isinstance(name, str) else name
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return pd.DataFrame(grid[1:], columns=names, dtype="str")
