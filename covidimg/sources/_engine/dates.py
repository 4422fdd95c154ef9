"""The one family of date parsers every loader uses.

Sources write dates in many ways; each form is read here once:

* ISO 8601 ``YYYY-MM-DD``, optionally with a time (``2020-03-01 06:10``,
  ``2020-03-01T06:10:00.5``);
* slash dates in the order the field is documented in: US month-first (``M/D/YYYY``, CRDW's
  datamart, TCIA's sheets, NCCID's dates) or UK day-first (``D/M/YYYY``, NCCID's ``SwabDate``),
  with ``/``, ``-`` or ``.`` between the parts, a two- or four-digit year (two digits: 69-99 =
  19xx, 00-68 = 20xx, the POSIX rule ``strptime`` follows) and optionally a time;
* the compact ``YYYYMMDD`` (DICOM DA, CRDW zip names and batch folders);
* DICOM DA and TM header values (:func:`parse_dicom_date`, :func:`parse_dicom_time`: lenient,
  never raise, as header readers need);
* on request (``recover=``), three ways of getting a date back from a damaged cell, each
  reported in :attr:`ParsedDate.note`:

  - ``"other_order"``: a slash date impossible in the documented order but valid in the other
    (``31/03/2020`` in a month-first field);
  - ``"error_cell"``: a spreadsheet error cell ``"[Text] - 2020-03-20"`` (NCCID), which keeps
    its ISO date;
  - ``"excel_serial"``: an Excel serial day number (``43909`` = 2020-03-19), accepted for the
    years 2000-2029 only (:data:`EXCEL_SERIAL_RANGE`), the only plausible dates of these
    cohorts.

A value in none of the forms raises :class:`covidimg.errors.ValueProblem` naming what was
expected; the loader turns it into a finding. Empty values (``""``, ``NA``, ``N/A``, ``NaN``,
``None``, ``unknown``, ... see :data:`MISSING_TEXT`) give ``None``.

Examples
--------
>>> from covidimg.sources._engine.dates import parse_date
>>> parse_date("3/4/2020").date, parse_date("3/4/2020", order="DMY").date
(datetime.date(2020, 3, 4), datetime.date(2020, 4, 3))
>>> parse_date("31/03/2020", recover=RECOVER_ALL).note
'not a valid MM/DD/YYYY date; read as DD/MM/YYYY'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from covidimg._validation import check_choice, choices
from covidimg.errors import ValueProblem

__all__ = [
    "EXCEL_SERIAL_RANGE",
    "MISSING_TEXT",
    "RECOVER_ALL",
    "DateOrder",
    "ParsedDate",
    "is_missing",
    "parse_date",
    "parse_dicom_date",
    "parse_dicom_time",
]

DateOrder = Literal["MDY", "DMY"]
#: Every recovery :func:`parse_date` knows.
Recovery = Literal["other_order", "error_cell", "excel_serial"]
RECOVER_ALL: tuple[str, ...] = choices(Recovery)
#: Texts that mean "no value" (compared stripped and in lower case).
MISSING_TEXT = frozenset({"", ".", "-", "?", "na", "n/a", "#n/a", "nan", "nat", "none", "null",
                          "unknown", "not known", "not recorded", "nk"})
#: Excel serial day numbers accepted by the ``excel_serial`` recovery: 2000-01-01..2029-12-31.
EXCEL_SERIAL_RANGE = (36526, 47482)
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's 1900-02-29
_TIME = r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
_ISO = re.compile(rf"^(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}$")
_SLASH = re.compile(rf"^(\d{{1,2}})[/.\-](\d{{1,2}})[/.\-](\d{{2}}|\d{{4}}){_TIME}$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ERROR_CELL = re.compile(r"^\[(?P<inner>.*)\]\s*-\s*(?P<date>\d{4}-\d{2}-\d{2})$")
_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
_NOT_DIGIT = re.compile(r"\D")
_DICOM_TIME = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$")
_ORDER_NAME = {"MDY": "MM/DD/YYYY", "DMY": "DD/MM/YYYY"}


@dataclass(frozen=True)
class ParsedDate:
    """A parsed date and, when it was recovered rather than read as written, how."""

    date: dt.date
    note: str = ""


def is_missing(value: Any) -> bool:
    """Whether ``value`` means "no value": ``None``, NaN/NaT, or a text of :data:`MISSING_TEXT`.

    Examples
    --------
    >>> from covidimg.sources._engine.dates import is_missing
    >>> is_missing(" N/A "), is_missing(float("nan")), is_missing("2020-03-01")
    (True, True, False)
    """
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in MISSING_TEXT
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _check_time(match: re.Match[str], first_group: int) -> bool:
    hour, minute, second = match.group(first_group, first_group + 1, first_group + 2)
    if hour is None:
        return True
    return int(hour) < 24 and int(minute) < 60 and (second is None or int(second) < 60)


def _year(text: str) -> int:
    if len(text) == 4:
        return int(text)
    year = int(text)
    return year + (1900 if year >= 69 else 2000)  # the POSIX / strptime %y pivot


def parse_date(value: Any, *, order: DateOrder = "MDY",
               recover: Collection[Recovery] = ()) -> ParsedDate | None:
    """Parse a date written in any of the forms of the module docstring.

    Parameters
    ----------
    value
        Text, a ``datetime.date`` / ``datetime.datetime`` (returned as its date), or, with
        the ``excel_serial`` recovery, a number.
    order
        ``"MDY"`` (US, month first) or ``"DMY"`` (UK, day first): how slash dates are read.
    recover
        Which recoveries to try (a subset of :data:`RECOVER_ALL`): ``"other_order"``,
        ``"error_cell"``, ``"excel_serial"``. Loaders of sources whose fields are typed by
        people (NCCID) pass all; the others none.

    Returns
    -------
    ParsedDate or None
        ``None`` for an empty value (:func:`is_missing`). ``note`` says how a value was
        recovered; empty when read as written.

    Raises
    ------
    ValueProblem
        When the value is not a date in any accepted form; the message names the expected
        forms (never the value: the caller decides whether to quote it).
    ValueError
        If ``order`` or ``recover`` hold an unknown choice.

    Examples
    --------
    >>> from covidimg.sources._engine.dates import RECOVER_ALL, parse_date
    >>> parse_date("2020-03-01 06:10").date
    datetime.date(2020, 3, 1)
    >>> parsed = parse_date("[Text] - 2020-03-20", recover=RECOVER_ALL)
    >>> parsed.date, parsed.note
    (datetime.date(2020, 3, 20), 'spreadsheet error cell [Text]; kept its date 2020-03-20')
    >>> parse_date(43909, recover=RECOVER_ALL).date
    datetime.date(2020, 3, 19)
    >>> parse_date("N/A") is None
    True
    """
    check_choice(order, DateOrder, "order")
    for choice in recover:
        check_choice(choice, Recovery, "recover")
    if is_missing(value):
        return None
    expected = _ORDER_NAME[order]
    if isinstance(value, dt.datetime):
        return ParsedDate(value.date())
    if isinstance(value, dt.date):
        return ParsedDate(value)
    if isinstance(value, bool):
        raise ValueProblem(f"a boolean is not a date; expected {expected}")
    if isinstance(value, int | float):
        if "excel_serial" in recover:
            return _excel_serial(value, expected)
        raise ValueProblem(f"a number is not a date; expected {expected} or YYYY-MM-DD")
    text = str(value).strip()
    match = _SLASH.match(text)
    if match and _check_time(match, 4):
        return _slash_date(match, order, "other_order" in recover)
    match = _ISO.match(text)
    if match and _check_time(match, 4):
        return ParsedDate(_date(match[1], match[2], match[3], expected))
    match = _COMPACT.match(text)
    if match:
        return ParsedDate(_date(match[1], match[2], match[3], expected))
    if "error_cell" in recover:
        match = _ERROR_CELL.match(text)
        if match:
            y, m, d = match["date"].split("-")
            inner = match["inner"].strip()
            return ParsedDate(_date(y, m, d, expected),
                              f"spreadsheet error cell [{inner}]; kept its date {match['date']}")
    if "excel_serial" in recover and _SERIAL.match(text):
        return _excel_serial(float(text), expected)
    forms = [expected, "YYYY-MM-DD"]
    if "error_cell" in recover:
        forms.append("'[Text] - YYYY-MM-DD'")
    raise ValueProblem(f"not a date; expected {', '.join(forms[:-1])} or {forms[-1]}")


def _slash_date(match: re.Match[str], order: DateOrder, other_order: bool) -> ParsedDate:
    first, second, year = int(match[1]), int(match[2]), _year(match[3])
    day, month = (first, second) if order == "DMY" else (second, first)
    expected = _ORDER_NAME[order]
    try:
        return ParsedDate(dt.date(year, month, day))
    except ValueError:
        pass
    try:
        swapped = dt.date(year, day, month)
    except ValueError:
        raise ValueProblem(f"not a valid date in {expected} or the other order") from None
    if not other_order:
        raise ValueProblem(f"not a valid {expected} date")
    other = _ORDER_NAME["MDY" if order == "DMY" else "DMY"]
    return ParsedDate(swapped, f"not a valid {expected} date; read as {other}")


def _date(year: str, month: str, day: str, expected: str) -> dt.date:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueProblem(f"{year}-{month}-{day} is not a valid date; expected "
                           f"{expected}") from None


def _excel_serial(value: float, expected: str) -> ParsedDate:
    low, high = EXCEL_SERIAL_RANGE
    if not math.isfinite(float(value)) or not float(value).is_integer() or \
            not low <= value <= high:
        raise ValueProblem(f"the number {value!r} is not a date; expected {expected}")
    date = _EXCEL_EPOCH + dt.timedelta(days=int(value))
    return ParsedDate(date, f"Excel serial day number; read as {date.isoformat()}")


def parse_dicom_date(value: object) -> dt.date | None:
    """A DICOM DA value (``YYYYMMDD``; the ACR-NEMA ``YYYY.MM.DD`` too) as a date, else ``None``.

    Never raises: any text whose digits are not a valid 8-digit date gives ``None``.

    Examples
    --------
    >>> from covidimg.sources._engine.dates import parse_dicom_date
    >>> parse_dicom_date("20200301"), parse_dicom_date("2020.03.01"), parse_dicom_date("2020")
    (datetime.date(2020, 3, 1), datetime.date(2020, 3, 1), None)
    """
    digits = _NOT_DIGIT.sub("", str(value or ""))
    if len(digits) != 8:
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def parse_dicom_time(value: object) -> dt.time | None:
    """A DICOM TM value (``HH``, ``HHMM``, ``HHMMSS`` with optional ``.FFFFFF``; the
    ACR-NEMA ``HH:MM:SS`` too) as a time, else ``None``. Never raises.

    Examples
    --------
    >>> from covidimg.sources._engine.dates import parse_dicom_time
    >>> parse_dicom_time("140030"), parse_dicom_time("14:00:30.5"), parse_dicom_time("25")
    (datetime.time(14, 0, 30), datetime.time(14, 0, 30, 500000), None)
    """
    text = str(value or "").strip().replace(":", "")
    match = _DICOM_TIME.match(text)
    if not match:
        return None
    hour, minute, second = (int(g) if g else 0 for g in match.groups()[:3])
    micro = int((match.group(4) or "0").ljust(6, "0"))
    try:
        return dt.time(hour, minute, second, micro)
    except ValueError:
        return None
