"""The HIRO tip sheet's inclusion windows: which exams precede the COVID encounter, and by how
much they may.

The tip sheet (``shared/sources/003``, "Imaging Exam Types"): "All relevant exams performed on
or after a patient's COVID encounter date will be included. In addition, all relevant chest
radiograph exams performed up to one year prior to the COVID encounter date will be included,
and all relevant chest CT scans performed up to one month prior to the COVID encounter date
will be included." So a CRDW exam dated before the encounter is a baseline exam, not an exam of
the COVID course: ``images.pre_encounter`` marks it (compared by calendar date; NA when the
patient has no ``covid_encounter_date``), and one dated before its modality's window is
reported (``outside_inclusion_window``) and kept.
"""

from __future__ import annotations

import calendar
import datetime as dt

__all__ = ["WINDOW_MONTHS", "is_pre_encounter", "window_start"]

#: Calendar months an exam of each modality may precede the COVID encounter (tip sheet):
#: chest radiographs (CR, DX) one year, chest CT one month.
WINDOW_MONTHS: dict[str, int] = {"CR": 12, "DX": 12, "CT": 1}


def _months_before(date: dt.date, months: int) -> dt.date:
    """``date`` moved back ``months`` calendar months (the 31st -> the month's last day)."""
    index = date.year * 12 + date.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(date.day, last))


def is_pre_encounter(exam: dt.date, encounter: dt.date | None) -> bool | None:
    """Whether an exam on ``exam`` precedes the COVID encounter; ``None`` without one.

    Examples
    --------
    >>> import datetime as dt
    >>> from covidimg.sources.crdw.windows import is_pre_encounter
    >>> is_pre_encounter(dt.date(2020, 3, 1), dt.date(2020, 3, 2)), \\
    ...     is_pre_encounter(dt.date(2020, 3, 2), dt.date(2020, 3, 2))
    (True, False)
    """
    if encounter is None:
        return None
    return exam < encounter


def window_start(modality: str, encounter: dt.date) -> dt.date | None:
    """The earliest exam date the tip sheet includes for ``modality``; ``None`` when it names
    no window for it (MR: not a CRDW exam type).

    Examples
    --------
    >>> import datetime as dt
    >>> from covidimg.sources.crdw.windows import window_start
    >>> window_start("CT", dt.date(2020, 3, 31)), window_start("DX", dt.date(2020, 2, 29))
    (datetime.date(2020, 2, 29), datetime.date(2019, 2, 28))
    """
    months = WINDOW_MONTHS.get(modality)
    return None if months is None else _months_before(encounter, months)
